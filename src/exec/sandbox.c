/*
 * sandbox.c - the bubblewrap command line of a job, and the generated files
 * of its /etc.
 *
 * What a job sees: a tmpfs root holding a read-only /usr (with /bin, /sbin,
 * /lib, /lib64 as symlinks into it), a curated read-only /etc (the dynamic
 * linker's cache, certificates, time zone, fonts, interpreters' site files,
 * and generated passwd/group/hosts naming only the job's user), a new /proc
 * of its own pid namespace, a minimal /dev, a size-limited private /tmp,
 * and exactly the mounts of its spec. Nothing else of the host: no /home,
 * /root, /var, /run, /sys, /etc/shadow.
 *
 * With an image (spec->rootfs) the host's /usr and /etc are not used at
 * all: the job's / is built from the image's tree, bound read-only entry
 * by entry, so that the mount points cove adds (/proc, /dev, /tmp, the
 * generated /etc files, the job's inputs and output) can be made on a
 * tmpfs without writing to the shared, cached tree: a directory of the
 * image that holds such a mount point is recreated (same mode) and its
 * other entries bound one by one; everything else is bound whole;
 * symbolic links are recreated as they are. At the end / is remounted
 * read-only. /proc, /dev, /tmp, passwd/group/hosts, the mounts, the
 * namespaces, seccomp, the environment rules: exactly as without one.
 *
 * Must not: pass a host path the spec did not name, or any fd beyond the
 * fixed SANDBOX_FD_* numbers. Paths and names were checked by spec.c.
 */
#include "exec/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Host /etc entries bound read-only when present. Each earns its place:
 * ld.so (every binary), alternatives (BLAS and LAPACK for Octave and NumPy
 * resolve through it), localtime/timezone, ssl and ca-certificates (HTTPS
 * when the network is allowed), mime.types and magic (file type guessing),
 * fonts (plots), nsswitch/gai/host.conf/protocols/services (name lookups),
 * octaverc and python3* (their site configuration), terminfo/inputrc
 * (interactive tools behave), os-release (libraries ask what they run on). */
static const char *const sandbox_etc[] = {
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime",
	"timezone", "ssl/certs", "ssl/openssl.cnf", "ca-certificates",
	"ca-certificates.conf", "mime.types", "magic", "magic.mime", "fonts",
	"nsswitch.conf", "gai.conf", "host.conf", "protocols", "services",
	"octaverc", "python3", "python3.11", "python3.12", "python3.13",
	"matplotlibrc", "terminfo", "inputrc", "os-release", "locale.alias",
	"bash.bashrc", "profile", "environment", "mailcap", "papersize",
};

struct argv_b {
	char **v;
	size_t n, cap;
};

static void av_add(struct argv_b *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

static void av_add2(struct argv_b *a, const char *x, const char *y)
{
	av_add(a, x);
	av_add(a, y);
}

static void av_add3(struct argv_b *a, const char *x, const char *y,
		    const char *z)
{
	av_add(a, x);
	av_add(a, y);
	av_add(a, z);
}

static void av_addi(struct argv_b *a, int64_t v)
{
	char s[32];
	snprintf(s, sizeof s, "%lld", (long long)v);
	av_add(a, s);
}

static int env_has(char *const *env, const char *key)
{
	size_t k = strlen(key);
	for (; env && *env; env++)
		if (!strncmp(*env, key, k) && (*env)[k] == '=')
			return 1;
	return 0;
}

static void av_env(struct argv_b *a, char *const *env, const char *key,
		   const char *val)
{
	if (!env_has(env, key))
		av_add3(a, "--setenv", key, val);
}

/* ---- a root file system from an image ------------------------------------- */

#define ROOTFS_ENTRIES_MAX 8192

struct points {
	const char *v[EXEC_MOUNTS_MAX + 16];
	int n;
};

/* Is p strictly below dir ("" is the root)? */
static int path_below(const char *p, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(p, dir, n) && p[n] == '/' && p[n + 1];
}

/*
 * Mirror the image directory rel ("" for the root; it exists in the new
 * root already) into the new root: entries that are mount points are left
 * to the mounts, directories holding mount points are recreated and
 * descended into, the rest is bound (or, for links, recreated).
 */
static void rootfs_dir(struct argv_b *a, const char *host, const char *rel,
		       const struct points *pts, int depth, int *budget)
{
	char *hp = xasprintf("%s%s", host, *rel ? rel : "/");
	struct dirent **list = NULL;
	int n = scandir(hp, &list, NULL, alphasort);
	free(hp);
	for (int i = 0; i < n; i++) {
		const char *nm = list[i]->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, "..") || *budget <= 0)
			continue;
		char *child = xasprintf("%s/%s", rel, nm);
		char *hc = xasprintf("%s%s", host, child);
		int exact = 0, under = 0;
		for (int k = 0; k < pts->n; k++) {
			if (!strcmp(pts->v[k], child))
				exact = 1;
			else if (path_below(pts->v[k], child))
				under = 1;
		}
		struct stat sb;
		if (exact || lstat(hc, &sb) < 0) {
			/* a mount point: cove's or the job's own goes there */
		} else if (under) {
			/* only a real directory is opened up; a link or file in the
			 * way of a mount gives way to it */
			if (S_ISDIR(sb.st_mode) && depth < 64) {
				char perms[16];
				snprintf(perms, sizeof perms, "%04o", (unsigned)(sb.st_mode & 07777));
				av_add2(a, "--perms", perms);
				av_add2(a, "--dir", child);
				rootfs_dir(a, host, child, pts, depth + 1, budget);
			}
		} else if (S_ISLNK(sb.st_mode)) {
			char target[4096];
			ssize_t tl = readlink(hc, target, sizeof target - 1);
			if (tl > 0) {
				target[tl] = '\0';
				av_add3(a, "--symlink", target, child);
			}
		} else if (S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode)) {
			char *src = xasprintf("%s%s", SANDBOX_STAGE_ROOT, child);
			av_add3(a, "--ro-bind", src, child);
			free(src);
		}
		--*budget;
		free(child);
		free(hc);
	}
	if (n > 0 && *budget <= 0 && depth == 0)
		log_event(LOG_WARN, "image root: too many entries around mount points, "
				    "some left out", "{s:i}", "max", ROOTFS_ENTRIES_MAX);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void rootfs_tree(struct argv_b *a, const struct exec_spec *s)
{
	static const char *const fixed[] = {"/proc", "/dev", "/tmp", "/var/tmp",
					    "/etc/passwd", "/etc/group", "/etc/hosts"};
	struct points pts = {.n = 0};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		pts.v[pts.n++] = fixed[i];
	if (s->network)
		pts.v[pts.n++] = "/etc/resolv.conf";
	for (int i = 0; i < s->nmounts && i < EXEC_MOUNTS_MAX; i++)
		pts.v[pts.n++] = s->mounts[i].inside;
	/* a working directory the image lacks is made on the tmpfs */
	const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
	struct stat sb;
	char *hcwd = xasprintf("%s%s", s->rootfs, cwd);
	int make_cwd = strcmp(cwd, "/") && lstat(hcwd, &sb) < 0;
	free(hcwd);
	for (int i = 0; make_cwd && i < pts.n; i++)
		if (!strcmp(pts.v[i], cwd) || path_below(cwd, pts.v[i]))
			make_cwd = 0;
	if (make_cwd)
		pts.v[pts.n++] = cwd;
	int budget = ROOTFS_ENTRIES_MAX;
	rootfs_dir(a, s->rootfs, "", &pts, 0, &budget);
	if (make_cwd)
		av_add2(a, "--dir", cwd);
}

char **sandbox_argv(const struct exec_spec *s)
{
	struct argv_b a = {0};
	av_add(&a, EXEC_BWRAP);
	/* Namespaces. Without --unshare-net the job shares the host's. */
	av_add(&a, "--unshare-user");
	av_add(&a, "--unshare-pid");
	av_add(&a, "--unshare-ipc");
	av_add(&a, "--unshare-uts");
	av_add(&a, "--unshare-cgroup-try");
	if (!s->network)
		av_add(&a, "--unshare-net");
	av_add(&a, "--uid");
	av_addi(&a, s->uid_inside);
	av_add(&a, "--gid");
	av_addi(&a, s->gid_inside);
	av_add2(&a, "--hostname", s->job_id);
	/* Dies with the shim; no controlling terminal (TIOCSTI); no caps. */
	av_add(&a, "--die-with-parent");
	av_add(&a, "--new-session");
	av_add2(&a, "--cap-drop", "ALL");

	/* The file system: the image's, or the host's /usr and some /etc. */
	static const char *const links[][2] = {
		{"usr/bin", "/bin"},     {"usr/sbin", "/sbin"},
		{"usr/lib", "/lib"},     {"usr/lib64", "/lib64"},
		{"usr/lib32", "/lib32"}, {"usr/libx32", "/libx32"},
	};
	if (s->rootfs) {
		rootfs_tree(&a, s);
	} else {
		av_add3(&a, "--ro-bind", "/usr", "/usr");
		for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
			char *target = xasprintf("/%s", links[i][0]);
			if (access(target, F_OK) == 0)
				av_add3(&a, "--symlink", links[i][0], links[i][1]);
			free(target);
		}
		for (size_t i = 0; i < sizeof sandbox_etc / sizeof sandbox_etc[0]; i++) {
			char *p = xasprintf("/etc/%s", sandbox_etc[i]);
			av_add3(&a, "--ro-bind-try", p, p);
			free(p);
		}
	}
	if (s->network)
		av_add3(&a, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf");
	char fd[16];
	snprintf(fd, sizeof fd, "%d", SANDBOX_FD_PASSWD);
	av_add3(&a, "--ro-bind-data", fd, "/etc/passwd");
	snprintf(fd, sizeof fd, "%d", SANDBOX_FD_GROUP);
	av_add3(&a, "--ro-bind-data", fd, "/etc/group");
	snprintf(fd, sizeof fd, "%d", SANDBOX_FD_HOSTS);
	av_add3(&a, "--ro-bind-data", fd, "/etc/hosts");
	av_add2(&a, "--proc", "/proc");
	av_add2(&a, "--dev", "/dev");
	av_add(&a, "--size");
	av_addi(&a, s->tmp_bytes > 0 ? s->tmp_bytes : EXEC_TMP_BYTES_DEFAULT);
	av_add2(&a, "--tmpfs", "/tmp");
	av_add3(&a, "--symlink", "../tmp", "/var/tmp");
	/* The job's own mounts, staged by the shim at SANDBOX_STAGE/<i> (their
	 * host paths may lie below directories the job's uid cannot search). */
	for (int i = 0; i < s->nmounts; i++) {
		char src[64];
		sandbox_stage_path(i, src);
		av_add3(&a, s->mounts[i].writable ? "--bind" : "--ro-bind", src,
			s->mounts[i].inside);
	}
	/* An image's root is read-only, like the host's /usr. */
	if (s->rootfs)
		av_add2(&a, "--remount-ro", "/");
	av_add2(&a, "--chdir", s->cwd && *s->cwd ? s->cwd : "/");

	/* The environment: only what the spec says, plus sane defaults. */
	av_add(&a, "--clearenv");
	for (char *const *v = s->env; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		char *key = xstrndup(*v, (size_t)(eq - *v));
		av_add3(&a, "--setenv", key, eq + 1);
		free(key);
	}
	av_env(&a, s->env, "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	av_env(&a, s->env, "HOME", "/tmp");
	av_env(&a, s->env, "USER", s->user_name);
	av_env(&a, s->env, "LOGNAME", s->user_name);
	av_env(&a, s->env, "LANG", "C.UTF-8");
	av_env(&a, s->env, "TMPDIR", "/tmp");

	snprintf(fd, sizeof fd, "%d", SANDBOX_FD_STATUS);
	av_add2(&a, "--json-status-fd", fd);
	snprintf(fd, sizeof fd, "%d", SANDBOX_FD_SECCOMP);
	av_add2(&a, "--seccomp", fd);
	av_add(&a, "--");
	for (char *const *v = s->argv; *v; v++)
		av_add(&a, *v);
	return a.v;
}

void sandbox_stage_path(int i, char out[64])
{
	/* only syscalls and plain stores: also called after fork */
	static const char prefix[] = SANDBOX_STAGE "/m";
	size_t n = sizeof(prefix) - 1;
	memcpy(out, prefix, n);
	char digits[16];
	int k = 0;
	do {
		digits[k++] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	while (k)
		out[n++] = digits[--k];
	out[n] = '\0';
}

void sandbox_argv_free(char **argv)
{
	for (char **v = argv; v && *v; v++)
		free(*v);
	free(argv);
}

static int memfd_with(const char *name, const char *text, int *out,
		      struct err *e)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return err_set(e, COVE_EINTERNAL, "memfd_create: %s", strerror(errno));
	if (exec_write_all(fd, text, strlen(text)) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, COVE_EINTERNAL, "writing %s: %s", name,
			       strerror(saved));
	}
	*out = fd;
	return 0;
}

int sandbox_etc_files(const struct exec_spec *s, int *passwd_fd,
		      int *group_fd, int *hosts_fd, struct err *e)
{
	struct buf b = {0};
	const char *group = s->group_name ? s->group_name : s->user_name;
	int rc;
	*passwd_fd = *group_fd = *hosts_fd = -1;
	/* root and nobody exist in every passwd; the job's user besides. */
	if (s->uid_inside != 0)
		buf_adds(&b, "root:x:0:0:root:/root:/bin/sh\n");
	buf_addf(&b, "%s:x:%lld:%lld:%s:/tmp:/bin/bash\n", s->user_name,
		 (long long)s->uid_inside, (long long)s->gid_inside, s->user_name);
	if (s->uid_inside != 65534)
		buf_adds(&b, "nobody:x:65534:65534:nobody:/nonexistent:"
			     "/usr/sbin/nologin\n");
	if ((rc = memfd_with("passwd", buf_str(&b), passwd_fd, e)))
		goto out;
	buf_reset(&b);
	if (s->gid_inside != 0)
		buf_adds(&b, "root:x:0:\n");
	buf_addf(&b, "%s:x:%lld:%s\n", group, (long long)s->gid_inside,
		 s->user_name);
	if (s->gid_inside != 65534)
		buf_adds(&b, "nogroup:x:65534:\n");
	if ((rc = memfd_with("group", buf_str(&b), group_fd, e)))
		goto out;
	buf_reset(&b);
	buf_addf(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
		     "127.0.1.1\t%s\n", s->job_id);
	rc = memfd_with("hosts", buf_str(&b), hosts_fd, e);
out:
	if (rc) {
		if (*passwd_fd >= 0)
			close(*passwd_fd);
		if (*group_fd >= 0)
			close(*group_fd);
		*passwd_fd = *group_fd = -1;
	}
	buf_free(&b);
	return rc;
}
