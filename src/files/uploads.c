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
};

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
	int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return err_set(e, COVE_EIO, "cannot continue the upload: %s", strerror(errno));
	struct upload_append *a = xcalloc(1, sizeof(*a));
	a->fd = fd;
	a->offset = have;
	a->limit = size >= 0 && size < room ? size : room;
	*out = a;
	return 0;
}

int uploads_append_data(struct upload_append *a, const void *buf, size_t len,
			struct err *e)
{
	if ((int64_t)len > a->limit - a->offset)
		return err_set(e, COVE_ETOOBIG,
			       "more bytes than the upload's size or the quota allow");
	const char *p = buf;
	while (len) {
		ssize_t n = write(a->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, COVE_EIO, "cannot store bytes: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
		a->offset += n;
	}
	return 0;
}

int64_t uploads_append_end(struct upload_append *a)
{
	if (!a)
		return -1;
	fsync(a->fd);
	close(a->fd);
	int64_t off = a->offset;
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
	rc = fs_commit_file(f, c, cr, path, mode, p, out, e);
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
	return 0;
}
