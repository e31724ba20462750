/*
 * internal.h - what the jobs module's sources share: the engine context,
 * the in-memory picture of queued and running jobs, and the record of one
 * job. Not for other modules.
 *
 * Locking: j->mu guards every in-memory list and counter below it. It is
 * never held across SQL, the disk or a process start.
 */
#ifndef COVE_JOBS_INTERNAL_H
#define COVE_JOBS_INTERNAL_H

#include "exec/exec.h"
#include "jobs/jobs.h"

#include <pthread.h>

#define JOB_ID_LEN 27
#define QUEUE_NAME_MAX 64

/* A queue's settings as the engine uses them (loaded from the queues table). */
struct qconf {
	char name[QUEUE_NAME_MAX + 1];
	json_t *users, *groups; /* arrays of names; both empty: everyone */
	int64_t def_cpu_milli, def_memory, def_time;
	int64_t max_cpu_milli, max_memory, max_time;
	int max_running;
	int network;
	int retries;
	int priority;
	int running; /* jobs of this queue holding resources now */
};

/* A project's job quotas and what its jobs hold now. */
struct pconf {
	char name[AUTH_NAME_MAX + 1];
	struct sched_project p;
};

struct qjob {
	struct sched_job s;
	char id[JOB_ID_LEN];
};

/* One user's queued jobs of one queue, in the order the scheduler takes
 * them (priority, then submission): v[head..n). A scheduling pass looks at
 * the first few of each line only, so its cost follows the number of lines
 * (users x queues), not the number of queued jobs. */
struct line {
	int64_t uid;
	int queue;
	struct qjob *v;
	int head, n, cap;
};

/* A job that holds resources: starting, running, or just exited. */
struct rjob {
	char id[JOB_ID_LEN];
	struct sched_job s;
	struct exec_handle h;
	int running;  /* the shim said 'R' */
	int adopted;  /* h.fd is a pidfd: readable only at exit */
	int64_t host_uid;
};

/* The record of one job, as stored. Strings are owned. */
struct jobrec {
	char id[JOB_ID_LEN];
	int64_t seq;
	int64_t uid;
	char *user;
	char *project; /* NULL: none */
	char *name;
	char *app;
	json_t *spec; /* args, inputs, output, overwrite, env, labels, time, pids, scratch */
	char *queue;
	int priority;
	int64_t cpu_milli, memory;
	char state[16];
	char *reason;
	int has_exit;
	int exit_code;
	int signal;
	int attempt;
	int64_t host_uid;
	int64_t submitted_ms, started_ms, finished_ms;
	int64_t cpu_ms, peak_memory; /* -1: unknown */
	int64_t output_files;        /* -1: not collected */
	char *output_error;
};

struct finish_item {
	struct rjob r;
	struct finish_item *next;
};

struct jobs {
	struct db *db;
	struct files *files;
	struct exec_local *exec;
	char *limits;     /* exec_local_limits, or why jobs cannot run */
	struct jobs_options opt;
	char *jobs_dir;   /* $DATA/jobs: one directory per started job */
	char *logs_dir;   /* $DATA/logs: logs of finished jobs */
	char *images_dir; /* $DATA/images: unpacked images (exec/image.c) */
	int evicting;     /* an eviction thread runs (atomic) */
	int64_t evicted_ms; /* when the last one started */
	double cpus;
	int64_t memory;
	struct db_batcher *batch;
	void (*on_change)(void *arg); /* a job changed state (wake streams) */
	void *on_change_arg;

	pthread_mutex_t mu;
	json_t *apps; /* name -> "script" | "args": what submissions check */
	struct qconf *queues;
	int nqueues;
	struct pconf *projects;
	int nprojects;
	struct sched_user *users;
	int nusers;
	struct line *lines;
	int nlines, caplines;
	int nqueued; /* in all lines */
	struct rjob *running;
	int nrunning, caprunning;
	char (*finishing)[JOB_ID_LEN]; /* exited, output being collected */
	int nfinishing, capfinishing;
	int64_t free_cpu_milli, free_memory;

	int wake_fd; /* eventfd: something to schedule */
	int epfd;
	int stop;
	pthread_t engine;
	/* committer (model.c): inserts submissions in batches */
	pthread_t committer;
	pthread_mutex_t commit_mu;
	pthread_cond_t commit_cv;
	struct jobs_submission *commit_head, **commit_tail;
	int commit_stop;
	int committer_started;
	/* finisher: collects output and records the end, off the engine */
	pthread_t finisher;
	pthread_cond_t finish_cv;
	struct finish_item *finish_head, **finish_tail;
};


/* model.c */
void jobrec_free(struct jobrec *r);
json_t *jobrec_json(const struct jobrec *r);
/* The same object as JSON text, appended to b (the same keys in the same
 * order; test_jobs compares the two). */
void jobrec_json_buf(const struct jobrec *r, struct buf *b);
/* Load job id (any owner) into r; COVE_ENOENT when none. */
int jobrec_load(struct dbconn *c, const char *id, struct jobrec *r,
		struct err *e);
/* Record a state change (job row and history), inside a transaction. */
int job_set_state(struct dbconn *c, const char *id, const char *state,
		  const char *reason, struct err *e);
int jobs_is_terminal(const char *state);
/* "2G", "512M", or bytes as an integer -> bytes; -1 when malformed. */
int64_t job_size_value(const json_t *v);

int committer_start(struct jobs *j, struct err *e);
void committer_stop(struct jobs *j);

/* catalog.c */
int catalog_seed(struct jobs *j, struct err *e);
/* (Re)load queue and project settings into j (takes j->mu). */
int catalog_load(struct jobs *j, struct err *e);
/* The input kind of app name ("script", "args"), from the in-memory copy
 * of the catalog: 0, or COVE_ENOENT with e set. */
int app_kind(struct jobs *j, const char *name, char input[8], struct err *e);
int queue_index(struct jobs *j, const char *name); /* under j->mu; -1 */
int project_index(struct jobs *j, const char *name); /* under j->mu; -1 */
/* May user uid (with these group ids) use queue q? under j->mu */
int queue_allows(struct dbconn *c, const struct qconf *q, const char *user,
		 int64_t uid);
/* The app's command template and env (caller decrefs) and input kind. */
int app_load(struct dbconn *c, const char *name, json_t **command, json_t **env,
	     char input[8], struct err *e);

/* engine.c */
int engine_start(struct jobs *j, struct err *e);
void engine_stop(struct jobs *j);
void engine_wake(struct jobs *j);
/* Add a committed queued job to the in-memory queue. */
void engine_enqueue(struct jobs *j, const struct qjob *q);
/* The same under j->mu, without waking the engine (callers adding many
 * wake it once). */
void engine_enqueue_locked(struct jobs *j, const struct qjob *q);
/* Under j->mu: where is job id? 'q' queued, 'r' running, 'f' finishing, 0 */
int engine_where(struct jobs *j, const char *id);
int engine_count_queued(struct jobs *j, int64_t uid, int *user_count);
/* Cancel a queued job in memory: 1 when it was queued (and is removed). */
int engine_unqueue(struct jobs *j, const char *id);
char *job_dir(const struct jobs *j, const char *id);
char *job_log_path(const struct jobs *j, const char *id, int over);

/* image.c: jobs in registry images */
/* At submission: resolve ref for act (pull permission) and pin it in spec
 * ("image", "image_digest"). */
int job_image_check(struct jobs *j, struct dbconn *c, const struct actor *act,
		    const char *ref, json_t *spec, struct err *e);
struct job_image {
	int present; /* 0: the job runs on the host's environment */
	char digest[72];
	char **layers, **types;
	int n;
	struct image_config cfg;
	struct exec_image ex; /* for exec_spec.image; points into the above */
};
/* At start: the pinned image of rec, its layers and config (ji->present
 * = 0 when the job has no image). */
int job_image_load(struct jobs *j, struct dbconn *c, const struct jobrec *rec,
		   struct job_image *ji, struct err *e);
void job_image_free(struct job_image *ji);
/* Evict unused cached images (blocking: call off the engine thread). */
void job_images_evict(struct jobs *j);

/* stage.c: the job's files */
/* Prepare dir for rec: inputs linked under dir/in, dir/out for the
 * output, dir/script; fill mounts (caller frees with stage_free). */
struct stage {
	struct exec_mount *mounts;
	int nmounts;
	char **owned; /* strings to free */
	int nowned;
};
int stage_inputs(struct jobs *j, struct dbconn *c, const struct jobrec *rec,
		 const char *dir, const char *script, struct stage *st,
		 struct err *e);
void stage_free(struct stage *st);
/* Copy dir/out into the file space at the job's output path as its owner.
 * *files: how many files were copied; *msg: what went wrong (caller frees,
 * NULL when nothing). */
int stage_collect(struct jobs *j, const struct jobrec *rec, const char *dir,
		  int64_t *files, char **msg);

#endif
