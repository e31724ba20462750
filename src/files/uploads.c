/*
 * uploads.c - resumable uploads: a session names its target path and
 * (optionally) its size; bytes are appended to $DATA/uploads/<id>.part at
 * the offset the client states, over as many requests as the network
 * allows; the offset is the part file's length, made durable at the end
 * of every request (also when the client vanished halfway). Completing
 * hashes the part, moves it into the blob store and commits the file as
 * a normal upload would. No HTTP here.
 */
#include "files/files.h"
#include "files/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SESSION_TTL 86400

struct upload_append {
	int fd;
	int64_t offset;
	int64_t limit; /* declared size or quota room */
	/* SHA-256 over the part so far, carried between requests in a sidecar
	 * file so that completing needs no second pass over the bytes */
	struct sha256_ctx sha;
	int sha_ok;
	char *sidecar;
	struct blob_sink sink; /* writes (and hashes) from offset on */
};

/* The sidecar: the hash state and the offset it covers. It is trusted only
 * when that offset is exactly the part's length; otherwise completion
 * hashes the part again. */
struct hash_state {
	int64_t offset;
	struct sha256_ctx sha;
};

static char *sidecar_path(struct files *f, const char *id)
{
	return xasprintf("%s/%s.sha", f->uploads, id);
}

static int sidecar_load(const char *path, int64_t offset, struct sha256_ctx *out)
{
	struct hash_state hs;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, &hs, sizeof(hs));
	close(fd);
	if (n != (ssize_t)sizeof(hs) || hs.offset != offset)
		return 0;
	*out = hs.sha;
	return 1;
}

static void sidecar_save(const char *path, int64_t offset, const struct sha256_ctx *sha)
{
	struct hash_state hs;
	memset(&hs, 0, sizeof(hs));
	hs.offset = offset;
	hs.sha = *sha;
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int ok = write(fd, &hs, sizeof(hs)) == (ssize_t)sizeof(hs);
		close(fd);
		if (ok)
			rename(tmp, path);
	}
	unlink(tmp);
	free(tmp);
}

static char *part_path(struct files *f, const char *id)
{
	return xasprintf("%s/%s.part", f->uploads, id);
}

static int64_t part_size(struct files *f, const char *id)
{
	char *p = part_path(f, id);
	struct stat st;
	int64_t n = stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
	free(p);
	return n;
}

/* Load a live session of cr: path, size, mode. */
static int session_load(struct dbconn *c, const struct fs_cred *cr, const char *id,
			char **path, int64_t *size, int *mode, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT path, size, mode FROM upload_sessions WHERE id = ? AND "
			  "uid = ? AND expires_at > ?",
			  "sii", id, cr->uid, time_now());
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1) {
		*path = xstrdup(db_text(st, 0));
		*size = db_int(st, 1);
		*mode = (int)db_int(st, 2);
	}
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such upload session (it may have expired)");
	return rc < 0 ? rc : 0;
}

static json_t *session_json(const char *id, const char *path, int64_t size,
			    int64_t offset)
{
	json_t *o = json_pack("{s:s,s:s,s:I}", "id", id, "path", path, "offset",
			      (json_int_t)offset);
	json_object_set_new(o, "size", size < 0 ? json_null() : json_integer(size));
	return o;
}

int uploads_create(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		   const char *path, int64_t size, int mode, json_t **out,
		   struct err *e)
{
	int64_t room;
	int rc = fs_upload_check(c, cr, path, size, &room, e);
	if (rc)
		return rc;
	char id[27];
	id_new(id);
	char *p = part_path(f, id);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	free(p);
	if (fd < 0)
		return err_set(e, COVE_EIO, "cannot start the upload: %s", strerror(errno));
	close(fd);
	int64_t now = time_now();
	rc = db_exec(c, e,
		     "INSERT INTO upload_sessions(id, uid, path, size, mode, created_at, "
		     "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		     "sisiiii", id, cr->uid, path, size, (int64_t)mode, now, now + SESSION_TTL);
	if (rc < 0)
		return rc;
	*out = session_json(id, path, size, 0);
	json_set_time(*out, "expires_at", now + SESSION_TTL);
	return 0;
}

int uploads_get(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		const char *id, json_t **out, struct err *e)
{
	char *path = NULL;
	int64_t size;
	int mode;
	int rc = session_load(c, cr, id, &path, &size, &mode, e);
	if (rc)
		return rc;
	*out = session_json(id, path, size, part_size(f, id));
	free(path);
	return 0;
}

int uploads_append_begin(struct files *f, struct dbconn *c,
			 const struct fs_cred *cr, const char *id, int64_t offset,
			 struct upload_append **out, struct err *e)
{
	char *path = NULL;
	int64_t size, room;
	int mode;
	int rc = session_load(c, cr, id, &path, &size, &mode, e);
	if (rc)
		return rc;
	rc = fs_upload_check(c, cr, path, -1, &room, e);
	free(path);
	if (rc)
		return rc;
	int64_t have = part_size(f, id);
	if (offset != have) {
		err_set(e, COVE_ECONFLICT,
			"upload is at offset %lld, not %lld: resume from there",
			(long long)have, (long long)offset);
		e->retry_after = 0;
		return COVE_ECONFLICT;
	}
	char *p = part_path(f, id);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return err_set(e, COVE_EIO, "cannot continue the upload: %s", strerror(errno));
	struct upload_append *a = xcalloc(1, sizeof(*a));
	a->fd = fd;
	a->offset = have;
	a->limit = size >= 0 && size < room ? size : room;
	a->sidecar = sidecar_path(f, id);
	if (have == 0) {
		sha256_init(&a->sha);
		a->sha_ok = 1;
	} else {
		a->sha_ok = sidecar_load(a->sidecar, have, &a->sha);
	}
	sink_init(&a->sink, fd, have, a->sha_ok ? &a->sha : NULL);
	*out = a;
	return 0;
}

int uploads_append_data(struct upload_append *a, const void *buf, size_t len,
			struct err *e)
{
	if ((int64_t)len > a->limit - a->offset - sink_bytes(&a->sink))
		return err_set(e, COVE_ETOOBIG,
			       "more bytes than the upload's size or the quota allow");
	int err = sink_write(&a->sink, buf, len);
	return err ? store_write_err(err, e) : 0;
}

int64_t uploads_append_end(struct upload_append *a)
{
	if (!a)
		return -1;
	/* the bytes first, then the state that describes them; after a failed
	 * write the part's length says what is there, and completing hashes
	 * it again */
	int ok = sink_end(&a->sink, 0) == 0;
	ok = fsync(a->fd) == 0 && ok;
	int64_t off = a->offset + a->sink.done;
	struct stat st;
	if (!ok && fstat(a->fd, &st) == 0)
		off = st.st_size;
	close(a->fd);
	if (a->sha_ok && ok)
		sidecar_save(a->sidecar, off, &a->sha);
	free(a->sidecar);
	free(a);
	return off;
}

int uploads_complete(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		     const char *id, struct fs_attr *out, char **path_out,
		     struct err *e)
{
	char *path = NULL;
	int64_t size;
	int mode;
	int rc = session_load(c, cr, id, &path, &size, &mode, e);
	if (rc)
		return rc;
	int64_t have = part_size(f, id);
	if (size >= 0 && have != size) {
		free(path);
		return err_set(e, COVE_ECONFLICT, "upload has %lld of its %lld bytes",
			       (long long)have, (long long)size);
	}
	char *p = part_path(f, id);
	char *sc = sidecar_path(f, id);
	struct sha256_ctx sha;
	int known = sidecar_load(sc, have, &sha) || (have == 0 && (sha256_init(&sha), 1));
	rc = fs_commit_file(f, c, cr, path, mode, p, known ? &sha : NULL, have, out, e);
	if (!rc)
		unlink(sc);
	free(sc);
	free(p);
	if (rc) {
		free(path);
		return rc;
	}
	db_exec(c, NULL, "DELETE FROM upload_sessions WHERE id = ?", "s", id);
	*path_out = path;
	return 0;
}

int uploads_delete(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		   const char *id, struct err *e)
{
	int rc = db_exec(c, e, "DELETE FROM upload_sessions WHERE id = ? AND uid = ?", "si",
			 id, cr->uid);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such upload session");
	char *p = part_path(f, id);
	unlink(p);
	free(p);
	p = sidecar_path(f, id);
	unlink(p);
	free(p);
	return 0;
}
