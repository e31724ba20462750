/*
 * exec.h - executors: run one job's command somewhere isolated, and say how
 * it ended. Only the local executor exists so far (Slurm and Kubernetes will
 * implement the same calls).
 *
 * The local executor runs every job under its own supervisor process, the
 * shim (`cove __shim DIR`, shim.c), started in a session of its own so that
 * it outlives a `kill -9` of the server. The shim
 *   - holds an exclusive flock on DIR/lock for as long as it lives (the
 *     server's liveness test: a lock it cannot take means the job lives);
 *   - writes its pid to DIR/shim.pid;
 *   - puts the job in cgroups (v2, or v1 memory/cpu/pids controllers; rlimits
 *     when neither can be written), then runs bubblewrap with new user, pid,
 *     net, ipc, uts and mount namespaces, a libseccomp deny-list and
 *     no_new_privs, as an unprivileged host uid;
 *   - captures stdout and stderr into DIR/log, one line per record:
 *       "2026-11-25T10:00:00.123Z O text\n"  (O stdout, E stderr)
 *   - kills the whole process tree at the wall-time limit or on SIGTERM
 *     (cancel), detects OOM kills, measures CPU time and peak memory;
 *   - writes DIR/status.json atomically (temporary file, fsync, rename) and
 *     exits. A status file present means the job is over.
 *
 * Nothing here knows about users, the database or HTTP: the jobs module
 * decides what to run and where its inputs come from; this module runs it.
 */
#ifndef COVE_EXEC_H
#define COVE_EXEC_H

#include "core/core.h"

/* A host path made visible inside the sandbox. */
struct exec_mount {
	const char *host;    /* absolute host path (file or directory) */
	const char *inside;  /* absolute path inside the sandbox */
	int writable;        /* 0: read-only */
};

/* What to run and with which limits. Every pointer is borrowed. */
struct exec_spec {
	const char *job_id;   /* for cgroup names and the hostname */
	const char *dir;      /* the job's private host directory (exists) */
	char *const *argv;    /* command inside the sandbox, NULL-ended */
	char *const *env;     /* "KEY=VALUE" inside the sandbox, NULL-ended */
	const struct exec_mount *mounts;
	int nmounts;
	const char *cwd;      /* working directory inside (default "/") */
	int64_t uid_inside;   /* uid/gid the job sees (the submitter's cove ids) */
	int64_t gid_inside;
	const char *user_name; /* name of uid_inside in the sandbox's /etc/passwd */
	int64_t host_uid;     /* unprivileged host ids the job really runs as */
	int64_t host_gid;
	double cpus;          /* CPU limit (cores); 0: unlimited */
	int64_t mem_bytes;    /* memory limit; 0: unlimited */
	int64_t pids;         /* process limit; 0: unlimited */
	int64_t tmp_bytes;    /* size of the private /tmp */
	int64_t time_limit;   /* wall seconds; 0: unlimited */
	int network;          /* 1: share the host's network */
	/* Added with the local executor; zero keeps the defaults. */
	const char *group_name; /* name of gid_inside in /etc/group (user_name) */
	int64_t file_bytes;   /* largest file the job may write; 0: unlimited */
	int64_t log_bytes;    /* cap of DIR/log; 0: 64 MiB */
	/* Added with images; NULL keeps the host's /usr as the job's system.
	 * rootfs: a tree bound read-only as the job's / (its /usr, /etc, ...);
	 * /proc, /dev, /tmp, the generated /etc/passwd, group and hosts and
	 * the mounts above are placed on top of it, every other isolation
	 * property is unchanged. image: when set, the shim first unpacks it
	 * into its cache (image_prepare) and uses that tree as rootfs, holding
	 * the cache entry (safe from eviction) for the job's life. */
	const char *rootfs;
	const struct exec_image *image;
};

/* An image for exec_spec.image. Every pointer is borrowed. */
struct exec_image {
	const char *cache_dir; /* absolute; e.g. $DATA/images */
	const char *digest;    /* manifest digest "sha256:<hex>": the cache key */
	char *const *layers;   /* host paths of the layer blobs, bottom first */
	char *const *media_types;
	int nlayers;
};

/* How a job ended, from DIR/status.json. */
struct exec_status {
	int started;          /* the command was launched */
	int exit_code;        /* -1 when killed by a signal */
	int signal;           /* 0 or the terminating signal */
	int oom;              /* killed for exceeding its memory limit */
	int timed_out;        /* killed at the wall-time limit */
	int cancelled;        /* killed on request */
	int64_t cpu_ms;       /* user + system CPU time of the whole tree */
	int64_t peak_mem;     /* bytes */
	int64_t started_ms;   /* Unix ms */
	int64_t ended_ms;
	char error[256];      /* why the sandbox could not start ("" if it did) */
};

/* A job being watched by the server. */
struct exec_handle {
	int pid; /* the shim's pid */
	/* readable when the shim has news: one byte 'R' once the command runs,
	 * end of file when the shim exits (a pipe for jobs we started, a pidfd
	 * for jobs adopted after a restart, which only becomes readable at
	 * exit). The caller closes it. */
	int fd;
};

struct exec_local;

/*
 * Probe what this machine allows (bubblewrap present and able to create
 * namespaces, cgroup v2 or v1 writable, seccomp) and remember the path of
 * the cove binary that runs shims (self_exe). *out is freed with
 * exec_local_close. Fails only when jobs cannot run at all (no bubblewrap,
 * no user namespaces), with e saying why.
 */
int exec_local_open(struct exec_local **out, const char *self_exe,
		    struct err *e);
void exec_local_close(struct exec_local *x);
/* One line for the start-up log: "cgroup v1 (memory, cpu, pids)" or
 * "rlimits only: cgroups not writable (reason)". */
const char *exec_local_limits(const struct exec_local *x);
/* CPUs and memory bytes this machine offers to jobs. */
void exec_local_capacity(const struct exec_local *x, double *cpus,
			 int64_t *mem_bytes);

/* Write spec to spec->dir, start its shim, and return at once.
 * The shim is the caller's child: once h->fd reports end of file, call
 * exec_reap (or waitpid h->pid yourself) so that it does not linger as a
 * zombie. */
int exec_start(struct exec_local *x, const struct exec_spec *spec,
	       struct exec_handle *h, struct err *e);

/* Close h->fd and collect the shim if it is our child and has exited
 * (never blocks; a shim adopted after a restart is not our child). */
void exec_reap(struct exec_handle *h);

/*
 * After a restart: is the shim of the job in dir still alive? 1 = yes (h
 * filled, h->fd a pidfd), 0 = it is over (status.json present), COVE_ENOENT
 * = it vanished without a status (the job is lost).
 */
int exec_adopt(struct exec_local *x, const char *dir, struct exec_handle *h,
	       struct err *e);

/* Ask the shim of the job in dir to kill the job (it then writes a status
 * with cancelled = 1). 0 when asked or already over. */
int exec_cancel(struct exec_local *x, const char *dir, struct err *e);

/* Read dir/status.json. COVE_ENOENT when there is none yet. */
int exec_status_read(const char *dir, struct exec_status *st, struct err *e);

/* Remove dir and what the shim left (cgroups); after the job is over. */
void exec_cleanup(struct exec_local *x, const char *dir, const char *job_id);

/* `cove __shim DIR`: the supervisor. Returns the process exit status. */
int exec_shim_main(int argc, char **argv);

/* `cove __duckdb SCRIPT`: runs the SQL statements of the file SCRIPT with
 * DuckDB's C API (libduckdb.so, found through COVE_DUCKDB_LIB or the
 * places scripts/deps.sh installs it), printing each result as CSV with a
 * header on stdout and errors on stderr; exit 1 on the first error. */
int exec_duckdb_main(int argc, char **argv);

/* ---- images (image.c) -------------------------------------------------
 * An image's layers unpacked into a root file system, cached by manifest
 * digest under a cache directory (see image.c for the layout, the checks
 * and the crash rules). */

struct image_limits {
	int64_t max_bytes;   /* file contents of all layers; 0: 16 GiB */
	int64_t max_entries; /* tar members of all layers; 0: 1,000,000 */
};

/* Is mt a layer media type we unpack (OCI and Docker tar, tar+gzip,
 * tar+zstd)? */
int image_layer_type_ok(const char *mt);

/*
 * Make sure cache_dir/<hex of digest>/rootfs holds the image made of the
 * layers (host paths, bottom first, with their media types), unpacking
 * them if it does not yet (once, even when several processes ask at the
 * same time). On success *rootfs is the tree's path (caller frees) and
 * *lock_fd a shared lock on the entry: the evictor leaves it alone until
 * it is closed. Errors: COVE_EINVAL (bad digest, unsupported media type,
 * a layer that is corrupt or tries to escape the tree, with the layer
 * number and member name in e), COVE_ENOENT (a layer blob is missing),
 * COVE_ETOOBIG (over lim; NULL: defaults), COVE_EIO. Forks a child that
 * chroots into the new tree to unpack: needs root.
 */
int image_prepare(const char *cache_dir, const char *digest,
		  char *const *layers, char *const *media_types, int nlayers,
		  const struct image_limits *lim, char **rootfs, int *lock_fd,
		  struct err *e);

struct image_evict_stats {
	int kept, removed;
	int64_t kept_bytes, removed_bytes;
};

/*
 * Remove cache entries not used (prepared) for max_age seconds, then the
 * least recently used ones while the cache holds more than max_bytes (0:
 * no such bound). Entries in use by a job are never removed; debris of
 * crashed unpacks is. A missing cache_dir is an empty cache.
 */
int image_cache_evict(const char *cache_dir, int64_t max_age, int64_t max_bytes,
		      struct image_evict_stats *st, struct err *e);

/* What an image's config blob says about running it (NULL when absent). */
struct image_config {
	char **env;        /* "KEY=VALUE", NULL-ended */
	char **entrypoint; /* NULL-ended */
	char **cmd;        /* NULL-ended */
	char *workdir;
	char *user;        /* informational: jobs run as their submitter */
};

/* Parse the config JSON (application/vnd.oci.image.config.v1+json or
 * Docker's container config). COVE_EINVAL with e saying what is wrong. */
int image_config_parse(const char *json, size_t len, struct image_config *c,
		       struct err *e);
void image_config_free(struct image_config *c);

#endif
