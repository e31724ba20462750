/*
 * stage.c - a job's files on the host. Before it starts: its inputs are
 * linked (hard links to their immutable blobs, no copies) into
 * $DATA/jobs/<id>/in/<n>, its output directory and script are made, and
 * each is mounted in the sandbox at its file-space path. After it ends:
 * what it wrote is copied into the file space as its submitter, honouring
 * permissions, umask and quotas, and never overwriting unless asked.
 *
 * The output directory was written by an untrusted uid: it is read with
 * openat and O_NOFOLLOW only, never following a symbolic link, and only
 * directories and regular files are taken.
 */
#include "jobs/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTPUT_DEPTH_MAX 64
#define OUTPUT_ENTRIES_MAX 100000

static const char *keep(struct stage *st, char *s)
{
	st->owned = xrealloc(st->owned, sizeof(char *) * (size_t)(st->nowned + 1));
	st->owned[st->nowned++] = s;
	return s;
}

static void mount_add(struct stage *st, const char *host, const char *inside, int rw)
{
	st->mounts = xrealloc(st->mounts, sizeof(*st->mounts) * (size_t)(st->nmounts + 1));
	struct exec_mount *m = &st->mounts[st->nmounts++];
	m->host = host;
	m->inside = inside;
	m->writable = rw;
}

void stage_free(struct stage *st)
{
	for (int i = 0; i < st->nowned; i++)
		free(st->owned[i]);
	free(st->owned);
	free(st->mounts);
	memset(st, 0, sizeof(*st));
}

/* Put the bytes of file a at host path dst: a hard link to its blob. */
static int link_file(struct jobs *j, const struct fs_attr *a, const char *dst,
		     struct err *e)
{
	if (a->size == 0 || !a->sha256[0]) {
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0)
			return err_set(e, COVE_EIO, "cannot stage an input: %s", strerror(errno));
		fchmod(fd, 0444); /* the server's umask is 077 */
		close(fd);
		return 0;
	}
	char *blob = files_blob_host_path(j->files, a->sha256);
	int rc = 0;
	if (link(blob, dst) < 0)
		rc = err_set(e, COVE_EIO, "cannot stage an input (%s): %s", a->sha256,
			     strerror(errno));
	free(blob);
	return rc;
}

struct walk_stage {
	struct jobs *j;
	const char *root; /* host directory of this input */
	struct err *e;
};

static int stage_walk_fn(void *ctx, const char *rel, const struct fs_attr *a)
{
	struct walk_stage *w = ctx;
	char *dst = xasprintf("%s/%s", w->root, rel);
	int rc = 0;
	if (a->is_dir) {
		if ((mkdir(dst, 0755) < 0 && errno != EEXIST) || chmod(dst, 0755) < 0)
			rc = err_set(w->e, COVE_EIO, "cannot stage an input directory: %s",
				     strerror(errno));
	} else {
		rc = link_file(w->j, a, dst, w->e);
	}
	free(dst);
	return rc;
}

int stage_inputs(struct jobs *j, struct dbconn *c, const struct jobrec *rec,
		 const char *dir, const char *script, struct stage *st, struct err *e)
{
	struct fs_cred cr;
	int admin = 0;
	int64_t gid = rec->uid;
	db_query_int(c, NULL, &gid, "SELECT gid FROM users WHERE uid = ?", "i", rec->uid);
	int64_t n = 0;
	db_query_int(c, NULL, &n,
		     "SELECT count(*) FROM group_members m JOIN groups g ON g.gid = m.gid"
		     " WHERE g.name = 'admin' AND m.uid = ?",
		     "i", rec->uid);
	admin = n > 0;
	int rc = fs_cred_load(c, rec->uid, gid, admin, &cr, e);
	if (rc)
		return rc;
	char *in = xasprintf("%s/in", dir);
	if ((mkdir(in, 0755) < 0 && errno != EEXIST) || chmod(in, 0755) < 0) {
		rc = err_set(e, COVE_EIO, "cannot create %s: %s", in, strerror(errno));
		goto out;
	}
	json_t *inputs = json_object_get(rec->spec, "inputs");
	size_t i;
	json_t *x;
	json_array_foreach(inputs, i, x)
	{
		const char *path = json_string_value(x);
		struct fs_attr a;
		/* permissions are decided again now: they may have changed */
		if ((rc = fs_resolve(c, &cr, path, &a, e)))
			goto out;
		if (!perm_may(&cr, &a, a.is_dir ? PERM_R | PERM_X : PERM_R)) {
			rc = err_set(e, COVE_EPERM, "permission denied: cannot read input '%.200s'",
				     path);
			goto out;
		}
		char *host = xasprintf("%s/%zu", in, i);
		keep(st, host);
		if (a.is_dir) {
			if ((mkdir(host, 0755) < 0 && errno != EEXIST) || chmod(host, 0755) < 0) {
				rc = err_set(e, COVE_EIO, "cannot stage '%s': %s", path, strerror(errno));
				goto out;
			}
			struct walk_stage w = {.j = j, .root = host, .e = e};
			if ((rc = fs_walk(c, &cr, &a, stage_walk_fn, &w, e)))
				goto out;
		} else if ((rc = link_file(j, &a, host, e))) {
			goto out;
		}
		mount_add(st, host, path, 0);
	}
	/* the output directory: the job's only writable place besides /tmp */
	char *out = xasprintf("%s/out", dir);
	keep(st, out);
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		rc = err_set(e, COVE_EIO, "cannot create %s: %s", out, strerror(errno));
		goto out;
	}
	int64_t host_uid = j->opt.host_uid_base + rec->seq % 65536;
	if (chown(out, (uid_t)host_uid, (gid_t)host_uid) < 0) {
		rc = err_set(e, COVE_EIO, "cannot hand %s to the job's uid: %s", out,
			     strerror(errno));
		goto out;
	}
	mount_add(st, out, json_string_value(json_object_get(rec->spec, "output")), 1);
	if (script) {
		char *sp = xasprintf("%s/script", dir);
		keep(st, sp);
		int fd = open(sp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
		size_t len = strlen(script);
		if (fd < 0 || fchmod(fd, 0444) < 0 || write(fd, script, len) != (ssize_t)len) {
			rc = err_set(e, COVE_EIO, "cannot write the job's script: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
		mount_add(st, sp, "/job/script", 0);
	}
	/* cove itself, for applications it runs (DuckDB) */
	if (j->opt.self_exe)
		mount_add(st, j->opt.self_exe, "/opt/cove/bin/cove", 0);
	rc = 0;
out:
	free(in);
	fs_cred_free(&cr);
	return rc;
}

/* ---- collecting the output ------------------------------------------------------------- */

struct collect {
	struct jobs *j;
	struct dbconn *c;
	struct fs_cred cr;
	int overwrite;
	int64_t files, kept, skipped, entries;
	int stop;            /* a quota or an error ends the copy */
	struct buf msg;
};

static void note(struct collect *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct collect *k, const char *fmt, ...)
{
	if (k->msg.len > 2000)
		return;
	if (k->msg.len)
		buf_adds(&k->msg, "; ");
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&k->msg, fmt, ap);
	va_end(ap);
}

static int copy_file(struct collect *k, int fd, const char *path, const struct stat *sb)
{
	struct err e = {0};
	struct fs_attr old;
	struct err re = {0};
	if (fs_resolve(k->c, &k->cr, path, &old, &re) == 0) {
		if (!k->overwrite || old.is_dir) {
			k->kept++;
			return 0;
		}
	}
	int mode = (sb->st_mode & 0111) ? 0777 : 0666;
	mode &= ~(int)k->cr.umask;
	struct fs_upload *u = NULL;
	int rc = fs_upload_begin(k->j->files, k->c, &k->cr, path, sb->st_size, mode, &u, &e);
	char *buf = xmalloc(1 << 20);
	int64_t left = sb->st_size;
	while (!rc && left > 0) {
		ssize_t n = read(fd, buf, (size_t)(left < (1 << 20) ? left : (1 << 20)));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(&e, COVE_EIO, "short read");
			break;
		}
		rc = fs_upload_data(u, buf, (size_t)n, &e);
		left -= n;
	}
	free(buf);
	if (!rc)
		rc = fs_upload_commit(k->j->files, k->c, u, NULL, &e);
	else if (u)
		fs_upload_abort(u);
	if (rc) {
		note(k, "%s: %s", path, e.msg);
		if (rc == COVE_ETOOBIG || rc == COVE_EPERM || rc == COVE_EIO)
			k->stop = 1;
		return rc;
	}
	k->files++;
	return 0;
}

/* Copy the host directory dfd (owned by the caller) to path, recursively. */
static void copy_dir(struct collect *k, int dfd, const char *path, int depth)
{
	struct err e = {0};
	struct fs_attr a;
	if (fs_mkdir(k->c, &k->cr, path, -1, 1, &a, &e) && e.code != COVE_EEXIST) {
		note(k, "%s: %s", path, e.msg);
		k->stop = 1;
		close(dfd);
		return;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while (!k->stop && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++k->entries > OUTPUT_ENTRIES_MAX) {
			note(k, "more than %d entries: the rest was not copied", OUTPUT_ENTRIES_MAX);
			k->stop = 1;
			break;
		}
		struct stat sb;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char *raw = xasprintf("%s/%s", path, de->d_name);
		struct err pe = {0};
		char *sub = fs_path_clean(raw, &pe);
		free(raw);
		if (!sub) {
			k->skipped++;
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			if (depth >= OUTPUT_DEPTH_MAX) {
				note(k, "%s: deeper than %d levels, not copied", sub, OUTPUT_DEPTH_MAX);
				k->skipped++;
			} else {
				int fd = openat(dirfd(d), de->d_name,
						O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (fd >= 0)
					copy_dir(k, fd, sub, depth + 1);
			}
		} else if (S_ISREG(sb.st_mode)) {
			int fd = openat(dirfd(d), de->d_name,
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			struct stat fb;
			if (fd >= 0 && fstat(fd, &fb) == 0 && S_ISREG(fb.st_mode))
				copy_file(k, fd, sub, &fb);
			if (fd >= 0)
				close(fd);
		} else {
			k->skipped++; /* links, devices, sockets: not data */
		}
		free(sub);
	}
	closedir(d);
}

int stage_collect(struct jobs *j, const struct jobrec *rec, const char *dir,
		  int64_t *files, char **msg)
{
	struct collect k = {.j = j, .overwrite = json_is_true(json_object_get(rec->spec, "overwrite"))};
	struct err e = {0};
	*files = 0;
	*msg = NULL;
	k.c = db_get(j->db);
	int64_t gid = rec->uid, n = 0;
	db_query_int(k.c, NULL, &gid, "SELECT gid FROM users WHERE uid = ?", "i", rec->uid);
	db_query_int(k.c, NULL, &n,
		     "SELECT count(*) FROM group_members m JOIN groups g ON g.gid = m.gid"
		     " WHERE g.name = 'admin' AND m.uid = ?",
		     "i", rec->uid);
	if (fs_cred_load(k.c, rec->uid, gid, n > 0, &k.cr, &e)) {
		*msg = xasprintf("output not copied: %s", e.msg);
		db_put(j->db, k.c);
		return e.code;
	}
	char *out = xasprintf("%s/out", dir);
	int fd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(out);
	if (fd >= 0)
		copy_dir(&k, fd, json_string_value(json_object_get(rec->spec, "output")), 0);
	if (k.kept)
		note(&k, "%lld existing files kept (not overwritten)", (long long)k.kept);
	if (k.skipped)
		note(&k, "%lld entries skipped (not regular files or bad names)",
		     (long long)k.skipped);
	*files = k.files;
	*msg = k.msg.len ? buf_detach(&k.msg) : NULL;
	buf_free(&k.msg);
	fs_cred_free(&k.cr);
	db_put(j->db, k.c);
	return 0;
}
