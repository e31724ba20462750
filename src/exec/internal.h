/*
 * internal.h - what the pieces of the local executor share: the cgroup
 * layout (cgroup.c), the run.json codec (spec.c), the bubblewrap command
 * line (sandbox.c) and the seccomp filter (seccomp.c). Not for other
 * modules: they see exec.h only.
 */
#ifndef COVE_EXEC_INTERNAL_H
#define COVE_EXEC_INTERNAL_H

#include "exec/exec.h"

#include <sys/types.h>

#define EXEC_BWRAP "/usr/bin/bwrap"
#define EXEC_LOG_BYTES_DEFAULT (64LL << 20)
#define EXEC_TMP_BYTES_DEFAULT (256LL << 20)
#define EXEC_LINE_MAX (64 * 1024)
#define EXEC_MOUNTS_MAX 128 /* inputs, output, script, cove itself */

/* ---- cgroups (cgroup.c) -------------------------------------------------
 * One directory per controller. With cgroup v2 only dir[CG_V2] is used;
 * with v1 each controller that could be written has its own directory
 * (NULL when absent). A "base" set names the cove/ parent directories; a
 * "job" set names base/<job_id>. */
enum cg_ctrl { CG_V2, CG_MEMORY, CG_CPU, CG_CPUACCT, CG_PIDS, CG_FREEZER, CG_N };

struct cgroup_set {
	char *dir[CG_N];
};

extern const char *const cgroup_ctrl_names[CG_N];

/* Find and test the writable hierarchy: fills base (all NULL when none)
 * and describes the outcome in desc ("cgroup v1 (memory, ...)" or "rlimits
 * only: ..."). Never fails: no cgroups is a mode, not an error. */
void cgroup_probe(struct cgroup_set *base, struct buf *desc);
int cgroup_any(const struct cgroup_set *s);
/* Make moving processes between cgroups cheap (favordynmods on the cgroup2
 * mount; global): 0 when on, -errno when the kernel cannot. */
int cgroup_favor_dynmods(struct buf *desc);
/* Create base/<job_id> for each controller and write the limits of spec.
 * On failure nothing is left behind. */
int cgroup_create(const struct cgroup_set *base, const struct exec_spec *spec,
		  struct cgroup_set *job, struct err *e);
/* Join every cgroup of job (pid 0: the caller). Only syscalls: safe after
 * fork. Returns 0 or -errno. */
int cgroup_join(const struct cgroup_set *job, pid_t pid);
/* Kill every process in the job's cgroups until none is left (bounded to a
 * few seconds). 0 when empty afterwards. */
int cgroup_kill(const struct cgroup_set *job);
/* Number of processes left, or -1 when it cannot be told. */
int cgroup_count(const struct cgroup_set *job);
/* Accounting; -1 (or 0 for oom) when unknown. */
void cgroup_stats(const struct cgroup_set *job, int64_t *cpu_ms,
		  int64_t *peak_mem, int *oom_kills);
/* Kill what is left and remove the directories. */
void cgroup_remove(const struct cgroup_set *job);
void cgroup_set_free(struct cgroup_set *s);
/* base/<job_id> for each directory of base. */
void cgroup_job_paths(const struct cgroup_set *base, const char *job_id,
		      struct cgroup_set *job);

/* ---- run.json (spec.c) --------------------------------------------------
 * The spec as the shim reads it back: every pointer points into root. */
struct exec_run {
	json_t *root;
	struct exec_spec spec;
	char **argv;
	char **env;
	struct exec_mount *mounts;
	struct cgroup_set cg_base;
	struct exec_image image; /* spec.image points here when present */
	char **layers;
	char **media_types;
};

/* Check a spec before anything is written: names, paths, env entries. */
int exec_spec_check(const struct exec_spec *spec, struct err *e);
json_t *exec_spec_to_json(const struct exec_spec *spec,
			  const struct cgroup_set *cg_base);
int exec_run_load(int dirfd, struct exec_run *run, struct err *e);
void exec_run_free(struct exec_run *run);

/* ---- the sandbox (sandbox.c) ------------------------------------------
 * File descriptor numbers as the bwrap process sees them. */
enum {
	SANDBOX_FD_SECCOMP = 3,
	SANDBOX_FD_PASSWD = 4,
	SANDBOX_FD_GROUP = 5,
	SANDBOX_FD_HOSTS = 6,
	SANDBOX_FD_STATUS = 7,
	SANDBOX_FD_COUNT = 8, /* first fd number not passed on */
};

/* Where the shim stages the spec's mounts, in a mount namespace of its own,
 * for bwrap to bind: SANDBOX_STAGE/m<i> (out holds at least 64 bytes). */
#define SANDBOX_STAGE "/run"
void sandbox_stage_path(int i, char out[64]);

/* Where the shim stages spec->rootfs for bwrap. */
#define SANDBOX_STAGE_ROOT SANDBOX_STAGE "/root"

/* The bwrap command line for spec: a NULL-ended array of strings, freed
 * with sandbox_argv_free. With spec->rootfs it lists that tree (the
 * caller is root) to build the job's / from it. */
char **sandbox_argv(const struct exec_spec *spec);
void sandbox_argv_free(char **argv);
/* Memory files with the generated /etc/passwd, /etc/group, /etc/hosts. */
int sandbox_etc_files(const struct exec_spec *spec, int *passwd_fd,
		      int *group_fd, int *hosts_fd, struct err *e);

/* ---- seccomp (seccomp.c) ------------------------------------------------ */

/* A memfd holding the BPF deny-list, positioned at 0, for bwrap --seccomp. */
int seccomp_filter_fd(int *fd, struct err *e);

/* ---- the launcher (launcher.c) ------------------------------------------ */
/* Fork the launcher; only while the caller has a single thread. */
int launcher_start(int *sock, pid_t *pid, struct err *e);
/* Have it start the shim of the job in dir with status_fd as its fd 3. */
int launcher_spawn(int sock, const char *dir, int status_fd, pid_t *shim,
		   struct err *e);
void launcher_stop(int sock, pid_t pid);

/* ---- shared helpers (local.c) ------------------------------------------- */

/* Write all of data to fd, retrying on EINTR and short writes. */
int exec_write_all(int fd, const void *data, size_t len);
/* Read a small file at dirfd/name into b (NUL-terminated). -errno. */
int exec_read_file_at(int dirfd, const char *name, struct buf *b, size_t max);
/* tmp file, fsync, rename, fsync dir. -errno. */
int exec_write_atomic_at(int dirfd, const char *name, const void *data,
			 size_t len, mode_t mode, int sync);

#endif
