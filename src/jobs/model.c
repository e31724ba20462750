/*
 * model.c - job records: validation of a submission, its durable insert
 * (group-committed, idempotent), reading records and their history back as
 * JSON, listing, cancelling. Who may see or touch a job: its owner or an
 * admin. No HTTP and no processes here.
 */
#include "jobs/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JOB_COLS                                                                \
	"j.seq, j.id, j.uid, u.username, j.project, j.name, j.app, j.spec, j.queue," \
	" j.priority, j.cpu_milli, j.memory, j.state, j.reason, j.exit_code,"         \
	" j.signal, j.attempt, j.host_uid, j.submitted_at, j.started_at,"             \
	" j.finished_at, j.cpu_ms, j.peak_memory, j.output_files, j.output_error"
#define JOB_FROM " FROM jobs j LEFT JOIN users u ON u.uid = j.uid "

#define INPUTS_MAX 64
#define ENV_MAX 128
#define LABELS_MAX 32
#define ARGS_MAX 4096

static const char *const TERMINAL[] = {"succeeded", "failed", "cancelled",
				       "timed_out", "lost", NULL};

int jobs_is_terminal(const char *state)
{
	for (int i = 0; TERMINAL[i]; i++)
		if (!strcmp(state, TERMINAL[i]))
			return 1;
	return 0;
}

void jobrec_free(struct jobrec *r)
{
	if (!r)
		return;
	free(r->user);
	free(r->project);
	free(r->name);
	free(r->app);
	json_decref(r->spec);
	free(r->queue);
	free(r->reason);
	free(r->output_error);
	memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void jobrec_read(struct stmt *st, struct jobrec *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = db_int(st, 0);
	snprintf(r->id, sizeof(r->id), "%s", db_text(st, 1));
	r->uid = db_int(st, 2);
	r->user = xstrdup(db_text(st, 3) ? db_text(st, 3) : "");
	r->project = dup_or_null(db_text(st, 4));
	r->name = xstrdup(db_text(st, 5));
	r->app = xstrdup(db_text(st, 6));
	r->spec = json_loads(db_text(st, 7), 0, NULL);
	if (!r->spec)
		r->spec = json_object();
	r->queue = xstrdup(db_text(st, 8));
	r->priority = (int)db_int(st, 9);
	r->cpu_milli = db_int(st, 10);
	r->memory = db_int(st, 11);
	snprintf(r->state, sizeof(r->state), "%s", db_text(st, 12));
	r->reason = xstrdup(db_text(st, 13));
	r->has_exit = !db_is_null(st, 14);
	r->exit_code = (int)db_int(st, 14);
	r->signal = (int)db_int(st, 15);
	r->attempt = (int)db_int(st, 16);
	r->host_uid = db_int(st, 17);
	r->submitted_ms = db_int(st, 18);
	r->started_ms = db_int(st, 19);
	r->finished_ms = db_int(st, 20);
	r->cpu_ms = db_is_null(st, 21) ? -1 : db_int(st, 21);
	r->peak_memory = db_is_null(st, 22) ? -1 : db_int(st, 22);
	r->output_files = db_is_null(st, 23) ? -1 : db_int(st, 23);
	r->output_error = dup_or_null(db_text(st, 24));
}

int jobrec_load(struct dbconn *c, const char *id, struct jobrec *r,
		struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT " JOB_COLS JOB_FROM "WHERE j.id = ?", "s",
			  id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1)
		jobrec_read(st, r);
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such job: %.40s", id);
	return rc < 0 ? rc : 0;
}

static json_t *spec_get(const struct jobrec *r, const char *key)
{
	json_t *v = json_object_get(r->spec, key);
	return v ? json_incref(v) : json_null();
}

json_t *jobrec_json(const struct jobrec *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "name", json_string(r->name));
	json_object_set_new(o, "app", json_string(r->app));
	json_object_set_new(o, "user", json_string(r->user ? r->user : ""));
	json_object_set_new(o, "project", r->project ? json_string(r->project) : json_null());
	json_object_set_new(o, "queue", json_string(r->queue));
	json_object_set_new(o, "priority", json_integer(r->priority));
	json_object_set_new(o, "state", json_string(r->state));
	json_object_set_new(o, "reason", json_string(r->reason ? r->reason : ""));
	json_object_set_new(o, "exit_code", r->has_exit ? json_integer(r->exit_code) : json_null());
	json_object_set_new(o, "signal", r->signal ? json_integer(r->signal) : json_null());
	json_object_set_new(o, "args", spec_get(r, "args"));
	json_object_set_new(o, "inputs", spec_get(r, "inputs"));
	json_object_set_new(o, "output", spec_get(r, "output"));
	json_object_set_new(o, "overwrite", spec_get(r, "overwrite"));
	json_object_set_new(o, "env", spec_get(r, "env"));
	json_object_set_new(o, "labels", spec_get(r, "labels"));
	json_object_set_new(o, "image", spec_get(r, "image"));
	json_object_set_new(o, "image_digest", spec_get(r, "image_digest"));
	json_t *res = json_object();
	json_object_set_new(res, "cpu", json_real((double)r->cpu_milli / 1000.0));
	json_object_set_new(res, "memory", json_integer(r->memory));
	json_object_set_new(res, "time", spec_get(r, "time"));
	json_object_set_new(res, "pids", spec_get(r, "pids"));
	json_object_set_new(res, "scratch", spec_get(r, "scratch"));
	json_object_set_new(o, "resources", res);
	json_set_time_ms(o, "submitted_at", r->submitted_ms);
	json_set_time_ms(o, "started_at", r->started_ms);
	json_set_time_ms(o, "finished_at", r->finished_ms);
	json_t *use = json_object();
	json_object_set_new(use, "cpu_seconds",
			    r->cpu_ms >= 0 ? json_real((double)r->cpu_ms / 1000.0) : json_null());
	json_object_set_new(use, "peak_memory",
			    r->peak_memory >= 0 ? json_integer(r->peak_memory) : json_null());
	json_object_set_new(o, "usage", use);
	json_object_set_new(o, "attempt", json_integer(r->attempt));
	json_object_set_new(o, "output_files",
			    r->output_files >= 0 ? json_integer(r->output_files) : json_null());
	json_object_set_new(o, "output_error",
			    r->output_error ? json_string(r->output_error) : json_null());
	return o;
}

/* ---- the same record as text (the submission answer, a hot path) -------- */

static void buf_key(struct buf *b, const char *key)
{
	if (b->data[b->len - 1] != '{')
		buf_addc(b, ',');
	buf_json_str(b, key);
	buf_addc(b, ':');
}

static void buf_int_or_null(struct buf *b, int has, int64_t v)
{
	if (has)
		buf_add_int(b, v);
	else
		buf_adds(b, "null");
}

static void buf_str_or_null(struct buf *b, const char *s)
{
	if (s)
		buf_json_str(b, s);
	else
		buf_adds(b, "null");
}

/* a real as jansson writes it: %.17g, and ".0" when it looks integral */
static void buf_real(struct buf *b, double v)
{
	char t[40];
	int n = snprintf(t, sizeof t, "%.17g", v);
	buf_add(b, t, (size_t)n);
	if (!strpbrk(t, ".eE"))
		buf_adds(b, ".0");
}

static void buf_spec(struct buf *b, const struct jobrec *r, const char *key)
{
	json_t *v = json_object_get(r->spec, key);
	char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	buf_adds(b, t ? t : "null");
	free(t);
}

void jobrec_json_buf(const struct jobrec *r, struct buf *b)
{
	buf_addc(b, '{');
	buf_key(b, "id");
	buf_json_str(b, r->id);
	buf_key(b, "name");
	buf_str_or_null(b, r->name);
	buf_key(b, "app");
	buf_str_or_null(b, r->app);
	buf_key(b, "user");
	buf_json_str(b, r->user ? r->user : "");
	buf_key(b, "project");
	buf_str_or_null(b, r->project);
	buf_key(b, "queue");
	buf_str_or_null(b, r->queue);
	buf_key(b, "priority");
	buf_add_int(b, r->priority);
	buf_key(b, "state");
	buf_json_str(b, r->state);
	buf_key(b, "reason");
	buf_json_str(b, r->reason ? r->reason : "");
	buf_key(b, "exit_code");
	buf_int_or_null(b, r->has_exit, r->exit_code);
	buf_key(b, "signal");
	buf_int_or_null(b, r->signal != 0, r->signal);
	static const char *const spec_keys[] = {"args",   "inputs", "output",
						"overwrite", "env", "labels",
						"image",  "image_digest"};
	for (size_t i = 0; i < sizeof spec_keys / sizeof spec_keys[0]; i++) {
		buf_key(b, spec_keys[i]);
		buf_spec(b, r, spec_keys[i]);
	}
	buf_key(b, "resources");
	buf_addc(b, '{');
	buf_key(b, "cpu");
	buf_real(b, (double)r->cpu_milli / 1000.0);
	buf_key(b, "memory");
	buf_add_int(b, r->memory);
	buf_key(b, "time");
	buf_spec(b, r, "time");
	buf_key(b, "pids");
	buf_spec(b, r, "pids");
	buf_key(b, "scratch");
	buf_spec(b, r, "scratch");
	buf_addc(b, '}');
	buf_key(b, "submitted_at");
	buf_json_time_ms(b, r->submitted_ms);
	buf_key(b, "started_at");
	buf_json_time_ms(b, r->started_ms);
	buf_key(b, "finished_at");
	buf_json_time_ms(b, r->finished_ms);
	buf_key(b, "usage");
	buf_addc(b, '{');
	buf_key(b, "cpu_seconds");
	if (r->cpu_ms >= 0)
		buf_real(b, (double)r->cpu_ms / 1000.0);
	else
		buf_adds(b, "null");
	buf_key(b, "peak_memory");
	buf_int_or_null(b, r->peak_memory >= 0, r->peak_memory);
	buf_addc(b, '}');
	buf_key(b, "attempt");
	buf_add_int(b, r->attempt);
	buf_key(b, "output_files");
	buf_int_or_null(b, r->output_files >= 0, r->output_files);
	buf_key(b, "output_error");
	buf_str_or_null(b, r->output_error);
	buf_addc(b, '}');
}

int job_set_state(struct dbconn *c, const char *id, const char *state,
		  const char *reason, struct err *e)
{
	int64_t now = time_now_ms();
	int rc = db_exec(c, e, "UPDATE jobs SET state = ?, reason = ? WHERE id = ?",
			 "sss", state, reason ? reason : "", id);
	if (rc < 0)
		return rc;
	rc = db_exec(c, e, "INSERT INTO job_events(job, at, state, reason) VALUES (?,?,?,?)",
		     "siss", id, now, state, reason ? reason : "");
	return rc < 0 ? rc : 0;
}

/* ---- reading ----------------------------------------------------------------- */

/* uid's role in project ("" when not a member); COVE_ENOENT when there
 * is no such project. */
static int project_role(struct dbconn *c, const char *project, int64_t uid,
			char role[16], struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT p.name, m.role FROM projects p LEFT JOIN project_members m"
			  " ON m.project = p.name AND m.uid = ? WHERE p.name = ?",
			  "is", uid, project);
	if (rc)
		return rc;
	rc = db_step(st, e);
	role[0] = '\0';
	if (rc == 1 && db_text(st, 1))
		snprintf(role, 16, "%s", db_text(st, 1));
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such project: %.64s", project);
	return rc < 0 ? rc : 0;
}

/* uid's role in project ("" when not a member, or no such project). */
static int member_role(struct dbconn *c, const char *project, int64_t uid,
		       char role[16], struct err *e)
{
	struct stmt *st;
	role[0] = '\0';
	int rc = db_query(c, &st, e,
			  "SELECT role FROM project_members WHERE project = ? AND uid = ?",
			  "si", project, uid);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1 && db_text(st, 0))
		snprintf(role, 16, "%s", db_text(st, 0));
	db_done(st);
	return rc < 0 ? rc : 0;
}

enum { JOB_SEE = 1, JOB_CANCEL = 2 };

/*
 * What act may do with job r (JOB_* bits; 0: the job does not exist for
 * act). Its submitter and admins do everything; a member of its project,
 * whatever the role, sees it (record, history, logs); the project's owners
 * and maintainers also cancel it. Read from the database at every call, so
 * a member removed from the project loses the job at once. Negative on a
 * database error.
 */
static int job_access(struct dbconn *c, const struct actor *act,
		      const struct jobrec *r, struct err *e)
{
	if (act->admin || act->uid == r->uid)
		return JOB_SEE | JOB_CANCEL;
	if (!r->project)
		return 0;
	char role[16];
	int rc = member_role(c, r->project, act->uid, role, e);
	if (rc)
		return rc;
	if (!role[0])
		return 0;
	return JOB_SEE | (!strcmp(role, "owner") || !strcmp(role, "maintainer")
				  ? JOB_CANCEL
				  : 0);
}

/* Load job id for act: COVE_ENOENT, as for a job that does not exist,
 * when act may not see it; *access gets the JOB_* bits. */
static int job_load_visible(struct dbconn *c, const struct actor *act,
			    const char *id, struct jobrec *r, int *access,
			    struct err *e)
{
	int rc = jobrec_load(c, id, r, e);
	if (rc)
		return rc;
	int a = job_access(c, act, r, e);
	if (a <= 0) {
		jobrec_free(r);
		if (a < 0)
			return a;
		/* not even whether it exists */
		return err_set(e, COVE_ENOENT, "no such job: %.40s", id);
	}
	*access = a;
	return 0;
}

static json_t *history_json(struct dbconn *c, const char *id, int64_t submitted_ms)
{
	json_t *h = json_array();
	json_t *first = json_object();
	json_set_time_ms(first, "at", submitted_ms);
	json_object_set_new(first, "state", json_string("queued"));
	json_object_set_new(first, "reason", json_string("submitted"));
	json_array_append_new(h, first);
	struct stmt *st;
	if (db_query(c, &st, NULL,
		     "SELECT at, state, reason FROM job_events WHERE job = ? ORDER BY at, rowid",
		     "s", id))
		return h;
	while (db_step(st, NULL) == 1) {
		json_t *ev = json_object();
		json_set_time_ms(ev, "at", db_int(st, 0));
		json_object_set_new(ev, "state", json_string(db_text(st, 1)));
		json_object_set_new(ev, "reason", json_string(db_text(st, 2)));
		json_array_append_new(h, ev);
	}
	db_done(st);
	return h;
}

int jobs_get(struct jobs *j, struct dbconn *c, const struct actor *act,
	     const char *id, json_t **out, struct err *e)
{
	struct jobrec r;
	int access;
	int rc = job_load_visible(c, act, id, &r, &access, e);
	if (rc)
		return rc;
	*out = jobrec_json(&r);
	json_object_set_new(*out, "history", history_json(c, id, r.submitted_ms));
	jobrec_free(&r);
	return 0;
}

int jobs_log_path(struct jobs *j, struct dbconn *c, const struct actor *act,
		  const char *id, char **path, struct err *e)
{
	struct jobrec r;
	int access;
	int rc = job_load_visible(c, act, id, &r, &access, e);
	if (rc)
		return rc;
	*path = job_log_path(j, id, jobs_is_terminal(r.state));
	jobrec_free(&r);
	return 0;
}

static int valid_state(const char *s)
{
	static const char *const all[] = {"queued", "starting", "running", "succeeded",
					  "failed", "cancelled", "timed_out", "lost",
					  NULL};
	for (int i = 0; all[i]; i++)
		if (!strcmp(s, all[i]))
			return 1;
	return 0;
}

/*
 * Listing. Every list is "newest first, below the cursor, at most limit",
 * narrowed by a key that an index serves: the submitter (jobs_uid), the
 * project (jobs_project), both, or neither (admins: the rowid). State,
 * queue and app narrow further. The statements are literals with numbered
 * parameters (?1 cursor, ?2 uid, ?3 project, ?4 state, ?5 queue, ?6 app,
 * ?7 limit), all seven bound every time: a variant leaves out the key it
 * does not use, and the statement cache is keyed by the literal's address.
 * An active state repeats the condition of the partial index jobs_active,
 * so that admins' "what is queued" (the benchmark polls it) reads only
 * active jobs instead of walking every job ever run.
 */
#define LIST_HEAD "SELECT " JOB_COLS JOB_FROM "WHERE j.seq < ?1"
#define LIST_UID " AND j.uid = ?2"
#define LIST_PROJECT " AND j.project = ?3"
#define LIST_STATE " AND (?4 IS NULL OR j.state = ?4)"
#define LIST_ACTIVE " AND j.state = ?4 AND j.state IN ('queued', 'starting', 'running')"
#define LIST_TAIL                                                                    \
	" AND (?5 IS NULL OR j.queue = ?5) AND (?6 IS NULL OR j.app = ?6)"           \
	" ORDER BY j.seq DESC LIMIT ?7"

enum { KEY_UID = 1, KEY_PROJECT = 2 };

static const char *const LIST_SQL[4][2] = {
	{LIST_HEAD LIST_STATE LIST_TAIL, LIST_HEAD LIST_ACTIVE LIST_TAIL},
	{LIST_HEAD LIST_UID LIST_STATE LIST_TAIL, LIST_HEAD LIST_UID LIST_ACTIVE LIST_TAIL},
	{LIST_HEAD LIST_PROJECT LIST_STATE LIST_TAIL,
	 LIST_HEAD LIST_PROJECT LIST_ACTIVE LIST_TAIL},
	{LIST_HEAD LIST_UID LIST_PROJECT LIST_STATE LIST_TAIL,
	 LIST_HEAD LIST_UID LIST_PROJECT LIST_ACTIVE LIST_TAIL},
};

/* One indexed slice of the jobs: key bits, and the values they use. */
struct list_slice {
	unsigned key;
	int64_t uid;
	const char *project;
};

static int list_open(struct dbconn *c, const struct jobs_filter *f, int64_t after,
		     const struct list_slice *sl, struct stmt **st, struct err *e)
{
	int active = f->state && !jobs_is_terminal(f->state);
	return db_query(c, st, e, LIST_SQL[sl->key][active], "iissssi",
			after, sl->uid, sl->project, f->state, f->queue, f->app,
			(int64_t)f->limit + 1);
}

static int seq_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * The newest f->limit + 1 jobs of several slices together (a user's own
 * jobs and each of their projects'): up to limit + 1 ids from each slice,
 * read from its index, merged newest first without duplicates (one's own
 * job in one's project is in two slices). The cost follows the number of
 * slices times the page, never the number of jobs they hold.
 */
static int list_merge(struct dbconn *c, const struct jobs_filter *f, int64_t after,
		      const struct list_slice *sl, int nsl, int64_t **seqs, int *nseqs,
		      struct err *e)
{
	int cap = 0, n = 0, rc = 0;
	int64_t *v = NULL;
	for (int i = 0; i < nsl && !rc; i++) {
		struct stmt *st;
		if ((rc = list_open(c, f, after, &sl[i], &st, e)))
			break;
		while ((rc = db_step(st, e)) == 1) {
			if (n == cap) {
				cap = cap ? cap * 2 : f->limit + 1;
				v = xrealloc(v, sizeof(*v) * (size_t)cap);
			}
			v[n++] = db_int(st, 0);
		}
		db_done(st);
	}
	if (rc < 0) {
		free(v);
		return rc;
	}
	if (n)
		qsort(v, (size_t)n, sizeof(*v), seq_desc);
	int u = 0;
	for (int i = 0; i < n && u <= f->limit; i++)
		if (!u || v[u - 1] != v[i])
			v[u++] = v[i];
	*seqs = v;
	*nseqs = u;
	return 0;
}

/* The slices a user's "own and every project's" list reads: their own jobs
 * (unless another user's were asked for: ukey, uid) and each project they
 * are in. The caller frees the project names and the array. */
static int list_member_slices(struct dbconn *c, const struct actor *act,
			      int64_t uid, unsigned ukey, struct list_slice **out,
			      int *nout, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT project FROM project_members WHERE uid = ?",
			  "i", act->uid);
	if (rc)
		return rc;
	int n = 0, cap = 8;
	struct list_slice *v = xcalloc((size_t)cap, sizeof(*v));
	if (!ukey)
		v[n++] = (struct list_slice){KEY_UID, act->uid, NULL};
	while ((rc = db_step(st, e)) == 1) {
		if (n == cap) {
			cap *= 2;
			v = xrealloc(v, sizeof(*v) * (size_t)cap);
		}
		/* the name is copied: the statement's text lives until the next step */
		v[n++] = (struct list_slice){KEY_PROJECT | ukey, uid, xstrdup(db_text(st, 0))};
	}
	db_done(st);
	if (rc < 0) {
		for (int i = 0; i < n; i++)
			free((char *)v[i].project);
		free(v);
		return rc;
	}
	*out = v;
	*nout = n;
	return 0;
}

int jobs_list(struct jobs *j, struct dbconn *c, const struct actor *act,
	      const struct jobs_filter *f, json_t **out, struct err *e)
{
	if (f->state && !valid_state(f->state))
		return err_set(e, COVE_EINVAL,
			       "unknown state '%.40s' (queued, starting, running, succeeded, "
			       "failed, cancelled, timed_out, lost)",
			       f->state);
	int all;
	if (!f->scope)
		all = act->admin || f->project; /* users: their own, unless a project is named */
	else if (!strcmp(f->scope, "own"))
		all = 0;
	else if (!strcmp(f->scope, "all"))
		all = 1;
	else
		return err_set(e, COVE_EINVAL,
			       "unknown scope '%.40s' (own: your jobs; all: yours and those of "
			       "your projects)",
			       f->scope);
	static const char *const names[] = {"queue", "app", "project", "user"};
	const char *vals[] = {f->queue, f->app, f->project, f->user};
	for (int i = 0; i < 4; i++)
		if (vals[i] && (!*vals[i] || strlen(vals[i]) > 255))
			return err_set(e, COVE_EINVAL, "'%s' must be 1 to 255 bytes", names[i]);
	if (f->user && !act->admin && strcmp(f->user, act->username) && !all)
		return err_set(e, COVE_EPERM,
			       "permission denied: you list only your own jobs; other users' "
			       "jobs are listed within a project (project=P, or scope=all)");
	if (f->user && !all && strcmp(f->user, act->username))
		return err_set(e, COVE_EINVAL,
			       "scope=own lists only your own jobs: leave out 'user' or use "
			       "scope=all");
	int64_t after = INT64_MAX;
	if (f->cursor && *f->cursor) {
		char *end;
		after = strtoll(f->cursor, &end, 10);
		if (*end || after <= 0)
			return err_set(e, COVE_EINVAL, "malformed cursor");
	}

	/* the slices to read */
	struct list_slice one = {0}, *many = NULL;
	int nmany = 0, rc;
	unsigned ukey = 0;
	int64_t uid = act->uid;
	if (!all) {
		ukey = KEY_UID;
	} else if (f->user) {
		ukey = KEY_UID;
		rc = db_query_int(c, e, &uid, "SELECT uid FROM users WHERE username = ?", "s",
				  f->user);
		if (rc < 0)
			return rc;
		if (rc == 0) { /* nobody by that name: no jobs either */
			*out = json_pack("{s:[],s:n}", "items", "next_cursor");
			return 0;
		}
	}
	if (f->project) {
		char role[16];
		if ((rc = project_role(c, f->project, act->uid, role, e)))
			return rc;
		if (!act->admin && !role[0]) /* the project stays invisible */
			return err_set(e, COVE_ENOENT, "no such project: %.64s", f->project);
		one = (struct list_slice){KEY_PROJECT | ukey, uid, f->project};
	} else if (all && !act->admin && !(ukey && uid == act->uid)) {
		if ((rc = list_member_slices(c, act, uid, ukey, &many, &nmany, e)))
			return rc;
	} else {
		one = (struct list_slice){ukey, uid, NULL};
	}

	json_t *items = json_array();
	int n = 0, more = 0;
	int64_t last = 0;
	struct jobrec r;
	if (!many) {
		struct stmt *st;
		if ((rc = list_open(c, f, after, &one, &st, e))) {
			json_decref(items);
			return rc;
		}
		while ((rc = db_step(st, e)) == 1) {
			if (n == f->limit) {
				more = 1;
				break;
			}
			jobrec_read(st, &r);
			last = r.seq;
			json_array_append_new(items, jobrec_json(&r));
			jobrec_free(&r);
			n++;
		}
		db_done(st);
	} else {
		int64_t *seqs = NULL;
		int nseqs = 0;
		rc = list_merge(c, f, after, many, nmany, &seqs, &nseqs, e);
		for (int i = 0; i < nmany; i++)
			free((char *)many[i].project);
		free(many);
		for (int i = 0; !rc && i < nseqs; i++) {
			if (n == f->limit) {
				more = 1;
				break;
			}
			struct stmt *st;
			if ((rc = db_query(c, &st, e, "SELECT " JOB_COLS JOB_FROM "WHERE j.seq = ?",
					   "i", seqs[i])))
				break;
			if ((rc = db_step(st, e)) == 1) {
				jobrec_read(st, &r);
				last = r.seq;
				json_array_append_new(items, jobrec_json(&r));
				jobrec_free(&r);
				n++;
				rc = 0;
			}
			db_done(st);
		}
		free(seqs);
	}
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_object();
	json_object_set_new(*out, "items", items);
	if (more) {
		char cur[24];
		snprintf(cur, sizeof(cur), "%lld", (long long)last);
		json_object_set_new(*out, "next_cursor", json_string(cur));
	} else {
		json_object_set_new(*out, "next_cursor", json_null());
	}
	return 0;
}

/* ---- submission ------------------------------------------------------------------ */

/* "2G", "512M", "1.5G", 1073741824 -> bytes; -1 on bad input. */
int64_t job_size_value(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	char *end;
	double x = strtod(s, &end);
	if (end == s || !(x > 0) || !isfinite(x))
		return -1;
	double mult = 1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mult = 1024.0; end++; break;
	case 'M': mult = 1024.0 * 1024; end++; break;
	case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || x * mult > 9e18)
		return -1;
	return (int64_t)(x * mult);
}

static int64_t time_value(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
	if (json_is_string(v))
		return duration_parse(json_string_value(v));
	return -1;
}

static int env_key_ok(const char *k)
{
	if (!*k || strlen(k) > 128 || !(isalpha((unsigned char)*k) || *k == '_'))
		return 0;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return 0;
	return 1;
}

/* An object of string values: keys checked by key_ok when given. */
static int string_map(json_t *v, const char *what, int max, int env,
		      struct err *e)
{
	if (!json_is_object(v))
		return err_set(e, COVE_EINVAL, "'%s' must be an object of strings", what);
	if ((int)json_object_size(v) > max)
		return err_set(e, COVE_EINVAL, "'%s' has more than %d entries", what, max);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x)
	{
		if (!json_is_string(x))
			return err_set(e, COVE_EINVAL, "'%s.%.60s' must be a string", what, k);
		if (env && !env_key_ok(k))
			return err_set(e, COVE_EINVAL,
				       "environment variable name '%.60s' is not valid "
				       "([A-Za-z_][A-Za-z0-9_]*)",
				       k);
		if (!env && (!*k || strlen(k) > 63))
			return err_set(e, COVE_EINVAL, "label names are 1 to 63 bytes");
		if (strlen(json_string_value(x)) > 4096)
			return err_set(e, COVE_EINVAL, "'%s.%.60s' is longer than 4096 bytes",
				       what, k);
	}
	return 0;
}

static int path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);
	if (!strcmp(outer, "/"))
		return 1;
	return !strncmp(inner, outer, n) && (inner[n] == '\0' || inner[n] == '/');
}

/* What one submission becomes, validated. */
struct submit {
	struct jobrec rec;
	const char *idem_key;
	char idem_hash[65];
	int replayed;
	char existing[JOB_ID_LEN];
};

static int insert_fn(struct dbconn *c, void *arg, struct err *e)
{
	struct submit *s = arg;
	struct jobrec *r = &s->rec;
	char *spec = json_dumps(r->spec, JSON_COMPACT);
	/* a project checked at submission may have been deleted since: the
	 * insert happens only while it exists (in this transaction) */
	int rc = db_exec(c, e,
			 "INSERT INTO jobs(id, uid, project, name, app, spec, queue, priority,"
			 " cpu_milli, memory, state, reason, submitted_at, idem_key, idem_hash)"
			 " SELECT ?,?,?,?,?,?,?,?,?,?,'queued','submitted',?,?,?"
			 " WHERE ? IS NULL OR EXISTS (SELECT 1 FROM projects WHERE name = ?)",
			 "sisssssiiiissss", r->id, r->uid, r->project, r->name, r->app, spec,
			 r->queue, (int64_t)r->priority, r->cpu_milli, r->memory,
			 r->submitted_ms, s->idem_key, s->idem_key ? s->idem_hash : NULL,
			 r->project, r->project);
	free(spec);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such project: %.64s (it was just deleted)",
			       r->project ? r->project : "");
	if (rc == COVE_EEXIST && s->idem_key) {
		/* a retry: answer with the first submission */
		struct stmt *st;
		if ((rc = db_query(c, &st, e,
				   "SELECT id, idem_hash FROM jobs WHERE uid = ? AND idem_key = ?",
				   "is", r->uid, s->idem_key)))
			return rc;
		if ((rc = db_step(st, e)) == 1) {
			snprintf(s->existing, sizeof(s->existing), "%s", db_text(st, 0));
			if (strcmp(db_text(st, 1) ? db_text(st, 1) : "", s->idem_hash))
				rc = err_set(e, COVE_ECONFLICT,
					     "this Idempotency-Key was used for a different "
					     "request; use a new key");
			else
				rc = 0;
			s->replayed = 1;
		} else if (rc == 0) {
			rc = err_set(e, COVE_EINTERNAL, "idempotency record vanished");
		}
		db_done(st);
		return rc < 0 ? rc : 0;
	}
	if (rc < 0)
		return rc;
	/* the first event (queued, submitted) is the row's submitted_at:
	 * history_json tells it, so it costs no second insert */
	r->seq = db_last_id(c);
	return 0;
}

/* Validate req into s (reads the catalog, checks inputs and output). */
static int submit_prepare(struct jobs *j, struct dbconn *c, const struct actor *act,
			  json_t *req, struct submit *s, struct err *e)
{
	static const char *const allowed[] = {
		"app", "script", "args", "inputs", "output", "overwrite", "env", "cpu",
		"memory", "time", "pids", "scratch", "queue", "priority", "name",
		"labels", "project", "image", NULL};
	int rc = json_only_fields(req, allowed, e);
	if (rc)
		return rc;
	struct jobrec *r = &s->rec;
	const char *app, *script = NULL, *output = NULL, *queue = NULL, *name = NULL,
			 *project = NULL, *image = NULL;
	if ((rc = json_req_str(req, "app", &app, e)) ||
	    (rc = json_opt_str(req, "script", &script, e)) ||
	    (rc = json_opt_str(req, "output", &output, e)) ||
	    (rc = json_opt_str(req, "queue", &queue, e)) ||
	    (rc = json_opt_str(req, "name", &name, e)) ||
	    (rc = json_opt_str(req, "project", &project, e)) ||
	    (rc = json_opt_str(req, "image", &image, e)))
		return rc;
	if (!image && !strcmp(app, "image"))
		return err_set(e, COVE_EINVAL, "app 'image' runs an image's own command: "
					       "give 'image' (PROJECT/REPO:TAG)");
	char input_kind[8];
	if ((rc = app_kind(j, app, input_kind, e)))
		return rc;

	id_new(r->id);
	r->uid = act->uid;
	r->user = xstrdup(act->username);
	r->app = xstrdup(app);
	r->submitted_ms = time_now_ms();
	r->attempt = 1;
	r->cpu_ms = r->peak_memory = r->output_files = -1;
	snprintf(r->state, sizeof(r->state), "queued");
	r->reason = xstrdup("submitted");
	if (name && (strlen(name) > 128 || !utf8_valid(name, strlen(name))))
		return err_set(e, COVE_EINVAL, "'name' is at most 128 bytes of UTF-8");
	r->name = xstrdup(name ? name : "");
	r->spec = json_object();

	/* what to run: args (an array of strings) or a script */
	json_t *args = json_object_get(req, "args");
	if (args && script)
		return err_set(e, COVE_EINVAL, "give 'script' or 'args', not both");
	json_t *argv = json_array();
	json_object_set_new(r->spec, "args", argv);
	if (script) {
		json_array_append_new(argv, json_string(script));
	} else if (args) {
		if (!json_is_array(args) || json_array_size(args) > ARGS_MAX)
			return err_set(e, COVE_EINVAL,
				       "'args' must be an array of at most %d strings", ARGS_MAX);
		size_t i;
		json_t *a;
		json_array_foreach(args, i, a)
		{
			if (!json_is_string(a))
				return err_set(e, COVE_EINVAL, "'args' must contain strings only");
			json_array_append(argv, a);
		}
	}
	if (!json_array_size(argv) && !strcmp(input_kind, "script"))
		return err_set(e, COVE_EINVAL, "app '%s' needs a script: give 'script' (or "
					       "'args') with the commands to run", app);

	/* queue and resources */
	if (!queue)
		queue = "default";
	pthread_mutex_lock(&j->mu);
	int qi = queue_index(j, queue);
	struct qconf q;
	if (qi >= 0) {
		q = j->queues[qi];
		q.users = json_incref(q.users);
		q.groups = json_incref(q.groups);
	}
	pthread_mutex_unlock(&j->mu);
	if (qi < 0)
		return err_set(e, COVE_ENOENT, "no such queue: %.64s", queue);
	int ok = act->admin || queue_allows(c, &q, act->username, act->uid);
	json_decref(q.users);
	json_decref(q.groups);
	if (!ok)
		return err_set(e, COVE_EPERM, "permission denied: queue '%s' is not open to you",
			       queue);
	r->queue = xstrdup(queue);

	json_t *v;
	r->cpu_milli = q.def_cpu_milli;
	if ((v = json_object_get(req, "cpu"))) {
		if (!json_is_number(v) || !(json_number_value(v) > 0) ||
		    json_number_value(v) > 1024)
			return err_set(e, COVE_EINVAL, "'cpu' must be a number of cores above 0");
		r->cpu_milli = (int64_t)ceil(json_number_value(v) * 1000.0);
	}
	r->memory = q.def_memory;
	if ((v = json_object_get(req, "memory")) && (r->memory = job_size_value(v)) < 0)
		return err_set(e, COVE_EINVAL, "'memory' must be a size such as \"512M\" or \"2G\"");
	int64_t tlimit = q.def_time;
	if ((v = json_object_get(req, "time")) && (tlimit = time_value(v)) <= 0)
		return err_set(e, COVE_EINVAL, "'time' must be a duration such as \"90s\", \"15m\" or \"2h\"");
	if (r->cpu_milli > q.max_cpu_milli)
		return err_set(e, COVE_EINVAL, "asks for %.2f CPUs; queue '%s' allows at most %.2f",
			       (double)r->cpu_milli / 1000, queue, (double)q.max_cpu_milli / 1000);
	if (r->memory > q.max_memory)
		return err_set(e, COVE_EINVAL, "asks for %lld MiB of memory; queue '%s' allows at most %lld MiB",
			       (long long)(r->memory >> 20), queue, (long long)(q.max_memory >> 20));
	if (tlimit > q.max_time)
		return err_set(e, COVE_EINVAL, "asks for %llds; queue '%s' allows at most %llds",
			       (long long)tlimit, queue, (long long)q.max_time);
	if (r->cpu_milli > (int64_t)(j->cpus * 1000) || r->memory > j->memory)
		return err_set(e, COVE_EINVAL,
			       "asks for %.2f CPUs and %lld MiB; this machine offers jobs %.2f CPUs "
			       "and %lld MiB",
			       (double)r->cpu_milli / 1000, (long long)(r->memory >> 20), j->cpus,
			       (long long)(j->memory >> 20));
	json_object_set_new(r->spec, "time", json_integer(tlimit));
	int64_t pids = 1024, scratch = 1LL << 30;
	if ((v = json_object_get(req, "pids"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 8 || json_integer_value(v) > 65536)
			return err_set(e, COVE_EINVAL, "'pids' must be an integer from 8 to 65536");
		pids = json_integer_value(v);
	}
	if ((v = json_object_get(req, "scratch")) && (scratch = job_size_value(v)) < 0)
		return err_set(e, COVE_EINVAL, "'scratch' must be a size such as \"1G\"");
	json_object_set_new(r->spec, "pids", json_integer(pids));
	json_object_set_new(r->spec, "scratch", json_integer(scratch));
	if ((v = json_object_get(req, "priority"))) {
		if (!json_is_integer(v) || json_integer_value(v) < -100 || json_integer_value(v) > 100)
			return err_set(e, COVE_EINVAL, "'priority' must be an integer from -100 to 100");
		r->priority = (int)json_integer_value(v);
	}

	/* environment and labels */
	json_t *env = json_object_get(req, "env");
	if (env && (rc = string_map(env, "env", ENV_MAX, 1, e)))
		return rc;
	json_object_set_new(r->spec, "env", env ? json_deep_copy(env) : json_object());
	json_t *labels = json_object_get(req, "labels");
	if (labels && (rc = string_map(labels, "labels", LABELS_MAX, 0, e)))
		return rc;
	json_object_set_new(r->spec, "labels", labels ? json_deep_copy(labels) : json_object());

	/* project */
	if (project) {
		char role[16];
		if ((rc = project_role(c, project, act->uid, role, e)))
			return rc;
		if (!act->admin && (!role[0] || !strcmp(role, "guest")))
			return err_set(e, COVE_EPERM,
				       "permission denied: running jobs in project '%s' needs the "
				       "developer role or higher",
				       project);
		r->project = xstrdup(project);
	}

	/* image: pulled with the submitter's identity, pinned to its digest */
	if (image && (rc = job_image_check(j, c, act, image, r->spec, e)))
		return rc;

	/* inputs: readable by the submitter now (checked again at start) */
	json_t *inputs = json_object_get(req, "inputs");
	int overwrite = 0, present = 0;
	if ((rc = json_opt_bool(req, "overwrite", &overwrite, &present, e)))
		return rc;
	if (!output && !json_array_size(inputs) && !(inputs && !json_is_array(inputs))) {
		/* the common case, checked without a query: no inputs, and a
		 * new output directory named after the new job's id */
		char *outp = xasprintf("/home/%s/jobs/%s", act->username, r->id);
		json_object_set_new(r->spec, "inputs", json_array());
		json_object_set_new(r->spec, "output", json_string(outp));
		json_object_set_new(r->spec, "overwrite", json_boolean(overwrite));
		free(outp);
		return 0;
	}
	struct fs_cred cr;
	if ((rc = fs_cred_load(c, act->uid, act->gid, act->admin, &cr, e)))
		return rc;
	json_t *ins = json_array();
	json_object_set_new(r->spec, "inputs", ins);
	if (inputs && (!json_is_array(inputs) || json_array_size(inputs) > INPUTS_MAX)) {
		rc = err_set(e, COVE_EINVAL, "'inputs' must be an array of at most %d paths",
			     INPUTS_MAX);
		goto out;
	}
	size_t i;
	json_t *in;
	json_array_foreach(inputs, i, in)
	{
		if (!json_is_string(in)) {
			rc = err_set(e, COVE_EINVAL, "'inputs' must contain paths (strings)");
			goto out;
		}
		char *p = fs_path_clean(json_string_value(in), e);
		if (!p) {
			rc = e->code ? e->code : COVE_EINVAL;
			goto out;
		}
		struct fs_attr a;
		rc = fs_resolve(c, &cr, p, &a, e);
		if (!rc && !perm_may(&cr, &a, a.is_dir ? PERM_R | PERM_X : PERM_R))
			rc = err_set(e, COVE_EPERM, "permission denied: cannot read input '%.200s'", p);
		if (!rc && !strcmp(p, "/"))
			rc = err_set(e, COVE_EINVAL, "'/' cannot be an input");
		for (size_t k = 0; !rc && k < json_array_size(ins); k++) {
			const char *o = json_string_value(json_array_get(ins, k));
			if (path_within(p, o) || path_within(o, p))
				rc = err_set(e, COVE_EINVAL, "inputs '%.200s' and '%.200s' overlap", o, p);
		}
		if (rc) {
			free(p);
			goto out;
		}
		json_array_append_new(ins, json_string(p));
		free(p);
	}

	/* output: a new directory, unless overwriting was asked for */
	char *outp = output ? fs_path_clean(output, e)
			    : xasprintf("/home/%s/jobs/%s", act->username, r->id);
	if (!outp) {
		rc = e->code ? e->code : COVE_EINVAL;
		goto out;
	}
	if (!strcmp(outp, "/")) {
		free(outp);
		rc = err_set(e, COVE_EINVAL, "'/' cannot be the output directory");
		goto out;
	}
	struct fs_attr oa;
	struct err oe = {0};
	int orc = fs_resolve(c, &cr, outp, &oa, &oe);
	if (orc == 0 && !oa.is_dir)
		rc = err_set(e, COVE_ECONFLICT, "output '%.200s' exists and is not a directory", outp);
	else if (orc == 0 && !overwrite)
		rc = err_set(e, COVE_ECONFLICT,
			     "output directory '%.200s' exists; choose a new one or ask to "
			     "overwrite (--overwrite)",
			     outp);
	else if (orc && orc != COVE_ENOENT)
		rc = err_set(e, orc, "output '%.200s': %s", outp, oe.msg);
	for (size_t k = 0; !rc && k < json_array_size(ins); k++) {
		const char *o = json_string_value(json_array_get(ins, k));
		if (path_within(outp, o) || path_within(o, outp))
			rc = err_set(e, COVE_EINVAL, "output '%.200s' overlaps input '%.200s'",
				     outp, o);
	}
	json_object_set_new(r->spec, "output", json_string(outp));
	json_object_set_new(r->spec, "overwrite", json_boolean(overwrite));
	free(outp);
out:
	fs_cred_free(&cr);
	return rc;
}

struct jobs_submission {
	struct submit s;
	struct actor act;
	jobs_done_fn done;
	void *arg;
	int rc;
	struct err e;
	struct jobs_submission *next;
};

int jobs_submit_check(struct jobs *j, const struct actor *act, json_t *req,
		      const char *idem_key, struct jobs_submission **out,
		      struct err *e)
{
	if (idem_key && (!*idem_key || strlen(idem_key) > 255))
		return err_set(e, COVE_EINVAL, "Idempotency-Key must be 1 to 255 characters");
	/* backpressure before any work */
	int mine = 0;
	int all = engine_count_queued(j, act->uid, &mine);
	if (all >= j->opt.max_queued || mine >= j->opt.max_queued_user) {
		e->retry_after = 10;
		return err_set(e, COVE_ETOOMANY,
			       mine >= j->opt.max_queued_user
				       ? "you have %d jobs waiting, the most allowed; retry later"
				       : "%d jobs are waiting, the most allowed; retry later",
			       mine >= j->opt.max_queued_user ? mine : all);
	}
	struct jobs_submission *p = xcalloc(1, sizeof(*p));
	struct dbconn *c = db_get(j->db);
	/* only inputs, an output of one's own and a project need the
	 * database (one snapshot for them all) */
	int reads = json_object_get(req, "inputs") || json_object_get(req, "output") ||
		    json_object_get(req, "project");
	if (reads)
		db_read_begin(c);
	int rc = submit_prepare(j, c, act, req, &p->s, e);
	if (reads)
		db_read_end(c);
	db_put(j->db, c);
	if (rc) {
		jobrec_free(&p->s.rec);
		free(p);
		return rc;
	}
	p->act = *act;
	if (idem_key) {
		p->s.idem_key = xstrdup(idem_key);
		char *canon = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
		sha256_hex(canon, strlen(canon), p->s.idem_hash);
		free(canon);
	}
	*out = p;
	return 0;
}

void jobs_submit_commit(struct jobs *j, struct jobs_submission *p, jobs_done_fn done,
			void *arg)
{
	p->done = done;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&j->commit_mu);
	*j->commit_tail = p;
	j->commit_tail = &p->next;
	pthread_cond_signal(&j->commit_cv);
	pthread_mutex_unlock(&j->commit_mu);
}

/* The answer to one committed submission; frees p. */
static void submission_answer(struct jobs *j, struct dbconn *c, struct jobs_submission *p)
{
	json_t *out = NULL;
	struct buf text = {0};
	int rc = p->rc;
	if (!rc && p->s.replayed) {
		rc = jobs_get(j, c, &p->act, p->s.existing, &out, &p->e);
		char *t = rc ? NULL : json_dumps(out, JSON_COMPACT);
		json_decref(out);
		if (t)
			buf_adds(&text, t);
		free(t);
	} else if (!rc) {
		/* written straight out: building and freeing a jansson tree for
		 * every submission cost a tenth of the server's time */
		jobrec_json_buf(&p->s.rec, &text);
		text.len--; /* the closing brace: the history follows */
		buf_adds(&text, ",\"history\":[{\"at\":");
		buf_json_time_ms(&text, p->s.rec.submitted_ms);
		buf_adds(&text, ",\"state\":\"queued\",\"reason\":\"submitted\"}]}");
	}
	p->done(p->arg, rc, rc ? NULL : buf_detach(&text),
		p->s.replayed ? p->s.existing : p->s.rec.id, p->s.replayed, &p->e);
	buf_free(&text);
	jobrec_free(&p->s.rec);
	free((char *)p->s.idem_key);
	free(p);
}

#define COMMIT_BATCH 512

/*
 * The committer: takes every submission waiting, inserts them in one
 * transaction (each in its own savepoint, so one failure does not undo the
 * others), commits once, queues them for the engine and answers each. No
 * thread waits on it: the HTTP connections are suspended meanwhile.
 */
static void *committer_main(void *arg)
{
	struct jobs *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->commit_mu);
		while (!j->commit_head && !j->commit_stop)
			pthread_cond_wait(&j->commit_cv, &j->commit_mu);
		struct jobs_submission *batch = j->commit_head, *last = NULL, *p;
		int n = 0;
		for (p = batch; p && n < COMMIT_BATCH; p = p->next, n++)
			last = p;
		if (last) {
			j->commit_head = last->next;
			if (!j->commit_head)
				j->commit_tail = &j->commit_head;
			last->next = NULL;
		}
		int stop = j->commit_stop && !batch;
		pthread_mutex_unlock(&j->commit_mu);
		if (stop)
			break;

		struct dbconn *c = db_get(j->db);
		struct err te = {0};
		int trc = db_begin(c, &te);
		int projects = 0;
		for (p = batch; p; p = p->next) {
			if (trc) {
				p->rc = trc;
				p->e = te;
				continue;
			}
			/* no savepoint: a refused INSERT (a replayed idempotency
			 * key) undoes only itself in SQLite, and the one other
			 * failure, of the disk, fails the whole transaction */
			p->rc = insert_fn(c, &p->s, &p->e);
			projects |= !p->rc && p->s.rec.project != NULL;
		}
		if (!trc && (trc = db_commit(c, &te)))
			for (p = batch; p; p = p->next)
				if (!p->rc) {
					p->rc = trc;
					p->e = te;
				}
		/* a project made (or its quotas changed) since the last load */
		if (projects)
			catalog_load(j, NULL);
		pthread_mutex_lock(&j->mu);
		for (p = batch; p; p = p->next) {
			if (p->rc || p->s.replayed)
				continue;
			struct qjob q = {0};
			snprintf(q.id, sizeof(q.id), "%s", p->s.rec.id);
			q.s.uid = p->s.rec.uid;
			q.s.priority = p->s.rec.priority;
			q.s.cpu_milli = p->s.rec.cpu_milli;
			q.s.memory = p->s.rec.memory;
			q.s.seq = p->s.rec.seq;
			q.s.queue = queue_index(j, p->s.rec.queue);
			q.s.project = p->s.rec.project ? project_index(j, p->s.rec.project) : -1;
			engine_enqueue_locked(j, &q);
		}
		pthread_mutex_unlock(&j->mu);
		engine_wake(j); /* once for the batch */
		while (batch) {
			p = batch;
			batch = batch->next;
			submission_answer(j, c, p);
		}
		db_put(j->db, c);
	}
	return NULL;
}

int committer_start(struct jobs *j, struct err *e)
{
	pthread_mutex_init(&j->commit_mu, NULL);
	pthread_cond_init(&j->commit_cv, NULL);
	j->commit_tail = &j->commit_head;
	if (pthread_create(&j->committer, NULL, committer_main, j))
		return err_set(e, COVE_EINTERNAL, "cannot start the job committer");
	j->committer_started = 1;
	return 0;
}

/* Answers what is still waiting, then stops. */
void committer_stop(struct jobs *j)
{
	if (!j->committer_started)
		return;
	pthread_mutex_lock(&j->commit_mu);
	j->commit_stop = 1;
	pthread_cond_broadcast(&j->commit_cv);
	pthread_mutex_unlock(&j->commit_mu);
	pthread_join(j->committer, NULL);
	j->committer_started = 0;
	pthread_mutex_destroy(&j->commit_mu);
	pthread_cond_destroy(&j->commit_cv);
}

int jobs_project_release(struct dbconn *c, const char *project, struct err *e)
{
	int64_t active = 0;
	int rc = db_query_int(c, e, &active,
			      "SELECT count(*) FROM jobs WHERE project = ? AND state IN "
			      "('queued', 'starting', 'running')",
			      "s", project);
	if (rc < 0)
		return rc;
	if (active > 0)
		return err_set(e, COVE_ECONFLICT,
			       "project '%s' has %lld active jobs: cancel them (or let them "
			       "end) first",
			       project, (long long)active);
	rc = db_exec(c, e, "UPDATE jobs SET project = NULL WHERE project = ?", "s", project);
	return rc < 0 ? rc : 0;
}

static int cancel_queued_fn(struct dbconn *c, void *arg, struct err *e)
{
	const char **a = arg;
	int rc = db_exec(c, e, "UPDATE jobs SET finished_at = ? WHERE id = ?", "is",
			 time_now_ms(), a[0]);
	if (rc < 0)
		return rc;
	return job_set_state(c, a[0], "cancelled", a[1], e);
}

int jobs_cancel(struct jobs *j, const struct actor *act, const char *id,
		json_t **out, struct err *e)
{
	struct dbconn *c = db_get(j->db);
	struct jobrec r;
	char *reason = NULL;
	int access;
	int rc = job_load_visible(c, act, id, &r, &access, e);
	if (rc)
		goto out_put;
	if (!(access & JOB_CANCEL)) {
		rc = err_set(e, COVE_EPERM,
			     "permission denied: %s's job is cancelled by them, or by an owner "
			     "or maintainer of project '%s'",
			     r.user, r.project);
		goto out;
	}
	if (jobs_is_terminal(r.state)) {
		rc = err_set(e, COVE_ECONFLICT, "job %s is already %s", id, r.state);
		goto out;
	}
	reason = xasprintf("cancelled by %s", act->username);
	if (engine_unqueue(j, id)) {
		const char *a[2] = {id, reason};
		if ((rc = db_batch_run(j->batch, c, cancel_queued_fn, a, e)))
			goto out;
		if (j->on_change)
			j->on_change(j->on_change_arg);
	} else {
		db_exec(c, NULL, "UPDATE jobs SET cancel_requested = 1, reason = ? WHERE id = ?",
			"ss", reason, id);
		char *dir = job_dir(j, id);
		if (j->exec)
			rc = exec_cancel(j->exec, dir, e);
		free(dir);
		if (rc)
			goto out;
	}
	rc = jobs_get(j, c, act, id, out, e);
out:
	jobrec_free(&r);
out_put:
	free(reason);
	db_put(j->db, c);
	return rc;
}
