/*
 * local.c - the local executor as the server sees it: probe the machine,
 * start a job's shim, find shims again after a restart, cancel, read the
 * outcome, clean up.
 *
 * Runs inside the (multi-threaded) server, as root. Must not: block on a
 * job (the start path spawns and returns; no sleeping, no polling), leak a
 * server fd into a shim, or follow a symlink the job planted in its
 * directory (cleanup walks with openat/unlinkat, never by path).
 */
#include "exec/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct exec_local {
	char *self_exe;
	struct cgroup_set cg; /* base directories; all NULL: rlimits only */
	struct buf limits;
	int launcher;          /* socket to the launcher (launcher.c), or -1 */
	pid_t launcher_pid;
	pthread_mutex_t launch_mu;
};

/* ---- small I/O helpers shared by the executor ---------------------------- */

int exec_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int exec_read_file_at(int dirfd, const char *name, struct buf *b, size_t max)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int rc = 0;
	buf_reset(b);
	for (;;) {
		buf_grow(b, 4096);
		ssize_t n = read(fd, b->data + b->len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		if (b->len > max) {
			rc = -EFBIG;
			break;
		}
	}
	close(fd);
	return rc;
}

int exec_write_atomic_at(int dirfd, const char *name, const void *data,
			 size_t len, mode_t mode, int sync)
{
	char tmp[NAME_MAX + 1];
	if (snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	unlinkat(dirfd, tmp, 0);
	int fd = openat(dirfd, tmp,
			O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	int rc = exec_write_all(fd, data, len);
	if (!rc && sync && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -errno;
	if (!rc && sync && fsync(dirfd) < 0)
		rc = -errno;
	if (rc)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

static int exec_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- probing -------------------------------------------------------------- */

/* Run argv as uid/gid 65534 with output discarded; its exit status, or -1
 * when it could not run or took longer than 10 s. */
static int exec_probe_run(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    dup2(null, 2) < 0)
			_exit(126);
		syscall(SYS_close_range, 3, ~0U, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ||
		    getuid() != 65534)
			_exit(126);
		char *env[] = {"PATH=/usr/bin:/bin", NULL};
		execve(argv[0], argv, env);
		_exit(127);
	}
	int status = 0;
	for (int i = 0; i < 1000; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (w < 0 && errno != EINTR)
			return -1;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

int exec_local_open(struct exec_local **out, const char *self_exe,
		    struct err *e)
{
	struct exec_local *x = NULL;
	int rc = 0;
	*out = NULL;
	if (getuid() != 0 || geteuid() != 0)
		return err_set(e, COVE_EUNAVAIL, "the local executor needs root (it "
						 "runs jobs as unprivileged uids)");
	if (!self_exe || self_exe[0] != '/' || access(self_exe, X_OK) < 0)
		return err_set(e, COVE_EINVAL, "cove binary '%s' is not an executable "
					       "absolute path",
			       self_exe ? self_exe : "(null)");
	if (access(EXEC_BWRAP, X_OK) < 0)
		return err_set(e, COVE_EUNAVAIL, "bubblewrap is not installed (%s: %s)",
			       EXEC_BWRAP, strerror(errno));
	char *probe[] = {EXEC_BWRAP, "--unshare-all", "--die-with-parent",
			 "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
			 "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin",
			 "/bin", "/usr/bin/true", NULL};
	int st = exec_probe_run(probe);
	if (st != 0)
		return err_set(e, COVE_EUNAVAIL,
			       "bubblewrap cannot create namespaces as an unprivileged "
			       "user (exit %d); check user.max_user_namespaces and "
			       "kernel.apparmor_restrict_unprivileged_userns",
			       st);
	int sfd = -1;
	if ((rc = seccomp_filter_fd(&sfd, e)))
		return rc;
	close(sfd);
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
		return err_set(e, COVE_EUNAVAIL, "the kernel has no seccomp: %s",
			       strerror(errno));
	x = xcalloc(1, sizeof *x);
	x->self_exe = xstrdup(self_exe);
	/* COVE_EXEC_NO_CGROUPS=1 forces the rlimit fallback (tests, and
	 * machines whose cgroup setup an administrator wants left alone). */
	const char *no_cg = getenv("COVE_EXEC_NO_CGROUPS");
	if (no_cg && !strcmp(no_cg, "1"))
		buf_adds(&x->limits, "rlimits only: cgroups not used "
				     "(COVE_EXEC_NO_CGROUPS=1)");
	else
		cgroup_probe(&x->cg, &x->limits);
	/* COVE_CGROUP_FAVORDYNMODS=0 leaves the host's cgroup2 mount as it is */
	const char *fav = getenv("COVE_CGROUP_FAVORDYNMODS");
	if (cgroup_any(&x->cg) && !(fav && !strcmp(fav, "0"))) {
		int frc = cgroup_favor_dynmods(&x->limits);
		if (frc < 0)
			log_event(LOG_INFO, "cgroup task migration stays slow", "{s:s}",
				  "favordynmods", strerror(-frc));
	}
	/* The launcher is forked now, while the caller is one thread (see
	 * launcher.c); COVE_EXEC_LAUNCHER=0 spawns every shim as a program. */
	x->launcher = -1;
	pthread_mutex_init(&x->launch_mu, NULL);
	const char *la = getenv("COVE_EXEC_LAUNCHER");
	struct err le = {0};
	if (!(la && !strcmp(la, "0")) && launcher_start(&x->launcher, &x->launcher_pid, &le))
		log_event(LOG_WARN, "no launcher: shims start as programs", "{s:s}", "error",
			  le.msg);
	log_event(LOG_INFO, "local executor ready", "{s:s}", "limits",
		  buf_str(&x->limits));
	*out = x;
	return 0;
}

void exec_local_close(struct exec_local *x)
{
	if (!x)
		return;
	launcher_stop(x->launcher, x->launcher_pid);
	pthread_mutex_destroy(&x->launch_mu);
	free(x->self_exe);
	cgroup_set_free(&x->cg);
	buf_free(&x->limits);
	free(x);
}

const char *exec_local_limits(const struct exec_local *x)
{
	return buf_str(&x->limits);
}

void exec_local_capacity(const struct exec_local *x, double *cpus,
			 int64_t *mem_bytes)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	*cpus = n > 0 ? (double)n : 1;
	*mem_bytes = 0;
	struct buf b = {0};
	if (exec_read_file_at(AT_FDCWD, "/proc/meminfo", &b, 1 << 20) == 0) {
		const char *p = strstr(buf_str(&b), "MemTotal:");
		if (p) {
			int64_t total = strtoll(p + 9, NULL, 10) * 1024;
			int64_t keep = total / 10 > (512LL << 20) ? total / 10 : 512LL << 20;
			*mem_bytes = total > keep ? total - keep : 0;
		}
	}
	buf_free(&b);
}

/* ---- starting ------------------------------------------------------------- */

int exec_start(struct exec_local *x, const struct exec_spec *spec,
	       struct exec_handle *h, struct err *e)
{
	int rc = 0;
	int dirfd = -1;
	int p[2] = {-1, -1};
	char *text = NULL;
	char *shim_log = NULL;
	int fa_ok = 0, attr_ok = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	h->pid = -1;
	h->fd = -1;
	if ((rc = exec_spec_check(spec, e)))
		return rc;
	dirfd = open(spec->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		rc = err_set(e, COVE_EIO, "job directory %s: %s", spec->dir,
			     strerror(errno));
		goto out;
	}
	json_t *j = exec_spec_to_json(spec, &x->cg);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	int w = text ? exec_write_atomic_at(dirfd, "run.json", text, strlen(text),
					    0600, 0)
		     : -ENOMEM;
	if (w < 0) {
		rc = err_set(e, COVE_EIO, "cannot write %s/run.json: %s", spec->dir,
			     strerror(-w));
		goto out;
	}
	if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "pipe: %s", strerror(errno));
		goto out;
	}
	if (x->launcher >= 0) {
		pid_t shim = -1;
		pthread_mutex_lock(&x->launch_mu);
		int lrc = launcher_spawn(x->launcher, spec->dir, p[1], &shim, e);
		pthread_mutex_unlock(&x->launch_mu);
		if (!lrc) {
			h->pid = shim; /* not our child: exec_reap leaves it be */
			h->fd = p[0];
			p[0] = -1;
			goto out;
		}
		log_event(LOG_WARN, "launcher failed; spawning the shim", "{s:s}", "error",
			  e->msg);
	}
	shim_log = xasprintf("%s/shim.log", spec->dir);
	int r;
	if ((r = posix_spawn_file_actions_init(&fa)) != 0)
		goto spawn_fail;
	fa_ok = 1;
	if ((r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
						  0)) ||
	    (r = posix_spawn_file_actions_addopen(
		     &fa, 1, shim_log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW,
		     0600)) ||
	    (r = posix_spawn_file_actions_adddup2(&fa, 1, 2)) ||
	    (r = posix_spawn_file_actions_adddup2(&fa, p[1], 3)) ||
	    (r = posix_spawn_file_actions_addclosefrom_np(&fa, 4)))
		goto spawn_fail;
	if ((r = posix_spawnattr_init(&attr)) != 0)
		goto spawn_fail;
	attr_ok = 1;
	/* The server blocks and ignores signals; the shim starts clean, in a
	 * session of its own so that it outlives the server. */
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT,
		      SIGUSR1, SIGUSR2, SIGALRM};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&defaults, sigs[i]);
	if ((r = posix_spawnattr_setsigmask(&attr, &none)) ||
	    (r = posix_spawnattr_setsigdefault(&attr, &defaults)) ||
	    (r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID |
							 POSIX_SPAWN_SETSIGMASK |
							 POSIX_SPAWN_SETSIGDEF)))
		goto spawn_fail;
	char *argv[] = {x->self_exe, "__shim", (char *)spec->dir, NULL};
	char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL};
	pid_t pid;
	if ((r = posix_spawn(&pid, x->self_exe, &fa, &attr, argv, env)) != 0)
		goto spawn_fail;
	h->pid = pid;
	h->fd = p[0];
	p[0] = -1;
	goto out;
spawn_fail:
	rc = err_set(e, COVE_EINTERNAL, "cannot start the shim %s: %s",
		     x->self_exe, strerror(r));
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (dirfd >= 0)
		close(dirfd);
	free(shim_log);
	free(text);
	return rc;
}

void exec_reap(struct exec_handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	if (h->pid > 0) {
		pid_t w;
		while ((w = waitpid(h->pid, NULL, WNOHANG)) < 0 && errno == EINTR)
			;
		if (w == h->pid || (w < 0 && errno == ECHILD))
			h->pid = -1;
	}
}

/* ---- finding a shim again ------------------------------------------------- */

/* Is the lock in dirfd held by a live shim? 1 yes, 0 no, -errno. */
static int exec_lock_held(int dirfd)
{
	int fd = openat(dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int rc;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		rc = 0;
	} else {
		rc = errno == EWOULDBLOCK ? 1 : -errno;
	}
	close(fd);
	return rc;
}

/* A pidfd of the live shim of dirfd: >= 0, or -1 when there is none.
 * Checks the lock after opening the pidfd, so the pid cannot have been
 * reused by then. */
static int exec_shim_pidfd(int dirfd, pid_t *pid_out)
{
	struct buf b = {0};
	int pidfd = -1;
	if (exec_lock_held(dirfd) != 1 ||
	    exec_read_file_at(dirfd, "shim.pid", &b, 64) < 0)
		goto out;
	long pid = strtol(buf_str(&b), NULL, 10);
	if (pid <= 1)
		goto out;
	pidfd = exec_pidfd_open((pid_t)pid);
	if (pidfd < 0)
		goto out;
	if (exec_lock_held(dirfd) != 1) {
		close(pidfd);
		pidfd = -1;
		goto out;
	}
	*pid_out = (pid_t)pid;
out:
	buf_free(&b);
	return pidfd;
}

int exec_adopt(struct exec_local *x, const char *dir, struct exec_handle *h,
	       struct err *e)
{
	int rc;
	h->pid = -1;
	h->fd = -1;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return err_set(e, COVE_ENOENT, "job directory %s: %s", dir,
			       strerror(errno));
	if (faccessat(dirfd, "status.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = 0;
		goto out;
	}
	pid_t pid = -1;
	int pidfd = exec_shim_pidfd(dirfd, &pid);
	if (pidfd >= 0) {
		h->pid = pid;
		h->fd = pidfd;
		rc = 1;
		goto out;
	}
	/* It may have finished while we looked. */
	if (faccessat(dirfd, "status.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		rc = 0;
	else
		rc = err_set(e, COVE_ENOENT, "the shim of %s is gone without a status",
			     dir);
out:
	close(dirfd);
	return rc;
}

int exec_cancel(struct exec_local *x, const char *dir, struct err *e)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return err_set(e, COVE_ENOENT, "job directory %s: %s", dir,
			       strerror(errno));
	pid_t pid;
	int rc = 0;
	/* The mark first: a shim still starting finds it; one already
	 * running holds the lock and gets the signal. */
	if (faccessat(dirfd, "status.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		int m = openat(dirfd, "cancel",
			       O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (m < 0) {
			rc = err_set(e, COVE_EIO, "cannot mark %s cancelled: %s", dir,
				     strerror(errno));
			close(dirfd);
			return rc;
		}
		close(m);
	}
	int pidfd = exec_shim_pidfd(dirfd, &pid);
	if (pidfd >= 0) {
		if (syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0 &&
		    errno != ESRCH)
			rc = err_set(e, COVE_EINTERNAL, "cannot signal shim %d: %s",
				     (int)pid, strerror(errno));
		close(pidfd);
	}
	close(dirfd);
	return rc;
}

int exec_status_read(const char *dir, struct exec_status *st, struct err *e)
{
	struct buf b = {0};
	json_t *o = NULL;
	json_error_t je;
	int rc = 0;
	memset(st, 0, sizeof *st);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return err_set(e, errno == ENOENT ? COVE_ENOENT : COVE_EIO,
			       "job directory %s: %s", dir, strerror(errno));
	int r = exec_read_file_at(dirfd, "status.json", &b, 1 << 16);
	close(dirfd);
	if (r == -ENOENT) {
		rc = err_set(e, COVE_ENOENT, "no status yet");
		goto out;
	}
	if (r < 0) {
		rc = err_set(e, COVE_EIO, "cannot read %s/status.json: %s", dir,
			     strerror(-r));
		goto out;
	}
	const char *error = "";
	json_int_t cpu = 0, peak = 0, s_ms = 0, e_ms = 0;
	o = json_loads(buf_str(&b), 0, &je);
	if (!o || json_unpack_ex(o, &je, 0,
				 "{s:b,s:i,s:i,s:b,s:b,s:b,s:I,s:I,s:I,s:I,s?s}",
				 "started", &st->started, "exit_code", &st->exit_code,
				 "signal", &st->signal, "oom", &st->oom, "timed_out",
				 &st->timed_out, "cancelled", &st->cancelled, "cpu_ms",
				 &cpu, "peak_mem", &peak, "started_ms", &s_ms,
				 "ended_ms", &e_ms, "error", &error) < 0) {
		rc = err_set(e, COVE_EIO, "bad %s/status.json: %s", dir, je.text);
		goto out;
	}
	st->cpu_ms = cpu;
	st->peak_mem = peak;
	st->started_ms = s_ms;
	st->ended_ms = e_ms;
	snprintf(st->error, sizeof st->error, "%s", error);
out:
	json_decref(o);
	buf_free(&b);
	return rc;
}

/* ---- cleaning up ------------------------------------------------------------ */

struct rm_frame {
	dev_t dev;
	ino_t ino;
	char *name; /* of the child we descended into */
};

/* Remove name (in parentfd) and everything below it without following a
 * symlink or leaving the file system, holding one directory fd at a time
 * however deep the job nested its directories. -errno on the first
 * failure. */
static int exec_rm_tree(int parentfd, const char *name)
{
	struct stat top, st;
	struct rm_frame *stack = NULL;
	size_t depth = 0, cap = 0;
	int fd = -1;
	int rc = 0;
	if (fstatat(parentfd, name, &top, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(top.st_mode))
		return unlinkat(parentfd, name, 0) < 0 ? -errno : 0;
	fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		int dup_fd = dup(fd);
		DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
		if (!d) {
			rc = -errno;
			if (dup_fd >= 0)
				close(dup_fd);
			goto out;
		}
		rewinddir(d); /* the dup shares fd's offset */
		char *sub = NULL;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				rc = -errno;
				break;
			}
			if (S_ISDIR(st.st_mode)) {
				if (st.st_dev != top.st_dev) {
					rc = -EXDEV; /* a mount point: not ours */
					break;
				}
				sub = xstrdup(de->d_name);
				break;
			}
			if (unlinkat(fd, de->d_name, 0) < 0) {
				rc = -errno;
				break;
			}
		}
		closedir(d);
		if (rc)
			goto out;
		if (sub) {
			int nfd = openat(fd, sub,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0 || fstat(fd, &st) < 0) {
				rc = -errno;
				free(sub);
				if (nfd >= 0)
					close(nfd);
				goto out;
			}
			if (depth == cap) {
				cap = cap ? cap * 2 : 16;
				stack = xrealloc(stack, cap * sizeof *stack);
			}
			stack[depth++] = (struct rm_frame){st.st_dev, st.st_ino, sub};
			close(fd);
			fd = nfd;
			continue;
		}
		/* fd is empty: go up and remove it. */
		if (depth == 0) {
			close(fd);
			fd = -1;
			if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0)
				rc = -errno;
			goto out;
		}
		struct rm_frame *f = &stack[depth - 1];
		int pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0 || fstat(pfd, &st) < 0 || st.st_dev != f->dev ||
		    st.st_ino != f->ino) {
			rc = pfd < 0 ? -errno : -ESTALE; /* moved under our feet */
			if (pfd >= 0)
				close(pfd);
			goto out;
		}
		close(fd);
		fd = pfd;
		if (unlinkat(fd, f->name, AT_REMOVEDIR) < 0) {
			rc = -errno;
			goto out;
		}
		free(f->name);
		depth--;
	}
out:
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < depth; i++)
		free(stack[i].name);
	free(stack);
	return rc;
}

void exec_cleanup(struct exec_local *x, const char *dir, const char *job_id)
{
	struct exec_run run;
	struct cgroup_set base = {0}, job = {0};
	struct err e = {0};
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* The cgroups the shim used are those named in its run.json. */
	if (dirfd >= 0 && exec_run_load(dirfd, &run, &e) == 0) {
		base = run.cg_base;
		memset(&run.cg_base, 0, sizeof run.cg_base);
		exec_run_free(&run);
	} else if (x) {
		for (int i = 0; i < CG_N; i++)
			base.dir[i] = x->cg.dir[i] ? xstrdup(x->cg.dir[i]) : NULL;
	}
	if (dirfd >= 0)
		close(dirfd);
	if (job_id && strchr(job_id, '/') == NULL && strcmp(job_id, "..") &&
	    strcmp(job_id, ".") && *job_id) {
		cgroup_job_paths(&base, job_id, &job);
		cgroup_remove(&job);
	}
	cgroup_set_free(&job);
	cgroup_set_free(&base);

	/* A job directory is never "/" or a top-level directory. */
	int depth = 0;
	for (const char *c = dir; *c; c++)
		depth += c[0] == '/' && c[1] && c[1] != '/';
	if (dir[0] != '/' || depth < 2) {
		log_event(LOG_ERROR, "refusing to remove job directory", "{s:s}", "dir",
			  dir);
		return;
	}
	char *copy = xstrdup(dir);
	char *slash = strrchr(copy, '/');
	while (slash && slash > copy && slash[1] == '\0') {
		*slash = '\0';
		slash = strrchr(copy, '/');
	}
	if (!slash || !slash[1]) {
		log_event(LOG_ERROR, "refusing to remove job directory", "{s:s}", "dir",
			  dir);
		free(copy);
		return;
	}
	*slash = '\0';
	const char *parent = copy[0] ? copy : "/";
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = pfd < 0 ? -errno : exec_rm_tree(pfd, slash + 1);
	if (rc < 0)
		log_event(LOG_ERROR, "cannot remove job directory", "{s:s,s:s}", "dir",
			  dir, "error", strerror(-rc));
	if (pfd >= 0)
		close(pfd);
	free(copy);
}
