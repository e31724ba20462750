/*
 * backup.c - a consistent copy of a data directory taken while the server
 * runs, and its restore into a new one.
 *
 * A backup directory holds
 *   cove.db        the metadata, one transaction's snapshot (VACUUM INTO)
 *   blobs/sha256/  every blob that snapshot references, copied and checked
 *                  against its name as it is copied (or hard-linked, with
 *                  link, when the backup lies on the data's file system)
 *   keys/ logs/ tls/  the signing keys, the jobs' logs, the TLS material
 *   manifest.json  written last, after everything above is on disk: a
 *                  directory without it is not a backup, and restore says so
 *
 * Why this is consistent: blob files are immutable and only files_gc
 * removes them, and gc waits on backup_lock while a backup runs. So every
 * blob the snapshot names is still there when its turn to be copied comes.
 * Bytes stored after the snapshot are not in it, and neither is their
 * metadata. Uploads in progress (uploads/) and the image cache (images/)
 * are not taken: neither was acknowledged as stored.
 *
 * No HTTP here. The SQL is the files module's own (the blobs table).
 */
#include "files/files.h"
#include "files/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_FORMAT "cove-backup/1"
#define COPY_CHUNK (1 << 20)
#define RESTORE_MARKER ".restore-unfinished"

/* The directories copied as they are, besides the database and blobs. */
static const char *const plain_dirs[] = {"keys", "logs", "tls", NULL};

static int io_err(struct err *e, const char *what, const char *path)
{
	return err_set(e, errno == ENOSPC ? COVE_ETOOBIG : COVE_EIO, "cannot %s %s: %s",
		       what, path, strerror(errno));
}

static int mkdir_p0700(const char *path, struct err *e)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return io_err(e, "create", path);
	return 0;
}

/* Copy src to a new file dst with src's mode (keys stay 0600). When want is
 * given, the copied bytes must hash to it. Returns 0, or COVE_EIO /
 * COVE_EINVAL (a mismatch); a failed copy leaves no dst. */
static int copy_file(const char *src, const char *dst, const char *want,
		     int64_t *size, struct err *e)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	struct stat st;
	if (in < 0 || fstat(in, &st) < 0) {
		rc = io_err(e, "read", src);
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777);
	if (out < 0) {
		rc = io_err(e, "create", dst);
		goto out;
	}
	struct sha256_ctx sha;
	sha256_init(&sha);
	char *buf = xmalloc(COPY_CHUNK);
	int64_t total = 0;
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = io_err(e, "read", src);
			break;
		}
		if (n == 0)
			break;
		if (want)
			sha256_update(&sha, (size_t)n, (const uint8_t *)buf);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = io_err(e, "write", dst);
				goto done;
			}
			off += w;
		}
		total += n;
	}
done:
	free(buf);
	if (!rc && want) {
		char got[65];
		sha256_digest_hex(&sha, got);
		if (strcmp(got, want))
			rc = err_set(e, COVE_EINVAL, "%s is damaged: its bytes hash to %.12s…, "
				     "not to its name", src, got);
	}
	if (size)
		*size = total;
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && !rc)
		rc = io_err(e, "write", dst);
	if (rc && out >= 0)
		unlink(dst);
	return rc;
}

/* Copy the regular files of src_dir/name into dst_dir/name (one level: the
 * directories copied are flat). A missing source directory is no error. */
static int copy_plain_dir(const char *src_root, const char *dst_root,
			  const char *name, int64_t *count, struct err *e)
{
	char *src = xasprintf("%s/%s", src_root, name);
	char *dst = xasprintf("%s/%s", dst_root, name);
	int rc = 0;
	DIR *d = opendir(src);
	if (!d) {
		if (errno != ENOENT)
			rc = io_err(e, "read", src);
		goto out;
	}
	if ((rc = mkdir_p0700(dst, e)))
		goto out;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *s = xasprintf("%s/%s", src, de->d_name);
		char *t = xasprintf("%s/%s", dst, de->d_name);
		struct stat st;
		if (lstat(s, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = copy_file(s, t, NULL, NULL, e);
			if (!rc)
				(*count)++;
		}
		free(s);
		free(t);
	}
out:
	if (d)
		closedir(d);
	free(src);
	free(dst);
	return rc;
}

/* Put the blob named sha from one store into another: a hard link when
 * asked and possible, else a checked copy. */
static int put_blob(const struct store *from, const struct store *to,
		    const char *sha, int link_ok, int64_t *bytes, struct err *e)
{
	char *src = store_path(from, sha), *dst = store_path(to, sha);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/%.2s", to->root, sha);
	int rc = mkdir_p0700(dir, e);
	if (rc)
		goto out;
	if (link_ok && link(src, dst) == 0) {
		struct stat st;
		if (stat(dst, &st) == 0)
			*bytes += st.st_size;
		goto out;
	}
	int64_t n = 0;
	rc = copy_file(src, dst, sha, &n, e);
	*bytes += n;
out:
	free(src);
	free(dst);
	return rc;
}

static int sync_tree(const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return io_err(e, "open", path);
	int rc = syncfs(fd) < 0 ? io_err(e, "sync", path) : 0;
	close(fd);
	return rc;
}

static int write_manifest(const char *dir, json_t *m, struct err *e)
{
	char *tmp = xasprintf("%s/manifest.json.tmp", dir);
	char *final = xasprintf("%s/manifest.json", dir);
	int rc = 0;
	if (json_dump_file(m, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		rc = io_err(e, "write", tmp);
		goto out;
	}
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = io_err(e, "sync", tmp);
	if (fd >= 0)
		close(fd);
	if (!rc && rename(tmp, final) < 0)
		rc = io_err(e, "rename", tmp);
	if (!rc)
		rc = sync_tree(dir, e);
out:
	free(tmp);
	free(final);
	return rc;
}

static int file_sha256(const char *path, char out[65], struct err *e)
{
	return store_hash_file(path, out) ? io_err(e, "read", path) : 0;
}

/* Is dir absent, or an empty directory? Creates it (0700) when absent. */
static int claim_empty_dir(const char *dir, struct err *e)
{
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return err_set(e, errno == ENOENT ? COVE_EINVAL : COVE_EIO,
			       "cannot create %s: %s", dir, strerror(errno));
	DIR *d = opendir(dir);
	if (!d)
		return err_set(e, COVE_ECONFLICT, "%s exists and is not a directory", dir);
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	if (!empty)
		return err_set(e, COVE_ECONFLICT, "%s is not empty: give a new or empty "
			       "directory", dir);
	return 0;
}

/* Is one of a, b inside the other (or the same)? Both absolute, resolved. */
static int nested(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
	return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == '\0') &&
	       (b[n] == '/' || b[n] == '\0');
}

int files_backup_check_dir(const char *data_dir, const char *dir, struct err *e)
{
	if (!dir || dir[0] != '/')
		return err_set(e, COVE_EINVAL, "the backup directory must be an absolute "
			       "path on the server's machine");
	if (strlen(dir) >= PATH_MAX - 200)
		return err_set(e, COVE_EINVAL, "the backup directory's path is too long");
	for (const char *p = dir; *p; p++)
		if ((unsigned char)*p < 0x20)
			return err_set(e, COVE_EINVAL, "the backup directory's path has a "
				       "control character");
	/* resolve the parent: the directory itself may not exist yet */
	char *copy = xstrdup(dir), *slash = strrchr(copy, '/');
	if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	char *parent = realpath(copy, NULL);
	free(copy);
	if (!parent)
		return err_set(e, COVE_EINVAL, "the backup directory's parent does not "
			       "exist on the server: %s", strerror(errno));
	char *full = xasprintf("%s/%s", strcmp(parent, "/") ? parent : "",
			       strrchr(dir, '/') + 1);
	char *data = realpath(data_dir, NULL);
	int rc = 0;
	if (!strcmp(strrchr(dir, '/') + 1, "..") || !strcmp(strrchr(dir, '/') + 1, "."))
		rc = err_set(e, COVE_EINVAL, "name the backup directory itself, not . or ..");
	else if (!data || nested(full, data))
		rc = err_set(e, COVE_EINVAL, "the backup directory must lie outside the "
			     "data directory (%s), and not contain it", data_dir);
	free(parent);
	free(full);
	free(data);
	return rc;
}

int files_backup(struct files *f, struct db *db, const char *data_dir,
		 const char *dir, int link_ok, json_t **report, struct err *e)
{
	int rc = files_backup_check_dir(data_dir, dir, e);
	if (rc)
		return rc;
	if ((rc = claim_empty_dir(dir, e)))
		return rc;
	int64_t started = time_now_ms();
	struct store to = {0};
	struct db *snap = NULL;
	json_t *missing = json_array(), *counts = json_object();
	int64_t blobs = 0, bytes = 0, plain = 0, version = 0;
	char *dbfile = xasprintf("%s/cove.db", dir);
	char dbsha[65] = "";

	pthread_mutex_lock(&f->backup_lock); /* files_gc waits from here on */
	if ((rc = db_snapshot(db, dbfile, e)))
		goto out;
	if ((rc = db_open(&snap, dbfile, 1, e)))
		goto out;
	/* only the blobs' tree: a backup has no tmp/ (put_blob makes ab/) */
	char *blobs_dir = xasprintf("%s/blobs", dir);
	to.root = xasprintf("%s/sha256", blobs_dir);
	rc = mkdir_p0700(blobs_dir, e);
	free(blobs_dir);
	if (rc || (rc = mkdir_p0700(to.root, e)))
		goto out;
	struct dbconn *c = db_get(snap);
	struct stmt *st;
	rc = db_query_int(c, e, &version, "PRAGMA user_version", NULL);
	if (rc == 0)
		rc = err_set(e, COVE_EIO, "the snapshot has no schema version");
	if (rc == 1)
		rc = db_query(c, &st, e, "SELECT sha256 FROM blobs WHERE refs > 0 ORDER BY sha256",
			      NULL);
	if (rc == 0) {
		while ((rc = db_step(st, e)) == 1) {
			const char *sha = db_text(st, 0);
			struct err be = {0};
			if (put_blob(&f->store, &to, sha, link_ok, &bytes, &be)) {
				/* a damaged or lost blob: the rest is still worth keeping */
				json_array_append_new(missing, json_pack("{s:s,s:s}", "sha256",
									 sha, "detail", be.msg));
				continue;
			}
			blobs++;
		}
		db_done(st);
	}
	const char *counted[][2] = {{"users", "SELECT count(*) FROM users"},
				    {"groups", "SELECT count(*) FROM groups"},
				    {"projects", "SELECT count(*) FROM projects"},
				    {"files", "SELECT count(*) FROM nodes WHERE is_dir = 0"},
				    {"jobs", "SELECT count(*) FROM jobs"},
				    {"manifests", "SELECT count(*) FROM manifests"}};
	for (size_t i = 0; !rc && i < sizeof(counted) / sizeof(counted[0]); i++) {
		int64_t n = 0;
		if (db_query_int(c, NULL, &n, counted[i][1], NULL) == 1)
			json_object_set_new(counts, counted[i][0], json_integer(n));
	}
	db_put(snap, c);
	if (rc < 0)
		goto out;
	rc = 0;
	db_close(snap);
	snap = NULL;
	for (int i = 0; !rc && plain_dirs[i]; i++)
		rc = copy_plain_dir(data_dir, dir, plain_dirs[i], &plain, e);
	if (rc)
		goto out;
	pthread_mutex_unlock(&f->backup_lock);
	if ((rc = sync_tree(dir, e)) || (rc = file_sha256(dbfile, dbsha, e)))
		goto unlocked;
	char created[32];
	time_format(started / 1000, created);
	json_t *m = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I,s:I,s:O,s:O}", "format",
			      BACKUP_FORMAT, "created", created, "schema_version",
			      (json_int_t)version, "db_sha256", dbsha, "blobs",
			      (json_int_t)blobs, "blob_bytes", (json_int_t)bytes, "other_files",
			      (json_int_t)plain, "counts", counts, "missing", missing);
	rc = write_manifest(dir, m, e);
	if (!rc) {
		json_object_set_new(m, "dir", json_string(dir));
		json_object_set_new(m, "seconds",
				    json_real((double)(time_now_ms() - started) / 1000.0));
		json_object_set_new(m, "linked", json_boolean(link_ok));
		*report = m;
	} else {
		json_decref(m);
	}
	goto unlocked;
out:
	pthread_mutex_unlock(&f->backup_lock);
unlocked:
	db_close(snap);
	free(to.root);
	json_decref(missing);
	json_decref(counts);
	free(dbfile);
	return rc;
}

int files_restore_pending(const char *data_dir, struct err *e)
{
	char *marker = xasprintf("%s/%s", data_dir, RESTORE_MARKER);
	int pending = access(marker, F_OK) == 0;
	free(marker);
	if (pending)
		return err_set(e, COVE_ECONFLICT, "%s holds a restore that did not finish: "
			       "remove it and run 'cove admin restore' again", data_dir);
	return 0;
}

int files_restore(const char *src, const char *data_dir, json_t **report,
		  struct err *e)
{
	char *mpath = xasprintf("%s/manifest.json", src);
	json_error_t je;
	json_t *m = json_load_file(mpath, 0, &je);
	struct store from = {0}, to = {0};
	struct db *db = NULL;
	char *dbsrc = xasprintf("%s/cove.db", src), *dbdst = xasprintf("%s/cove.db", data_dir);
	char *marker = NULL;
	int64_t blobs = 0, bytes = 0, plain = 0;
	int rc = 0;
	if (!m) {
		rc = err_set(e, COVE_EINVAL, "%s is not a complete cove backup (%s: %s)", src,
			     mpath, errno == ENOENT ? "missing" : je.text);
		goto out;
	}
	const char *fmt = json_string_value(json_object_get(m, "format"));
	const char *want_db = json_string_value(json_object_get(m, "db_sha256"));
	if (!fmt || strcmp(fmt, BACKUP_FORMAT) || !want_db)
		rc = err_set(e, COVE_EINVAL, "%s is not a backup this cove can read "
			     "(format %s)", src, fmt ? fmt : "unknown");
	else if (!data_dir[0])
		rc = err_set(e, COVE_EINVAL, "name the new data directory with --data");
	else
		rc = claim_empty_dir(data_dir, e);
	if (rc)
		goto out;
	/* until the end, cove serve refuses the directory (files_restore_pending) */
	marker = xasprintf("%s/%s", data_dir, RESTORE_MARKER);
	int mfd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (mfd < 0) {
		rc = io_err(e, "create", marker);
		goto out;
	}
	close(mfd);
	char got[65];
	if ((rc = file_sha256(dbsrc, got, e)))
		goto out;
	if (strcmp(got, want_db)) {
		rc = err_set(e, COVE_EINVAL, "%s is damaged: it does not match the manifest",
			     dbsrc);
		goto out;
	}
	if ((rc = copy_file(dbsrc, dbdst, want_db, NULL, e)))
		goto out;
	/* the blob stores: from's root is src/blobs/sha256, to's the new one */
	from.root = xasprintf("%s/blobs/sha256", src);
	if ((rc = store_init(&to, data_dir, e)))
		goto out;
	if ((rc = db_open(&db, dbdst, 1, e)))
		goto out;
	struct dbconn *c = db_get(db);
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT sha256 FROM blobs WHERE refs > 0", NULL)) == 0) {
		while ((rc = db_step(st, e)) == 1) {
			if ((rc = put_blob(&from, &to, db_text(st, 0), 0, &bytes, e)))
				break;
			blobs++;
		}
		db_done(st);
	}
	db_put(db, c);
	if (rc < 0)
		goto out;
	rc = 0;
	db_close(db); /* its WAL folded back into cove.db before the sync */
	db = NULL;
	for (int i = 0; !rc && plain_dirs[i]; i++)
		rc = copy_plain_dir(src, data_dir, plain_dirs[i], &plain, e);
	if (!rc)
		rc = sync_tree(data_dir, e);
	if (!rc && unlink(marker) < 0)
		rc = io_err(e, "remove", marker);
	if (!rc)
		rc = sync_tree(data_dir, e);
	if (!rc)
		*report = json_pack("{s:s,s:s,s:I,s:I,s:I,s:O}", "from", src, "data", data_dir,
				    "blobs", (json_int_t)blobs, "blob_bytes", (json_int_t)bytes,
				    "other_files", (json_int_t)plain, "counts",
				    json_object_get(m, "counts") ? json_object_get(m, "counts")
								 : json_null());
out:
	free(marker);
	db_close(db);
	free(from.root);
	store_free(&to);
	json_decref(m);
	free(mpath);
	free(dbsrc);
	free(dbdst);
	return rc;
}
