/*
 * image.c - container images as root file systems for jobs.
 *
 * An image is a list of tar layers (bottom first; uncompressed, gzip or
 * zstd, with the OCI and Docker media types) and a config blob. Its root
 * file system is unpacked once per manifest digest into a cache:
 *
 *   CACHE/<hex>/rootfs/     the tree, owned by root, no setuid/setgid bits,
 *                           no device nodes; read-only to everyone after
 *   CACHE/<hex>/size        bytes it holds (for the eviction budget)
 *   CACHE/<hex>.lock        flock: exclusive while unpacking or evicting,
 *                           shared while a job uses the tree
 *   CACHE/.tmp-<hex>-XXXXXX  an unpack in progress (never used)
 *
 * An entry exists only once complete: the tree is unpacked into a
 * temporary directory, synced (syncfs), and renamed into place; the cache
 * directory is then fsynced. A crash leaves a .tmp- directory, which the
 * next unpack of the same digest (holding the exclusive lock) or the
 * evictor removes, and never a half-written <hex>.
 *
 * Unpacking happens in a child process that chroots into the temporary
 * tree before it reads a single tar header, so even a bug in the checks
 * below cannot write outside the tree. The checks themselves: names that
 * are absolute or contain "..", writes through a symbolic link whose
 * target is absolute or climbs above the root, and hard links whose target
 * does the same are refused (the layer is bad: the unpack fails); libarchive
 * gets the paths with every symbolic link already resolved and its
 * ARCHIVE_EXTRACT_SECURE_* flags on besides. Owners are not restored
 * (everything belongs to root; the sandbox maps ids), setuid and setgid
 * bits are dropped, device nodes and sockets skipped, extended attributes
 * and ACLs ignored, and sizes bounded (image_limits).
 *
 * OCI whiteouts are applied layer by layer: "dir/.wh.name" removes name
 * from the layers below, "dir/.wh..wh..opq" hides everything the layers
 * below put in dir (what this layer adds stays).
 *
 * Must not: follow a symbolic link of an image on the host side (only
 * *at() calls with O_NOFOLLOW outside the chroot), leave a partial tree
 * where image_prepare's callers look, or remove a tree a job is using.
 */
#include "exec/exec.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMAGE_MAX_BYTES_DEFAULT (16LL << 30)
#define IMAGE_MAX_ENTRIES_DEFAULT 1000000
#define IMAGE_PATH_MAX 4096
#define IMAGE_DEPTH_MAX 256
#define IMAGE_LINK_HOPS 40
#define IMAGE_CONFIG_MAX (4 << 20)

/* ---- media types ---------------------------------------------------------- */

static const char *const image_layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.diff.tar",
	NULL,
};

int image_layer_type_ok(const char *mt)
{
	for (int i = 0; mt && image_layer_types[i]; i++)
		if (!strcmp(mt, image_layer_types[i]))
			return 1;
	return 0;
}

/* "sha256:<64 hex>" (or sha512:<128 hex>) -> the hex part, else NULL. */
static const char *digest_hex(const char *d)
{
	size_t want;
	const char *h;
	if (!d)
		return NULL;
	if (!strncmp(d, "sha256:", 7)) {
		h = d + 7;
		want = 64;
	} else if (!strncmp(d, "sha512:", 7)) {
		h = d + 7;
		want = 128;
	} else {
		return NULL;
	}
	size_t n = 0;
	for (; h[n]; n++)
		if (!((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')))
			return NULL;
	return n == want ? h : NULL;
}

/* ---- removing trees (never following a link) ------------------------------ */

static int rm_tree_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth > IMAGE_DEPTH_MAX + 8)
		return -ELOOP;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int saved = errno;
		close(fd);
		return -saved;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r = rm_tree_at(fd, de->d_name, depth + 1);
		if (r && !rc)
			rc = r;
	}
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !rc)
		rc = -errno;
	return rc;
}

/* Bytes a tree occupies (st_blocks), not following links. */
static int64_t tree_bytes_at(int dirfd, const char *name, int depth)
{
	struct stat sb;
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	int64_t n = (int64_t)sb.st_blocks * 512;
	if (!S_ISDIR(sb.st_mode) || depth > IMAGE_DEPTH_MAX + 8)
		return n;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return n;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return n;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n += tree_bytes_at(fd, de->d_name, depth + 1);
	closedir(d);
	return n;
}

/* ---- the unpacking child (runs chrooted in the new tree) ------------------ */

/* Paths this layer created (resolved, relative, no leading '/'), so that
 * its whiteouts and opaque markers only hide what lies below. */
struct pathset {
	char **v;
	size_t n, cap; /* cap a power of two; open addressing */
};

static uint64_t ps_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int ps_has(const struct pathset *ps, const char *s)
{
	if (!ps->cap)
		return 0;
	for (size_t i = ps_hash(s) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
		if (!ps->v[i])
			return 0;
		if (!strcmp(ps->v[i], s))
			return 1;
	}
}

static void ps_add(struct pathset *ps, const char *s)
{
	if (ps_has(ps, s))
		return;
	if ((ps->n + 1) * 2 > ps->cap) {
		struct pathset bigger = {xcalloc(ps->cap ? ps->cap * 2 : 256, sizeof(char *)), 0,
					 ps->cap ? ps->cap * 2 : 256};
		for (size_t i = 0; i < ps->cap; i++)
			if (ps->v[i]) {
				size_t k = ps_hash(ps->v[i]) & (bigger.cap - 1);
				while (bigger.v[k])
					k = (k + 1) & (bigger.cap - 1);
				bigger.v[k] = ps->v[i];
				bigger.n++;
			}
		free(ps->v);
		*ps = bigger;
	}
	size_t k = ps_hash(s) & (ps->cap - 1);
	while (ps->v[k])
		k = (k + 1) & (ps->cap - 1);
	ps->v[k] = xstrdup(s);
	ps->n++;
}

static void ps_free(struct pathset *ps)
{
	for (size_t i = 0; i < ps->cap; i++)
		free(ps->v[i]);
	free(ps->v);
	memset(ps, 0, sizeof *ps);
}

/*
 * Split a tar member name into clean components: leading "./" and "/"
 * repeated slashes and "." are dropped; an absolute name or a ".."
 * component is refused (-1). comps point into buf (modified).
 */
static int name_split(char *buf, char **comps, int *n)
{
	*n = 0;
	if (buf[0] == '/')
		return -1;
	for (char *s = buf; *s;) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		char *end = strchr(s, '/');
		if (end)
			*end = '\0';
		if (!strcmp(s, ".."))
			return -1;
		if (strcmp(s, ".")) {
			if (*n >= IMAGE_DEPTH_MAX)
				return -2;
			comps[(*n)++] = s;
		}
		if (!end)
			break;
		s = end + 1;
	}
	return 0;
}

/*
 * Resolve name inside the tree (the process's root is the tree): every
 * component but the last (and the last too when follow_last) that is a
 * symbolic link is replaced by its target. A target that is absolute or
 * climbs above the root is refused. out receives the resolved path without
 * a leading '/' ("" for the root). 0, or -1 with why set.
 */
static int tree_resolve(const char *name, int follow_last, struct buf *out,
			const char **why, int *hops)
{
	char *copy = xstrdup(name);
	char *comps[IMAGE_DEPTH_MAX];
	int n, rc = 0;
	struct buf cur = {0};
	int sp = name_split(copy, comps, &n);
	if (sp == -1) {
		*why = "absolute name or '..'";
		rc = -1;
		goto out;
	}
	if (sp == -2) {
		*why = "too deep";
		rc = -1;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		size_t base = cur.len;
		if (cur.len)
			buf_addc(&cur, '/');
		buf_adds(&cur, comps[i]);
		if (i == n - 1 && !follow_last)
			break;
		struct stat sb;
		if (lstat(buf_str(&cur), &sb) < 0 || !S_ISLNK(sb.st_mode))
			continue; /* missing components are created as directories */
		if (++*hops > IMAGE_LINK_HOPS) {
			*why = "too many levels of symbolic links";
			rc = -1;
			goto out;
		}
		char target[IMAGE_PATH_MAX];
		ssize_t tl = readlink(buf_str(&cur), target, sizeof target - 1);
		if (tl <= 0) {
			*why = "unreadable symbolic link";
			rc = -1;
			goto out;
		}
		target[tl] = '\0';
		if (target[0] == '/') {
			*why = "it would be written through a symbolic link with an "
			       "absolute target";
			rc = -1;
			goto out;
		}
		/* the link's directory, then its target, then the rest */
		struct buf next = {0};
		buf_add(&next, cur.data, base);
		/* lexically apply the target's components to the directory */
		char *tcopy = xstrdup(target);
		for (char *s = tcopy; s && *s;) {
			char *end = strchr(s, '/');
			if (end)
				*end = '\0';
			if (!strcmp(s, "..")) {
				if (!next.len) {
					free(tcopy);
					buf_free(&next);
					*why = "it would be written through a symbolic link "
					       "pointing outside the image";
					rc = -1;
					goto out;
				}
				char *slash = strrchr(next.data, '/');
				next.len = slash ? (size_t)(slash - next.data) : 0;
				next.data[next.len] = '\0';
			} else if (*s && strcmp(s, ".")) {
				if (next.len)
					buf_addc(&next, '/');
				buf_adds(&next, s);
			}
			s = end ? end + 1 : NULL;
		}
		free(tcopy);
		for (int k = i + 1; k < n; k++) {
			if (next.len)
				buf_addc(&next, '/');
			buf_adds(&next, comps[k]);
		}
		/* resolve the rewritten path from the start (the target may hold
		 * links itself) */
		struct buf sub = {0};
		rc = tree_resolve(next.len ? buf_str(&next) : ".", follow_last, &sub,
				  why, hops);
		buf_free(&next);
		if (!rc) {
			buf_reset(out);
			buf_add(out, sub.data ? sub.data : "", sub.len);
		}
		buf_free(&sub);
		goto done;
	}
	buf_reset(out);
	buf_add(out, cur.data ? cur.data : "", cur.len);
out:
done:
	buf_free(&cur);
	free(copy);
	return rc;
}

struct unpack {
	const struct image_limits *lim;
	int64_t bytes, entries;
	struct err *e;
};

/* Remove what the layers below put at path (not what this layer made). */
static int whiteout(const char *path, const struct pathset *mine)
{
	if (ps_has(mine, path))
		return 0;
	int r = rm_tree_at(AT_FDCWD, path, 0);
	return r == -ENOENT ? 0 : r;
}

static int opaque(const char *dir, const struct pathset *mine)
{
	int fd = open(*dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int rc = 0;
	struct dirent *de;
	struct buf p = {0};
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		buf_reset(&p);
		if (*dir)
			buf_addf(&p, "%s/", dir);
		buf_adds(&p, de->d_name);
		if (!ps_has(mine, buf_str(&p))) {
			int r = rm_tree_at(fd, de->d_name, 0);
			if (r && !rc)
				rc = r;
		}
	}
	buf_free(&p);
	closedir(d);
	return rc;
}

/* Record path and its ancestors as made by this layer. */
static void mine_add(struct pathset *mine, const char *path)
{
	char *p = xstrdup(path);
	ps_add(mine, p);
	for (char *s = strrchr(p, '/'); s; s = strrchr(p, '/')) {
		*s = '\0';
		ps_add(mine, p);
	}
	free(p);
}

static int layer_fail(struct unpack *u, int layer, const char *name, int code,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int layer_fail(struct unpack *u, int layer, const char *name, int code,
		      const char *fmt, ...)
{
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (name)
		return err_set(u->e, code, "layer %d: '%.80s': %s", layer + 1, name, what);
	return err_set(u->e, code, "layer %d: %s", layer + 1, what);
}

/* Make way for an entry of type ftype at path: a directory stays for a
 * directory; anything else of a lower layer (or a dir replaced by a
 * non-dir) goes. */
static int make_way(const char *path, mode_t ftype)
{
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return 0;
	if (S_ISDIR(sb.st_mode) && ftype == AE_IFDIR)
		return 0;
	int r = rm_tree_at(AT_FDCWD, path, 0);
	return r == -ENOENT ? 0 : r;
}

static int unpack_layer(struct unpack *u, int layer, int fd, struct archive *disk)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	struct pathset mine = {0};
	struct buf path = {0}, link = {0};
	int rc = 0;
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_none(a);
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		rc = layer_fail(u, layer, NULL, COVE_EINVAL, "not a tar archive: %s",
				archive_error_string(a));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = layer_fail(u, layer, NULL, COVE_EINVAL, "corrupt: %s",
					archive_error_string(a));
			goto out;
		}
		const char *name = archive_entry_pathname(ent);
		if (!name || strlen(name) >= IMAGE_PATH_MAX) {
			rc = layer_fail(u, layer, NULL, COVE_EINVAL, "a name is too long");
			goto out;
		}
		if (++u->entries > u->lim->max_entries) {
			rc = layer_fail(u, layer, NULL, COVE_ETOOBIG,
					"the image has more than %lld entries",
					(long long)u->lim->max_entries);
			goto out;
		}
		const char *why = NULL;
		int hops = 0;
		/* whiteouts: resolve the directory, act on the name */
		const char *slash = strrchr(name, '/');
		const char *base = slash ? slash + 1 : name;
		if (!strncmp(base, ".wh.", 4)) {
			char *dir = xstrndup(name, slash ? (size_t)(slash - name) : 0);
			struct buf d = {0};
			r = tree_resolve(*dir ? dir : ".", 1, &d, &why, &hops);
			free(dir);
			if (r) {
				buf_free(&d);
				rc = layer_fail(u, layer, name, COVE_EINVAL, "refused: %s", why);
				goto out;
			}
			int w = 0;
			if (!strcmp(base, ".wh..wh..opq")) {
				w = opaque(buf_str(&d), &mine);
			} else if (strncmp(base, ".wh..wh.", 8)) {
				/* (other .wh..wh. names are AUFS bookkeeping: ignored) */
				const char *victim = base + 4;
				if (!*victim || !strcmp(victim, ".") || !strcmp(victim, "..")) {
					buf_free(&d);
					rc = layer_fail(u, layer, name, COVE_EINVAL, "bad whiteout");
					goto out;
				}
				buf_reset(&path);
				if (d.len)
					buf_addf(&path, "%s/", buf_str(&d));
				buf_adds(&path, victim);
				w = whiteout(buf_str(&path), &mine);
			}
			buf_free(&d);
			if (w) {
				rc = layer_fail(u, layer, name, COVE_EIO, "whiteout failed: %s",
						strerror(-w));
				goto out;
			}
			continue;
		}
		if (tree_resolve(name, 0, &path, &why, &hops)) {
			rc = layer_fail(u, layer, name, COVE_EINVAL, "refused: %s", why);
			goto out;
		}
		mode_t type = archive_entry_filetype(ent);
		const char *hl = archive_entry_hardlink(ent);
		if (!hl && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK))
			continue; /* device nodes and sockets are not for jobs */
		if (!path.len) {
			/* the root itself ("./"): its mode is ours to decide */
			continue;
		}
		if (hl) {
			hops = 0;
			if (tree_resolve(hl, 0, &link, &why, &hops) || !link.len) {
				rc = layer_fail(u, layer, name, COVE_EINVAL,
						"hard link refused: %s", why ? why : "to the root");
				goto out;
			}
			struct stat sb;
			if (lstat(buf_str(&link), &sb) < 0 || S_ISDIR(sb.st_mode)) {
				rc = layer_fail(u, layer, name, COVE_EINVAL,
						"hard link to a missing file '%.80s'", hl);
				goto out;
			}
			archive_entry_set_hardlink(ent, buf_str(&link));
			archive_entry_set_size(ent, 0);
			type = AE_IFREG;
		} else if (type == AE_IFREG) {
			int64_t sz = archive_entry_size(ent);
			if (sz < 0 || (u->bytes += sz) > u->lim->max_bytes) {
				rc = layer_fail(u, layer, name, COVE_ETOOBIG,
						"the image holds more than %lld bytes",
						(long long)u->lim->max_bytes);
				goto out;
			}
		}
		int mw = make_way(buf_str(&path), type);
		if (mw) {
			rc = layer_fail(u, layer, name, COVE_EIO, "cannot replace: %s",
					strerror(-mw));
			goto out;
		}
		archive_entry_set_pathname(ent, buf_str(&path));
		archive_entry_set_perm(ent, archive_entry_perm(ent) & 01777);
		archive_entry_set_uid(ent, 0);
		archive_entry_set_gid(ent, 0);
		archive_entry_set_uname(ent, NULL);
		archive_entry_set_gname(ent, NULL);
		archive_entry_xattr_clear(ent);
		archive_entry_acl_clear(ent);
		archive_entry_set_fflags(ent, 0, 0);
		r = archive_write_header(disk, ent);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = layer_fail(u, layer, name, COVE_EINVAL, "%s",
					archive_error_string(disk));
			goto out;
		}
		if (!hl && type == AE_IFREG && archive_entry_size(ent) > 0) {
			const void *blk;
			size_t len;
			la_int64_t off;
			int64_t got = 0;
			while ((r = archive_read_data_block(a, &blk, &len, &off)) == ARCHIVE_OK) {
				got += (int64_t)len;
				if (got > archive_entry_size(ent)) {
					rc = layer_fail(u, layer, name, COVE_EINVAL,
							"more data than its size");
					goto out;
				}
				if (archive_write_data_block(disk, blk, len, off) < 0) {
					rc = layer_fail(u, layer, name, COVE_EIO, "%s",
							archive_error_string(disk));
					goto out;
				}
			}
			if (r != ARCHIVE_EOF) {
				rc = layer_fail(u, layer, name, COVE_EINVAL, "truncated: %s",
						archive_error_string(a));
				goto out;
			}
		}
		r = archive_write_finish_entry(disk);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = layer_fail(u, layer, name, COVE_EIO, "%s",
					archive_error_string(disk));
			goto out;
		}
		mine_add(&mine, buf_str(&path));
	}
out:
	archive_read_free(a);
	ps_free(&mine);
	buf_free(&path);
	buf_free(&link);
	return rc;
}

/* In the child: open the layers, chroot into root, unpack them in order.
 * Returns 0 or a code with e set. */
static int unpack_all(const char *root, char *const *layers, int n,
		      const struct image_limits *lim, struct err *e)
{
	int *fds = xcalloc((size_t)n + 1, sizeof(int));
	int rc = 0;
	for (int i = 0; i < n; i++)
		fds[i] = -1;
	for (int i = 0; i < n; i++) {
		fds[i] = open(layers[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fds[i] < 0) {
			rc = err_set(e, errno == ENOENT ? COVE_ENOENT : COVE_EIO,
				     "layer %d: cannot open its blob: %s", i + 1,
				     strerror(errno));
			goto out;
		}
	}
	if (chroot(root) < 0 || chdir("/") < 0) {
		rc = err_set(e, COVE_EINTERNAL, "chroot into the new tree: %s",
			     strerror(errno));
		goto out;
	}
	umask(0);
	struct archive *disk = archive_write_disk_new();
	archive_write_disk_set_options(
		disk, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_UNLINK |
			      ARCHIVE_EXTRACT_SECURE_SYMLINKS |
			      ARCHIVE_EXTRACT_SECURE_NODOTDOT |
			      ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	struct unpack u = {.lim = lim, .e = e};
	for (int i = 0; i < n && !rc; i++)
		rc = unpack_layer(&u, i, fds[i], disk);
	archive_write_free(disk);
out:
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return rc;
}

/* Unpack into root (an empty directory) in a child process. */
static int unpack_isolated(const char *root, char *const *layers, int n,
			   const struct image_limits *lim, struct err *e)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(e, COVE_EINTERNAL, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return err_set(e, COVE_EINTERNAL, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		struct err ce = {0};
		close(p[0]);
		signal(SIGPIPE, SIG_DFL);
		/* an unpack nobody waits for is not finished (it holds the lock) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(1);
		int rc = unpack_all(root, layers, n, lim, &ce);
		if (rc) {
			ce.code = rc;
			ssize_t w = write(p[1], &ce, sizeof ce);
			(void)w;
		}
		_exit(rc ? 1 : 0);
	}
	close(p[1]);
	struct err ce = {0};
	ssize_t got;
	while ((got = read(p[0], &ce, sizeof ce)) < 0 && errno == EINTR)
		;
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof ce && ce.code) {
		ce.msg[sizeof ce.msg - 1] = '\0';
		return err_set(e, ce.code, "%s", ce.msg);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(e, COVE_EINTERNAL, "the unpacking process died (status %d)",
			       status);
	return 0;
}

/* ---- the cache ------------------------------------------------------------ */

/* Open and lock CACHE/<hex>.lock (op LOCK_SH or LOCK_EX, maybe | LOCK_NB)
 * making sure the file locked is still the one at that name (the evictor
 * unlinks it while it holds it exclusively). fd or -errno. */
static int lock_entry(int cfd, const char *hex, int op)
{
	char name[160];
	snprintf(name, sizeof name, "%s.lock", hex);
	for (int tries = 0; tries < 100; tries++) {
		int fd = openat(cfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, op) < 0) {
			int saved = errno;
			close(fd);
			return -saved;
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && fstatat(cfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/* Does CACHE/<hex>/rootfs exist (a complete entry)? */
static int entry_ready(int cfd, const char *hex)
{
	char name[200];
	struct stat sb;
	snprintf(name, sizeof name, "%s/rootfs", hex);
	return fstatat(cfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

/* Remove .tmp-<hex>-* left by a crash (caller holds the exclusive lock). */
static void sweep_tmp(int cfd, const char *hex)
{
	char prefix[160];
	snprintf(prefix, sizeof prefix, ".tmp-%s-", hex);
	int fd = dup(cfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			rm_tree_at(cfd, de->d_name, 0);
	closedir(d);
}

static int write_small_at(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			0644);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int rc = w == (ssize_t)len ? 0 : -EIO;
	close(fd);
	return rc;
}

/* Unpack into a temporary directory and rename it to <hex>; the caller
 * holds the exclusive lock. */
static int unpack_entry(const char *cache_dir, int cfd, const char *hex,
			char *const *layers, int n, const struct image_limits *lim,
			struct err *e)
{
	char *tmp = xasprintf("%s/.tmp-%s-XXXXXX", cache_dir, hex);
	char *root = NULL;
	int tfd = -1, rc = 0;
	sweep_tmp(cfd, hex);
	/* not ready, yet there: debris no complete entry ever leaves */
	rm_tree_at(cfd, hex, 0);
	if (!mkdtemp(tmp)) {
		rc = err_set(e, COVE_EIO, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	root = xasprintf("%s/rootfs", tmp);
	if (mkdir(root, 0755) < 0) {
		rc = err_set(e, COVE_EIO, "cannot create %s: %s", root, strerror(errno));
		goto out;
	}
	if ((rc = unpack_isolated(root, layers, n, lim, e)))
		goto out;
	if (chmod(root, 0755) < 0) {
		rc = err_set(e, COVE_EIO, "chmod %s: %s", root, strerror(errno));
		goto out;
	}
	tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0) {
		rc = err_set(e, COVE_EIO, "open %s: %s", tmp, strerror(errno));
		goto out;
	}
	char size[32];
	snprintf(size, sizeof size, "%lld\n", (long long)tree_bytes_at(tfd, "rootfs", 0));
	if (write_small_at(tfd, "size", size) < 0 || fchmod(tfd, 0755) < 0 ||
	    syncfs(tfd) < 0) {
		rc = err_set(e, COVE_EIO, "cannot sync the unpacked image: %s", strerror(errno));
		goto out;
	}
	if (renameat(AT_FDCWD, tmp, cfd, hex) < 0) {
		rc = err_set(e, COVE_EIO, "cannot put the unpacked image in place: %s",
			     strerror(errno));
		goto out;
	}
	if (fsync(cfd) < 0) {
		rc = err_set(e, COVE_EIO, "fsync %s: %s", cache_dir, strerror(errno));
		goto out;
	}
out:
	if (tfd >= 0)
		close(tfd);
	if (rc) {
		char *slash = strrchr(tmp, '/');
		rm_tree_at(cfd, slash + 1, 0);
	}
	free(root);
	free(tmp);
	return rc;
}

int image_prepare(const char *cache_dir, const char *digest, char *const *layers,
		  char *const *media_types, int nlayers, const struct image_limits *lim,
		  char **rootfs, int *lock_fd, struct err *e)
{
	struct image_limits l = {0};
	const char *hex = digest_hex(digest);
	int cfd = -1, lfd = -1, rc = 0;
	*rootfs = NULL;
	*lock_fd = -1;
	if (lim)
		l = *lim;
	if (l.max_bytes <= 0)
		l.max_bytes = IMAGE_MAX_BYTES_DEFAULT;
	if (l.max_entries <= 0)
		l.max_entries = IMAGE_MAX_ENTRIES_DEFAULT;
	if (!hex)
		return err_set(e, COVE_EINVAL, "bad image digest '%.80s'", digest ? digest : "");
	if (nlayers < 0 || nlayers > 1000 || (nlayers && (!layers || !media_types)))
		return err_set(e, COVE_EINVAL, "bad layer list");
	for (int i = 0; i < nlayers; i++) {
		if (!layers[i] || layers[i][0] != '/')
			return err_set(e, COVE_EINVAL, "layer %d: not an absolute path", i + 1);
		if (!image_layer_type_ok(media_types[i]))
			return err_set(e, COVE_EINVAL,
				       "layer %d: unsupported media type '%.100s'", i + 1,
				       media_types[i] ? media_types[i] : "");
	}
	if (!cache_dir || cache_dir[0] != '/')
		return err_set(e, COVE_EINVAL, "the image cache must be an absolute path");
	if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, COVE_EIO, "cannot create %s: %s", cache_dir, strerror(errno));
	cfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0)
		return err_set(e, COVE_EIO, "cannot open %s: %s", cache_dir, strerror(errno));
	for (int round = 0; round < 5; round++) {
		lfd = lock_entry(cfd, hex, LOCK_SH);
		if (lfd < 0) {
			rc = err_set(e, COVE_EIO, "cannot lock the image cache: %s",
				     strerror(-lfd));
			goto out;
		}
		if (entry_ready(cfd, hex))
			break;
		close(lfd);
		lfd = lock_entry(cfd, hex, LOCK_EX);
		if (lfd < 0) {
			rc = err_set(e, COVE_EIO, "cannot lock the image cache: %s",
				     strerror(-lfd));
			goto out;
		}
		/* someone else may have unpacked it while we waited */
		if (!entry_ready(cfd, hex) &&
		    (rc = unpack_entry(cache_dir, cfd, hex, layers, nlayers, &l, e)))
			goto out;
		/* from exclusive to shared: not atomic, so look again */
		close(lfd);
		lfd = -1;
	}
	if (lfd < 0) {
		rc = err_set(e, COVE_ECONFLICT, "the image cache entry keeps vanishing");
		goto out;
	}
	/* its use time, for the evictor */
	char ent[160];
	snprintf(ent, sizeof ent, "%s", hex);
	utimensat(cfd, ent, NULL, AT_SYMLINK_NOFOLLOW);
	*rootfs = xasprintf("%s/%s/rootfs", cache_dir, hex);
	*lock_fd = lfd;
	lfd = -1;
out:
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	return rc;
}

/* ---- eviction ---------------------------------------------------------------- */

struct centry {
	char *hex;
	int64_t used; /* mtime of the entry directory */
	int64_t bytes;
};

static int centry_cmp(const void *a, const void *b)
{
	const struct centry *x = a, *y = b;
	return x->used < y->used ? -1 : x->used > y->used;
}

/* Remove entry hex if nobody uses it; 1 removed, 0 busy, <0 error. */
static int evict_one(int cfd, const char *hex)
{
	int lfd = lock_entry(cfd, hex, LOCK_EX | LOCK_NB);
	if (lfd == -EWOULDBLOCK)
		return 0;
	if (lfd < 0)
		return lfd;
	char trash[200], lock[160];
	char rnd[8];
	snprintf(rnd, sizeof rnd, "%06x", (unsigned)(time_mono() * 1e6) & 0xffffff);
	snprintf(trash, sizeof trash, ".del-%s-%s", hex, rnd);
	snprintf(lock, sizeof lock, "%s.lock", hex);
	int rc = 1;
	/* out of sight atomically, then removed at leisure */
	if (renameat(cfd, hex, cfd, trash) < 0 && errno != ENOENT)
		rc = -errno;
	else
		unlinkat(cfd, lock, 0);
	close(lfd);
	if (rc == 1)
		rm_tree_at(cfd, trash, 0);
	return rc;
}

int image_cache_evict(const char *cache_dir, int64_t max_age, int64_t max_bytes,
		      struct image_evict_stats *st, struct err *e)
{
	struct image_evict_stats s = {0};
	struct centry *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	if (st)
		*st = s;
	int cfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0) {
		if (st)
			*st = s;
		return errno == ENOENT ? 0 : err_set(e, COVE_EIO, "cannot open %s: %s",
						     cache_dir, strerror(errno));
	}
	int dfd = dup(cfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		close(cfd);
		return err_set(e, COVE_EIO, "cannot list %s: %s", cache_dir, strerror(errno));
	}
	int64_t now = time_now();
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat sb;
		const char *nm = de->d_name;
		if (fstatat(cfd, nm, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (!strncmp(nm, ".del-", 5) ||
		    (!strncmp(nm, ".tmp-", 5) && now - sb.st_mtime > 86400)) {
			/* a removal or an unpack that a crash interrupted; an unpack
			 * in progress is younger than a day */
			if (!strncmp(nm, ".tmp-", 5)) {
				char hex[130];
				const char *dash = strrchr(nm, '-');
				size_t hl = dash ? (size_t)(dash - (nm + 5)) : 0;
				if (hl && hl < sizeof hex) {
					memcpy(hex, nm + 5, hl);
					hex[hl] = '\0';
					int lfd = lock_entry(cfd, hex, LOCK_EX | LOCK_NB);
					if (lfd < 0)
						continue;
					rm_tree_at(cfd, nm, 0);
					close(lfd);
				}
				continue;
			}
			rm_tree_at(cfd, nm, 0);
			continue;
		}
		if (nm[0] == '.')
			continue;
		char sz[300];
		snprintf(sz, sizeof sz, "%s/size", nm);
		int64_t bytes = 0;
		int f = openat(cfd, sz, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (f >= 0) {
			char txt[32] = {0};
			ssize_t got = read(f, txt, sizeof txt - 1);
			if (got > 0)
				bytes = strtoll(txt, NULL, 10);
			close(f);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n].hex = xstrdup(nm);
		v[n].used = (int64_t)sb.st_mtime;
		v[n].bytes = bytes;
		n++;
	}
	closedir(d);
	qsort(v, n, sizeof *v, centry_cmp);
	int64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += v[i].bytes;
	/* oldest first: too old, or over the budget */
	for (size_t i = 0; i < n; i++) {
		int old = max_age > 0 && now - v[i].used > max_age;
		int over = max_bytes > 0 && total > max_bytes;
		if (!old && !over) {
			s.kept++;
			s.kept_bytes += v[i].bytes;
			continue;
		}
		int r = evict_one(cfd, v[i].hex);
		if (r == 1) {
			s.removed++;
			s.removed_bytes += v[i].bytes;
			total -= v[i].bytes;
		} else {
			if (r < 0 && !rc)
				rc = err_set(e, COVE_EIO, "cannot evict %s: %s", v[i].hex,
					     strerror(-r));
			s.kept++;
			s.kept_bytes += v[i].bytes;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].hex);
	free(v);
	close(cfd);
	if (st)
		*st = s;
	return rc;
}

/* ---- the image config --------------------------------------------------------- */

static int strv_from_json(json_t *a, char ***out, const char *what, struct err *e)
{
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > 4096)
		return err_set(e, COVE_EINVAL, "image config: %s must be an array of strings",
			       what);
	size_t n = json_array_size(a);
	char **v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (!s) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return err_set(e, COVE_EINVAL,
				       "image config: %s must be an array of strings", what);
		}
		v[i] = xstrdup(s);
	}
	*out = v;
	return 0;
}

/* "/a//b/./c/../d/" (or relative) -> "/a/b/d"; ".." stops at the root. */
static char *clean_abs(const char *p)
{
	struct buf b = {0};
	char *copy = xstrdup(p);
	for (char *s = copy; s && *s;) {
		char *end = strchr(s, '/');
		if (end)
			*end = '\0';
		if (!strcmp(s, "..")) {
			char *slash = b.len ? strrchr(b.data, '/') : NULL;
			b.len = slash ? (size_t)(slash - b.data) : 0;
			if (b.data)
				b.data[b.len] = '\0';
		} else if (*s && strcmp(s, ".")) {
			buf_addc(&b, '/');
			buf_adds(&b, s);
		}
		s = end ? end + 1 : NULL;
	}
	free(copy);
	if (!b.len)
		buf_adds(&b, "/");
	return buf_detach(&b);
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

int image_config_parse(const char *text, size_t len, struct image_config *c,
		       struct err *e)
{
	json_error_t je;
	int rc = 0;
	memset(c, 0, sizeof *c);
	if (len > IMAGE_CONFIG_MAX)
		return err_set(e, COVE_ETOOBIG, "image config larger than %d bytes",
			       IMAGE_CONFIG_MAX);
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(root)) {
		json_decref(root);
		return err_set(e, COVE_EINVAL, "image config is not a JSON object: %s",
			       je.text);
	}
	json_t *cfg = json_object_get(root, "config");
	if (cfg && !json_is_null(cfg) && !json_is_object(cfg)) {
		rc = err_set(e, COVE_EINVAL, "image config: 'config' must be an object");
		goto out;
	}
	if (!cfg || json_is_null(cfg))
		goto out; /* an image may say nothing */
	if ((rc = strv_from_json(json_object_get(cfg, "Env"), &c->env, "Env", e)) ||
	    (rc = strv_from_json(json_object_get(cfg, "Entrypoint"), &c->entrypoint,
				 "Entrypoint", e)) ||
	    (rc = strv_from_json(json_object_get(cfg, "Cmd"), &c->cmd, "Cmd", e)))
		goto out;
	for (char **v = c->env; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		if (!eq || eq == *v) {
			rc = err_set(e, COVE_EINVAL,
				     "image config: Env entry '%.64s' is not KEY=VALUE", *v);
			goto out;
		}
	}
	json_t *wd = json_object_get(cfg, "WorkingDir");
	if (wd && !json_is_null(wd)) {
		const char *s = json_string_value(wd);
		if (!s) {
			rc = err_set(e, COVE_EINVAL, "image config: WorkingDir must be a string");
			goto out;
		}
		if (strlen(s) > 4000 || strchr(s, '\n')) {
			rc = err_set(e, COVE_EINVAL, "image config: bad WorkingDir");
			goto out;
		}
		if (*s)
			c->workdir = clean_abs(s); /* as a container runtime reads it */
	}
	json_t *user = json_object_get(cfg, "User");
	if (json_is_string(user) && *json_string_value(user))
		c->user = xstrdup(json_string_value(user));
out:
	json_decref(root);
	if (rc)
		image_config_free(c);
	return rc;
}

void image_config_free(struct image_config *c)
{
	if (!c)
		return;
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	free(c->workdir);
	free(c->user);
	memset(c, 0, sizeof *c);
}
