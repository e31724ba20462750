/*
 * seccomp.c - the system-call deny-list every job runs under.
 *
 * A deny-list rather than an allow-list: jobs run arbitrary interpreters
 * (Python, Octave, FFmpeg, DuckDB) whose system calls nobody can enumerate.
 * What is denied is what the namespaces do not already neutralise, or what
 * attacks the kernel or other processes directly: mounting, namespace
 * creation, tracing, kernel modules and keyrings, eBPF, userfaultfd, the
 * clock, io_uring (which would bypass this filter), terminal injection.
 * Denied calls fail with EPERM (clone3 with ENOSYS, so that libc falls back
 * to clone, where the flags can be inspected). Other architectures' calls
 * (i386, x32) kill the process: libseccomp's default for a foreign ABI.
 *
 * The filter is compiled to BPF with libseccomp and handed to bubblewrap
 * (--seccomp FD), which installs it with no_new_privs just before it
 * executes the command. Must not: load the filter into the calling process.
 */
#include "exec/internal.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const char *const seccomp_denied[] = {
	/* mounts and root changes */
	"mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig",
	"fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	/* namespaces */
	"unshare", "setns",
	/* looking into or steering other processes */
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"pidfd_getfd", "process_madvise",
	/* the kernel itself */
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "reboot", "swapon", "swapoff", "bpf", "perf_event_open",
	"userfaultfd", "lookup_dcookie", "uselib", "_sysctl", "nfsservctl",
	"vhangup", "acct", "quotactl", "quotactl_fd", "syslog",
	"iopl", "ioperm", "mbind", "migrate_pages", "move_pages",
	"set_mempolicy", "set_mempolicy_home_node",
	/* keyrings */
	"keyctl", "add_key", "request_key",
	/* file handles bypass path permission checks */
	"open_by_handle_at", "name_to_handle_at",
	/* the clock is the host's */
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	/* io_uring runs system calls this filter never sees */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	/* fanotify marks whole mounts */
	"fanotify_init",
};

static const unsigned long seccomp_clone_ns_flags[] = {
	CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

int seccomp_filter_fd(int *out, struct err *e)
{
	int fd = -1;
	int rc = 0;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return err_set(e, COVE_EINTERNAL, "seccomp_init failed");
	for (size_t i = 0; i < sizeof seccomp_denied / sizeof seccomp_denied[0];
	     i++) {
		int nr = seccomp_syscall_resolve_name(seccomp_denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0) {
			rc = err_set(e, COVE_EINTERNAL, "seccomp rule for %s: %s",
				     seccomp_denied[i], strerror(-r));
			goto out;
		}
	}
	/* clone: refuse any namespace flag (argument 0 on x86-64 and arm64). */
	for (size_t i = 0; i < sizeof seccomp_clone_ns_flags /
				       sizeof seccomp_clone_ns_flags[0];
	     i++) {
		unsigned long f = seccomp_clone_ns_flags[i];
		int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone),
					 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (r < 0) {
			rc = err_set(e, COVE_EINTERNAL, "seccomp rule for clone: %s",
				     strerror(-r));
			goto out;
		}
	}
	/* clone3 passes its flags in memory a filter cannot read. */
	int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* TIOCSTI pushes input into a terminal; TIOCLINUX can do the same. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					     (scmp_datum_t)TIOCSTI));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					     (scmp_datum_t)TIOCLINUX));
	if (r < 0) {
		rc = err_set(e, COVE_EINTERNAL, "seccomp rules: %s", strerror(-r));
		goto out;
	}
	fd = memfd_create("cove-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		rc = err_set(e, COVE_EINTERNAL, "memfd_create: %s", strerror(errno));
		goto out;
	}
	if ((r = seccomp_export_bpf(ctx, fd)) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "seccomp_export_bpf: %s", strerror(-r));
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "lseek: %s", strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return rc;
}
