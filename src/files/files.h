/*
 * files.h - the shared file space: one namespace of directories and
 * regular files with owner, group and mode, checked exactly as POSIX does;
 * bytes in a content-addressed blob store (SHA-256, deduplicated, written
 * to a temporary file, fsynced and renamed before metadata commits);
 * quotas per user, project and volume enforced while bytes arrive.
 *
 * Paths are absolute, '/'-separated, without "." or ".." components.
 * Every operation takes the caller's credentials (struct fs_cred) and
 * decides permissions itself. No HTTP here; api.c translates.
 */
#ifndef COVE_FILES_H
#define COVE_FILES_H

#include "core/core.h"
#include "db/db.h"

#define PERM_R 4u
#define PERM_W 2u
#define PERM_X 1u
#define S_SETUID 04000u
#define S_SETGID 02000u
#define S_STICKY 01000u

#define FS_NAME_MAX 255
#define FS_PATH_MAX 4096
#define FS_DEPTH_MAX 128

/* Who is asking: uid, every group (primary first), admin acts as root. */
struct fs_cred {
	int64_t uid;
	int64_t gid;
	int64_t *gids;
	int ngids;
	int admin;
	unsigned umask;
};

/* What a node is. */
struct fs_attr {
	int64_t id;
	int64_t parent;
	int64_t uid;
	int64_t gid;
	unsigned mode; /* permission bits with setuid/setgid/sticky */
	int is_dir;
	int64_t size;
	char sha256[65]; /* files only */
	int64_t mtime_ms;
	int64_t ctime_ms;
};

/* Load the credentials of user uid (primary group gid, every group, umask);
 * admin acts as root. Free cr->gids after (fs_cred_free). */
int fs_cred_load(struct dbconn *c, int64_t uid, int64_t gid, int admin,
		 struct fs_cred *cr, struct err *e);
void fs_cred_free(struct fs_cred *cr);

/* ---- permission decisions (perm.c, pure) -------------------------------- */
int perm_may(const struct fs_cred *c, const struct fs_attr *a, unsigned want);
int perm_may_unlink(const struct fs_cred *c, const struct fs_attr *dir,
		    const struct fs_attr *entry);
int perm_may_chmod(const struct fs_cred *c, const struct fs_attr *a);
unsigned perm_chmod_result(const struct fs_cred *c, const struct fs_attr *a,
			   unsigned mode);
/* new_uid/new_gid < 0 mean "unchanged". */
int perm_may_chown(const struct fs_cred *c, const struct fs_attr *a,
		   int64_t new_uid, int64_t new_gid);
unsigned perm_chown_mode(const struct fs_attr *a);
unsigned perm_create_mode(const struct fs_attr *parent, int is_dir,
			  unsigned mode, unsigned umask);
int64_t perm_create_gid(const struct fs_attr *parent, int64_t primary_gid);

/* ---- paths (path.c, pure) -------------------------------------------------- */
/* Normalise a user-supplied path: must be absolute (or is made absolute),
 * no NUL, valid UTF-8, no "." or ".." components, no empty components
 * except a trailing '/', names <= 255 bytes, total <= 4096, depth <= 128.
 * Returns a malloc'd canonical path ("/" or "/a/b") or NULL with e set. */
char *fs_path_clean(const char *in, struct err *e);
/* Split a canonical path into parent and last name (both malloc'd). */
int fs_path_split(const char *path, char **parent, char **name);
/* Apply a chmod spec to mode old (of a directory or not): 0 and *out, or
 * COVE_EINVAL when the spec is malformed. */
int fs_mode_apply(const char *spec, unsigned old, int is_dir, unsigned *out);

/* ---- the namespace (ns.c) -------------------------------------------------- */

struct files;
struct fs_upload;

/* Open the file space under data_dir (blobs, temporary files) on db;
 * home_mode is the mode of new home directories. */
int files_open(struct files **out, struct db *db, const char *data_dir,
	       unsigned home_mode, struct err *e);
void files_close(struct files *f);

/* Find path, checking search permission on every ancestor. */
int fs_resolve(struct dbconn *c, const struct fs_cred *cr, const char *path,
	       struct fs_attr *out, struct err *e);
/* JSON for one entry: name, type, size, mode ("0640"), owner, group,
 * sha256, modified_at, created_at. */
json_t *fs_entry_json(struct dbconn *c, const struct fs_attr *a,
		      const char *name);
/* A directory's entries (needs read; without search only names), sorted
 * by name, from after cursor, at most limit, written as the JSON text
 * {"path","items":[entry...],"next_cursor"} into out (the hot path of
 * browsing: written directly, without building a JSON tree). known: the
 * directory as the caller already resolved it (NULL: resolve path). */
int fs_list(struct dbconn *c, const struct fs_cred *cr, const char *path,
	    const struct fs_attr *known, const char *cursor, int limit,
	    struct buf *out, struct err *e);
/* mode < 0: 0777 & ~umask. */
int fs_mkdir(struct dbconn *c, const struct fs_cred *cr, const char *path,
	     int mode, int parents, struct fs_attr *out, struct err *e);
int fs_remove(struct files *f, struct dbconn *c, const struct fs_cred *cr,
	      const char *path, int recursive, struct err *e);
/* spec: octal ("0640", "2775") or symbolic ("u+x,g-w,o=r", "a+X"). */
int fs_chmod(struct dbconn *c, const struct fs_cred *cr, const char *path,
	     const char *spec, int recursive, struct err *e);
/* uid/gid < 0: unchanged. */
int fs_chown(struct dbconn *c, const struct fs_cred *cr, const char *path,
	     int64_t uid, int64_t gid, int recursive, struct err *e);
int fs_move(struct files *f, struct dbconn *c, const struct fs_cred *cr,
	    const char *from, const char *to, struct err *e);
int fs_copy(struct dbconn *c, const struct fs_cred *cr, const char *from,
	    const char *to, int recursive, struct err *e);

/* Uploads: begin checks permissions and quota room (length < 0 when not
 * known), data streams bytes (refusing once a quota would be exceeded),
 * commit makes the file visible atomically; abort leaves nothing. */
int fs_upload_begin(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		    const char *path, int64_t length, int mode,
		    struct fs_upload **out, struct err *e);
int fs_upload_data(struct fs_upload *u, const void *data, size_t len,
		   struct err *e);
int fs_upload_commit(struct files *f, struct dbconn *c, struct fs_upload *u,
		     struct fs_attr *out, struct err *e);
void fs_upload_abort(struct fs_upload *u);
/* Check that cr may write path and that length bytes (< 0: unknown) fit;
 * *room is what the quotas allow (INT64_MAX when unlimited). */
int fs_upload_check(struct dbconn *c, const struct fs_cred *cr, const char *path,
		    int64_t length, int64_t *room, struct err *e);


/* Host path of the bytes of a file (its blob), made readable by anyone
 * (blobs are immutable and their directory is private to the server), for
 * handing a file to a sandbox by hard link. Caller frees. */
char *files_blob_host_path(struct files *f, const char *sha256);
/* Call fn for every entry below the directory dir (depth first, parents
 * before children), with its path relative to dir. Needs read and search
 * on every directory walked, as cr; stops at the first non-zero return. */
int fs_walk(struct dbconn *c, const struct fs_cred *cr, const struct fs_attr *dir,
	    int (*fn)(void *ctx, const char *rel, const struct fs_attr *a),
	    void *ctx, struct err *e);

/* Open a file for reading (needs read): an fd the caller closes. */
int fs_open(struct files *f, struct dbconn *c, const struct fs_cred *cr,
	    const char *path, struct fs_attr *a, struct err *e);

/* Called inside the auth module's transactions. */
int fs_home_create(struct files *f, struct dbconn *c, const char *name,
		   int64_t uid, int64_t gid, struct err *e);
int fs_project_create(struct dbconn *c, const char *name, int64_t gid,
		      struct err *e);
/* Refuse (COVE_ECONFLICT) when the directory still holds files, else
 * remove it. */
int fs_area_remove(struct files *f, struct dbconn *c, const char *path,
		   struct err *e);

/* Like fs_resolve, but from node start_id along a relative path. */
int fs_resolve_from(struct dbconn *c, const struct fs_cred *cr, int64_t start_id,
		    const char *rel, struct fs_attr *out, struct err *e);

/* ---- archives of folders (archive.c) -------------------------------------- */
/*
 * A folder as a tar.gz (pax) or zip, made by a thread of its own while
 * the caller takes its bytes: memory stays bounded whatever the folder's
 * size, and no database transaction lasts as long as the download. Only
 * what cr may list, search and read goes in; the rest is left out.
 */
enum fs_archive_format { FS_ARCHIVE_TAR_GZ = 1, FS_ARCHIVE_ZIP };
#define FS_ARCHIVE_END (-1)    /* fs_archive_read: the archive is complete */
#define FS_ARCHIVE_FAILED (-2) /* ... it cannot be completed (logged why) */
struct fs_archive;
/* "tar.gz" or "zip"; COVE_EINVAL naming both otherwise. */
int fs_archive_format_parse(const char *s, enum fs_archive_format *out, struct err *e);
/* ".tar.gz" or ".zip". */
const char *fs_archive_ext(enum fs_archive_format fmt);
/* Check that path is a folder cr may list and search (COVE_ENOENT,
 * COVE_EPERM; COVE_EINVAL for a file, or a folder with too many entries
 * for a zip; COVE_EUNAVAIL, retry_after set, when too many archives are
 * being made) and prepare its archive; nothing more is read until the
 * first fs_archive_read. ready(arg) is called from the producer's thread
 * when bytes (or the end) came after a read found none. Free with
 * fs_archive_free. */
int fs_archive_open(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		    const char *path, enum fs_archive_format fmt, void (*ready)(void *arg),
		    void *arg, struct fs_archive **out, struct err *e);
/* The folder's name, the archive's top entry ("root" for "/"). */
const char *fs_archive_name(const struct fs_archive *ar);
/* Up to max bytes of the archive into buf: how many, 0 when none is ready
 * yet (ready will be called), FS_ARCHIVE_END or FS_ARCHIVE_FAILED. Never
 * blocks. */
long fs_archive_read(struct fs_archive *ar, char *buf, size_t max);
/* Stop the producer, wait for it and free everything. NULL is a no-op. */
void fs_archive_free(struct fs_archive *ar);

/* ---- share links (shares.c) ---------------------------------------------- */
/* Create a read-only link to path (which cr must be able to read);
 * expires_in seconds (0: never). *out has id, path, url, token (shown
 * once), expires_at. */
int shares_create(struct dbconn *c, const struct fs_cred *cr, const char *path,
		  int64_t expires_in, const char *base_url, json_t **out,
		  struct err *e);
int shares_list(struct dbconn *c, const struct fs_cred *cr, const char *base_url,
		json_t **out, struct err *e);
int shares_revoke(struct dbconn *c, const struct fs_cred *cr, const char *id,
		  struct err *e);
/* Resolve token (+ optional sub-path inside a shared directory) with the
 * creator's rights: fills a, and *share_id (for the audit log). */
int shares_resolve(struct dbconn *c, const char *token, const char *sub,
		   struct fs_attr *a, char share_id[32], struct err *e);
/* List a directory already resolved (share links: no further checks). */
int fs_list_node(struct dbconn *c, const struct fs_attr *dir, const char *label,
		 json_t **out, struct err *e);
/* The name (last path component) of node id: 0 or COVE_ENOENT. */
int fs_node_name(struct dbconn *c, int64_t id, char out[FS_NAME_MAX + 1], struct err *e);
/* Open a file's bytes by its attributes (after a resolve). */
int fs_open_attr(struct files *f, const struct fs_attr *a, struct err *e);

/* ---- resumable uploads (uploads.c) ----------------------------------------- */
/* A session: create (checks permission and quota for size, -1 unknown),
 * append bytes at the current offset over as many requests as it takes,
 * complete (commits the file), or delete. Bytes received before a dropped
 * connection are kept. Sessions expire after a day. */
struct upload_append;
int uploads_create(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		   const char *path, int64_t size, int mode, json_t **out,
		   struct err *e);
int uploads_get(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		const char *id, json_t **out, struct err *e);
int uploads_append_begin(struct files *f, struct dbconn *c,
			 const struct fs_cred *cr, const char *id, int64_t offset,
			 struct upload_append **out, struct err *e);
int uploads_append_data(struct upload_append *a, const void *buf, size_t len,
			struct err *e);
/* Make what arrived durable; returns the new offset. Frees a. */
int64_t uploads_append_end(struct upload_append *a);
int uploads_complete(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		     const char *id, struct fs_attr *out, char **path,
		     struct err *e);
int uploads_delete(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		   const char *id, struct err *e);

/* ---- the blob store for other modules (the registry) ------------------------ */
/*
 * One copy of every byte sequence: image layers and manifests live in the
 * same content-addressed store as files, counted in the same reference
 * counts, so files_gc never removes bytes the registry uses and the other
 * way round. A writer streams bytes into a temporary file while hashing;
 * finish fsyncs it and moves it into the store (refs are untouched: the
 * caller adds its reference in the transaction that records its use).
 */
struct blob_writer;
int files_blob_writer(struct files *f, struct blob_writer **out, struct err *e);
int files_blob_write(struct blob_writer *w, const void *data, size_t len,
		     struct err *e);
/* Durably store the bytes (always consumes w): sha256 hex and size. */
int files_blob_finish(struct files *f, struct blob_writer *w, char sha_out[65],
		      int64_t *size, struct err *e);
void files_blob_abort(struct blob_writer *w);
/* Move a finished file at path (under the data directory) into the store;
 * state is the SHA-256 over its size bytes, or NULL to hash it again. */
int files_blob_adopt(struct files *f, const char *path, const void *state,
		     int64_t size, char sha_out[65], struct err *e);
/* Add delta references to blob sha (size bytes). Caller holds a
 * transaction; the bytes must be in the store. */
int files_blob_ref(struct dbconn *c, const char *sha, int64_t size, int delta,
		   struct err *e);
/* Open the bytes of blob sha for reading: an fd (caller closes) or a
 * negative code. */
int files_blob_open(struct files *f, const char *sha, int64_t *size,
		    struct err *e);
/* 1 when the bytes of sha are in the store (size in *size). Checked after
 * committing a new reference, it proves that files_gc did not take the
 * bytes meanwhile: from then on the reference keeps them. */
int files_blob_present(struct files *f, const char *sha, int64_t *size);
/* $DATA/tmp: where temporary files may be made (same file system). */
const char *files_tmp_dir(struct files *f);

/* ---- volumes (ns.c) ---------------------------------------------------------- */
/* /volumes/<name>: a directory with a capacity (its quota scope), made by
 * an admin for a group (mode 2770) or for everyone (mode 1777 when no
 * group). Removal needs it empty. */
int volumes_create(struct dbconn *c, const char *name, int64_t capacity,
		   int64_t gid, json_t **out, struct err *e);
int volumes_update(struct dbconn *c, const char *name, int64_t capacity,
		   json_t **out, struct err *e);
int volumes_delete(struct files *f, struct dbconn *c, const char *name,
		   struct err *e);
int volumes_list(struct dbconn *c, json_t **out, struct err *e);
/* For the admin overview: sets out's "storage": {"volumes":[{"name",
 * "capacity","used"}],"blob_bytes" (what the store holds, each blob
 * once), "disk":{"total","free"} (the file system of the store)}. No
 * table is read whole: volumes are few, blob_bytes is a counter. */
int files_overview(struct files *f, struct dbconn *c, json_t *out, struct err *e);

/* ---- consistency (fsck.c) ------------------------------------------------ */
/* Check metadata against blobs (verify: re-hash every blob); with repair,
 * fix reference counts, usage and unknown blob files. *out reports. */
int files_fsck(struct files *f, struct dbconn *c, int repair, int verify,
	       json_t **out, struct err *e);
/* Remove unreferenced blobs untouched for grace seconds. */
int files_gc(struct files *f, struct dbconn *c, int64_t grace, json_t **out,
	     struct err *e);

/* ---- backup and restore (backup.c) --------------------------------------- */
/* Is dir a place a backup may be written: absolute, its parent existing,
 * outside the data directory? (It may exist when empty.) */
int files_backup_check_dir(const char *data_dir, const char *dir, struct err *e);
/* Write a consistent backup of the running server's data into dir (new or
 * empty): the metadata's snapshot, the blobs it references (hard links
 * when link_ok and possible, else checked copies), keys, logs and TLS
 * material, and a manifest last. files_gc waits meanwhile. *report (the
 * manifest and timing) is the caller's. */
int files_backup(struct files *f, struct db *db, const char *data_dir,
		 const char *dir, int link_ok, json_t **report, struct err *e);
/* Offline: make data_dir (new or empty) from the backup in src, checking
 * the database and every blob against the manifest and their names. */
int files_restore(const char *src, const char *data_dir, json_t **report,
		  struct err *e);
/* COVE_ECONFLICT (in e) when data_dir holds a restore that did not finish:
 * a server must not start on it. */
int files_restore_pending(const char *data_dir, struct err *e);

/* Storage use and limits for df: scopes the caller can see. */
int fs_usage(struct dbconn *c, const struct fs_cred *cr, json_t **out,
	     struct err *e);

#endif
