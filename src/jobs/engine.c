/*
 * engine.c - the jobs engine: one thread that schedules queued jobs,
 * starts them through the local executor and watches them (epoll over the
 * shims' status pipes), and one finisher thread that collects a finished
 * job's output into the file space and records how it ended.
 *
 * Durability: a job is marked 'starting' (committed) before its shim is
 * spawned, so a restart never starts a job twice; after a restart, jobs
 * found 'starting' or 'running' are re-adopted when their shim lives,
 * finished when it left a status, and otherwise requeued (never started)
 * or marked lost and retried by their queue's policy.
 */
#include "jobs/internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PICKS_MAX 64

char *job_dir(const struct jobs *j, const char *id)
{
	return xasprintf("%s/%s", j->jobs_dir, id);
}

char *job_log_path(const struct jobs *j, const char *id, int over)
{
	if (over)
		return xasprintf("%s/%s.log", j->logs_dir, id);
	char *p = xasprintf("%s/%s/log", j->jobs_dir, id);
	struct stat sb;
	if (stat(p, &sb) == 0)
		return p;
	/* finished meanwhile: the log moved */
	char *q = xasprintf("%s/%s.log", j->logs_dir, id);
	if (stat(q, &sb) == 0) {
		free(p);
		return q;
	}
	free(q);
	return p;
}

void engine_wake(struct jobs *j)
{
	uint64_t one = 1;
	if (j->wake_fd >= 0 && write(j->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: a wake is pending anyway */
	}
}

static void notify(struct jobs *j)
{
	if (j->on_change)
		j->on_change(j->on_change_arg);
}

/* ---- the in-memory picture ------------------------------------------------------ */

static struct sched_user *user_get(struct jobs *j, int64_t uid)
{
	for (int i = 0; i < j->nusers; i++)
		if (j->users[i].uid == uid)
			return &j->users[i];
	j->users = xrealloc(j->users, sizeof(*j->users) * (size_t)(j->nusers + 1));
	struct sched_user *u = &j->users[j->nusers++];
	memset(u, 0, sizeof(*u));
	u->uid = uid;
	return u;
}

/* Does a come before b in a line (the scheduler's order)? */
static int line_before(const struct qjob *a, const struct qjob *b)
{
	if (a->s.priority != b->s.priority)
		return a->s.priority > b->s.priority;
	return a->s.seq < b->s.seq;
}

static struct line *line_get(struct jobs *j, int64_t uid, int queue)
{
	for (int i = 0; i < j->nlines; i++)
		if (j->lines[i].uid == uid && j->lines[i].queue == queue)
			return &j->lines[i];
	if (j->nlines == j->caplines) {
		j->caplines = j->caplines ? j->caplines * 2 : 16;
		j->lines = xrealloc(j->lines, sizeof(*j->lines) * (size_t)j->caplines);
	}
	struct line *l = &j->lines[j->nlines++];
	memset(l, 0, sizeof(*l));
	l->uid = uid;
	l->queue = queue;
	return l;
}

/* Under j->mu. New jobs usually go last (same priority, newer). */
static void line_insert(struct line *l, const struct qjob *q)
{
	if (l->head > 0 && l->head == l->n)
		l->head = l->n = 0;
	if (l->n == l->cap) {
		if (l->head > l->cap / 2) { /* reuse the taken front */
			memmove(l->v, l->v + l->head, sizeof(*l->v) * (size_t)(l->n - l->head));
			l->n -= l->head;
			l->head = 0;
		} else {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->v = xrealloc(l->v, sizeof(*l->v) * (size_t)l->cap);
		}
	}
	int lo = l->head, hi = l->n;
	if (hi > lo && line_before(q, &l->v[hi - 1])) {
		while (lo < hi) { /* first element q comes before */
			int mid = lo + (hi - lo) / 2;
			if (line_before(q, &l->v[mid]))
				hi = mid;
			else
				lo = mid + 1;
		}
		memmove(l->v + lo + 1, l->v + lo, sizeof(*l->v) * (size_t)(l->n - lo));
	} else {
		lo = l->n;
	}
	l->v[lo] = *q;
	l->n++;
}

/* Under j->mu. */
void engine_enqueue_locked(struct jobs *j, const struct qjob *q)
{
	line_insert(line_get(j, q->s.uid, q->s.queue), q);
	j->nqueued++;
	user_get(j, q->s.uid)->queued++;
}

void engine_enqueue(struct jobs *j, const struct qjob *q)
{
	pthread_mutex_lock(&j->mu);
	engine_enqueue_locked(j, q);
	pthread_mutex_unlock(&j->mu);
	engine_wake(j);
}

int engine_count_queued(struct jobs *j, int64_t uid, int *user_count)
{
	pthread_mutex_lock(&j->mu);
	int all = j->nqueued, mine = 0;
	for (int i = 0; i < j->nusers; i++)
		if (j->users[i].uid == uid)
			mine = j->users[i].queued;
	pthread_mutex_unlock(&j->mu);
	*user_count = mine;
	return all;
}

json_t *jobs_overview(struct jobs *j)
{
	/* copied under the lock, turned into JSON after it */
	pthread_mutex_lock(&j->mu);
	int nq = j->nqueues;
	char (*names)[QUEUE_NAME_MAX + 1] = xcalloc((size_t)nq + 1, sizeof(*names));
	int(*n)[3] = xcalloc((size_t)nq + 1, sizeof(*n)); /* queued, starting, running */
	for (int q = 0; q < nq; q++)
		memcpy(names[q], j->queues[q].name, sizeof(names[q]));
	for (int l = 0; l < j->nlines; l++)
		if (j->lines[l].queue >= 0 && j->lines[l].queue < nq)
			n[j->lines[l].queue][0] += j->lines[l].n - j->lines[l].head;
	for (int i = 0; i < j->nrunning; i++)
		if (j->running[i].s.queue >= 0 && j->running[i].s.queue < nq)
			n[j->running[i].s.queue][j->running[i].running ? 2 : 1]++;
	pthread_mutex_unlock(&j->mu);
	json_t *queues = json_array();
	int total[3] = {0, 0, 0};
	for (int q = 0; q < nq; q++) {
		json_array_append_new(queues,
				      json_pack("{s:s,s:i,s:i,s:i}", "name", names[q], "queued",
						n[q][0], "starting", n[q][1], "running", n[q][2]));
		for (int k = 0; k < 3; k++)
			total[k] += n[q][k];
	}
	free(names);
	free(n);
	return json_pack("{s:o,s:i,s:i,s:i}", "queues", queues, "queued", total[0], "starting",
			 total[1], "running", total[2]);
}

/* Under j->mu: the line and position of queued job id, or NULL. */
static struct line *find_queued(struct jobs *j, const char *id, int *pos)
{
	for (int l = 0; l < j->nlines; l++)
		for (int i = j->lines[l].head; i < j->lines[l].n; i++)
			if (!strcmp(j->lines[l].v[i].id, id)) {
				*pos = i;
				return &j->lines[l];
			}
	return NULL;
}

static int find_running(struct jobs *j, const char *id)
{
	for (int i = 0; i < j->nrunning; i++)
		if (!strcmp(j->running[i].id, id))
			return i;
	return -1;
}

int engine_where(struct jobs *j, const char *id)
{
	int pos;
	if (find_queued(j, id, &pos))
		return 'q';
	if (find_running(j, id) >= 0)
		return 'r';
	for (int i = 0; i < j->nfinishing; i++)
		if (!strcmp(j->finishing[i], id))
			return 'f';
	return 0;
}

int jobs_is_over(struct jobs *j, const char *id)
{
	pthread_mutex_lock(&j->mu);
	int w = engine_where(j, id);
	pthread_mutex_unlock(&j->mu);
	return w == 0;
}

int engine_unqueue(struct jobs *j, const char *id)
{
	pthread_mutex_lock(&j->mu);
	int pos;
	struct line *l = find_queued(j, id, &pos);
	if (l) {
		user_get(j, l->v[pos].s.uid)->queued--;
		memmove(l->v + pos, l->v + pos + 1, sizeof(*l->v) * (size_t)(l->n - pos - 1));
		l->n--;
		j->nqueued--;
	}
	pthread_mutex_unlock(&j->mu);
	return l != NULL;
}

/* Account for a job that holds resources (under j->mu). */
static void hold(struct jobs *j, const struct sched_job *s, int sign)
{
	j->free_cpu_milli -= sign * s->cpu_milli;
	j->free_memory -= sign * s->memory;
	if (s->queue >= 0 && s->queue < j->nqueues)
		j->queues[s->queue].running += sign;
	if (s->project >= 0 && s->project < j->nprojects) {
		struct sched_project *p = &j->projects[s->project].p;
		p->running += sign;
		p->cpu_milli += sign * s->cpu_milli;
		p->memory += sign * s->memory;
	}
	struct sched_user *u = user_get(j, s->uid);
	u->running += sign;
}

static void running_add(struct jobs *j, const struct rjob *r)
{
	if (j->nrunning == j->caprunning) {
		j->caprunning = j->caprunning ? j->caprunning * 2 : 64;
		j->running = xrealloc(j->running, sizeof(*j->running) * (size_t)j->caprunning);
	}
	j->running[j->nrunning++] = *r;
}

static void running_remove(struct jobs *j, const char *id)
{
	int i = find_running(j, id);
	if (i >= 0)
		j->running[i] = j->running[--j->nrunning];
}

static void finishing_add(struct jobs *j, const char *id)
{
	if (j->nfinishing == j->capfinishing) {
		j->capfinishing = j->capfinishing ? j->capfinishing * 2 : 64;
		j->finishing = xrealloc(j->finishing, sizeof(*j->finishing) * (size_t)j->capfinishing);
	}
	snprintf(j->finishing[j->nfinishing++], JOB_ID_LEN, "%s", id);
}

static void finishing_remove(struct jobs *j, const char *id)
{
	for (int i = 0; i < j->nfinishing; i++)
		if (!strcmp(j->finishing[i], id)) {
			memcpy(j->finishing[i], j->finishing[--j->nfinishing], JOB_ID_LEN);
			return;
		}
}

/* ---- starting a job --------------------------------------------------------------- */

static int mark_starting_fn(struct dbconn *c, void *arg, struct err *e)
{
	const struct rjob *r = arg;
	int rc = db_exec(c, e,
			 "UPDATE jobs SET host_uid = ?, started_at = NULL WHERE id = ? AND state = 'queued'",
			 "is", r->host_uid, r->id);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ECONFLICT, "job %s is no longer queued", r->id);
	return job_set_state(c, r->id, "starting", "placed", e);
}

/* Replace {input}, {inputs} and {output} in s. Caller frees. */
static char *placeholders(const char *s, json_t *inputs, const char *output)
{
	struct buf b = {0};
	while (*s) {
		if (!strncmp(s, "{input}", 7)) {
			json_t *first = json_array_get(inputs, 0);
			buf_adds(&b, first ? json_string_value(first) : "");
			s += 7;
		} else if (!strncmp(s, "{inputs}", 8)) {
			size_t i;
			json_t *x;
			json_array_foreach(inputs, i, x)
			{
				if (i)
					buf_addc(&b, ' ');
				buf_adds(&b, json_string_value(x));
			}
			s += 8;
		} else if (!strncmp(s, "{output}", 8)) {
			buf_adds(&b, output);
			s += 8;
		} else {
			buf_addc(&b, *s++);
		}
	}
	return buf_detach(&b);
}

struct strv {
	char **v;
	int n, cap;
};

static void strv_add(struct strv *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 16;
		sv->v = xrealloc(sv->v, sizeof(char *) * (size_t)sv->cap);
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

static void strv_free(struct strv *sv)
{
	for (int i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}

/* Build and launch the sandbox of rec (whose directory is dir). */
static int launch(struct jobs *j, struct dbconn *c, const struct jobrec *rec,
		  const char *dir, struct exec_handle *h, struct err *e)
{
	json_t *command = NULL, *appenv = NULL;
	char kind[8];
	struct strv argv = {0}, env = {0};
	struct stage st = {0};
	struct job_image ji = {0};
	char *script = NULL;
	int rc = app_load(c, rec->app, &command, &appenv, kind, e);
	if (rc)
		goto out;
	if ((rc = job_image_load(j, c, rec, &ji, e)))
		goto out;
	json_t *inputs = json_object_get(rec->spec, "inputs");
	const char *output = json_string_value(json_object_get(rec->spec, "output"));
	json_t *args = json_object_get(rec->spec, "args");
	if (!strcmp(kind, "script")) {
		struct buf sb = {0};
		size_t i;
		json_t *a;
		json_array_foreach(args, i, a)
		{
			if (i)
				buf_addc(&sb, ' ');
			buf_adds(&sb, json_string_value(a));
		}
		buf_addc(&sb, '\n');
		script = placeholders(buf_str(&sb), inputs, output);
		buf_free(&sb);
	}
	size_t i;
	json_t *x;
	json_array_foreach(command, i, x)
	{
		const char *t = json_string_value(x);
		if (!strcmp(t, "{args}")) {
			size_t k;
			json_t *a;
			json_array_foreach(args, k, a)
			{
				if (!strcmp(json_string_value(a), "{inputs}")) {
					size_t m;
					json_t *in;
					json_array_foreach(inputs, m, in)
						strv_add(&argv, xstrdup(json_string_value(in)));
				} else {
					strv_add(&argv, placeholders(json_string_value(a), inputs, output));
				}
			}
			continue;
		}
		/* {image} (a whole element): the image's own command */
		if (!strcmp(t, "{image}")) {
			if (!ji.present) {
				rc = err_set(e, COVE_EINVAL, "app '%s' runs an image's command, and "
							     "the job has no image", rec->app);
				goto out;
			}
			for (char **v = ji.cfg.entrypoint; v && *v; v++)
				strv_add(&argv, xstrdup(*v));
			if (json_array_size(args)) {
				size_t k;
				json_t *a;
				json_array_foreach(args, k, a)
					strv_add(&argv, placeholders(json_string_value(a), inputs, output));
			} else {
				for (char **v = ji.cfg.cmd; v && *v; v++)
					strv_add(&argv, xstrdup(*v));
			}
			if (!argv.n) {
				rc = err_set(e, COVE_EINVAL, "the image has no Entrypoint or Cmd: "
							     "give the command to run as arguments");
				goto out;
			}
			continue;
		}
		/* {script} anywhere in an element: the script's path inside */
		const char *p = strstr(t, "{script}");
		if (p)
			strv_add(&argv, xasprintf("%.*s/job/script%s", (int)(p - t), t, p + 8));
		else
			strv_add(&argv, placeholders(t, inputs, output));
	}
	if ((rc = stage_inputs(j, c, rec, dir, script, &st, e)))
		goto out;

	strv_add(&env, xstrdup("PATH=/usr/local/bin:/usr/bin:/bin"));
	strv_add(&env, xstrdup("LANG=C.UTF-8"));
	/* the image's Env overrides those two (and adds its own); what
	 * follows describes the sandbox and stays; the app's and the job's
	 * env override everything (later entries win) */
	for (char **v = ji.cfg.env; v && *v; v++)
		strv_add(&env, xstrdup(*v));
	strv_add(&env, xstrdup("HOME=/tmp"));
	strv_add(&env, xstrdup("TMPDIR=/tmp"));
	strv_add(&env, xasprintf("USER=%s", rec->user));
	strv_add(&env, xasprintf("COVE_JOB_ID=%s", rec->id));
	strv_add(&env, xasprintf("COVE_OUTPUT=%s", output));
	int threads = (int)((rec->cpu_milli + 999) / 1000);
	strv_add(&env, xasprintf("OMP_NUM_THREADS=%d", threads));
	strv_add(&env, xasprintf("COVE_DUCKDB_THREADS=%d", threads));
	const char *k;
	json_object_foreach(appenv, k, x) strv_add(&env, xasprintf("%s=%s", k, json_string_value(x)));
	json_object_foreach(json_object_get(rec->spec, "env"), k, x)
		strv_add(&env, xasprintf("%s=%s", k, json_string_value(x)));

	pthread_mutex_lock(&j->mu);
	int qi = queue_index(j, rec->queue);
	int network = qi >= 0 ? j->queues[qi].network : 0;
	pthread_mutex_unlock(&j->mu);
	int64_t host = j->opt.host_uid_base + rec->seq % 65536;
	struct exec_spec spec = {
		.job_id = rec->id,
		.dir = dir,
		.argv = argv.v,
		.env = env.v,
		.mounts = st.mounts,
		.nmounts = st.nmounts,
		.cwd = ji.cfg.workdir && !strcmp(rec->app, "image") ? ji.cfg.workdir : output,
		.uid_inside = rec->uid,
		.gid_inside = rec->uid,
		.user_name = rec->user,
		.host_uid = host,
		.host_gid = host,
		.cpus = (double)rec->cpu_milli / 1000.0,
		.mem_bytes = rec->memory,
		.pids = json_integer_value(json_object_get(rec->spec, "pids")),
		.tmp_bytes = json_integer_value(json_object_get(rec->spec, "scratch")),
		.time_limit = json_integer_value(json_object_get(rec->spec, "time")),
		.network = network,
		.image = ji.present ? &ji.ex : NULL,
	};
	rc = exec_start(j->exec, &spec, h, e);
out:
	job_image_free(&ji);
	stage_free(&st);
	strv_free(&argv);
	strv_free(&env);
	free(script);
	json_decref(command);
	json_decref(appenv);
	return rc;
}

/* ---- finishing -------------------------------------------------------------------- */

struct finish_rec {
	const char *id;
	const char *state;
	const char *reason;
	const struct exec_status *st;
	int64_t files;
	const char *msg;
	int requeue; /* lost and retried */
	int attempt;
};

static int finish_fn(struct dbconn *c, void *arg, struct err *e)
{
	const struct finish_rec *f = arg;
	const struct exec_status *st = f->st;
	int rc;
	if (st && st->started)
		rc = db_exec(c, e,
			     "UPDATE jobs SET exit_code = ?, signal = ?, finished_at = ?, cpu_ms = ?,"
			     " peak_memory = ?, output_files = ?, output_error = ?,"
			     " started_at = coalesce(started_at, ?) WHERE id = ?",
			     "iiiiiisis",
			     st->exit_code >= 0 ? (int64_t)st->exit_code : (int64_t)-1,
			     (int64_t)st->signal, st->ended_ms ? st->ended_ms : time_now_ms(),
			     st->cpu_ms, st->peak_mem, f->files, f->msg,
			     st->started_ms ? st->started_ms : time_now_ms(), f->id);
	else
		rc = db_exec(c, e,
			     "UPDATE jobs SET finished_at = ?, output_files = ?, output_error = ?"
			     " WHERE id = ?",
			     "iiss", time_now_ms(), f->files, f->msg, f->id);
	if (rc < 0)
		return rc;
	if (st && st->started && st->exit_code < 0)
		db_exec(c, NULL, "UPDATE jobs SET exit_code = NULL WHERE id = ?", "s", f->id);
	if ((rc = job_set_state(c, f->id, f->state, f->reason, e)))
		return rc;
	if (f->requeue) {
		rc = db_exec(c, e,
			     "UPDATE jobs SET attempt = ?, exit_code = NULL, signal = NULL,"
			     " started_at = NULL, finished_at = NULL WHERE id = ?",
			     "is", (int64_t)f->attempt + 1, f->id);
		if (rc < 0)
			return rc;
		char why[64];
		snprintf(why, sizeof(why), "retry (attempt %d)", f->attempt + 1);
		return job_set_state(c, f->id, "queued", why, e);
	}
	return 0;
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case 9: return "SIGKILL";
	case 15: return "SIGTERM";
	case 11: return "SIGSEGV";
	case 6: return "SIGABRT";
	case 2: return "SIGINT";
	case 13: return "SIGPIPE";
	default: return "signal";
	}
}

/* Decide the end of rec from its executor's status (NULL: vanished). */
static void verdict(const struct jobrec *rec, const struct exec_status *st, int64_t mem,
		    char state[16], char reason[320])
{
	if (!st) {
		snprintf(state, 16, "lost");
		snprintf(reason, 320, "the job's executor vanished");
	} else if (!st->started) {
		snprintf(state, 16, "failed");
		snprintf(reason, 320, "the sandbox could not start: %s",
			 st->error[0] ? st->error : "unknown error");
	} else if (st->cancelled) {
		snprintf(state, 16, "cancelled");
		snprintf(reason, 320, "%s", rec->reason && !strncmp(rec->reason, "cancelled by", 12)
						    ? rec->reason
						    : "cancelled");
	} else if (st->timed_out) {
		snprintf(state, 16, "timed_out");
		snprintf(reason, 320, "wall time limit of %llds exceeded",
			 (long long)json_integer_value(json_object_get(rec->spec, "time")));
	} else if (st->oom) {
		snprintf(state, 16, "failed");
		snprintf(reason, 320, "out of memory: the job used more than its %lld MiB limit",
			 (long long)(mem >> 20));
	} else if (st->signal) {
		snprintf(state, 16, "failed");
		snprintf(reason, 320, "killed by signal %d (%s)", st->signal, signal_name(st->signal));
	} else if (st->exit_code == 0) {
		snprintf(state, 16, "succeeded");
		snprintf(reason, 320, "exit code 0");
	} else {
		snprintf(state, 16, "failed");
		snprintf(reason, 320, "exit code %d", st->exit_code);
	}
}

/* Finish job r (its process is over): output, record, clean up. Runs on
 * the finisher thread. */
static void finish(struct jobs *j, const struct rjob *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(j->db);
	struct jobrec rec;
	char *dir = job_dir(j, r->id);
	if (jobrec_load(c, r->id, &rec, &e)) {
		log_event(LOG_ERROR, "job vanished from the database", "{s:s,s:s}", "job", r->id,
			  "error", e.msg);
		db_put(j->db, c);
		free(dir);
		return;
	}
	struct exec_status st;
	int have = exec_status_read(dir, &st, &e) == 0;
	char state[16], reason[320];
	verdict(&rec, have ? &st : NULL, rec.memory, state, reason);
	int64_t files = 0;
	char *msg = NULL;
	if (have && st.started)
		stage_collect(j, &rec, dir, &files, &msg);
	pthread_mutex_lock(&j->mu);
	int qi = queue_index(j, rec.queue);
	int retries = qi >= 0 ? j->queues[qi].retries : 0;
	pthread_mutex_unlock(&j->mu);
	struct finish_rec f = {.id = r->id, .state = state, .reason = reason,
			       .st = have ? &st : NULL, .files = files, .msg = msg,
			       .attempt = rec.attempt};
	f.requeue = !have && rec.attempt <= retries;
	/* the log outlives the job's directory */
	char *log = xasprintf("%s/log", dir), *keep = job_log_path(j, r->id, 1);
	if (rename(log, keep) < 0 && errno != ENOENT)
		log_event(LOG_WARN, "cannot keep a job's log", "{s:s,s:s}", "job", r->id,
			  "error", strerror(errno));
	free(log);
	free(keep);
	int rc = db_batch_run(j->batch, c, finish_fn, &f, &e);
	if (rc)
		log_event(LOG_ERROR, "cannot record a job's end", "{s:s,s:s}", "job", r->id,
			  "error", e.msg);
	else
		log_event(LOG_INFO, "job ended", "{s:s,s:s,s:s}", "job", r->id, "state", state,
			  "reason", reason);
	if (j->exec)
		exec_cleanup(j->exec, dir, r->id);
	if (f.requeue && !rc) {
		/* queued again before it stops counting as finishing: a log
		 * follower never sees a retried job as over */
		struct qjob q = {.s = r->s};
		snprintf(q.id, sizeof(q.id), "%s", r->id);
		engine_enqueue(j, &q);
	}
	pthread_mutex_lock(&j->mu);
	finishing_remove(j, r->id);
	pthread_mutex_unlock(&j->mu);
	free(msg);
	free(dir);
	jobrec_free(&rec);
	db_put(j->db, c);
	notify(j);
}

static void *finisher_main(void *arg)
{
	struct jobs *j = arg;
	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (!j->finish_head && !j->stop)
			pthread_cond_wait(&j->finish_cv, &j->mu);
		if (!j->finish_head)
			break;
		struct finish_item *it = j->finish_head;
		j->finish_head = it->next;
		if (!j->finish_head)
			j->finish_tail = &j->finish_head;
		pthread_mutex_unlock(&j->mu);
		finish(j, &it->r);
		free(it);
		pthread_mutex_lock(&j->mu);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* Hand an exited job to the finisher (under j->mu). */
static void to_finisher(struct jobs *j, const struct rjob *r)
{
	struct finish_item *it = xcalloc(1, sizeof(*it));
	it->r = *r;
	finishing_add(j, r->id);
	*j->finish_tail = it;
	j->finish_tail = &it->next;
	pthread_cond_signal(&j->finish_cv);
}

/* ---- the engine loop ----------------------------------------------------------------- */

static int mark_running_fn(struct dbconn *c, void *arg, struct err *e)
{
	const char *id = arg;
	int rc = db_exec(c, e, "UPDATE jobs SET started_at = ? WHERE id = ? AND state = 'starting'",
			 "is", time_now_ms(), id);
	if (rc <= 0)
		return rc;
	return job_set_state(c, id, "running", "the sandbox started", e);
}

static void watch(struct jobs *j, struct rjob *r)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLHUP};
	/* the fd identifies the job: look it up in j->running on events */
	ev.data.fd = r->h.fd;
	if (epoll_ctl(j->epfd, EPOLL_CTL_ADD, r->h.fd, &ev) < 0)
		log_event(LOG_ERROR, "cannot watch a job", "{s:s,s:s}", "job", r->id, "error",
			  strerror(errno));
}

/* A pick failed to start: record it as failed and release what it held. */
static void start_failed(struct jobs *j, struct dbconn *c, struct rjob *r,
			 const char *why)
{
	struct exec_status st = {0};
	snprintf(st.error, sizeof(st.error), "%s", why);
	struct finish_rec f = {.id = r->id, .state = "failed", .reason = NULL, .st = &st};
	char reason[320];
	snprintf(reason, sizeof(reason), "the job could not start: %s", why);
	f.reason = reason;
	struct err e = {0};
	db_batch_run(j->batch, c, finish_fn, &f, &e);
	char *dir = job_dir(j, r->id);
	if (j->exec)
		exec_cleanup(j->exec, dir, r->id);
	free(dir);
	pthread_mutex_lock(&j->mu);
	running_remove(j, r->id);
	hold(j, &r->s, -1);
	pthread_mutex_unlock(&j->mu);
	notify(j);
}

/* One scheduling pass: pick, mark starting, launch. */
static void schedule(struct jobs *j)
{
	if (!j->exec)
		return;
	struct rjob picked[PICKS_MAX];
	int n = 0;
	pthread_mutex_lock(&j->mu);
	if (j->nqueued) {
		struct sched_state st = {
			.free_cpu_milli = j->free_cpu_milli,
			.free_memory = j->free_memory,
			.user_max_running = (int)j->opt.user_running,
			.nqueues = j->nqueues,
			.nprojects = j->nprojects,
			.nusers = j->nusers,
		};
		st.queues = xcalloc((size_t)j->nqueues + 1, sizeof(*st.queues));
		for (int i = 0; i < j->nqueues; i++) {
			st.queues[i].priority = j->queues[i].priority;
			st.queues[i].max_running = j->queues[i].max_running;
			st.queues[i].running = j->queues[i].running;
		}
		st.projects = xcalloc((size_t)j->nprojects + 1, sizeof(*st.projects));
		for (int i = 0; i < j->nprojects; i++)
			st.projects[i] = j->projects[i].p;
		st.users = xcalloc((size_t)j->nusers + 1, sizeof(*st.users));
		memcpy(st.users, j->users, sizeof(*st.users) * (size_t)j->nusers);
		/* the first PICKS_MAX of every line whose queue still exists:
		 * nothing further back can start in this pass */
		int cap = 0;
		for (int l = 0; l < j->nlines; l++)
			if (j->lines[l].queue >= 0) {
				int k = j->lines[l].n - j->lines[l].head;
				cap += k < PICKS_MAX ? k : PICKS_MAX;
			}
		struct sched_job *sj = xmalloc(sizeof(*sj) * (size_t)(cap + 1));
		int *from = xmalloc(sizeof(int) * (size_t)(cap + 1));
		int m = 0;
		for (int l = 0; l < j->nlines; l++) {
			struct line *ln = &j->lines[l];
			if (ln->queue < 0)
				continue;
			for (int i = ln->head; i < ln->n && i < ln->head + PICKS_MAX; i++) {
				sj[m] = ln->v[i].s;
				from[m++] = l;
			}
		}
		int picks[PICKS_MAX];
		int np = sched_pick(&st, sj, m, picks, PICKS_MAX, time_now_ms());
		/* each line's picks are a prefix of it (sched_pick takes a line in
		 * its order), so taking them is advancing its head */
		for (int k = 0; k < np; k++) {
			struct line *ln = &j->lines[from[picks[k]]];
			struct qjob *q = &ln->v[ln->head++];
			assert(q->s.seq == sj[picks[k]].seq);
			memset(&picked[n], 0, sizeof(picked[n]));
			snprintf(picked[n].id, JOB_ID_LEN, "%s", q->id);
			picked[n].s = q->s;
			picked[n].h.fd = -1;
			picked[n].host_uid = j->opt.host_uid_base + q->s.seq % 65536;
			hold(j, &q->s, 1);
			/* visible as running from now on: never "over" in between */
			running_add(j, &picked[n]);
			struct sched_user *u = user_get(j, q->s.uid);
			u->last_start_ms = time_now_ms();
			u->queued--;
			j->nqueued--;
			n++;
		}
		free(sj);
		free(from);
		free(st.queues);
		free(st.projects);
		free(st.users);
	}
	pthread_mutex_unlock(&j->mu);
	if (!n)
		return;

	struct dbconn *c = db_get(j->db);
	for (int k = 0; k < n; k++) {
		struct rjob *r = &picked[k];
		struct err e = {0};
		if (db_batch_run(j->batch, c, mark_starting_fn, r, &e)) {
			/* cancelled meanwhile, or the database failed: not ours */
			pthread_mutex_lock(&j->mu);
			running_remove(j, r->id);
			hold(j, &r->s, -1);
			pthread_mutex_unlock(&j->mu);
			continue;
		}
		struct jobrec rec;
		if (jobrec_load(c, r->id, &rec, &e)) {
			start_failed(j, c, r, e.msg);
			continue;
		}
		char *dir = job_dir(j, r->id);
		int rc = mkdir(dir, 0711);
		if (rc < 0 && errno != EEXIST) {
			err_set(&e, COVE_EIO, "cannot create %s: %s", dir, strerror(errno));
			rc = COVE_EIO;
		} else {
			chmod(dir, 0711);
			rc = launch(j, c, &rec, dir, &r->h, &e);
		}
		free(dir);
		jobrec_free(&rec);
		if (rc) {
			start_failed(j, c, r, e.msg);
			continue;
		}
		pthread_mutex_lock(&j->mu);
		int i = find_running(j, r->id);
		if (i >= 0)
			j->running[i].h = r->h;
		pthread_mutex_unlock(&j->mu);
		watch(j, r);
	}
	db_put(j->db, c);
	notify(j);
}

/* The shim of the job watched by fd has news. */
static void on_event(struct jobs *j, int fd)
{
	pthread_mutex_lock(&j->mu);
	int i;
	for (i = 0; i < j->nrunning; i++)
		if (j->running[i].h.fd == fd)
			break;
	if (i == j->nrunning) {
		pthread_mutex_unlock(&j->mu);
		epoll_ctl(j->epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	struct rjob *r = &j->running[i];
	int exited = r->adopted, became_running = 0;
	if (!r->adopted) {
		char b[64];
		for (;;) {
			ssize_t k = read(fd, b, sizeof(b));
			if (k > 0) {
				if (!r->running && memchr(b, 'R', (size_t)k)) {
					r->running = 1;
					became_running = 1;
				}
				continue;
			}
			if (k == 0 || (errno != EAGAIN && errno != EINTR))
				exited = 1;
			if (k < 0 && errno == EINTR)
				continue;
			break;
		}
	}
	char id[JOB_ID_LEN];
	snprintf(id, sizeof(id), "%s", r->id);
	if (exited) {
		struct rjob done = *r;
		j->running[i] = j->running[--j->nrunning];
		hold(j, &done.s, -1);
		epoll_ctl(j->epfd, EPOLL_CTL_DEL, fd, NULL);
		exec_reap(&done.h); /* closes fd; collects the shim, our child */
		to_finisher(j, &done);
	}
	pthread_mutex_unlock(&j->mu);
	if (became_running) {
		struct dbconn *c = db_get(j->db);
		struct err e = {0};
		db_batch_run(j->batch, c, mark_running_fn, id, &e);
		db_put(j->db, c);
		notify(j);
	}
	if (exited)
		engine_wake(j);
}

static void *evict_main(void *arg)
{
	struct jobs *j = arg;
	job_images_evict(j);
	__atomic_store_n(&j->evicting, 0, __ATOMIC_SEQ_CST);
	return NULL;
}

/* At most hourly, off the engine thread: rm -rf of a large tree is slow. */
static void maybe_evict(struct jobs *j)
{
	int64_t now = time_now_ms();
	if (now - j->evicted_ms < 3600 * 1000 || __atomic_load_n(&j->evicting, __ATOMIC_SEQ_CST))
		return;
	j->evicted_ms = now;
	__atomic_store_n(&j->evicting, 1, __ATOMIC_SEQ_CST);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, evict_main, j) != 0)
		__atomic_store_n(&j->evicting, 0, __ATOMIC_SEQ_CST);
	pthread_attr_destroy(&at);
}

static void *engine_main(void *arg)
{
	struct jobs *j = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(j->epfd, evs, 64, 1000);
		if (__atomic_load_n(&j->stop, __ATOMIC_SEQ_CST))
			break;
		int sched = n == 0; /* a periodic pass too */
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == j->wake_fd) {
				uint64_t v;
				if (read(j->wake_fd, &v, sizeof(v)) < 0) {
					/* nothing pending */
				}
				sched = 1;
				continue;
			}
			on_event(j, evs[i].data.fd);
		}
		if (sched)
			schedule(j);
		if (n == 0)
			maybe_evict(j);
		/* shims whose exit raced exec_reap: no zombies left behind */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	return NULL;
}

/* ---- start and restart ------------------------------------------------------------------ */

/* Re-adopt, finish, requeue or lose the jobs a previous run left active. */
static int recover(struct jobs *j, struct err *e)
{
	struct dbconn *c = db_get(j->db);
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT id, seq, uid, project, queue, priority, cpu_milli, memory, state"
			  " FROM jobs WHERE state IN ('queued','starting','running') ORDER BY seq",
			  "");
	if (rc) {
		db_put(j->db, c);
		return rc;
	}
	struct rjob *act = NULL;
	char (*states)[16] = NULL;
	int nact = 0;
	while ((rc = db_step(st, e)) == 1) {
		struct rjob r = {0};
		snprintf(r.id, sizeof(r.id), "%s", db_text(st, 0));
		r.s.seq = db_int(st, 1);
		r.s.uid = db_int(st, 2);
		pthread_mutex_lock(&j->mu);
		r.s.project = db_text(st, 3) ? project_index(j, db_text(st, 3)) : -1;
		r.s.queue = queue_index(j, db_text(st, 4));
		pthread_mutex_unlock(&j->mu);
		r.s.priority = (int)db_int(st, 5);
		r.s.cpu_milli = db_int(st, 6);
		r.s.memory = db_int(st, 7);
		r.h.fd = -1;
		if (!strcmp(db_text(st, 8), "queued")) {
			struct qjob q = {.s = r.s};
			snprintf(q.id, sizeof(q.id), "%s", r.id);
			engine_enqueue(j, &q);
			continue;
		}
		act = xrealloc(act, sizeof(*act) * (size_t)(nact + 1));
		states = xrealloc(states, sizeof(*states) * (size_t)(nact + 1));
		act[nact] = r;
		snprintf(states[nact++], 16, "%s", db_text(st, 8));
	}
	db_done(st);
	for (int i = 0; i < nact && rc >= 0; i++) {
		struct rjob *r = &act[i];
		char *dir = job_dir(j, r->id);
		struct err ae = {0};
		int alive = j->exec ? exec_adopt(j->exec, dir, &r->h, &ae) : COVE_ENOENT;
		struct stat sb;
		int spawned = stat(dir, &sb) == 0;
		free(dir);
		pthread_mutex_lock(&j->mu);
		hold(j, &r->s, 1);
		if (alive == 1) {
			r->adopted = 1;
			r->running = 1;
			running_add(j, r);
			pthread_mutex_unlock(&j->mu);
			watch(j, r);
			log_event(LOG_INFO, "job re-adopted", "{s:s}", "job", r->id);
			continue;
		}
		if (alive == COVE_ENOENT && !strcmp(states[i], "starting") && !spawned) {
			/* never launched: simply back in the queue */
			hold(j, &r->s, -1);
			pthread_mutex_unlock(&j->mu);
			struct err de = {0};
			db_exec(c, &de, "UPDATE jobs SET state = 'queued' WHERE id = ?", "s", r->id);
			db_exec(c, &de, "INSERT INTO job_events(job, at, state, reason)"
					" VALUES (?,?,'queued','requeued after a restart')",
				"si", r->id, time_now_ms());
			struct qjob q = {.s = r->s};
			snprintf(q.id, sizeof(q.id), "%s", r->id);
			engine_enqueue(j, &q);
			continue;
		}
		/* over (status present) or vanished (lost): the finisher decides */
		hold(j, &r->s, -1);
		to_finisher(j, r);
		pthread_mutex_unlock(&j->mu);
	}
	free(act);
	free(states);
	db_put(j->db, c);
	return rc < 0 ? rc : 0;
}

int engine_start(struct jobs *j, struct err *e)
{
	j->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	j->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (j->wake_fd < 0 || j->epfd < 0)
		return err_set(e, COVE_EIO, "cannot create the engine's event loop: %s",
			       strerror(errno));
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = j->wake_fd};
	epoll_ctl(j->epfd, EPOLL_CTL_ADD, j->wake_fd, &ev);
	pthread_cond_init(&j->finish_cv, NULL);
	j->finish_tail = &j->finish_head;
	if (pthread_create(&j->finisher, NULL, finisher_main, j))
		return err_set(e, COVE_EINTERNAL, "cannot start the finisher thread");
	int rc = recover(j, e);
	if (rc)
		return rc;
	if (pthread_create(&j->engine, NULL, engine_main, j))
		return err_set(e, COVE_EINTERNAL, "cannot start the jobs engine");
	engine_wake(j);
	return 0;
}

void engine_stop(struct jobs *j)
{
	__atomic_store_n(&j->stop, 1, __ATOMIC_SEQ_CST);
	engine_wake(j);
	pthread_join(j->engine, NULL);
	/* an eviction under way uses j */
	while (__atomic_load_n(&j->evicting, __ATOMIC_SEQ_CST))
		usleep(10000);
	pthread_mutex_lock(&j->mu);
	pthread_cond_broadcast(&j->finish_cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->finisher, NULL);
	/* jobs still running keep running: the next start re-adopts them */
	for (int i = 0; i < j->nrunning; i++)
		if (j->running[i].h.fd >= 0)
			close(j->running[i].h.fd);
	while (j->finish_head) {
		struct finish_item *it = j->finish_head;
		j->finish_head = it->next;
		free(it);
	}
	close(j->wake_fd);
	close(j->epfd);
}
