/*
 * api.c - HTTP handlers of jobs, applications and queues: /v1/jobs (submit,
 * list, get with an optional long poll, cancel, logs as text or followed
 * as Server-Sent Events), /v1/apps and /v1/queues (everyone reads, admins
 * change). Translates requests into jobs.h calls; no SQL of its own.
 */
#include "http/http.h"
#include "jobs/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOBS(r) ((r)->srv->jobs)
#define WAIT_MAX 60
#define PING_SECONDS 15.0

static int jobs_ready(struct req *r)
{
	if (JOBS(r))
		return 1;
	reply_problem(r, 503, "the jobs engine is not running");
	return 0;
}

/* ---- jobs -------------------------------------------------------------------------- */

/* A submission's outcome, from the committer to the event loop. */
struct submitted {
	int rc;
	char *text; /* the job, as JSON */
	char loc[64];
	int replayed;
	struct err e;
};

/* On the event loop, once the committer resumed the connection. */
static void submit_reply(struct req *r)
{
	struct submitted *d = r->resume_arg;
	r->resume_arg = NULL;
	if (d->rc) {
		reply_err(r, &d->e);
	} else {
		reply_text(r, 201, "application/json", d->text, strlen(d->text));
		reply_header(r, "Location", d->loc);
		if (d->replayed)
			reply_header(r, "Idempotent-Replayed", "true");
	}
	free(d->text);
	free(d);
}

/* Called by the committer once the job is durable (or refused). */
static void submit_done(void *arg, int rc, char *text, const char *id, int replayed,
			const struct err *e)
{
	struct submitted *d = xcalloc(1, sizeof(*d));
	d->rc = rc ? rc : text ? 0 : COVE_EINTERNAL;
	d->text = text;
	snprintf(d->loc, sizeof(d->loc), "/v1/jobs/%s", id ? id : "");
	d->replayed = replayed;
	if (e)
		d->e = *e;
	req_resume_with(arg, submit_reply, d);
}

static void post_jobs(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	json_t *body = req_json(r, &e);
	if (!body) {
		reply_err(r, &e);
		return;
	}
	struct jobs_submission *sub = NULL;
	if (jobs_submit_check(JOBS(r), &r->actor, body, req_header(r, "Idempotency-Key"),
			      &sub, &e)) {
		reply_err(r, &e);
		return;
	}
	/* durable before acknowledged: the committer answers after its
	 * commit; the connection waits off the event loop meanwhile */
	req_suspend(r);
	jobs_submit_commit(JOBS(r), sub, submit_done, r);
}

static void get_jobs(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	struct jobs_filter f = {
		.state = req_query(r, "state"),
		.queue = req_query(r, "queue"),
		.user = req_query(r, "user"),
		.project = req_query(r, "project"),
		.app = req_query(r, "app"),
		.scope = req_query(r, "scope"),
		.cursor = req_query(r, "cursor"),
	};
	if (req_limit(r, &f.limit, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	json_t *out = NULL;
	db_read_begin(c);
	int rc = jobs_list(JOBS(r), c, &r->actor, &f, &out, &e);
	db_read_end(c);
	db_put(r->srv->db, c);
	if (rc)
		reply_err(r, &e);
	else
		reply_json(r, 200, out);
}

/* A response waiting for something: a long poll or a log stream. The
 * pending bytes are handed out as the connection can take them. */
struct pending {
	struct buf b;
	size_t off;
};

static long pending_take(struct pending *p, char *buf, size_t max)
{
	size_t n = p->b.len - p->off;
	if (n > max)
		n = max;
	memcpy(buf, p->b.data + p->off, n);
	p->off += n;
	if (p->off == p->b.len) {
		buf_reset(&p->b);
		p->off = 0;
	}
	return (long)n;
}

struct waiter {
	struct server *srv;
	struct actor actor;
	char id[32];
	double deadline;
	int done;
	struct pending out;
};

static long wait_fill(void *ctx, char *buf, size_t max)
{
	struct waiter *w = ctx;
	if (w->out.b.len)
		return pending_take(&w->out, buf, max);
	if (w->done)
		return -1;
	if (!jobs_is_over(w->srv->jobs, w->id) && time_mono() < w->deadline &&
	    !w->srv->stopping)
		return 0;
	struct err e = {0};
	json_t *o = NULL;
	struct dbconn *c = db_get(w->srv->db);
	int rc = jobs_get(w->srv->jobs, c, &w->actor, w->id, &o, &e);
	db_put(w->srv->db, c);
	char *s = rc ? xasprintf("{\"id\":\"%s\",\"error\":\"vanished\"}", w->id)
		     : json_dumps(o, JSON_COMPACT);
	json_decref(o);
	buf_adds(&w->out.b, s);
	free(s);
	w->done = 1;
	return pending_take(&w->out, buf, max);
}

static void wait_free(void *ctx)
{
	struct waiter *w = ctx;
	buf_free(&w->out.b);
	free(w);
}

static void get_job(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	const char *id = req_param(r, "id");
	const char *wait = req_query(r, "wait");
	long secs = 0;
	if (wait) {
		char *end;
		secs = strtol(wait, &end, 10);
		if (*end || secs < 0 || !*wait) {
			reply_problem(r, 400, "'wait' is a number of seconds (0 to %d)", WAIT_MAX);
			return;
		}
		if (secs > WAIT_MAX)
			secs = WAIT_MAX;
	}
	struct dbconn *c = db_get(r->srv->db);
	json_t *out = NULL;
	int rc = jobs_get(JOBS(r), c, &r->actor, id, &out, &e);
	db_put(r->srv->db, c);
	if (rc) {
		reply_err(r, &e);
		return;
	}
	const char *state = json_string_value(json_object_get(out, "state"));
	int over = strcmp(state, "queued") && strcmp(state, "starting") && strcmp(state, "running");
	if (!secs || over) {
		reply_json(r, 200, out);
		return;
	}
	json_decref(out);
	struct waiter *w = xcalloc(1, sizeof(*w));
	w->srv = r->srv;
	w->actor = r->actor;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->deadline = time_mono() + (double)secs;
	reply_stream(r, 200, "application/json", wait_fill, wait_free, w);
}

static void post_cancel(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	json_t *out = NULL;
	if (jobs_cancel(JOBS(r), &r->actor, req_param(r, "id"), &out, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, out);
}

/* ---- logs ---------------------------------------------------------------------------- */

struct logstream {
	struct server *srv;
	struct actor actor;
	char id[32];
	char *path;
	int fd;
	int64_t off;       /* bytes of the log consumed (whole lines) */
	struct buf line;   /* a line not yet complete */
	struct pending out;
	double last_write;
	uint64_t gen;      /* identity generation when access was last checked */
	double checked;    /* and when (time_mono) */
	int drained;       /* the job was over and a read found nothing more */
	int ended;
};

/* Still allowed to follow? Checked again when users, groups, projects or
 * sessions changed (the identity generation moved), at most once a second
 * (every login moves it, and a busy server has many streams): a member
 * removed from the job's project stops receiving its log within a second. */
#define RECHECK_SECONDS 1.0
static int log_allowed(struct logstream *ls)
{
	uint64_t gen = db_gen(ls->srv->db, DB_GEN_IDENTITY);
	if (gen == ls->gen || time_mono() - ls->checked < RECHECK_SECONDS)
		return 1;
	ls->checked = time_mono();
	char *path = NULL;
	struct err e = {0};
	struct dbconn *c = db_get(ls->srv->db);
	int rc = jobs_log_path(ls->srv->jobs, c, &ls->actor, ls->id, &path, &e);
	db_put(ls->srv->db, c);
	free(path);
	if (rc == COVE_ENOENT)
		return 0;
	ls->gen = gen; /* other failures: try again at the next change */
	return 1;
}

/* One record "TS X text" as an SSE event whose id is the offset after it. */
static void sse_event(struct logstream *ls, const char *rec, size_t len)
{
	const char *sp = memchr(rec, ' ', len);
	const char *ts = rec, *text = "";
	size_t tslen = len, textlen = 0;
	const char *stream = "stdout";
	if (sp && (size_t)(sp - rec) + 2 <= len) {
		tslen = (size_t)(sp - rec);
		stream = sp[1] == 'E' ? "stderr" : "stdout";
		text = sp + 2 + ((size_t)(sp - rec) + 2 < len && sp[2] == ' ');
		textlen = len - (size_t)(text - rec);
	}
	char *t = xstrndup(ts, tslen), *l = xstrndup(text, textlen);
	buf_adds(&ls->out.b, "id: ");
	buf_add_int(&ls->out.b, ls->off);
	buf_adds(&ls->out.b, "\nevent: log\ndata: {\"t\":");
	buf_json_str(&ls->out.b, t);
	buf_adds(&ls->out.b, ",\"stream\":\"");
	buf_adds(&ls->out.b, stream);
	buf_adds(&ls->out.b, "\",\"line\":");
	/* the log is bytes; JSON needs UTF-8 */
	if (!utf8_valid(l, strlen(l)))
		for (char *p = l; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	buf_json_str(&ls->out.b, l);
	buf_adds(&ls->out.b, "}\n\n");
	free(t);
	free(l);
}

static void sse_end(struct logstream *ls)
{
	struct err e = {0};
	json_t *o = NULL;
	struct dbconn *c = db_get(ls->srv->db);
	int rc = jobs_get(ls->srv->jobs, c, &ls->actor, ls->id, &o, &e);
	db_put(ls->srv->db, c);
	json_t *end = rc ? json_pack("{s:s}", "state", "unknown")
			 : json_pack("{s:O,s:O,s:O}", "state", json_object_get(o, "state"),
				     "exit_code", json_object_get(o, "exit_code"), "reason",
				     json_object_get(o, "reason"));
	char *s = json_dumps(end, JSON_COMPACT);
	buf_adds(&ls->out.b, "event: end\ndata: ");
	buf_adds(&ls->out.b, s);
	buf_adds(&ls->out.b, "\n\n");
	free(s);
	json_decref(end);
	json_decref(o);
	ls->ended = 1;
}

/* Read what the log has gained; 1 when something was read. */
static int log_read(struct logstream *ls)
{
	if (ls->fd < 0) {
		free(ls->path);
		struct dbconn *c = db_get(ls->srv->db);
		struct err e = {0};
		int rc = jobs_log_path(ls->srv->jobs, c, &ls->actor, ls->id, &ls->path, &e);
		db_put(ls->srv->db, c);
		if (rc) {
			ls->path = NULL;
			return 0;
		}
		ls->fd = open(ls->path, O_RDONLY | O_CLOEXEC);
		if (ls->fd < 0)
			return 0;
		if (lseek(ls->fd, ls->off, SEEK_SET) < 0) {
			ls->off = 0;
			lseek(ls->fd, 0, SEEK_SET);
		}
	}
	char tmp[16384];
	ssize_t n = read(ls->fd, tmp, sizeof(tmp));
	if (n <= 0)
		return 0;
	size_t start = 0;
	for (size_t i = 0; i < (size_t)n; i++)
		if (tmp[i] == '\n') {
			buf_add(&ls->line, tmp + start, i - start);
			ls->off += (int64_t)(ls->line.len + 1);
			sse_event(ls, buf_str(&ls->line), ls->line.len);
			buf_reset(&ls->line);
			start = i + 1;
		}
	buf_add(&ls->line, tmp + start, (size_t)n - start);
	return 1;
}

static long log_fill(void *ctx, char *buf, size_t max)
{
	struct logstream *ls = ctx;
	for (;;) {
		if (ls->out.b.len) {
			ls->last_write = time_mono();
			return pending_take(&ls->out, buf, max);
		}
		if (ls->ended || ls->srv->stopping || !log_allowed(ls))
			return -1;
		int over = jobs_is_over(ls->srv->jobs, ls->id);
		if (log_read(ls))
			continue;
		if (over) {
			/* read once more after seeing it over: nothing may be left behind */
			if (!ls->drained) {
				ls->drained = 1;
				continue;
			}
			if (ls->line.len) {
				ls->off += (int64_t)ls->line.len;
				sse_event(ls, buf_str(&ls->line), ls->line.len);
				buf_reset(&ls->line);
			}
			sse_end(ls);
			continue;
		}
		if (time_mono() - ls->last_write > PING_SECONDS) {
			buf_adds(&ls->out.b, ": ping\n\n");
			continue;
		}
		return 0;
	}
}

static void log_free(void *ctx)
{
	struct logstream *ls = ctx;
	if (ls->fd >= 0)
		close(ls->fd);
	free(ls->path);
	buf_free(&ls->line);
	buf_free(&ls->out.b);
	free(ls);
}

static void get_logs(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	const char *id = req_param(r, "id");
	char *path = NULL;
	uint64_t gen = db_gen(r->srv->db, DB_GEN_IDENTITY); /* before the check */
	struct dbconn *c = db_get(r->srv->db);
	int rc = jobs_log_path(JOBS(r), c, &r->actor, id, &path, &e);
	db_put(r->srv->db, c);
	if (rc) {
		reply_err(r, &e);
		return;
	}
	const char *follow = req_query(r, "follow");
	const char *accept = req_header(r, "Accept");
	int sse = (follow && strcmp(follow, "0") && strcmp(follow, "false")) ||
		  (accept && strstr(accept, "text/event-stream"));
	if (!sse) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		free(path);
		struct stat sb;
		if (fd < 0 || fstat(fd, &sb) < 0) {
			if (fd >= 0)
				close(fd);
			reply_text(r, 200, "text/plain; charset=utf-8", "", 0);
			return;
		}
		reply_fd(r, 200, "text/plain; charset=utf-8", fd, 0, (uint64_t)sb.st_size);
		return;
	}
	free(path);
	struct logstream *ls = xcalloc(1, sizeof(*ls));
	ls->srv = r->srv;
	ls->actor = r->actor;
	ls->fd = -1;
	ls->gen = gen;
	snprintf(ls->id, sizeof(ls->id), "%s", id);
	/* resume after the last event the client saw */
	const char *after = req_header(r, "Last-Event-ID");
	if (!after)
		after = req_query(r, "after");
	if (after) {
		char *end;
		long long v = strtoll(after, &end, 10);
		if (*end || v < 0) {
			free(ls);
			reply_problem(r, 400, "'after' (or Last-Event-ID) is a byte offset");
			return;
		}
		ls->off = v;
	}
	ls->last_write = time_mono();
	buf_adds(&ls->out.b, "retry: 1000\n\n");
	reply_stream(r, 200, "text/event-stream", log_fill, log_free, ls);
}

/* ---- applications and queues --------------------------------------------------------------- */

static void catalog_reply(struct req *r, int rc, json_t *out, const struct err *e,
			  int status)
{
	if (rc)
		reply_err(r, e);
	else if (out)
		reply_json(r, status, out);
	else
		reply_empty(r, 204);
}

static void audit(struct req *r, struct dbconn *c, const char *action, const char *target,
		  int ok, const struct err *e)
{
	auth_audit(c, &r->actor, action, target, ok, ok ? "" : e->msg);
}

static void get_apps(struct req *r)
{
	struct err e = {0};
	json_t *out = NULL;
	struct dbconn *c = db_get(r->srv->db);
	int rc = apps_list(c, &out, &e);
	db_put(r->srv->db, c);
	catalog_reply(r, rc, out, &e, 200);
}

static void get_app(struct req *r)
{
	struct err e = {0};
	json_t *out = NULL;
	struct dbconn *c = db_get(r->srv->db);
	int rc = apps_get(c, req_param(r, "name"), &out, &e);
	db_put(r->srv->db, c);
	catalog_reply(r, rc, out, &e, 200);
}

static void put_app_common(struct req *r, const char *name, int create)
{
	struct err e = {0};
	json_t *body = req_json(r, &e);
	if (!body) {
		reply_err(r, &e);
		return;
	}
	if (!name) {
		const char *n = NULL;
		if (json_req_str(body, "name", &n, &e)) {
			reply_err(r, &e);
			return;
		}
		name = n;
	}
	json_t *out = NULL;
	struct dbconn *c = db_get(r->srv->db);
	int rc = apps_put(c, name, body, create, &out, &e);
	audit(r, c, create ? "app.create" : "app.replace", name, !rc, &e);
	if (!rc && JOBS(r))
		jobs_apps_changed(JOBS(r));
	db_put(r->srv->db, c);
	catalog_reply(r, rc, out, &e, create ? 201 : 200);
}

static void post_apps(struct req *r)
{
	put_app_common(r, NULL, 1);
}

static void put_app(struct req *r)
{
	put_app_common(r, req_param(r, "name"), 0);
}

static void delete_app(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(r->srv->db);
	int rc = apps_delete(c, req_param(r, "name"), &e);
	audit(r, c, "app.delete", req_param(r, "name"), !rc, &e);
	if (!rc && JOBS(r))
		jobs_apps_changed(JOBS(r));
	db_put(r->srv->db, c);
	catalog_reply(r, rc, NULL, &e, 204);
}

static void get_queues(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	json_t *out = NULL;
	struct dbconn *c = db_get(r->srv->db);
	int rc = queues_list(JOBS(r), c, &out, &e);
	db_put(r->srv->db, c);
	catalog_reply(r, rc, out, &e, 200);
}

static void get_queue(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	json_t *out = NULL;
	struct dbconn *c = db_get(r->srv->db);
	int rc = queues_get(JOBS(r), c, req_param(r, "name"), &out, &e);
	db_put(r->srv->db, c);
	catalog_reply(r, rc, out, &e, 200);
}

static void queue_change(struct req *r, const char *name, int create)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	json_t *body = req_json(r, &e);
	if (!body) {
		reply_err(r, &e);
		return;
	}
	if (!name) {
		const char *n = NULL;
		if (json_req_str(body, "name", &n, &e)) {
			reply_err(r, &e);
			return;
		}
		name = n;
	}
	json_t *out = NULL;
	struct dbconn *c = db_get(r->srv->db);
	int rc = queues_put(JOBS(r), c, name, body, create, &out, &e);
	audit(r, c, create ? "queue.create" : "queue.update", name, !rc, &e);
	db_put(r->srv->db, c);
	catalog_reply(r, rc, out, &e, create ? 201 : 200);
}

static void post_queues(struct req *r)
{
	queue_change(r, NULL, 1);
}

static void patch_queue(struct req *r)
{
	queue_change(r, req_param(r, "name"), 0);
}

static void delete_queue(struct req *r)
{
	if (!jobs_ready(r))
		return;
	struct err e = {0};
	struct dbconn *c = db_get(r->srv->db);
	int rc = queues_delete(JOBS(r), c, req_param(r, "name"), &e);
	audit(r, c, "queue.delete", req_param(r, "name"), !rc, &e);
	db_put(r->srv->db, c);
	catalog_reply(r, rc, NULL, &e, 204);
}

const struct route jobs_routes[] = {
	{"POST", "/v1/jobs", post_jobs, ROUTE_AUTH, NULL},
	{"GET", "/v1/jobs", get_jobs, ROUTE_AUTH, NULL},
	{"GET", "/v1/jobs/{id}", get_job, ROUTE_AUTH, NULL},
	{"POST", "/v1/jobs/{id}/cancel", post_cancel, ROUTE_AUTH, NULL},
	{"GET", "/v1/jobs/{id}/logs", get_logs, ROUTE_AUTH | ROUTE_TOKEN_QUERY, NULL},
	{"GET", "/v1/apps", get_apps, ROUTE_AUTH, NULL},
	{"POST", "/v1/apps", post_apps, ROUTE_ADMIN, NULL},
	{"GET", "/v1/apps/{name}", get_app, ROUTE_AUTH, NULL},
	{"PUT", "/v1/apps/{name}", put_app, ROUTE_ADMIN, NULL},
	{"DELETE", "/v1/apps/{name}", delete_app, ROUTE_ADMIN, NULL},
	{"GET", "/v1/queues", get_queues, ROUTE_AUTH, NULL},
	{"POST", "/v1/queues", post_queues, ROUTE_ADMIN, NULL},
	{"GET", "/v1/queues/{name}", get_queue, ROUTE_AUTH, NULL},
	{"PATCH", "/v1/queues/{name}", patch_queue, ROUTE_ADMIN, NULL},
	{"DELETE", "/v1/queues/{name}", delete_queue, ROUTE_ADMIN, NULL},
	{NULL, NULL, NULL, 0, NULL},
};
