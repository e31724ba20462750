/*
 * internal.h - what the files module's sources share: the blob store and
 * the context. Not for other modules.
 */
#ifndef COVE_FILES_INTERNAL_H
#define COVE_FILES_INTERNAL_H

#include "core/sink.h"
#include "files/files.h"

#include <nettle/sha2.h>
#include <pthread.h>

/* lock orders a blob's last-moment reuse (dedup) against its collection. */
struct store {
	char *root; /* $DATA/blobs/sha256 */
	char *tmp;  /* $DATA/tmp */
	pthread_mutex_t lock;
};

struct files {
	struct db *db;
	struct store store;
	unsigned home_mode;
	char *uploads; /* $DATA/uploads: parts of resumable uploads */
	struct db_batcher *batch; /* group commit of upload metadata (ns.c) */
	int archives; /* archives being made now (archive.c; atomic) */
	pthread_mutex_t backup_lock; /* held by a backup; files_gc waits on it */
};

/* One entry of a directory, as an archive walks it (ns.c). */
struct fs_child {
	struct fs_attr a;
	char name[FS_NAME_MAX + 1];
	char owner[40]; /* user and group names; "" when the id has none */
	char group[40];
};
/* Up to max children of directory dir whose names sort after after
 * ("" from the start), by name, with owner and group names: how many, or
 * a negative code. One statement: no transaction outlives the call. */
int fs_children(struct dbconn *c, int64_t dir, const char *after,
		struct fs_child *out, int max, struct err *e);
/* The user and group names of a's owner and group ("" when none). */
void fs_owner_names(struct dbconn *c, const struct fs_attr *a, char owner[40],
		    char group[40]);
/* The node id as it is now (COVE_ENOENT when gone). */
int fs_node_get(struct dbconn *c, int64_t id, struct fs_attr *a, struct err *e);

struct blob_writer;
/* The error of a failed write (an errno): a full disk is COVE_ETOOBIG. */
int store_write_err(int err, struct err *e);

int store_init(struct store *s, const char *data_dir, struct err *e);
/* SHA-256 of a file's bytes as hex: 0, or -1 when it cannot be read (fsck.c). */
int store_hash_file(const char *path, char out[65]);
void store_free(struct store *s);
char *store_path(const struct store *s, const char *sha);
int store_writer_open(const struct store *s, struct blob_writer **out,
		      struct err *e);
int store_writer_write(struct blob_writer *w, const void *data, size_t len,
		       struct err *e);
int64_t store_writer_size(const struct blob_writer *w);
/* Durably store the bytes; always consumes w. */
int store_writer_finish(const struct store *s, struct blob_writer *w,
			char sha_out[65], int64_t *size, struct err *e);
void store_writer_abort(struct blob_writer *w);
/* Hash the finished file at path, fsync it and move it into the store
 * (or drop it when the content is already there). */
int store_adopt(const struct store *s, const char *path, char sha_out[65],
		int64_t *size, struct err *e);
/* The same, for a part whose SHA-256 state over all its bytes is known
 * (no second pass over them). */
int store_adopt_hashed(const struct store *s, const char *path,
		       const struct sha256_ctx *state, int64_t size, char sha_out[65],
		       struct err *e);
/* Commit the bytes of the local file part (consumed: moved into the blob
 * store) as path; state is their SHA-256 so far, or NULL to hash again. */
int fs_commit_file(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		   const char *path, int mode, const char *part,
		   const struct sha256_ctx *state, int64_t size, struct fs_attr *out,
		   struct err *e);
/* An fd for reading (caller closes), or a negative code. */
int store_open_read(const struct store *s, const char *sha, int64_t *size,
		    struct err *e);

/* Parse a Range header ("bytes=a-b", "bytes=a-", "bytes=-n") against a
 * file of size bytes (api.c): 1 with [*from, *to] inside the file, 0 when
 * absent or ignorable (another unit, several ranges), -1 unsatisfiable. */
int fs_range_parse(const char *h, int64_t size, int64_t *from, int64_t *to);

#endif
