/*
 * jobs.h - analysis jobs: the application catalog, queues, job records and
 * their state history, the scheduler (priorities, fair share between users,
 * running limits, placement where CPU and memory fit), and the engine that
 * starts jobs through an executor (exec/), watches them, collects their
 * output into the file space and re-adopts them after a restart.
 *
 * A job's life: queued -> starting -> running -> succeeded | failed |
 * cancelled | timed_out, or lost when its executor vanished (then retried
 * by the queue's policy). Every change is a row in job_events.
 *
 * No HTTP here: api.c translates. No sandboxing here: exec/ runs things.
 */
#ifndef COVE_JOBS_H
#define COVE_JOBS_H

#include "auth/auth.h"
#include "core/core.h"
#include "db/db.h"
#include "files/files.h"

struct jobs;
struct registry;

struct jobs_options {
	const char *data_dir;
	const char *self_exe;     /* the cove binary: runs shims, and DuckDB */
	double cpus;              /* offered to jobs; 0: what the machine has */
	int64_t memory;           /* bytes offered to jobs; 0: what it has */
	int64_t max_queued;       /* all users together (backpressure) */
	int64_t max_queued_user;  /* one user */
	int64_t user_running;     /* running jobs per user; 0: no limit */
	int64_t host_uid_base;    /* jobs run as host uids base .. base+65535 */
	/* Images: jobs may name a registry image ("image" in a submission)
	 * when registry is set; their unpacked trees are cached in
	 * $DATA/images and evicted when unused for image_cache_age seconds
	 * or beyond image_cache_bytes (0: no such bound). */
	struct registry *registry;
	int64_t image_cache_age;
	int64_t image_cache_bytes;
};

/* Open the engine: probe the executor, seed the catalog, re-adopt or
 * account for the jobs of a previous run, start the engine thread. When
 * the executor cannot run anything, jobs stay queued and *warning says
 * why (the server runs anyway). */
int jobs_open(struct jobs **out, struct db *db, struct files *files,
	      const struct jobs_options *opt, struct err *e);
/* Stop the engine thread. Running jobs keep running (their shims live on)
 * and are re-adopted by the next jobs_open. NULL is a no-op. */
void jobs_close(struct jobs *j);
/* Call fn(arg) whenever a job changes state (log streams wake on it). */
void jobs_set_notify(struct jobs *j, void (*fn)(void *arg), void *arg);
/* One line about the sandbox's limits (cgroups or rlimits) for the log. */
const char *jobs_limits(const struct jobs *j);
/* NULL when jobs can run here; else why not (jobs stay queued). */
const char *jobs_unavailable(const struct jobs *j);
/* For the admin overview, from the scheduler's memory (no SQL): {"queues":
 * [{"name","queued","starting","running"}],"queued","starting","running"}
 * (caller decrefs). */
json_t *jobs_overview(struct jobs *j);

/* ---- jobs ----------------------------------------------------------------- */

/*
 * Submitting, in two steps so that the commit never holds a thread that
 * waits: jobs_submit_check validates req (the POST body, borrowed) against
 * the catalog, queues, inputs and output, and the backpressure limits, and
 * returns a prepared submission (or an error, at once); jobs_submit_commit
 * hands it to the committer thread, which inserts many submissions in one
 * transaction (one fsync) and then calls done(arg, ...) for each, from its
 * own thread, once the job is durable. text is the job's JSON as text
 * (done takes it; NULL when rc) and id its id; replayed = 1 when idem_key
 * matched an earlier submission, which text then describes.
 */
struct jobs_submission;
typedef void (*jobs_done_fn)(void *arg, int rc, char *text, const char *id,
			     int replayed, const struct err *e);
int jobs_submit_check(struct jobs *j, const struct actor *act, json_t *req,
		      const char *idem_key, struct jobs_submission **out,
		      struct err *e);
void jobs_submit_commit(struct jobs *j, struct jobs_submission *s,
			jobs_done_fn done, void *arg);
/* A job visible to act: its submitter, an admin, or any member of the
 * job's project (guests too). Anyone else gets COVE_ENOENT, as for a job
 * that does not exist. */
int jobs_get(struct jobs *j, struct dbconn *c, const struct actor *act,
	     const char *id, json_t **out, struct err *e);
/* Is the job over? 1 yes, 0 no; for long polls and log streams. */
int jobs_is_over(struct jobs *j, const char *id);

/*
 * What a list shows, newest first. scope "own" is act's own jobs; "all"
 * is every job act may see (admins: everyone's; others: their own and
 * those of every project they are in). Without scope: "own" for users,
 * "all" for admins and whenever a project is named. The other fields
 * narrow it (NULL: no condition): project (one act is in, unless admin:
 * COVE_ENOENT otherwise), user (another user's jobs only within scope
 * "all"), state, queue, app. Read through indexes: the cost follows the
 * page, not the number of jobs.
 */
struct jobs_filter {
	const char *state;
	const char *queue;
	const char *user;
	const char *project;
	const char *app;
	const char *scope;
	const char *cursor;
	int limit;
};
int jobs_list(struct jobs *j, struct dbconn *c, const struct actor *act,
	      const struct jobs_filter *f, json_t **out, struct err *e);
/* Cancel a job: its submitter, an admin, or an owner or maintainer of its
 * project (other members: COVE_EPERM; anyone else: COVE_ENOENT). The
 * reason names who: "cancelled by bob". */
int jobs_cancel(struct jobs *j, const struct actor *act, const char *id,
		json_t **out, struct err *e);
/* A project is being deleted (caller holds the transaction): refuse
 * (COVE_ECONFLICT) while it has active jobs; its other jobs stay their
 * submitters' and leave it (project null), so that a new project of the
 * same name never sees them. */
int jobs_project_release(struct dbconn *c, const char *project, struct err *e);
/* Path of the job's log file (caller frees), after checking act may read
 * it. The file may not exist yet (the job has not started). */
int jobs_log_path(struct jobs *j, struct dbconn *c, const struct actor *act,
		  const char *id, char **path, struct err *e);

/* ---- applications and queues ------------------------------------------------ */
int apps_list(struct dbconn *c, json_t **out, struct err *e);
int apps_get(struct dbconn *c, const char *name, json_t **out, struct err *e);
/* Create (create = 1) or replace an application from body. */
int apps_put(struct dbconn *c, const char *name, json_t *body, int create,
	     json_t **out, struct err *e);
int apps_delete(struct dbconn *c, const char *name, struct err *e);
/* After apps_put or apps_delete: refresh the engine's copy of the catalog. */
void jobs_apps_changed(struct jobs *j);

int queues_list(struct jobs *j, struct dbconn *c, json_t **out, struct err *e);
int queues_get(struct jobs *j, struct dbconn *c, const char *name, json_t **out,
	       struct err *e);
/* Create (create = 1) or change a queue from the fields present in body. */
int queues_put(struct jobs *j, struct dbconn *c, const char *name, json_t *body,
	       int create, json_t **out, struct err *e);
int queues_delete(struct jobs *j, struct dbconn *c, const char *name,
		  struct err *e);

/* ---- the scheduler's decision (sched.c, pure: unit-tested) ------------------ */

/* A queued job as the scheduler sees it. */
struct sched_job {
	int64_t seq;       /* submission order */
	int64_t uid;
	int project;       /* index into the project table, -1 for none */
	int queue;         /* index into the queue table */
	int priority;      /* the user's own ordering, -100..100 */
	int64_t cpu_milli; /* request */
	int64_t memory;
};

struct sched_queue {
	int priority;     /* admin-set: higher queues go first */
	int max_running;  /* 0: no limit */
	int running;
};

struct sched_project {
	int max_jobs;        /* 0: no limit */
	int64_t max_cpu_milli, max_memory;
	int running;
	int64_t cpu_milli, memory;
};

struct sched_user {
	int64_t uid;
	int running;
	int queued; /* waiting jobs, for backpressure (not used by sched_pick) */
	int64_t last_start_ms; /* tie-break: who waited longest since a start */
};

struct sched_state {
	int64_t free_cpu_milli, free_memory;
	int user_max_running; /* 0: no limit */
	struct sched_queue *queues;
	int nqueues;
	struct sched_project *projects;
	int nprojects;
	struct sched_user *users;
	int nusers;
};

/*
 * Choose which of the queued jobs to start now and in which order. Across
 * users, fair share: among the jobs allowed to start (queue, user and
 * project limits, and fitting the free CPU and memory), the next one comes
 * from the highest-priority queue, then from the user with the fewest
 * running jobs (then the one who started a job least recently); within a
 * user, the highest job priority, then the oldest. A user's job that does
 * not fit does not let that user's later jobs of the same queue pass it.
 *
 * jobs (n of them) is not modified; picks receives up to max indices into
 * jobs, in start order; st is updated as if they had started. Returns the
 * number of picks. O(n * picks).
 */
int sched_pick(struct sched_state *st, const struct sched_job *jobs, int n,
	       int *picks, int max, int64_t now_ms);

#endif
