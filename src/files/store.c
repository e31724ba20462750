/*
 * store.c - the content-addressed blob store: $DATA/blobs/sha256/ab/<hex>.
 * A writer streams bytes into a temporary file under $DATA/tmp/<shard> while
 * hashing them; finishing fsyncs the file, renames it into place (or drops
 * it when the same content is already stored) and fsyncs the directory,
 * so a blob that metadata points to is always whole on disk. Blob files
 * are immutable. No SQL here: reference counts live in ns.c.
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
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define DROP_ASYNC_MIN (64LL << 20)
/* blobs under this size are placed without an fsync of their directory,
 * and recovered from tmp/ at start after a crash */
#define SMALL_BLOB (1LL << 20)

struct blob_writer {
	int fd;
	char *tmp;
	int drop_async; /* a big duplicate: remove tmp off the request's path */
	int in_tmp;     /* tmp lies in the store's tmp/ (store_init recovers it) */
	int placed;     /* tmp was renamed into the store: nothing to remove */
	struct sha256_ctx sha;
	struct blob_sink sink; /* stages, hashes and writes (core/sink.c) */
};

int store_write_err(int err, struct err *e)
{
	return err_set(e, err == ENOSPC ? COVE_ETOOBIG : COVE_EIO,
		       "cannot store bytes: %s", strerror(err));
}

static int mkdir_if(const char *path, struct err *e)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_set(e, COVE_EIO, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

static void fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/*
 * A leftover file in tmp/ smaller than SMALL_BLOB: hash it and, unless
 * that content is stored already, make it durable and move it to its
 * place. 0 when moved, -1 when the caller should remove it.
 */
static int store_recover(const struct store *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= SMALL_BLOB)
		goto out;
	struct sha256_ctx c;
	sha256_init(&c);
	if (sha256_update_fd(&c, fd, NULL) < 0 || fsync(fd) < 0)
		goto out;
	char sha[65];
	sha256_digest_hex(&c, sha);
	char *dir = xasprintf("%s/%.2s", s->root, sha);
	char *dst = store_path(s, sha);
	struct err e = {0};
	if (access(dst, F_OK) != 0 && mkdir_if(dir, &e) == 0 && rename(path, dst) == 0) {
		fsync_dir(dir);
		rc = 0;
	}
	free(dir);
	free(dst);
out:
	close(fd);
	return rc;
}

/* Temporaries are spread over TMP_SHARDS directories tmp/0 .. tmp/f:
 * creating a file holds its directory's lock while ext4 looks for a free
 * inode, and with every upload in one directory the others waited (and
 * spun) on it: a fifth of the CPU of small uploads. */
#define TMP_SHARDS 16

/*
 * Ask the file system to spread dir's new subdirectories over its block
 * groups (ext4's "top of a hierarchy" flag, chattr +T), as it does for the
 * root's: ext4 creates a file's inode in its directory's group first, and
 * without a journal it skips every inode freed there in the last minutes,
 * reading each one's block to find out. Shards near the directories of
 * files just deleted paid that on every upload. Elsewhere, a no-op.
 */
static void spread_subdirs(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
		flags |= FS_TOPDIR_FL;
		ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
}

/* Recover or remove the leftovers of a crash in directory dir. */
static void store_sweep(const struct store *s, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && store_recover(s, p) != 0)
			unlink(p);
		free(p);
	}
	closedir(d);
}

int store_init(struct store *s, const char *data_dir, struct err *e)
{
	pthread_mutex_init(&s->lock, NULL);
	s->root = xasprintf("%s/blobs/sha256", data_dir);
	s->tmp = xasprintf("%s/tmp", data_dir);
	char *blobs = xasprintf("%s/blobs", data_dir);
	int rc = mkdir_if(blobs, e);
	free(blobs);
	if (rc || (rc = mkdir_if(s->root, e)) || (rc = mkdir_if(s->tmp, e)))
		return rc;
	/* Leftovers of a crash: a small one may be a stored blob whose rename
	 * did not reach the disk (see store_writer_finish), so it is put in
	 * place (unreferenced, the collector takes it later); the others are
	 * writes that never finished. tmp/ itself held them before shards. */
	store_sweep(s, s->tmp);
	spread_subdirs(s->tmp);
	for (int i = 0; i < TMP_SHARDS && !rc; i++) {
		char *shard = xasprintf("%s/%x", s->tmp, i);
		if ((rc = mkdir_if(shard, e)) == 0)
			store_sweep(s, shard);
		free(shard);
	}
	return rc;
}

void store_free(struct store *s)
{
	if (s->root)
		pthread_mutex_destroy(&s->lock);
	free(s->root);
	free(s->tmp);
	s->root = s->tmp = NULL;
}

char *store_path(const struct store *s, const char *sha)
{
	return xasprintf("%s/%.2s/%s", s->root, sha, sha);
}

int store_writer_open(const struct store *s, struct blob_writer **out,
		      struct err *e)
{
	struct blob_writer *w = xcalloc(1, sizeof(*w));
	static unsigned next_shard; /* atomic */
	char id[27];
	id_new(id);
	unsigned shard = __atomic_fetch_add(&next_shard, 1, __ATOMIC_RELAXED) % TMP_SHARDS;
	w->tmp = xasprintf("%s/%x/%s.part", s->tmp, shard, id);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int rc = err_set(e, COVE_EIO, "cannot create a temporary file: %s",
				 strerror(errno));
		free(w->tmp);
		free(w);
		return rc;
	}
	sha256_init(&w->sha);
	sink_init(&w->sink, w->fd, 0, &w->sha);
	w->in_tmp = 1;
	*out = w;
	return 0;
}

int store_writer_write(struct blob_writer *w, const void *data, size_t len,
		       struct err *e)
{
	int err = sink_write(&w->sink, data, len);
	return err ? store_write_err(err, e) : 0;
}

int64_t store_writer_size(const struct blob_writer *w)
{
	return sink_bytes(&w->sink);
}

/* path holds size bytes: refresh its time (the collector's grace period
 * starts again) and say so. Call with s->lock held. */
static int store_reuse_locked(const char *path, int64_t size)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_size == size &&
	       utimensat(AT_FDCWD, path, NULL, 0) == 0;
}

static int store_reuse(const struct store *s, const char *path, int64_t size)
{
	pthread_mutex_lock((pthread_mutex_t *)&s->lock);
	int ok = store_reuse_locked(path, size);
	pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
	return ok;
}

static void *unlink_main(void *arg)
{
	unlink(arg);
	free(arg);
	return NULL;
}

/* Remove path on a thread of its own (freeing a big file's blocks takes a
 * while), or here when no thread can start. Takes path. */
static void unlink_async(char *path)
{
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, unlink_main, path)) {
		unlink(path);
		free(path);
	}
	pthread_attr_destroy(&a);
}

void store_writer_abort(struct blob_writer *w)
{
	if (!w)
		return;
	sink_end(&w->sink, 1);
	if (w->fd >= 0)
		close(w->fd);
	if (w->drop_async) {
		unlink_async(w->tmp);
	} else {
		if (!w->placed) /* an unlink takes the directory's lock even when
				 * there is nothing to remove */
			unlink(w->tmp);
		free(w->tmp);
	}
	free(w);
}

int store_writer_finish(const struct store *s, struct blob_writer *w,
			char sha_out[65], int64_t *size, struct err *e)
{
	int rc = 0;
	int err = sink_end(&w->sink, 0);
	if (err) {
		rc = store_write_err(err, e);
		goto out;
	}
	sha256_digest_hex(&w->sha, sha_out);
	*size = w->sink.done;
	char *dir = xasprintf("%s/%.2s", s->root, sha_out);
	char *path = store_path(s, sha_out);
	/* Same content already stored: keep the old file, with a fresh time so
	 * the collector's grace period covers this commit (under its lock).
	 * The new copy is then never fsynced, and a big one is removed off
	 * the request's path. */
	if (store_reuse(s, path, *size)) {
		w->drop_async = *size >= DROP_ASYNC_MIN;
		goto done;
	}
	if (fsync(w->fd) < 0) {
		rc = err_set(e, COVE_EIO, "cannot flush bytes to disk: %s", strerror(errno));
		goto done;
	}
	close(w->fd);
	w->fd = -1;
	if ((rc = mkdir_if(dir, e)) == 0) {
		pthread_mutex_lock((pthread_mutex_t *)&s->lock);
		if (store_reuse_locked(path, *size)) {
			/* stored meanwhile by a concurrent upload */
		} else if (rename(w->tmp, path) < 0) {
			rc = err_set(e, COVE_EIO, "cannot store blob: %s", strerror(errno));
		} else {
			w->placed = 1;
			if (*size >= SMALL_BLOB || !w->in_tmp)
				fsync_dir(dir);
		}
		/* A small blob's rename out of tmp/ is not fsynced: that doubled
		 * the cost of a small upload. Its bytes are durable (fsync above)
		 * and a rename is atomic, so after a crash they are here or in
		 * tmp/, where store_init finds and places them (store_recover). */
		pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
	}
done:
	free(dir);
	free(path);
out:
	store_writer_abort(w); /* closes and removes the temporary (if left) */
	return rc;
}

int store_adopt_hashed(const struct store *s, const char *path,
		       const struct sha256_ctx *state, int64_t size, char sha_out[65],
		       struct err *e)
{
	struct blob_writer *w = xcalloc(1, sizeof(*w));
	w->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (w->fd < 0) {
		free(w);
		return err_set(e, COVE_EIO, "upload data is missing: %s", strerror(errno));
	}
	w->tmp = xstrdup(path);
	w->sha = *state;
	sink_init(&w->sink, w->fd, 0, NULL);
	w->sink.done = size; /* already written */
	int64_t got;
	return store_writer_finish(s, w, sha_out, &got, e);
}

int store_adopt(const struct store *s, const char *path, char sha_out[65],
		int64_t *size, struct err *e)
{
	struct blob_writer *w = xcalloc(1, sizeof(*w));
	w->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (w->fd < 0) {
		free(w);
		return err_set(e, COVE_EIO, "upload data is missing: %s", strerror(errno));
	}
	w->tmp = xstrdup(path);
	sha256_init(&w->sha);
	sink_init(&w->sink, w->fd, 0, NULL);
	/* already written: only hashed and counted */
	if (sha256_update_fd(&w->sha, w->fd, &w->sink.done) < 0) {
		int rc = err_set(e, COVE_EIO, "cannot read upload data: %s", strerror(errno));
		store_writer_abort(w);
		return rc;
	}
	return store_writer_finish(s, w, sha_out, size, e);
}

int store_open_read(const struct store *s, const char *sha, int64_t *size,
		    struct err *e)
{
	char *path = store_path(s, sha);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return err_set(e, COVE_EIO, "stored bytes are missing (run cove admin fsck)");
	struct stat st;
	if (fstat(fd, &st) == 0 && size)
		*size = st.st_size;
	return fd;
}

/* ---- for other modules (files.h) ---------------------------------------- */

int files_blob_writer(struct files *f, struct blob_writer **out, struct err *e)
{
	return store_writer_open(&f->store, out, e);
}

int files_blob_write(struct blob_writer *w, const void *data, size_t len,
		     struct err *e)
{
	return store_writer_write(w, data, len, e);
}

int files_blob_finish(struct files *f, struct blob_writer *w, char sha_out[65],
		      int64_t *size, struct err *e)
{
	return store_writer_finish(&f->store, w, sha_out, size, e);
}

void files_blob_abort(struct blob_writer *w)
{
	store_writer_abort(w);
}

int files_blob_adopt(struct files *f, const char *path, const void *state,
		     int64_t size, char sha_out[65], struct err *e)
{
	if (state)
		return store_adopt_hashed(&f->store, path, state, size, sha_out, e);
	int64_t got;
	return store_adopt(&f->store, path, sha_out, &got, e);
}

int files_blob_open(struct files *f, const char *sha, int64_t *size,
		    struct err *e)
{
	return store_open_read(&f->store, sha, size, e);
}

int files_blob_present(struct files *f, const char *sha, int64_t *size)
{
	char *path = store_path(&f->store, sha);
	struct stat st;
	/* under the lock that files_gc holds from dropping a blob's row to
	 * removing its bytes: either both happened or neither */
	pthread_mutex_lock(&f->store.lock);
	int ok = stat(path, &st) == 0;
	pthread_mutex_unlock(&f->store.lock);
	free(path);
	if (ok && size)
		*size = st.st_size;
	return ok;
}

const char *files_tmp_dir(struct files *f)
{
	return f->store.tmp;
}
