/*
 * cgroup.c - per-job control groups for the local executor, v2 or v1.
 *
 * Layout. cgroup v2 (pure, /sys/fs/cgroup/cgroup.controllers present):
 * /sys/fs/cgroup/cove/<job_id>, with memory, cpu and pids enabled in the
 * subtree_control of the root and of cove/ (v2 forbids enabling controllers
 * below a cgroup that holds processes, so cove/ hangs off the root rather
 * than off the server's own cgroup). cgroup v1: for each of memory, cpu,
 * cpuacct, pids and freezer that is mounted and writable,
 * <mount>/<the server's own cgroup>/cove/<job_id>, so that limits an
 * administrator put on the server also cover its jobs (at the root this is
 * <mount>/cove/<job_id>).
 *
 * Runs as root in the server (probe) and in the shim. Must not: follow job
 * input anywhere but <base>/<validated job id>, or block without a bound.
 */
#include "exec/internal.h"

#include <errno.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_ROOT "/sys/fs/cgroup"

const char *const cgroup_ctrl_names[CG_N] = {
	[CG_V2] = "v2",		[CG_MEMORY] = "memory", [CG_CPU] = "cpu",
	[CG_CPUACCT] = "cpuacct", [CG_PIDS] = "pids",	[CG_FREEZER] = "freezer",
};

static void cg_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Write value to dir/file. -errno. Only syscalls and snprintf: usable in
 * a freshly forked child. */
static int cg_write(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);
	int rc = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
	close(fd);
	return rc;
}

static int cg_read(const char *dir, const char *file, struct buf *b)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
		return -ENAMETOOLONG;
	return exec_read_file_at(AT_FDCWD, path, b, 1 << 20);
}

static int cg_exists(const char *dir, const char *file)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
		return 0;
	return access(path, F_OK) == 0;
}

/* The integer after "key " in a flat keyed file (cpu.stat, memory.events,
 * memory.oom_control); -1 when absent. */
static int64_t cg_read_key(const char *dir, const char *file, const char *key)
{
	struct buf b = {0};
	int64_t v = -1;
	if (cg_read(dir, file, &b) < 0)
		goto out;
	size_t klen = strlen(key);
	for (const char *p = buf_str(&b); *p;) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			v = strtoll(p + klen + 1, NULL, 10);
			break;
		}
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
out:
	buf_free(&b);
	return v;
}

static int64_t cg_read_int(const char *dir, const char *file)
{
	struct buf b = {0};
	int64_t v = -1;
	if (cg_read(dir, file, &b) == 0 && b.len)
		v = strtoll(buf_str(&b), NULL, 10);
	buf_free(&b);
	return v;
}

int cgroup_any(const struct cgroup_set *s)
{
	for (int i = 0; i < CG_N; i++)
		if (s->dir[i])
			return 1;
	return 0;
}

void cgroup_set_free(struct cgroup_set *s)
{
	for (int i = 0; i < CG_N; i++) {
		free(s->dir[i]);
		s->dir[i] = NULL;
	}
}

void cgroup_job_paths(const struct cgroup_set *base, const char *job_id,
		      struct cgroup_set *job)
{
	for (int i = 0; i < CG_N; i++)
		job->dir[i] = base->dir[i] ? xasprintf("%s/%s", base->dir[i], job_id)
					   : NULL;
}

/* mkdir base/probe-<pid> and remove it again: can we really create
 * cgroups here? */
static int cg_try_child(const char *base, const char *need_file)
{
	char *p = xasprintf("%s/probe-%d", base, (int)getpid());
	int rc = 0;
	if (mkdir(p, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if (need_file && !cg_exists(p, need_file))
		rc = -EOPNOTSUPP;
	if (rmdir(p) < 0 && !rc)
		rc = -errno;
out:
	free(p);
	return rc;
}

/* ---- probing ----------------------------------------------------------- */

static int cg_probe_v2(struct cgroup_set *base, struct buf *desc)
{
	struct buf ctl = {0};
	char *cove = NULL;
	int rc = cg_read(CG_ROOT, "cgroup.controllers", &ctl);
	if (rc < 0) {
		buf_addf(desc, "cgroup v2: cannot read controllers: %s", strerror(-rc));
		goto out;
	}
	if (!strstr(buf_str(&ctl), "memory") || !strstr(buf_str(&ctl), "pids")) {
		buf_addf(desc, "cgroup v2: memory or pids controller missing");
		rc = -EOPNOTSUPP;
		goto out;
	}
	/* Root may always enable controllers; failures show up below. */
	cg_write(CG_ROOT, "cgroup.subtree_control", "+memory");
	cg_write(CG_ROOT, "cgroup.subtree_control", "+pids");
	cg_write(CG_ROOT, "cgroup.subtree_control", "+cpu");
	cove = xasprintf("%s/cove", CG_ROOT);
	if (mkdir(cove, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		buf_addf(desc, "cgroup v2: mkdir %s: %s", cove, strerror(errno));
		goto out;
	}
	cg_write(cove, "cgroup.subtree_control", "+memory");
	cg_write(cove, "cgroup.subtree_control", "+pids");
	cg_write(cove, "cgroup.subtree_control", "+cpu");
	if ((rc = cg_try_child(cove, "memory.max")) < 0 ||
	    (rc = cg_try_child(cove, "pids.max")) < 0) {
		buf_addf(desc, "cgroup v2: cannot create a limited cgroup in %s: %s",
			 cove, strerror(-rc));
		goto out;
	}
	base->dir[CG_V2] = cove;
	cove = NULL;
	buf_reset(desc);
	struct buf sub = {0};
	cg_read(base->dir[CG_V2], "cgroup.subtree_control", &sub);
	buf_addf(desc, "cgroup v2 (memory, %spids) at %s",
		 strstr(buf_str(&sub), "cpu") ? "cpu, " : "", base->dir[CG_V2]);
	buf_free(&sub);
	rc = 0;
out:
	free(cove);
	buf_free(&ctl);
	return rc;
}

/* The server's own cgroup in the v1 hierarchy that carries ctrl, from
 * /proc/self/cgroup ("4:memory:/some/path"). */
static char *cg_own_path_v1(const char *ctrl)
{
	struct buf b = {0};
	char *found = NULL;
	if (exec_read_file_at(AT_FDCWD, "/proc/self/cgroup", &b, 1 << 16) < 0)
		goto out;
	char *save = NULL;
	for (char *line = strtok_r(b.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		char *s2 = NULL;
		for (char *name = strtok_r(c1 + 1, ",", &s2); name;
		     name = strtok_r(NULL, ",", &s2))
			if (!strcmp(name, ctrl)) {
				found = xstrdup(c2 + 1);
				goto out;
			}
	}
out:
	buf_free(&b);
	return found;
}

static int cg_probe_v1(struct cgroup_set *base, struct buf *desc)
{
	static const char *const probe_file[CG_N] = {
		[CG_MEMORY] = "memory.limit_in_bytes", [CG_CPU] = "cpu.shares",
		[CG_CPUACCT] = "cpuacct.usage",	     [CG_PIDS] = "pids.max",
		[CG_FREEZER] = "freezer.state",
	};
	char real[CG_N][PATH_MAX];
	struct buf missing = {0};
	struct buf have = {0};
	for (int i = CG_MEMORY; i < CG_N; i++) {
		const char *name = cgroup_ctrl_names[i];
		char *mnt = xasprintf("%s/%s", CG_ROOT, name);
		char *own = NULL;
		char *dir = NULL;
		struct statfs sf;
		real[i][0] = '\0';
		if (statfs(mnt, &sf) < 0 || sf.f_type != CGROUP_SUPER_MAGIC ||
		    !realpath(mnt, real[i])) {
			buf_addf(&missing, "%s%s (not mounted)", missing.len ? ", " : "",
				 name);
			goto next;
		}
		/* cpu,cpuacct mounted together: one directory serves both. */
		int dup = 0;
		for (int j = CG_MEMORY; j < i; j++)
			if (base->dir[j] && !strcmp(real[j], real[i]))
				dup = 1;
		if (dup)
			goto next;
		own = cg_own_path_v1(name);
		dir = xasprintf("%s%s/cove", mnt,
				own && strcmp(own, "/") ? own : "");
		int rc = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			rc = -errno;
		if (!rc)
			rc = cg_try_child(dir, probe_file[i]);
		if (rc < 0) {
			buf_addf(&missing, "%s%s (%s)", missing.len ? ", " : "", name,
				 strerror(-rc));
			goto next;
		}
		buf_addf(&have, "%s%s", have.len ? ", " : "", name);
		base->dir[i] = dir;
		dir = NULL;
	next:
		free(dir);
		free(own);
		free(mnt);
	}
	int rc = 0;
	if (!base->dir[CG_MEMORY] && !base->dir[CG_PIDS]) {
		buf_addf(desc, "cgroup v1: memory and pids not writable: %s",
			 buf_str(&missing));
		cgroup_set_free(base);
		rc = -EOPNOTSUPP;
	} else {
		buf_reset(desc);
		buf_addf(desc, "cgroup v1 (%s)", buf_str(&have));
		if (missing.len)
			buf_addf(desc, "; without %s", buf_str(&missing));
	}
	buf_free(&missing);
	buf_free(&have);
	return rc;
}

void cgroup_probe(struct cgroup_set *base, struct buf *desc)
{
	struct buf why = {0};
	memset(base, 0, sizeof *base);
	if (getuid() != 0) {
		buf_adds(&why, "not root");
	} else if (access(CG_ROOT "/cgroup.controllers", F_OK) == 0) {
		if (cg_probe_v2(base, &why) == 0) {
			buf_adds(desc, buf_str(&why));
			goto out;
		}
	} else {
		if (cg_probe_v1(base, &why) == 0) {
			buf_adds(desc, buf_str(&why));
			goto out;
		}
	}
	if (!why.len)
		buf_adds(&why, "no cgroup hierarchy found");
	buf_addf(desc, "rlimits only: cgroups not writable (%s)", buf_str(&why));
out:
	buf_free(&why);
}

/*
 * Every move of a process into a cgroup takes the kernel's global
 * threadgroup lock for writing, which by default waits for an RCU grace
 * period: about 7 to 12 ms per controller on a cgroup v1 machine, so
 * several controllers cost tens of milliseconds per job start. The
 * "favordynmods" option of a cgroup2 mount (Linux 6.0 and later) keeps that
 * lock in the mode where writers do not wait (the kernel documents the
 * trade-off: forks and exits get slightly dearer). It is global, so setting
 * it on the cgroup2 hierarchy (pure v2, or the unified one beside v1
 * controllers) is enough. The mount's other flags and options are kept.
 * Returns 0 when it is on (or already was), -errno otherwise.
 */
int cgroup_favor_dynmods(struct buf *desc)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f)
		return -errno;
	char line[1024], dir[512] = "", opts[512] = "";
	while (fgets(line, sizeof line, f)) {
		char src[128], d[512], type[64], o[512];
		if (sscanf(line, "%127s %511s %63s %511s", src, d, type, o) == 4 &&
		    !strcmp(type, "cgroup2")) {
			snprintf(dir, sizeof dir, "%s", d);
			snprintf(opts, sizeof opts, "%s", o);
			break;
		}
	}
	fclose(f);
	if (!dir[0])
		return -ENOENT;
	static const struct {
		const char *word;
		unsigned long flag;
	} flags[] = {{"ro", MS_RDONLY},	      {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV},
		     {"noexec", MS_NOEXEC},     {"noatime", MS_NOATIME},
		     {"nodiratime", MS_NODIRATIME}, {"relatime", MS_RELATIME},
		     {"strictatime", MS_STRICTATIME}};
	unsigned long mflags = MS_REMOUNT;
	struct buf data = {0};
	int already = 0;
	for (char *save = NULL, *w = strtok_r(opts, ",", &save); w;
	     w = strtok_r(NULL, ",", &save)) {
		int known = !strcmp(w, "rw");
		for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
			if (!strcmp(w, flags[i].word)) {
				mflags |= flags[i].flag;
				known = 1;
			}
		if (known || !strncmp(w, "seclabel", 8))
			continue;
		already |= !strcmp(w, "favordynmods");
		if (data.len)
			buf_addc(&data, ',');
		buf_adds(&data, w);
	}
	int rc = 0;
	if (!already) {
		if (data.len)
			buf_addc(&data, ',');
		buf_adds(&data, "favordynmods");
		if (mount("cgroup2", dir, "cgroup2", mflags, buf_str(&data)) < 0)
			rc = -errno;
	}
	if (!rc)
		buf_addf(desc, "; fast task migration (favordynmods on %s)", dir);
	buf_free(&data);
	return rc;
}

/* ---- one job's cgroups --------------------------------------------------- */

static int cg_limit(struct cgroup_set *job, int i, const char *file,
		    int64_t value, int optional, struct err *e)
{
	char v[32];
	snprintf(v, sizeof v, "%lld", (long long)value);
	int rc = cg_write(job->dir[i], file, v);
	if (rc == -ENOENT && optional)
		return 0;
	if (rc < 0)
		return err_set(e, COVE_EINTERNAL, "cannot write %s/%s = %s: %s",
			       job->dir[i], file, v, strerror(-rc));
	return 0;
}

int cgroup_create(const struct cgroup_set *base, const struct exec_spec *spec,
		  struct cgroup_set *job, struct err *e)
{
	int rc = 0;
	memset(job, 0, sizeof *job);
	if (!cgroup_any(base))
		return 0;
	cgroup_job_paths(base, spec->job_id, job);
	if (job->dir[CG_V2]) {
		/* A reboot or an administrator may have reset these. */
		cg_write(base->dir[CG_V2], "cgroup.subtree_control", "+memory");
		cg_write(base->dir[CG_V2], "cgroup.subtree_control", "+pids");
		cg_write(base->dir[CG_V2], "cgroup.subtree_control", "+cpu");
	}
	for (int i = 0; i < CG_N; i++) {
		if (!job->dir[i] || mkdir(job->dir[i], 0755) == 0)
			continue;
		if (errno == EEXIST) {
			/* Left over by an earlier attempt of this job: empty it. */
			struct cgroup_set stale = {0};
			stale.dir[i] = job->dir[i];
			cgroup_kill(&stale);
			if (rmdir(job->dir[i]) == 0 && mkdir(job->dir[i], 0755) == 0)
				continue;
		}
		rc = err_set(e, COVE_EINTERNAL, "cannot create cgroup %s: %s",
			     job->dir[i], strerror(errno));
		free(job->dir[i]);
		job->dir[i] = NULL;
		goto fail;
	}
	int64_t quota = (int64_t)(spec->cpus * 100000.0);
	if (quota > 0 && quota < 1000)
		quota = 1000;
	if (job->dir[CG_V2]) {
		if (spec->mem_bytes > 0 &&
		    ((rc = cg_limit(job, CG_V2, "memory.max", spec->mem_bytes, 0, e)) ||
		     (rc = cg_limit(job, CG_V2, "memory.swap.max", 0, 1, e))))
			goto fail;
		/* One OOM kill takes the whole job: no half-dead trees. */
		if ((rc = cg_limit(job, CG_V2, "memory.oom.group", 1, 1, e)))
			goto fail;
		if (spec->pids > 0 &&
		    (rc = cg_limit(job, CG_V2, "pids.max", spec->pids, 0, e)))
			goto fail;
		if (quota > 0) {
			char v[64];
			snprintf(v, sizeof v, "%lld 100000", (long long)quota);
			int w = cg_write(job->dir[CG_V2], "cpu.max", v);
			if (w < 0) {
				rc = err_set(e, COVE_EINTERNAL, "cannot write %s/cpu.max: %s",
					     job->dir[CG_V2], strerror(-w));
				goto fail;
			}
		}
		return 0;
	}
	if (job->dir[CG_MEMORY] && spec->mem_bytes > 0) {
		if ((rc = cg_limit(job, CG_MEMORY, "memory.limit_in_bytes",
				   spec->mem_bytes, 0, e)))
			goto fail;
		/* memsw counts memory + swap: equal to the limit means no swap.
		 * Without swap accounting, at least make swapping unattractive. */
		if (cg_exists(job->dir[CG_MEMORY], "memory.memsw.limit_in_bytes")) {
			if ((rc = cg_limit(job, CG_MEMORY, "memory.memsw.limit_in_bytes",
					   spec->mem_bytes, 0, e)))
				goto fail;
		} else if ((rc = cg_limit(job, CG_MEMORY, "memory.swappiness", 0, 1,
					  e))) {
			goto fail;
		}
	}
	if (job->dir[CG_CPU] && quota > 0 &&
	    ((rc = cg_limit(job, CG_CPU, "cpu.cfs_period_us", 100000, 0, e)) ||
	     (rc = cg_limit(job, CG_CPU, "cpu.cfs_quota_us", quota, 0, e))))
		goto fail;
	if (job->dir[CG_PIDS] && spec->pids > 0 &&
	    (rc = cg_limit(job, CG_PIDS, "pids.max", spec->pids, 0, e)))
		goto fail;
	return 0;
fail:
	cgroup_remove(job);
	cgroup_set_free(job);
	return rc;
}

int cgroup_join(const struct cgroup_set *job, pid_t pid)
{
	char v[32];
	snprintf(v, sizeof v, "%d", pid ? (int)pid : (int)getpid());
	for (int i = 0; i < CG_N; i++) {
		if (!job->dir[i])
			continue;
		int rc = cg_write(job->dir[i], "cgroup.procs", v);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The directory whose cgroup.procs lists the job's processes. */
static const char *cg_procs_dir(const struct cgroup_set *job)
{
	static const int order[] = {CG_V2, CG_FREEZER, CG_PIDS, CG_MEMORY, CG_CPU,
				    CG_CPUACCT};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (job->dir[order[i]])
			return job->dir[order[i]];
	return NULL;
}

/* Send sig to every pid listed in dir/cgroup.procs; how many were listed
 * (-1 when the file cannot be read). */
static int cg_signal_listed(const char *dir, int sig)
{
	struct buf b = {0};
	int n = 0;
	int rc = cg_read(dir, "cgroup.procs", &b);
	if (rc < 0) {
		buf_free(&b);
		return rc == -ENOENT ? 0 : -1;
	}
	for (char *p = b.data; p && *p;) {
		char *end = NULL;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 1) {
			n++;
			kill((pid_t)pid, sig);
		}
		p = end;
		while (*p == '\n')
			p++;
	}
	buf_free(&b);
	return n;
}

int cgroup_count(const struct cgroup_set *job)
{
	const char *dir = cg_procs_dir(job);
	if (!dir)
		return -1;
	struct buf b = {0};
	int n = 0;
	int rc = cg_read(dir, "cgroup.procs", &b);
	if (rc < 0)
		n = rc == -ENOENT ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < b.len; i++)
		n += b.data[i] == '\n';
	buf_free(&b);
	return n;
}

/* Freeze (1) or thaw (0) the job, if a freezer exists; with freeze, wait
 * (bounded) until the kernel says it is frozen. */
static void cg_freeze(const struct cgroup_set *job, int freeze)
{
	if (job->dir[CG_V2]) {
		cg_write(job->dir[CG_V2], "cgroup.freeze", freeze ? "1" : "0");
		for (int i = 0; freeze && i < 100; i++) {
			if (cg_read_key(job->dir[CG_V2], "cgroup.events", "frozen") == 1)
				break;
			cg_sleep_ms(1);
		}
	} else if (job->dir[CG_FREEZER]) {
		cg_write(job->dir[CG_FREEZER], "freezer.state",
			 freeze ? "FROZEN" : "THAWED");
		for (int i = 0; freeze && i < 100; i++) {
			struct buf b = {0};
			int done = cg_read(job->dir[CG_FREEZER], "freezer.state", &b) < 0 ||
				   !strncmp(buf_str(&b), "FROZEN", 6);
			buf_free(&b);
			if (done)
				break;
			cg_sleep_ms(1);
		}
	}
}

int cgroup_kill(const struct cgroup_set *job)
{
	const char *dir = cg_procs_dir(job);
	if (!dir)
		return -1;
	/* cgroup.kill (v2, Linux 5.14) kills the tree atomically. */
	if (job->dir[CG_V2] && cg_write(job->dir[CG_V2], "cgroup.kill", "1") == 0) {
		for (int i = 0; i < 5000; i++) {
			int64_t pop = cg_read_key(job->dir[CG_V2], "cgroup.events",
						  "populated");
			if (pop <= 0)
				return 0;
			cg_sleep_ms(1);
		}
	}
	/* Otherwise freeze, so that nothing forks between the listing and the
	 * kill, SIGKILL every listed process, thaw so the kills land, and go
	 * again until nothing is listed. */
	for (int round = 0; round < 2000; round++) {
		cg_freeze(job, 1);
		int n = cg_signal_listed(dir, SIGKILL);
		cg_freeze(job, 0);
		if (n == 0)
			return 0;
		if (n < 0)
			return -1;
		cg_sleep_ms(2);
	}
	return -1;
}

void cgroup_stats(const struct cgroup_set *job, int64_t *cpu_ms,
		  int64_t *peak_mem, int *oom_kills)
{
	*cpu_ms = -1;
	*peak_mem = -1;
	*oom_kills = 0;
	if (job->dir[CG_V2]) {
		int64_t us = cg_read_key(job->dir[CG_V2], "cpu.stat", "usage_usec");
		if (us >= 0)
			*cpu_ms = us / 1000;
		*peak_mem = cg_read_int(job->dir[CG_V2], "memory.peak");
		int64_t k = cg_read_key(job->dir[CG_V2], "memory.events", "oom_kill");
		*oom_kills = k > 0 ? (int)k : 0;
		return;
	}
	const char *acct = job->dir[CG_CPUACCT] ? job->dir[CG_CPUACCT]
						: job->dir[CG_CPU];
	if (acct) {
		int64_t ns = cg_read_int(acct, "cpuacct.usage");
		if (ns >= 0)
			*cpu_ms = ns / 1000000;
	}
	if (job->dir[CG_MEMORY]) {
		*peak_mem = cg_read_int(job->dir[CG_MEMORY], "memory.max_usage_in_bytes");
		int64_t k = cg_read_key(job->dir[CG_MEMORY], "memory.oom_control",
					"oom_kill");
		if (k < 0) /* before Linux 4.13: hitting the limit is the hint */
			k = cg_read_int(job->dir[CG_MEMORY], "memory.failcnt") > 0;
		*oom_kills = k > 0 ? (int)k : 0;
	}
}

void cgroup_remove(const struct cgroup_set *job)
{
	if (!cgroup_any(job))
		return;
	cgroup_kill(job);
	for (int i = 0; i < CG_N; i++) {
		if (!job->dir[i])
			continue;
		/* The last exiting task may still be on its way out. */
		for (int tries = 0; tries < 500; tries++) {
			if (rmdir(job->dir[i]) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY) {
				log_event(LOG_WARN, "cannot remove job cgroup", "{s:s,s:s}",
					  "path", job->dir[i], "error", strerror(errno));
				break;
			}
			cg_sleep_ms(2);
		}
	}
}
