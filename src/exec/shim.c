/*
 * shim.c - `cove __shim DIR`: the supervisor of one job.
 *
 * Runs as root, in a session of its own, started by exec_start (local.c)
 * with the status pipe on fd 3, /dev/null on 0 and DIR/shim.log on 1 and 2.
 * Reading top to bottom:
 *   1. lock DIR/lock (held until exit: the server's liveness test), write
 *      DIR/shim.pid, read DIR/run.json;
 *   2. create the job's cgroups and the sandbox's inputs (seccomp BPF,
 *      passwd, group, hosts as memory files);
 *   3. fork; the child joins the cgroups, sets rlimits, drops to the
 *      unprivileged host uid/gid (checked: it can never get root back) and
 *      executes bubblewrap; a close-on-exec pipe tells the parent that the
 *      exec happened (then 'R' goes out on fd 3) or why it failed;
 *   4. copy the job's stdout and stderr into DIR/log as timestamped lines,
 *      kill the tree at the wall-time limit or on SIGTERM (cancel);
 *   5. account (cgroup counters, or wait4's rusage), remove the cgroups and
 *      write DIR/status.json atomically.
 *
 * Must not: run anything of the job as root, let the job inherit any fd
 * but the fixed SANDBOX_FD_* set, exit() from helpers, or wait unbounded
 * on anything the job controls.
 */
#include "exec/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { KILL_NONE, KILL_TIMEOUT, KILL_CANCEL };

struct shim {
	int dirfd;
	int lockfd;
	int status_fd; /* fd 3 to the server, or -1 */
	struct exec_run run;
	struct cgroup_set cg;
	int log_fd;
	int64_t log_cap;
	int64_t log_written;
	int log_full;
	struct buf pending[2]; /* partial lines of stdout, stderr */
	struct buf jstatus;    /* bwrap --json-status-fd output */
	char bwrap_err[200];   /* last "bwrap: ..." line on stderr */
	pid_t child;           /* bwrap */
	int killed;            /* KILL_* */
	char *rootfs;          /* the image's tree, prepared here */
	int image_lock;        /* shared lock on its cache entry, or -1 */
	struct exec_status st;
};

/* What the child reports through the close-on-exec pipe when a step
 * before exec fails. */
struct shim_report {
	int step;
	int err;
};

static const char *const shim_steps[] = {
	"exec succeeded",   "joining the job's cgroups", "setting rlimits",
	"arranging file descriptors", "dropping privileges",
	"privileges not dropped", "executing " EXEC_BWRAP,
	"staging the job's mounts (and image)",
};

/* ---- the log ------------------------------------------------------------ */

static void shim_ts(char out[32])
{
	int64_t ms = time_now_ms();
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static void shim_log_record(struct shim *sh, char tag, const char *p, size_t n)
{
	char ts[32];
	struct buf rec = {0};
	if (sh->log_full || sh->log_fd < 0)
		return;
	shim_ts(ts);
	buf_adds(&rec, ts);
	buf_addc(&rec, ' ');
	buf_addc(&rec, tag);
	buf_addc(&rec, ' ');
	buf_add(&rec, p, n);
	buf_addc(&rec, '\n');
	if (sh->log_written + (int64_t)rec.len > sh->log_cap) {
		buf_reset(&rec);
		buf_addf(&rec, "%s E [cove] log truncated: it reached %lld bytes\n", ts,
			 (long long)sh->log_cap);
		sh->log_full = 1;
	}
	if (exec_write_all(sh->log_fd, rec.data, rec.len) < 0) {
		log_event(LOG_ERROR, "cannot write the job log", "{s:s}", "error",
			  strerror(errno));
		sh->log_full = 1;
	}
	sh->log_written += (int64_t)rec.len;
	buf_free(&rec);
}

/* Remember bwrap's own complaints: they explain a failed start. */
static void shim_note_stderr(struct shim *sh, const char *p, size_t n)
{
	if (n > 7 && !memcmp(p, "bwrap: ", 7))
		snprintf(sh->bwrap_err, sizeof sh->bwrap_err, "%.*s",
			 (int)(n < 190 ? n : 190), p);
}

/* Split what arrived on stream s (0 stdout, 1 stderr) into lines of at
 * most EXEC_LINE_MAX bytes; at_eof flushes a last partial line. */
static void shim_log_feed(struct shim *sh, int s, const char *data, size_t n,
			  int at_eof)
{
	struct buf *b = &sh->pending[s];
	char tag = s ? 'E' : 'O';
	size_t start = 0;
	buf_add(b, data, n);
	for (;;) {
		size_t avail = b->len - start;
		size_t look = avail < EXEC_LINE_MAX + 1 ? avail : EXEC_LINE_MAX + 1;
		const char *nl = memchr(b->data + start, '\n', look);
		size_t len;
		if (nl)
			len = (size_t)(nl - (b->data + start));
		else if (avail > EXEC_LINE_MAX || (at_eof && avail > 0))
			len = avail > EXEC_LINE_MAX ? EXEC_LINE_MAX : avail;
		else
			break;
		if (s)
			shim_note_stderr(sh, b->data + start, len);
		shim_log_record(sh, tag, b->data + start, len);
		start += len + (nl ? 1 : 0);
	}
	if (start) {
		memmove(b->data, b->data + start, b->len - start);
		b->len -= start;
		b->data[b->len] = '\0';
	}
}

/* ---- status ------------------------------------------------------------ */

static int shim_write_status(struct shim *sh)
{
	struct exec_status *st = &sh->st;
	if (!st->ended_ms)
		st->ended_ms = time_now_ms();
	json_t *o = json_pack(
		"{s:b,s:i,s:i,s:b,s:b,s:b,s:I,s:I,s:I,s:I,s:s}", "started",
		st->started, "exit_code", st->exit_code, "signal", st->signal, "oom",
		st->oom, "timed_out", st->timed_out, "cancelled", st->cancelled,
		"cpu_ms", (json_int_t)st->cpu_ms, "peak_mem", (json_int_t)st->peak_mem,
		"started_ms", (json_int_t)st->started_ms, "ended_ms",
		(json_int_t)st->ended_ms, "error", st->error);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	int rc = exec_write_atomic_at(sh->dirfd, "status.json", text, strlen(text),
				      0644, 1);
	if (rc < 0)
		log_event(LOG_ERROR, "cannot write status.json", "{s:s}", "error",
			  strerror(-rc));
	free(text);
	return rc;
}

/* A job that never started: say why, in status.json. */
static int shim_fail(struct shim *sh, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int shim_fail(struct shim *sh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sh->st.error, sizeof sh->st.error, fmt, ap);
	va_end(ap);
	sh->st.started = 0;
	sh->st.exit_code = -1;
	log_event(LOG_ERROR, "job not started", "{s:s}", "error", sh->st.error);
	char line[300];
	int n = snprintf(line, sizeof line, "[cove] %s", sh->st.error);
	shim_log_record(sh, 'E', line, n > 0 && n < (int)sizeof line ? (size_t)n : 0);
	return shim_write_status(sh);
}

/* ---- the child: from root shim to unprivileged bubblewrap --------------- */

static void shim_child_fail(int fd, int step)
{
	struct shim_report r = {step, errno};
	ssize_t n = write(fd, &r, sizeof r);
	(void)n;
	_exit(127);
}

static void shim_rlimit(int resource, int64_t value, int rep)
{
	struct rlimit rl = {(rlim_t)value, (rlim_t)value};
	if (setrlimit(resource, &rl) < 0)
		shim_child_fail(rep, 2);
}

/*
 * bubblewrap runs as the job's unprivileged uid and resolves every bind
 * source by its path, so a source below a directory that uid cannot
 * search (the data directory, often under a private temporary directory)
 * would be refused. So, still root, the child takes a mount namespace of
 * its own, puts a small tmpfs over SANDBOX_STAGE there, and binds each
 * source at SANDBOX_STAGE/m<i>. The host's mounts are untouched (the new
 * namespace is private). Only syscalls: this runs in the child of
 * shim_spawn, which shares our memory until it executes bubblewrap.
 */
static int shim_stage_mounts(const struct exec_mount *m, int nm,
			     const char *rootfs)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("cove-stage", SANDBOX_STAGE, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755,size=64k") < 0)
		return -1;
	/* the image's tree, read-only from here on */
	if (rootfs && (mkdir(SANDBOX_STAGE_ROOT, 0755) < 0 ||
		       mount(rootfs, SANDBOX_STAGE_ROOT, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		       mount(NULL, SANDBOX_STAGE_ROOT, NULL,
			     MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
			     NULL) < 0))
		return -1;
	for (int i = 0; i < nm; i++) {
		char target[64];
		sandbox_stage_path(i, target);
		struct stat sb;
		if (stat(m[i].host, &sb) < 0)
			return -1;
		if (S_ISDIR(sb.st_mode)) {
			if (mkdir(target, 0755) < 0)
				return -1;
		} else {
			int f = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
			if (f < 0)
				return -1;
			close(f);
		}
		if (mount(m[i].host, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return -1;
	}
	return 0;
}

/* fds: the sources of SANDBOX fds 0..SANDBOX_FD_COUNT-1; rep the report
 * pipe. Runs in the child of shim_spawn, in our memory: only syscalls
 * (raw ones where glibc would coordinate threads) and the stack. Never
 * returns. */
__attribute__((noreturn)) static void
shim_child(struct shim *sh, char **argv, const int fds[SANDBOX_FD_COUNT],
	   int rep)
{
	const struct exec_spec *s = &sh->run.spec;
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 ||
	    signal(SIGPIPE, SIG_DFL) == SIG_ERR)
		shim_child_fail(rep, 3);

	if (cgroup_join(&sh->cg, 0) < 0) {
		errno = EPERM;
		shim_child_fail(rep, 1);
	}
	shim_rlimit(RLIMIT_CORE, 0, rep);
	if (s->file_bytes > 0)
		shim_rlimit(RLIMIT_FSIZE, s->file_bytes, rep);
	/* Without the cgroup controller, the per-process rlimit is the
	 * (weaker) fallback. */
	if (s->mem_bytes > 0 && !sh->cg.dir[CG_V2] && !sh->cg.dir[CG_MEMORY])
		shim_rlimit(RLIMIT_AS, s->mem_bytes, rep);
	if (s->pids > 0 && !sh->cg.dir[CG_V2] && !sh->cg.dir[CG_PIDS])
		shim_rlimit(RLIMIT_NPROC, s->pids + 4, rep);
	if (s->time_limit > 0 && !sh->cg.dir[CG_V2] && !sh->cg.dir[CG_CPU]) {
		double c = s->cpus > 1 ? s->cpus : 1;
		shim_rlimit(RLIMIT_CPU, (int64_t)((double)s->time_limit * c) + 1, rep);
	}
	if (chdir("/") < 0)
		shim_child_fail(rep, 3);

	/* Move every fd out of the way first (targets may collide with
	 * sources), then into place; close everything else. */
	int tmp[SANDBOX_FD_COUNT];
	for (int i = 0; i < SANDBOX_FD_COUNT; i++)
		if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
			shim_child_fail(rep, 3);
	if (shim_stage_mounts(s->mounts, s->nmounts, s->rootfs) < 0)
		shim_child_fail(rep, 7);
	int rep_tmp = fcntl(rep, F_DUPFD_CLOEXEC, 64);
	if (rep_tmp < 0)
		shim_child_fail(rep, 3);
	for (int i = 0; i < SANDBOX_FD_COUNT; i++)
		if (dup2(tmp[i], i) < 0) /* dup2 clears close-on-exec */
			shim_child_fail(rep_tmp, 3);
	if (dup2(rep_tmp, SANDBOX_FD_COUNT) < 0 ||
	    fcntl(SANDBOX_FD_COUNT, F_SETFD, FD_CLOEXEC) < 0)
		shim_child_fail(rep_tmp, 3);
	rep = SANDBOX_FD_COUNT;
	if (syscall(SYS_close_range, SANDBOX_FD_COUNT + 1, ~0U, 0) < 0)
		shim_child_fail(rep, 3);

	/* Drop root for good, and prove it. */
	gid_t gid = (gid_t)s->host_gid;
	uid_t uid = (uid_t)s->host_uid;
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setgid, gid) < 0 ||
	    syscall(SYS_setuid, uid) < 0)
		shim_child_fail(rep, 4);
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || syscall(SYS_setuid, 0) == 0 ||
	    syscall(SYS_setgid, 0) == 0) {
		errno = EPERM;
		shim_child_fail(rep, 5);
	}
	/* Until bwrap's --die-with-parent takes over. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		shim_child_fail(rep, 4);
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	execve(EXEC_BWRAP, argv, env);
	shim_child_fail(rep, 6);
	_exit(127);
}

struct spawn_args {
	struct shim *sh;
	char **argv;
	const int *fds;
	int rep;
};

static int shim_spawn_child(void *arg)
{
	struct spawn_args *a = arg;
	shim_child(a->sh, a->argv, a->fds, a->rep);
}

#define SPAWN_STACK (256 * 1024)

/*
 * Start shim_child as vfork does: in our memory, on a stack of its own,
 * while we wait until it has executed bubblewrap (or failed). A fork would
 * copy the page tables of the whole shim first, which cost 2-3 ms of each
 * job's start on the virtual machines we measure on. The child's pid, or
 * -1 (errno set).
 */
static pid_t shim_spawn(struct shim *sh, char **argv,
			const int fds[SANDBOX_FD_COUNT], int rep)
{
	void *stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	struct spawn_args a = {sh, argv, fds, rep};
	pid_t pid = clone(shim_spawn_child, (char *)stack + SPAWN_STACK,
			  CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	int err = errno;
	munmap(stack, SPAWN_STACK); /* the child has executed or exited */
	errno = err;
	return pid;
}

/* ---- killing ------------------------------------------------------------ */

static int64_t shim_json_int(const struct buf *b, const char *key, int *found)
{
	*found = 0;
	const char *p = b->len ? strstr(b->data, key) : NULL;
	if (!p || !(p = strchr(p + strlen(key), ':')))
		return 0;
	*found = 1;
	return strtoll(p + 1, NULL, 10);
}

/* Without cgroups: every process of the job runs as host_uid, which the
 * jobs module gives to this job alone, so kill(-1) as that uid reaches the
 * whole tree, wherever it is. */
static void shim_kill_uid(uid_t uid, gid_t gid)
{
	pid_t p = fork();
	if (p < 0) {
		log_event(LOG_ERROR, "fork for the kill sweep failed", "{s:s}", "error",
			  strerror(errno));
		return;
	}
	if (p == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0 ||
		    getuid() != uid)
			_exit(1);
		for (int i = 0; i < 50 && kill(-1, SIGKILL) == 0; i++)
			;
		_exit(0);
	}
	while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
		;
}

static void shim_kill_tree(struct shim *sh, int why)
{
	if (!sh->killed)
		sh->killed = why;
	if (cgroup_any(&sh->cg)) {
		if (cgroup_kill(&sh->cg) < 0)
			log_event(LOG_ERROR, "job processes survived the cgroup kill", NULL);
	} else {
		int found;
		int64_t init = shim_json_int(&sh->jstatus, "\"child-pid\"", &found);
		/* The sandbox's pid 1: its death takes the pid namespace down. */
		if (found && init > 1)
			kill((pid_t)init, SIGKILL);
		shim_kill_uid((uid_t)sh->run.spec.host_uid,
			      (gid_t)sh->run.spec.host_gid);
	}
	if (sh->child > 0)
		kill(sh->child, SIGKILL);
}

/* ---- supervising --------------------------------------------------------- */

static void shim_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
}

/* The signals were blocked first thing in exec_shim_main, so a cancel that
 * arrived early is still pending and shows up here. */
static int shim_sigfd(void)
{
	sigset_t set;
	shim_sigset(&set);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Poll the job's pipes, signals and the clock until bwrap has exited and
 * its output is drained. Returns bwrap's wait status. */
static int shim_watch(struct shim *sh, int sigfd, int out_r, int err_r,
		      int js_r, struct rusage *ru)
{
	const struct exec_spec *s = &sh->run.spec;
	double deadline = s->time_limit > 0 ? time_mono() + (double)s->time_limit
					      : 0;
	double drain_until = 0;
	int status = 0;
	int done = 0;
	struct pollfd p[4] = {
		{.fd = sigfd, .events = POLLIN},
		{.fd = out_r, .events = POLLIN},
		{.fd = err_r, .events = POLLIN},
		{.fd = js_r, .events = POLLIN},
	};
	char *chunk = xmalloc(EXEC_LINE_MAX);
	while (!done || p[1].fd >= 0 || p[2].fd >= 0) {
		double now = time_mono();
		int timeout = -1;
		if (deadline && !sh->killed)
			timeout = deadline > now ? (int)((deadline - now) * 1000) + 1 : 0;
		if (done) {
			/* bwrap is gone, and with it the pid namespace; whatever
			 * still holds a pipe is not worth waiting for long. */
			if (!drain_until)
				drain_until = now + 2;
			timeout = drain_until > now ? (int)((drain_until - now) * 1000) + 1
						    : 0;
		}
		int n = poll(p, 4, timeout);
		if (n < 0 && errno != EINTR) {
			log_event(LOG_ERROR, "poll failed", "{s:s}", "error", strerror(errno));
			shim_kill_tree(sh, KILL_CANCEL);
			break;
		}
		now = time_mono();
		if (deadline && !sh->killed && now >= deadline) {
			log_event(LOG_INFO, "wall-time limit reached: killing the job",
				  NULL);
			shim_kill_tree(sh, KILL_TIMEOUT);
		}
		if (done && now >= drain_until) {
			for (int i = 1; i <= 2; i++)
				if (p[i].fd >= 0) {
					shim_log_feed(sh, i - 1, "", 0, 1);
					close(p[i].fd);
					p[i].fd = -1;
				}
			break;
		}
		if (n <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGCHLD)
					continue;
				log_event(LOG_INFO, "cancelled: killing the job", "{s:i}",
					  "signal", (int)si.ssi_signo);
				shim_kill_tree(sh, KILL_CANCEL);
			}
			if (!done) {
				pid_t w = wait4(sh->child, &status, WNOHANG, ru);
				if (w == sh->child)
					done = 1;
				else if (w < 0 && errno != EINTR) {
					log_event(LOG_ERROR, "wait4 failed", "{s:s}", "error",
						  strerror(errno));
					done = 1;
				}
			}
		}
		for (int i = 1; i <= 3; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(p[i].fd, chunk, EXEC_LINE_MAX);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				if (i <= 2)
					shim_log_feed(sh, i - 1, "", 0, 1);
				close(p[i].fd);
				p[i].fd = -1;
			} else if (i <= 2) {
				shim_log_feed(sh, i - 1, chunk, (size_t)r, 0);
			} else if (sh->jstatus.len < 65536) {
				buf_add(&sh->jstatus, chunk, (size_t)r);
			}
		}
	}
	free(chunk);
	if (p[3].fd >= 0) {
		/* Pick up a last status document, then close. */
		char tail[4096];
		ssize_t r;
		while ((r = read(p[3].fd, tail, sizeof tail)) > 0 &&
		       sh->jstatus.len < 65536)
			buf_add(&sh->jstatus, tail, (size_t)r);
		close(p[3].fd);
	}
	if (!done) {
		shim_kill_tree(sh, KILL_CANCEL);
		while (wait4(sh->child, &status, 0, ru) < 0 && errno == EINTR)
			;
	}
	return status;
}

/* Collect every child left (killed orphans of the sandbox), for at most
 * two seconds: they are already dead or dying. */
static void shim_reap_orphans(void)
{
	for (int i = 0; i < 2000; i++) {
		pid_t w = waitpid(-1, NULL, WNOHANG);
		if (w > 0)
			continue;
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return; /* ECHILD: none left */
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	log_event(LOG_WARN, "children of the job still alive at exit", NULL);
}

/* Turn bwrap's wait status, its json status and the cgroup counters into
 * sh->st. */
static void shim_account(struct shim *sh, int status, const struct rusage *ru)
{
	struct exec_status *st = &sh->st;
	int has_pid, has_exit;
	shim_json_int(&sh->jstatus, "\"child-pid\"", &has_pid);
	int64_t code = shim_json_int(&sh->jstatus, "\"exit-code\"", &has_exit);
	st->timed_out = sh->killed == KILL_TIMEOUT;
	st->cancelled = sh->killed == KILL_CANCEL;
	if (has_exit) {
		/* bwrap reports a death by signal n as 128 + n, as a shell does;
		 * so do we. */
		st->started = 1;
		if (code > 128 && code <= 128 + 64) {
			st->exit_code = -1;
			st->signal = (int)(code - 128);
		} else {
			st->exit_code = (int)code;
		}
	} else if (WIFSIGNALED(status)) {
		st->started = has_pid;
		st->exit_code = -1;
		st->signal = WTERMSIG(status);
	} else {
		st->started = 0;
		st->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		snprintf(st->error, sizeof st->error, "sandbox setup failed: %s",
			 sh->bwrap_err[0] ? sh->bwrap_err
					  : "bubblewrap exited before the command ran");
	}
	int64_t cpu = -1, peak = -1;
	int ooms = 0;
	if (cgroup_any(&sh->cg))
		cgroup_stats(&sh->cg, &cpu, &peak, &ooms);
	if (cpu < 0)
		cpu = (int64_t)ru->ru_utime.tv_sec * 1000 + ru->ru_utime.tv_usec / 1000 +
		      (int64_t)ru->ru_stime.tv_sec * 1000 + ru->ru_stime.tv_usec / 1000;
	if (peak < 0)
		peak = (int64_t)ru->ru_maxrss * 1024;
	st->cpu_ms = cpu;
	st->peak_mem = peak;
	st->oom = ooms > 0 && st->exit_code != 0 && !sh->killed;
}

/* Steps 2 to 5 once the lock is held and run.json read. */
static int shim_run(struct shim *sh)
{
	const struct exec_spec *s = &sh->run.spec;
	struct err e = {0};
	int sec = -1, pw = -1, gr = -1, ho = -1, devnull = -1, sigfd = -1;
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, js[2] = {-1, -1}, rep[2] = {-1, -1};
	char **argv = NULL;
	int rc = 0;

	sh->log_cap = s->log_bytes > 0 ? s->log_bytes : EXEC_LOG_BYTES_DEFAULT;
	sh->log_fd = openat(sh->dirfd, "log",
			    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC |
				    O_NOFOLLOW,
			    0640);
	if (sh->log_fd < 0) {
		rc = shim_fail(sh, "cannot create the job log: %s", strerror(errno));
		goto out;
	}
	if ((sigfd = shim_sigfd()) < 0) {
		rc = shim_fail(sh, "signalfd: %s", strerror(errno));
		goto out;
	}
	if (s->image) {
		/* unpacked once per digest (or found in the cache), and held for
		 * the job's life so that eviction leaves it alone */
		const struct exec_image *im = s->image;
		double t0 = time_mono();
		if (image_prepare(im->cache_dir, im->digest, im->layers, im->media_types,
				  im->nlayers, NULL, &sh->rootfs, &sh->image_lock, &e)) {
			rc = shim_fail(sh, "image %.80s: %s", im->digest, e.msg);
			goto out;
		}
		sh->run.spec.rootfs = sh->rootfs;
		double took = time_mono() - t0;
		if (took >= 1) {
			/* a first unpack: worth a word in the job's log */
			char line[160];
			int n = snprintf(line, sizeof line, "[cove] image %.19s... unpacked in %.1f s",
					 im->digest, took);
			shim_log_record(sh, 'E', line,
					n > 0 && n < (int)sizeof line ? (size_t)n : 0);
		}
		log_event(LOG_INFO, "image ready", "{s:s,s:f}", "digest", im->digest,
			  "seconds", took);
	}
	if (cgroup_create(&sh->run.cg_base, s, &sh->cg, &e)) {
		rc = shim_fail(sh, "%s", e.msg);
		goto out;
	}
	if (seccomp_filter_fd(&sec, &e) || sandbox_etc_files(s, &pw, &gr, &ho, &e)) {
		rc = shim_fail(sh, "%s", e.msg);
		goto out;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(js, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
		rc = shim_fail(sh, "cannot create pipes: %s", strerror(errno));
		goto out;
	}
	if (s->nmounts > EXEC_MOUNTS_MAX) {
		rc = shim_fail(sh, "too many mounts (%d, at most %d)", s->nmounts,
			       EXEC_MOUNTS_MAX);
		goto out;
	}
	argv = sandbox_argv(s);
	int fds[SANDBOX_FD_COUNT] = {
		[0] = devnull,
		[1] = out[1],
		[2] = errp[1],
		[SANDBOX_FD_SECCOMP] = sec,
		[SANDBOX_FD_PASSWD] = pw,
		[SANDBOX_FD_GROUP] = gr,
		[SANDBOX_FD_HOSTS] = ho,
		[SANDBOX_FD_STATUS] = js[1],
	};
	sh->st.started_ms = time_now_ms();
	sh->child = shim_spawn(sh, argv, fds, rep[1]);
	if (sh->child < 0) {
		rc = shim_fail(sh, "cannot start the sandbox: %s", strerror(errno));
		goto out;
	}
	close(rep[1]);
	close(out[1]);
	close(errp[1]);
	close(js[1]);
	rep[1] = out[1] = errp[1] = js[1] = -1;

	/* End of file: bwrap was executed. A report: a step failed. */
	struct shim_report r;
	ssize_t n;
	while ((n = read(rep[0], &r, sizeof r)) < 0 && errno == EINTR)
		;
	if (n != 0) {
		int status;
		while (waitpid(sh->child, &status, 0) < 0 && errno == EINTR)
			;
		sh->child = -1;
		if (n == (ssize_t)sizeof r && r.step > 0 &&
		    r.step < (int)(sizeof shim_steps / sizeof shim_steps[0]))
			rc = shim_fail(sh, "sandbox: %s: %s", shim_steps[r.step],
				       strerror(r.err));
		else
			rc = shim_fail(sh, "sandbox: the child failed before exec");
		goto out;
	}
	if (sh->status_fd >= 0 && exec_write_all(sh->status_fd, "R", 1) < 0)
		log_event(LOG_WARN, "the server is not listening", "{s:s}", "error",
			  strerror(errno));
	log_event(LOG_INFO, "job running", "{s:s,s:i}", "job", s->job_id, "bwrap",
		  (int)sh->child);

	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	int status = shim_watch(sh, sigfd, out[0], errp[0], js[0], &ru);
	out[0] = errp[0] = js[0] = -1; /* closed by shim_watch */
	sh->child = -1;
	sh->st.ended_ms = time_now_ms();
	/* Nothing of the job may outlive it. */
	if (cgroup_any(&sh->cg) ? cgroup_count(&sh->cg) != 0 : 0)
		shim_kill_tree(sh, sh->killed ? sh->killed : KILL_NONE);
	shim_account(sh, status, &ru);
	shim_reap_orphans();
	cgroup_remove(&sh->cg);
	rc = shim_write_status(sh);
out:
	sandbox_argv_free(argv);
	int all[] = {sec, pw, gr, ho, devnull, sigfd, out[0], out[1], errp[0],
		     errp[1], js[0], js[1], rep[0], rep[1]};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i] >= 0)
			close(all[i]);
	if (sh->child > 0) {
		kill(sh->child, SIGKILL);
		while (waitpid(sh->child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	cgroup_remove(&sh->cg);
	cgroup_set_free(&sh->cg);
	return rc;
}

int exec_shim_main(int argc, char **argv)
{
	struct shim sh;
	struct err e = {0};
	int rc = 1;
	memset(&sh, 0, sizeof sh);
	sh.dirfd = sh.lockfd = sh.log_fd = sh.status_fd = sh.image_lock = -1;
	sh.child = -1;
	log_setup(LOG_INFO, 2);
	/* Before anyone can learn our pid: a SIGTERM (cancel) must never kill
	 * the shim before it has written a status. */
	sigset_t sigs;
	shim_sigset(&sigs);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0)
		return 1;
	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: cove __shim /absolute/job/dir\n");
		return 2;
	}
	/* fd 3 is the status pipe; the job must not inherit it. */
	if (fcntl(3, F_SETFD, FD_CLOEXEC) == 0)
		sh.status_fd = 3;
	/* Orphans of the job (bwrap's pid 1 once bwrap is killed) become our
	 * children, so that we can reap them: nothing outlives the shim. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		log_event(LOG_ERROR, "cannot become a subreaper", "{s:s}", "error",
			  strerror(errno));
		return 1;
	}
	/* A server gone away must not kill us through SIGPIPE. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return 1;
	umask(022);
	sh.dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sh.dirfd < 0) {
		log_event(LOG_ERROR, "cannot open the job directory", "{s:s,s:s}",
			  "dir", argv[1], "error", strerror(errno));
		goto out;
	}
	sh.lockfd = openat(sh.dirfd, "lock",
			   O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sh.lockfd < 0 || flock(sh.lockfd, LOCK_EX) < 0) {
		log_event(LOG_ERROR, "cannot lock the job directory", "{s:s,s:s}",
			  "dir", argv[1], "error", strerror(errno));
		goto out;
	}
	if (faccessat(sh.dirfd, "status.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		log_event(LOG_ERROR, "job already over", "{s:s}", "dir", argv[1]);
		goto out;
	}
	char pid[32];
	int plen = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	int w = exec_write_atomic_at(sh.dirfd, "shim.pid", pid, (size_t)plen, 0644, 0);
	if (w < 0) {
		log_event(LOG_ERROR, "cannot write shim.pid", "{s:s}", "error",
			  strerror(-w));
		goto out;
	}
	/* exec_cancel leaves this mark when it finds no shim to signal yet;
	 * checked after shim.pid is written, so no cancel falls in between. */
	if (faccessat(sh.dirfd, "cancel", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		sh.st.cancelled = 1;
		rc = shim_fail(&sh, "cancelled before it started") ? 1 : 0;
		goto out;
	}
	if (geteuid() != 0) {
		rc = shim_fail(&sh, "the shim must run as root (to set limits and "
				    "drop to the job's uid)") ? 1 : 0;
		goto out;
	}
	if (exec_run_load(sh.dirfd, &sh.run, &e)) {
		rc = shim_fail(&sh, "%s", e.msg) ? 1 : 0;
		goto out;
	}
	rc = shim_run(&sh) ? 1 : 0;
out:
	exec_run_free(&sh.run);
	for (int i = 0; i < 2; i++)
		buf_free(&sh.pending[i]);
	buf_free(&sh.jstatus);
	free(sh.rootfs);
	if (sh.image_lock >= 0)
		close(sh.image_lock);
	if (sh.log_fd >= 0)
		close(sh.log_fd);
	if (sh.dirfd >= 0)
		close(sh.dirfd);
	if (sh.lockfd >= 0)
		close(sh.lockfd); /* releases the lock: the job is over */
	return rc;
}
