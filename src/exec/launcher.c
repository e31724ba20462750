/*
 * launcher.c - starting shims without starting a program. Executing the
 * cove binary for every job costs several milliseconds of dynamic linking
 * before the shim does anything. So, while the server is still one thread
 * (before the jobs engine and the HTTP server start), it forks a launcher:
 * a copy of itself that only keeps one spare child ready. The spare waits
 * on the socket; for the next job it receives the job's directory and the
 * status pipe, answers with its own pid, tells the launcher it was taken
 * and, in a session of its own, becomes the shim (exec_shim_main), which
 * outlives the server like a spawned one would. The launcher then forks
 * the next spare. A fork of this process costs about 3 ms on the virtual
 * machines we measure on (page tables), and the spare pays it before the
 * job arrives instead of after.
 *
 * The launcher must not touch anything of the server it was copied from
 * (database handles, keys): it only receives, forks and reaps. A shim it
 * forks closes every inherited descriptor but its own before it starts.
 * When the server goes away (even kill -9) the socket reads end of file and
 * the launcher exits; shims already started are not affected.
 */
#include "exec/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAUNCH_DIR_MAX 4096

/* Receive one request: the job directory and the status pipe's write end. */
static ssize_t launcher_recv(int sock, char *dir, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = dir, .iov_len = LAUNCH_DIR_MAX - 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof cbuf};
	ssize_t n;
	while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return n;
	dir[n] = '\0';
	*fd = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/* The grandchild: becomes the shim of the job in dir. Never returns. */
__attribute__((noreturn)) static void launcher_shim(char *dir, int status_fd)
{
	setsid();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT,
		      SIGUSR1, SIGUSR2, SIGALRM};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	/* fd 3: the status pipe; 0: /dev/null; 1 and 2: DIR/shim.log */
	int tmp = fcntl(status_fd, F_DUPFD_CLOEXEC, 64);
	char log[LAUNCH_DIR_MAX + 16];
	snprintf(log, sizeof log, "%s/shim.log", dir);
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (tmp < 0 || in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0 || dup2(tmp, 3) < 0)
		_exit(127);
	syscall(SYS_close_range, 4, ~0U, 0);
	prctl(PR_SET_NAME, "cove-shim");
	char *argv[] = {"__shim", dir, NULL};
	/* _exit: nothing of the server's copy runs at exit (atexit, leak checks) */
	_exit(exec_shim_main(2, argv));
}

/*
 * A spare: wait for one job, answer the server with our pid (the shim's),
 * tell the launcher through took (one byte) and become the shim. Exits
 * when the server is gone.
 */
__attribute__((noreturn)) static void launcher_spare(int sock, int took)
{
	char *dir = malloc(LAUNCH_DIR_MAX);
	if (!dir)
		_exit(1);
	int fd = -1;
	ssize_t n = launcher_recv(sock, dir, &fd);
	if (n <= 0)
		_exit(0); /* the server is gone */
	ssize_t w = write(took, "t", 1);
	(void)w; /* the launcher forks the next spare either way (end of file) */
	close(took);
	int32_t v = fd >= 0 && dir[0] == '/' ? (int32_t)getpid() : -1;
	if (write(sock, &v, sizeof v) < 0 || v < 0)
		_exit(0); /* the server will see the pipe close, or the -1 */
	close(sock);
	launcher_shim(dir, fd);
}

__attribute__((noreturn)) static void launcher_main(int sock)
{
	prctl(PR_SET_NAME, "cove-launcher");
	/* Shims are our children, and what they leave behind becomes ours: as
	 * a subreaper that ignores SIGCHLD, the launcher has the kernel reap
	 * every one of them (not every init reaps). */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int took[2];
		if (pipe2(took, O_CLOEXEC) < 0) {
			sleep(1);
			continue;
		}
		pid_t spare = fork();
		if (spare == 0) {
			close(took[0]);
			launcher_spare(sock, took[1]);
		}
		close(took[1]);
		char b;
		ssize_t n = spare < 0 ? -1 : read(took[0], &b, 1);
		while (n < 0 && spare > 0 && errno == EINTR)
			n = read(took[0], &b, 1);
		close(took[0]);
		if (n == 1)
			continue; /* taken: ready the next one */
		/* The spare ended untaken: the server is gone, or the spare was
		 * killed; or there was no fork. Leave in the first case, retry
		 * (not in a tight loop) otherwise. */
		struct pollfd p = {.fd = sock, .events = POLLIN};
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
			_exit(0);
		usleep(spare < 0 ? 100000 : 1000);
	}
}

int launcher_start(int *sock_out, pid_t *pid_out, struct err *e)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(e, COVE_EINTERNAL, "socketpair: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		return err_set(e, COVE_EINTERNAL, "cannot fork the launcher: %s", strerror(err));
	}
	if (pid == 0) {
		close(sv[0]);
		launcher_main(sv[1]);
	}
	close(sv[1]);
	*sock_out = sv[0];
	*pid_out = pid;
	return 0;
}

int launcher_spawn(int sock, const char *dir, int status_fd, pid_t *shim,
		   struct err *e)
{
	size_t len = strlen(dir);
	if (len >= LAUNCH_DIR_MAX)
		return err_set(e, COVE_EINVAL, "job directory path too long");
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {.iov_base = (void *)dir, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &status_fd, sizeof(int));
	ssize_t n;
	while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)len)
		return err_set(e, COVE_EINTERNAL, "the launcher is gone: %s",
			       n < 0 ? strerror(errno) : "short write");
	int32_t v = -1;
	while ((n = read(sock, &v, sizeof v)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof v || v <= 0)
		return err_set(e, COVE_EINTERNAL, "the launcher could not fork a shim");
	*shim = (pid_t)v;
	return 0;
}

void launcher_stop(int sock, pid_t pid)
{
	if (sock >= 0)
		close(sock);
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
