/*
 * job_cmds.c - batch jobs from the command line: run (submit, and with
 * --wait follow the job's log live and exit with its status), jobs, job,
 * logs (-f follows), cancel and wait.
 *
 * Three exchanges need more than cli_call offers, so they go through
 * job_exchange here: the submission (an Idempotency-Key header, and 429
 * answers retried after Retry-After), the long poll of `wait` (longer
 * than cli_call's 30 s limit) and the log stream (Server-Sent Events,
 * read as they come and resumed with Last-Event-ID after a drop).
 *
 * How a finished job maps to the exit status of run --wait and wait is
 * decided once, in job_exit_status. Paths of inputs and outputs are made
 * absolute here (relative to /home/<user>) as the file commands do; the
 * server decides what may be read and written.
 */
#include "cli/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define JOB_SUBMIT_TRIES 6       /* the first try and five retries */
#define JOB_RETRY_AFTER_MAX 60   /* seconds we wait on one Retry-After */
#define JOB_STREAM_TRIES 8       /* log-stream reconnects without progress */
#define JOB_POLL_TRIES 6         /* failed long polls in a row */
#define JOB_WAIT_MAX 60          /* seconds of one long poll (the server's cap) */
#define JOB_STALL_SECONDS 120    /* a stream silent this long (no ping) is dead */
#define JOB_MAX_EVENT (16 << 20) /* bytes of one SSE line or event */
#define JOB_MAX_ANSWER (16 << 20)

/* Exit statuses of run --wait and wait for jobs that ended badly without
 * an exit code of their own: as timeout(1) and a shell's Ctrl-C do. */
#define JOB_EXIT_TIMED_OUT 124
#define JOB_EXIT_CANCELLED 130

/* ---- small helpers ------------------------------------------------------- */

static const char *job_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int job_state_terminal(const char *s)
{
	static const char *const done[] = {"succeeded", "failed", "cancelled",
					   "timed_out", "lost"};
	for (size_t i = 0; s && i < sizeof(done) / sizeof(done[0]); i++)
		if (!strcmp(s, done[i]))
			return 1;
	return 0;
}

static void job_sleep(double seconds)
{
	struct timespec ts = {(time_t)seconds,
			      (long)((seconds - (double)(time_t)seconds) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* An RFC 3339 UTC time ("2026-11-25T10:00:00.123Z") as Unix seconds
 * with its fraction. 0, or -1 when v is not such a time. */
static int job_time_parse(const json_t *v, double *out)
{
	const char *s = json_string_value(v);
	struct tm tm = {0};
	int n = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (double)t;
	if (s[n] == '.')
		*out += strtod(s + n, NULL);
	return 0;
}

/* A time as local "2026-03-01 14:05:09" (seconds when with_sec), or "-". */
static void job_time_local(const json_t *v, int with_sec, char out[32])
{
	double d;
	struct tm local;
	snprintf(out, 32, "-");
	if (job_time_parse(v, &d) < 0)
		return;
	time_t t = (time_t)d;
	if (localtime_r(&t, &local))
		strftime(out, 32, with_sec ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M",
			 &local);
}

/* See internal.h. */
void cli_duration_format(double s, char out[32])
{
	long long n = (long long)s;
	if (s < 0)
		snprintf(out, 32, "-");
	else if (s < 10 && s != floor(s))
		snprintf(out, 32, "%.1fs", s);
	else if (n < 60)
		snprintf(out, 32, "%llds", n);
	else if (n < 3600)
		snprintf(out, 32, "%lldm%02llds", n / 60, n % 60);
	else if (n < 86400)
		snprintf(out, 32, "%lldh%02lldm", n / 3600, n % 3600 / 60);
	else
		snprintf(out, 32, "%lldd%02lldh", n / 86400, n % 86400 / 3600);
}

/* How long a job ran: started to finished, or to now while it runs. */
static void job_elapsed(const json_t *j, char out[32])
{
	double from, to;
	snprintf(out, 32, "-");
	if (job_time_parse(json_object_get(j, "started_at"), &from) < 0)
		return;
	if (job_time_parse(json_object_get(j, "finished_at"), &to) < 0) {
		if (job_state_terminal(job_str(j, "state")))
			return;
		to = (double)time_now();
	}
	cli_duration_format(to > from ? to - from : 0, out);
}

/* ---- remote paths -------------------------------------------------------- */

/* The caller's home, asked of the server once, when a relative path
 * first needs it. Caller frees *home. */
static int job_home(struct client *c, char **home, struct err *e)
{
	json_t *me = NULL;
	if (*home)
		return 0;
	int rc = cli_call(c, "GET", "/v1/me", NULL, &me, e);
	if (rc)
		return rc;
	const char *u = job_str(me, "username");
	if (u && *u && !strchr(u, '/'))
		*home = xasprintf("/home/%s", u);
	else
		rc = err_set(e, CLI_EFAIL, "the server did not say who you are");
	json_decref(me);
	return rc;
}

/* arg as an absolute, normalised path of the file space: a relative one
 * starts at home; "." and empty components go, ".." climbs (never above
 * "/"). Caller frees *out. */
static int job_abs_path(struct client *c, char **home, const char *arg,
			char **out, struct err *e)
{
	struct buf b = {0};
	int rc;
	if (arg[0] != '/') {
		if ((rc = job_home(c, home, e)))
			return rc;
		buf_adds(&b, *home);
	}
	for (const char *s = arg; *s;) {
		s += strspn(s, "/");
		size_t n = strcspn(s, "/");
		if (n == 2 && !strncmp(s, "..", 2)) {
			char *up = b.len ? strrchr(b.data, '/') : NULL;
			if (up) {
				b.len = (size_t)(up - b.data);
				b.data[b.len] = '\0';
			}
		} else if (n && !(n == 1 && *s == '.')) {
			buf_addc(&b, '/');
			buf_add(&b, s, n);
		}
		s += n;
	}
	if (!b.len)
		buf_addc(&b, '/');
	*out = buf_detach(&b);
	return 0;
}

/* ---- one exchange with headers of our own, maybe streamed ---------------- */

/* What to send. headers are extra "Name: value" lines (NULL-ended, or
 * NULL). A 2xx answer goes to sink as it arrives when sink is set (it
 * returns 0 to go on, 1 to stop: the answer is complete for it, -1 to
 * fail, e filled); otherwise it is collected. */
struct job_req {
	const char *method;
	const char *path;
	const char *json; /* body, or NULL */
	const char *const *headers;
	long timeout; /* seconds for the whole exchange; 0: a stream */
	int (*sink)(void *arg, const char *data, size_t len, struct err *e);
	void *arg;
};

/* What came back. */
struct job_ans {
	long status;     /* 0: no answer */
	int retry_after; /* seconds, -1 when not said */
	struct buf body; /* a collected answer: JSON or a problem */
	int64_t sunk;    /* bytes handed to the sink */
	int sink_rc;     /* the sink's non-zero answer, which stopped curl */
	struct err sink_err;
	CURLcode cc;
	char errbuf[CURL_ERROR_SIZE];
	/* private to the callbacks */
	const struct job_req *rq;
};

static size_t job_ans_header(char *h, size_t size, size_t n, void *arg)
{
	struct job_ans *x = arg;
	size_t len = size * n;
	if (len > 9 && !strncmp(h, "HTTP/", 5)) {
		const char *sp = memchr(h, ' ', len);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->retry_after = -1;
	} else if (len > 12 && !strncasecmp(h, "Retry-After:", 12)) {
		const char *v = h + 12;
		while (v < h + len && (*v == ' ' || *v == '\t'))
			v++;
		/* delta-seconds only; an HTTP date counts as "not said" */
		if (v < h + len && isdigit((unsigned char)*v))
			x->retry_after = (int)strtol(v, NULL, 10);
	}
	return len;
}

static size_t job_ans_write(char *data, size_t size, size_t n, void *arg)
{
	struct job_ans *x = arg;
	size_t len = size * n;
	if (x->rq->sink && x->status >= 200 && x->status < 300) {
		x->sunk += (int64_t)len;
		x->sink_rc = x->rq->sink(x->rq->arg, data, len, &x->sink_err);
		return x->sink_rc ? 0 : len;
	}
	if (x->body.len + len > JOB_MAX_ANSWER)
		return 0;
	buf_add(&x->body, data, len);
	return len;
}

static void job_send_once(struct client *c, const struct job_req *rq,
			  const char *token, struct job_ans *x)
{
	CURL *h = c->curl;
	char *url = xasprintf("%s%s", c->server, rq->path);
	char *auth = xasprintf("Authorization: Bearer %s", token);
	struct curl_slist *hdr = curl_slist_append(NULL, auth);
	cli_secret_free(auth);
	hdr = curl_slist_append(hdr, "Expect:");
	for (const char *const *p = rq->headers; p && *p; p++)
		hdr = curl_slist_append(hdr, *p);
	if (rq->json)
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
	buf_reset(&x->body);
	x->status = 0;
	x->retry_after = -1;
	x->sunk = 0;
	x->sink_rc = 0;
	x->rq = rq;
	x->errbuf[0] = '\0';
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	cli_client_tls(c, h);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cove-cli/0.1");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, job_ans_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, job_ans_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (rq->timeout > 0) {
		curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->timeout);
	} else {
		/* a stream has no end in sight; its keep-alives prove it lives */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)JOB_STALL_SECONDS);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	}
	if (strcmp(rq->method, "GET"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	if (rq->json) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(rq->json));
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->json);
	}
	x->cc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	free(url);
}

/*
 * Send rq with the bearer token (renewed when about to expire, and once
 * more after a 401 when nothing was streamed yet). Fails only when no
 * token can be had; x tells the rest: status 0 and cc for no answer, a
 * 2xx streamed to the sink or collected, anything else collected.
 * Free x->body.
 */
static int job_exchange(struct client *c, const struct job_req *rq,
			struct job_ans *x, struct err *e)
{
	const char *token = NULL;
	int rc;
	if ((rc = cli_token(c, 0, &token, e)))
		return rc;
	job_send_once(c, rq, token, x);
	if (x->status == 401 && !c->env_token && !x->sunk) {
		if ((rc = cli_token(c, 1, &token, e)))
			return rc;
		job_send_once(c, rq, token, x);
	}
	return 0;
}

/* The one-line reason of an exchange that did not give a 2xx answer. */
static int job_ans_err(const struct client *c, const struct job_ans *x,
		       struct err *e)
{
	if (x->sink_rc < 0) {
		*e = x->sink_err;
		return e->code ? e->code : CLI_EFAIL;
	}
	if (x->status == 401 && !c->env_token)
		return err_set(e, CLI_EFAIL, "session expired, run 'cove login'");
	if (x->status >= 300 || (x->status && x->status < 200)) {
		struct cli_response rs = {.status = x->status, .body = x->body};
		return cli_problem(&rs, e);
	}
	if (x->cc == CURLE_WRITE_ERROR && !x->sink_rc)
		return err_set(e, CLI_EFAIL, "the answer of %s is too large", c->server);
	return cli_client_reach_err(c, x->cc, x->errbuf, e);
}

/* 1 when an answer says "try again shortly": throttled or unavailable. */
static int job_ans_transient(const struct job_ans *x)
{
	return x->status == 429 || x->status == 502 || x->status == 503 ||
	       x->status == 504;
}

/* 1 when the request may not have reached the server at all; retrying
 * is pointless when it surely did not (no such host, connection refused). */
static int job_ans_dropped(const struct job_ans *x)
{
	return !x->status && x->cc != CURLE_OK && x->cc != CURLE_COULDNT_RESOLVE_HOST &&
	       x->cc != CURLE_COULDNT_CONNECT && x->cc != CURLE_UNSUPPORTED_PROTOCOL &&
	       x->cc != CURLE_URL_MALFORMAT;
}

/* A collected 2xx answer as JSON. */
static int job_ans_json(const struct job_ans *x, json_t **out, struct err *e)
{
	if (x->cc != CURLE_OK || x->status < 200 || x->status > 299)
		return err_set(e, CLI_EFAIL, "the server's answer was cut short");
	if (!(*out = json_loadb(buf_str(&x->body), x->body.len, 0, NULL)))
		return err_set(e, CLI_EFAIL, "the server's answer is not JSON");
	return 0;
}

/* ---- how a job ends ------------------------------------------------------ */

/*
 * The exit status for a job that ended in state with exit_code (NULL or
 * null when it has none) and reason: 0 when it succeeded; otherwise e
 * says "job ID STATE: REASON" and the status is the job's own exit code
 * (1..255) when it failed with one, 124 for timed_out, 130 for cancelled,
 * else 1.
 */
static int job_exit_status(const char *id, const char *state,
			   const json_t *exit_code, const char *reason,
			   struct err *e)
{
	json_int_t code = json_is_integer(exit_code) ? json_integer_value(exit_code)
						     : -1;
	int rc = CLI_EFAIL;
	if (state && !strcmp(state, "succeeded"))
		return 0;
	if (state && !strcmp(state, "failed") && code >= 1 && code <= 255)
		rc = (int)code;
	else if (state && !strcmp(state, "timed_out"))
		rc = JOB_EXIT_TIMED_OUT;
	else if (state && !strcmp(state, "cancelled"))
		rc = JOB_EXIT_CANCELLED;
	if (reason && *reason)
		err_set(e, rc, "job %s %s: %s", id, state ? state : "ended", reason);
	else if (code >= 0)
		err_set(e, rc, "job %s %s: exit code %" JSON_INTEGER_FORMAT, id,
			state ? state : "ended", code);
	else
		err_set(e, rc, "job %s %s", id, state ? state : "ended");
	return rc;
}

/* ---- log records ----------------------------------------------------------- */

/* Where log lines go: the text alone to stdout or stderr by stream, the
 * raw record ("TIME O text") with timestamps, or JSON lines with json. */
struct log_out {
	int timestamps;
	int json;
	int werr; /* errno of a failed write to stdout */
};

static void log_emit(struct log_out *o, const char *t, int is_err,
		     const char *text, size_t len)
{
	FILE *f = stdout;
	if (o->json) {
		json_t *r = json_pack("{s:s,s:s,s:s%}", "t", t ? t : "", "stream",
				      is_err ? "stderr" : "stdout", "line", text, len);
		if (!r) /* not UTF-8: the line as the server sent it is lost */
			r = json_pack("{s:s,s:s,s:s}", "t", t ? t : "", "stream",
				      is_err ? "stderr" : "stdout", "line", "");
		json_dumpf(r, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(r);
	} else if (o->timestamps) {
		fprintf(stdout, "%s %c ", t ? t : "-", is_err ? 'E' : 'O');
		fwrite(text, 1, len, stdout);
		fputc('\n', stdout);
	} else {
		f = is_err ? stderr : stdout;
		fwrite(text, 1, len, f);
		fputc('\n', f);
	}
	if (ferror(stdout) && !o->werr)
		o->werr = errno ? errno : EIO;
}

/* One record of the plain log, "TIME O text" (without its newline). A
 * line of another shape is shown whole, as stdout. */
static void log_record(struct log_out *o, const char *s, size_t len)
{
	const char *sp = memchr(s, ' ', len);
	if (!sp || (size_t)(sp - s) + 2 > len || (sp[1] != 'O' && sp[1] != 'E') ||
	    ((size_t)(sp - s) + 2 < len && sp[2] != ' ')) {
		log_emit(o, NULL, 0, s, len);
		return;
	}
	if (o->timestamps) {
		/* the raw record, exactly */
		fwrite(s, 1, len, stdout);
		fputc('\n', stdout);
		if (ferror(stdout) && !o->werr)
			o->werr = errno ? errno : EIO;
		return;
	}
	char *t = xstrndup(s, (size_t)(sp - s));
	size_t skip = (size_t)(sp - s) + 2 + ((size_t)(sp - s) + 2 < len);
	log_emit(o, t, sp[1] == 'E', s + skip, len - skip);
	free(t);
}

/* The plain log arriving in chunks: whole lines are shown at once. */
struct log_plain {
	struct log_out out;
	struct buf line;
};

static int log_plain_sink(void *arg, const char *data, size_t len,
			  struct err *e)
{
	struct log_plain *p = arg;
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		buf_add(&p->line, data, n);
		if (!nl)
			break;
		log_record(&p->out, buf_str(&p->line), p->line.len);
		buf_reset(&p->line);
		data += n + 1;
		len -= n + 1;
	}
	fflush(stdout);
	if (p->out.werr) {
		err_set(e, CLI_EFAIL, "cannot write standard output: %s",
			strerror(p->out.werr));
		return -1;
	}
	return 0;
}

/* ---- the log stream (Server-Sent Events) ------------------------------------ */

/*
 * A parser of text/event-stream: lines of "field: value", events ended
 * by an empty line, comments (": ping") skipped. The id of the last
 * whole event is kept for resuming. The handler sees each event's name
 * and data; what it does with them is the follower's business.
 */
struct follow {
	struct log_out out;
	struct buf line;  /* the line being received */
	struct buf data;  /* the data of the event being received */
	char event[32];   /* its name ("message" when none was given) */
	char id[64];      /* its id */
	char last_id[64]; /* id of the last event handled: where to resume */
	int64_t events;   /* events handled on this connection */
	int ended;        /* the end event came */
	json_t *end;      /* its data: state, exit_code, reason */
};

static void follow_reset_event(struct follow *f)
{
	buf_reset(&f->data);
	f->event[0] = '\0';
	f->id[0] = '\0';
}

/* Handle a whole event: 1 when it was the end, -1 on a failed write. */
static int follow_event(struct follow *f, struct err *e)
{
	const char *name = f->event[0] ? f->event : "message";
	json_t *d = json_loadb(buf_str(&f->data), f->data.len, 0, NULL);
	int rc = 0;
	if (f->id[0])
		snprintf(f->last_id, sizeof(f->last_id), "%s", f->id);
	f->events++;
	if (!strcmp(name, "log") && json_is_object(d)) {
		const json_t *line = json_object_get(d, "line");
		const char *st = job_str(d, "stream");
		log_emit(&f->out, job_str(d, "t"), st && !strcmp(st, "stderr"),
			 json_string_value(line) ? json_string_value(line) : "",
			 json_string_length(line));
		if (f->out.werr) {
			err_set(e, CLI_EFAIL, "cannot write standard output: %s",
				strerror(f->out.werr));
			rc = -1;
		}
	} else if (!strcmp(name, "end")) {
		f->ended = 1;
		json_decref(f->end);
		f->end = json_is_object(d) ? json_incref(d) : json_object();
		rc = 1;
	}
	/* other events (and malformed data) are not ours to show */
	json_decref(d);
	follow_reset_event(f);
	return rc;
}

/* One line of the stream, its end of line removed. */
static int follow_line(struct follow *f, const char *s, size_t len,
		       struct err *e)
{
	if (!len)
		return f->data.len || f->event[0] ? follow_event(f, e) : 0;
	if (s[0] == ':')
		return 0; /* a comment: keep-alive */
	const char *colon = memchr(s, ':', len);
	size_t flen = colon ? (size_t)(colon - s) : len;
	const char *v = colon ? colon + 1 : s + len;
	if (v < s + len && *v == ' ')
		v++;
	size_t vlen = (size_t)(s + len - v);
	if (flen == 5 && !strncmp(s, "event", 5)) {
		snprintf(f->event, sizeof(f->event), "%.*s", (int)vlen, v);
	} else if (flen == 4 && !strncmp(s, "data", 4)) {
		if (f->data.len)
			buf_addc(&f->data, '\n');
		buf_add(&f->data, v, vlen);
		/* an empty data line still makes an event */
		if (!f->data.len)
			buf_addc(&f->data, ' ');
	} else if (flen == 2 && !strncmp(s, "id", 2) && !memchr(v, '\0', vlen)) {
		snprintf(f->id, sizeof(f->id), "%.*s", (int)vlen, v);
	}
	return 0;
}

static int follow_sink(void *arg, const char *data, size_t len, struct err *e)
{
	struct follow *f = arg;
	int rc = 0;
	while (len && !rc) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		if (f->line.len + n > JOB_MAX_EVENT ||
		    f->data.len + f->line.len + n > JOB_MAX_EVENT) {
			err_set(e, CLI_EFAIL, "a log event of the server is too large");
			return -1;
		}
		buf_add(&f->line, data, n);
		if (!nl)
			break;
		size_t l = f->line.len;
		if (l && f->line.data[l - 1] == '\r')
			l--;
		rc = follow_line(f, buf_str(&f->line), l, e);
		buf_reset(&f->line);
		data += n + 1;
		len -= n + 1;
	}
	fflush(stdout);
	return rc;
}

static void follow_free(struct follow *f)
{
	buf_free(&f->line);
	buf_free(&f->data);
	json_decref(f->end);
}

/*
 * Stream the log of job id until its end event, which *end receives
 * (the caller decrefs). A dropped stream is resumed after the last event
 * shown (Last-Event-ID); up to JOB_STREAM_TRIES drops in a row without a
 * new event are borne, with a growing pause between them.
 */
static int job_follow(struct client *c, const char *id, struct log_out out,
		      json_t **end, struct err *e)
{
	struct follow f = {.out = out};
	struct job_ans x = {0};
	char *path = cli_path(c, "/v1/jobs/%s/logs?follow=1", id);
	int rc = 0, tries = 0;
	*end = NULL;
	for (;;) {
		char *resume = f.last_id[0] ? xasprintf("Last-Event-ID: %s", f.last_id)
					    : NULL;
		const char *headers[] = {"Accept: text/event-stream", resume, NULL};
		struct job_req rq = {"GET", path, NULL, headers, 0, follow_sink, &f};
		buf_reset(&f.line);
		follow_reset_event(&f);
		f.events = 0;
		rc = job_exchange(c, &rq, &x, e);
		free(resume);
		if (rc)
			break;
		if (f.ended)
			break;
		if (x.sink_rc < 0 || (x.status && !job_ans_transient(&x) &&
				      (x.status < 200 || x.status > 299)) ||
		    (!x.status && !job_ans_dropped(&x) && !tries)) {
			/* refused, a local failure, or no server there at all */
			rc = job_ans_err(c, &x, e);
			break;
		}
		/* the stream broke off (or the server asked us to come back) */
		tries = f.events ? 1 : tries + 1;
		if (tries > JOB_STREAM_TRIES) {
			if (x.status >= 200 && x.status < 300)
				rc = err_set(e, CLI_EFAIL,
					     "the log stream of job %s keeps breaking off", id);
			else
				rc = job_ans_err(c, &x, e);
			break;
		}
		job_sleep(x.retry_after > 0 && x.retry_after < JOB_RETRY_AFTER_MAX
				  ? x.retry_after
				  : tries < 5 ? 0.5 * tries : 3);
	}
	if (!rc) {
		*end = f.end;
		f.end = NULL;
	}
	buf_free(&x.body);
	free(path);
	follow_free(&f);
	return rc;
}

/* ---- run ------------------------------------------------------------------ */

static const struct cli_flag run_flags[] = {
	{"i", "PATH", CLI_FLAG_LIST, "an input file or directory (read-only in the job)"},
	{"o", "DIR", CLI_FLAG_VALUE, "the output directory, written when the job ends"},
	{"overwrite", NULL, CLI_FLAG_BOOL, "replace an existing output directory"},
	{"cpu", "N", CLI_FLAG_VALUE, "CPUs (1.5 is allowed)"},
	{"mem", "SIZE", CLI_FLAG_VALUE, "memory: 2G, 512M or bytes"},
	{"time", "DUR", CLI_FLAG_VALUE, "wall-time limit: 90s, 15m, 2h, 1d"},
	{"queue", "Q", CLI_FLAG_VALUE, "the queue (default: the server's)"},
	{"priority", "P", CLI_FLAG_VALUE, "priority within the queue (integer)"},
	{"env", "K=V", CLI_FLAG_LIST, "an environment variable of the job"},
	{"name", "N", CLI_FLAG_VALUE, "a name for the job"},
	{"project", "P", CLI_FLAG_VALUE, "the project the job counts against"},
	{"image", "REF", CLI_FLAG_VALUE,
	 "run inside this registry image (PROJECT/REPO:TAG or @sha256:...): the "
	 "app's command runs on the image's files instead of the host's"},
	{"label", "K=V", CLI_FLAG_LIST, "a label"},
	{"wait", NULL, CLI_FLAG_BOOL,
	 "follow the job's output and exit with its status (with --json: print "
	 "the finished job instead of its output)"},
	{0},
};

int cli_arg_pairs(const struct cli_args *a, const char *flag, json_t **out,
		  struct err *e)
{
	const char *kv;
	*out = NULL;
	for (int i = 0; (kv = cli_arg_nth(a, flag, i)); i++) {
		const char *eq = strchr(kv, '=');
		if (!eq || eq == kv) {
			json_decref(*out);
			*out = NULL;
			return cli_usage_err(a, e, "bad --%s '%s': use KEY=VALUE", flag, kv);
		}
		if (!*out)
			*out = json_object();
		char *k = xstrndup(kv, (size_t)(eq - kv));
		json_object_set_new(*out, k, json_string(eq + 1));
		free(k);
	}
	return 0;
}

int cli_cpu_parse(const char *s, json_t **out)
{
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(d) || d <= 0 || d > 1e6)
		return -1;
	/* a whole number goes as an integer, a fraction as a real */
	*out = d == floor(d) ? json_integer((json_int_t)d) : json_real(d);
	return 0;
}

/* The resource and placement flags of run into body. */
static int run_resources(const struct cli_args *a, json_t *body, struct err *e)
{
	const char *s;
	int64_t v;
	if ((s = cli_arg_get(a, "cpu"))) {
		json_t *cpu;
		if (cli_cpu_parse(s, &cpu) < 0)
			return cli_usage_err(a, e, "bad --cpu '%s': use a number such as 2 or 0.5",
					     s);
		json_object_set_new(body, "cpu", cpu);
	}
	if ((s = cli_arg_get(a, "mem"))) {
		if (cli_size_parse(s, &v) < 0 || v <= 0)
			return cli_usage_err(a, e, "bad --mem '%s': use 2G, 512M or bytes", s);
		json_object_set_new(body, "memory", json_integer(v));
	}
	if ((s = cli_arg_get(a, "time"))) {
		if ((v = duration_parse(s)) <= 0)
			return cli_usage_err(a, e, "bad --time '%s': use 90s, 15m, 2h or 1d", s);
		json_object_set_new(body, "time", json_integer(v));
	}
	if ((s = cli_arg_get(a, "priority"))) {
		char *end;
		errno = 0;
		long long p = strtoll(s, &end, 10);
		if (!*s || *end || errno)
			return cli_usage_err(a, e, "bad --priority '%s': use a whole number", s);
		json_object_set_new(body, "priority", json_integer(p));
	}
	static const char *const plain[][2] = {
		{"queue", "queue"}, {"name", "name"}, {"project", "project"},
		{"image", "image"}};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if ((s = cli_arg_get(a, plain[i][0]))) {
			if (!*s)
				return cli_usage_err(a, e, "--%s needs a value", plain[i][0]);
			json_object_set_new(body, plain[i][1], json_string(s));
		}
	return 0;
}

/* The body of POST /v1/jobs from run's command line into *out. */
static int run_body(struct client *c, const struct cli_args *a, json_t **out,
		    struct err *e)
{
	json_t *body = json_object(), *args = json_array(), *inputs = NULL;
	json_t *env = NULL, *labels = NULL;
	char *home = NULL, *p = NULL;
	const char *s;
	int rc;
	for (int i = 1; i < a->npos; i++)
		json_array_append_new(args, json_string(a->pos[i]));
	json_object_set_new(body, "app", json_string(a->pos[0]));
	json_object_set_new(body, "args", args);
	if ((rc = run_resources(a, body, e)) || (rc = cli_arg_pairs(a, "env", &env, e)) ||
	    (rc = cli_arg_pairs(a, "label", &labels, e)))
		goto out;
	if (env)
		json_object_set_new(body, "env", env);
	if (labels)
		json_object_set_new(body, "labels", labels);
	for (int i = 0; (s = cli_arg_nth(a, "i", i)); i++) {
		if (!*s) {
			rc = cli_usage_err(a, e, "-i needs a path");
			goto out;
		}
		if ((rc = job_abs_path(c, &home, s, &p, e)))
			goto out;
		if (!inputs)
			inputs = json_array();
		json_array_append_new(inputs, json_string(p));
		free(p);
		p = NULL;
	}
	if (inputs)
		json_object_set_new(body, "inputs", json_incref(inputs));
	if ((s = cli_arg_get(a, "o"))) {
		if (!*s) {
			rc = cli_usage_err(a, e, "-o needs a directory");
			goto out;
		}
		if ((rc = job_abs_path(c, &home, s, &p, e)))
			goto out;
		json_object_set_new(body, "output", json_string(p));
	}
	json_object_set_new(body, "overwrite", json_boolean(cli_arg_has(a, "overwrite")));
out:
	json_decref(inputs);
	free(home);
	free(p);
	if (rc)
		json_decref(body);
	else
		*out = body;
	return rc;
}

/*
 * POST the job. One random Idempotency-Key for all tries of this run, so
 * a retry after a lost answer cannot submit twice. A saturated server
 * (429, 503) is asked again after its Retry-After; after JOB_SUBMIT_TRIES
 * its reason is ours.
 */
static int run_submit(struct client *c, json_t *body, json_t **job,
		      struct err *e)
{
	char *text = json_dumps(body, JSON_COMPACT);
	char *key = token_new("", 18);
	char *hkey = key ? xasprintf("Idempotency-Key: %s", key) : NULL;
	const char *headers[] = {"Accept: application/json, application/problem+json",
				 hkey, NULL};
	struct job_req rq = {"POST", "/v1/jobs", text, headers, 60, NULL, NULL};
	struct job_ans x = {0};
	int rc = 0;
	for (int t = 1;; t++) {
		if ((rc = job_exchange(c, &rq, &x, e)))
			break;
		if (x.status >= 200 && x.status < 300) {
			rc = job_ans_json(&x, job, e);
			break;
		}
		if (t >= JOB_SUBMIT_TRIES || !(job_ans_transient(&x) || job_ans_dropped(&x))) {
			rc = job_ans_err(c, &x, e);
			break;
		}
		int wait = x.retry_after >= 0 ? x.retry_after : t;
		job_sleep(wait < 1 ? 1 : wait > JOB_RETRY_AFTER_MAX ? JOB_RETRY_AFTER_MAX
								    : wait);
	}
	buf_free(&x.body);
	free(hkey);
	free(key);
	free(text);
	return rc;
}

static int job_wait_until(struct client *c, const char *id, int64_t timeout,
			  json_t **job, struct err *e);

static int cmd_run(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *body = NULL, *job = NULL, *end = NULL;
	int rc = run_body(c, a, &body, e);
	if (rc)
		return rc;
	rc = run_submit(c, body, &job, e);
	json_decref(body);
	if (rc)
		goto out;
	const char *id = job_str(job, "id");
	if (!id || !*id) {
		rc = err_set(e, CLI_EFAIL, "the server's answer has no job id");
		goto out;
	}
	if (!cli_arg_has(a, "wait")) {
		if (c->json)
			cli_print_json(job);
		else
			printf("%s\n", id);
		goto out;
	}
	if (c->json) {
		/* scripts get the finished job, not its output mixed in */
		json_t *done = NULL;
		if ((rc = job_wait_until(c, id, -1, &done, e)))
			goto out;
		cli_print_json(done);
		rc = job_exit_status(id, job_str(done, "state"),
				     json_object_get(done, "exit_code"),
				     job_str(done, "reason"), e);
		json_decref(done);
		goto out;
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "job %s submitted\n", id);
	struct log_out out = {0};
	if ((rc = job_follow(c, id, out, &end, e)))
		goto out;
	rc = job_exit_status(id, job_str(end, "state"), json_object_get(end, "exit_code"),
			     job_str(end, "reason"), e);
out:
	json_decref(end);
	json_decref(job);
	return rc;
}

/* ---- jobs -------------------------------------------------------------------- */

static const struct cli_flag jobs_flags[] = {
	{"state", "S", CLI_FLAG_VALUE,
	 "only jobs in this state: queued, starting, running, succeeded, failed, "
	 "cancelled, timed_out, lost"},
	{"queue", "Q", CLI_FLAG_VALUE, "only jobs of this queue"},
	{"project", "P", CLI_FLAG_VALUE,
	 "the jobs of project P (every member's; you must be in it)"},
	{"app", "A", CLI_FLAG_VALUE, "only jobs of application A"},
	{"user", "U", CLI_FLAG_VALUE,
	 "only this user's jobs (administrators; others within --project or --scope all)"},
	{"scope", "own|all", CLI_FLAG_VALUE,
	 "own: your jobs (the default); all: yours and your projects' (administrators: "
	 "everyone's, their default)"},
	{"limit", "N", CLI_FLAG_VALUE, "at most N jobs (default: all)"},
	{0},
};

static int cmd_jobs(struct client *c, const struct cli_args *a, struct err *e)
{
	static const char *const filters[] = {"state", "queue", "project", "app", "user",
					      "scope"};
	struct buf q = {0};
	json_t *list = NULL, *j;
	const char *s;
	int64_t limit = 0;
	size_t i;
	int rc;
	if ((s = cli_arg_get(a, "limit")) && (cli_count_parse(s, &limit) < 0 || !limit))
		return cli_usage_err(a, e, "bad --limit '%s': use a positive number", s);
	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if ((s = cli_arg_get(a, filters[i]))) {
			char *esc = cli_path(c, "=%s", s);
			buf_addf(&q, "&%s%s", filters[i], esc);
			free(esc);
		}
	if (limit) {
		char *path = xasprintf("/v1/jobs?limit=%lld%s", (long long)limit, buf_str(&q));
		rc = cli_call(c, "GET", path, NULL, &list, e);
		free(path);
		/* one page: the server's cursor is of no use here */
		json_t *items = json_object_get(list, "items");
		while (!rc && json_array_size(items) > (size_t)limit)
			json_array_remove(items, json_array_size(items) - 1);
	} else {
		rc = cli_call_list(c, "/v1/jobs", buf_str(&q), &list, e);
	}
	buf_free(&q);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
		json_decref(list);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 9, "ID", "NAME", "APP", "USER", "PROJECT", "QUEUE", "STATE",
		       "SUBMITTED", "DURATION");
	json_array_foreach(json_object_get(list, "items"), i, j)
	{
		char when[32], took[32];
		job_time_local(json_object_get(j, "submitted_at"), 0, when);
		job_elapsed(j, took);
		cli_table_add_json(&t, json_object_get(j, "id"));
		cli_table_add_json(&t, json_object_get(j, "name"));
		cli_table_add_json(&t, json_object_get(j, "app"));
		cli_table_add_json(&t, json_object_get(j, "user"));
		cli_table_add_json(&t, json_object_get(j, "project"));
		cli_table_add_json(&t, json_object_get(j, "queue"));
		cli_table_add_json(&t, json_object_get(j, "state"));
		cli_table_add(&t, when);
		cli_table_add(&t, took);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	json_decref(list);
	return 0;
}

/* ---- job ------------------------------------------------------------------- */

/* A size that may be bytes or already a string such as "2G". */
static void job_size_cell(struct cli_table *t, const json_t *v)
{
	char s[32];
	if (json_is_integer(v)) {
		cli_size_format(json_integer_value(v), s);
		cli_table_add(t, s);
	} else {
		cli_table_add_json(t, v);
	}
}

static void job_row_time(struct cli_table *t, const char *key, const json_t *j,
			 const char *field)
{
	char when[32];
	job_time_local(json_object_get(j, field), 1, when);
	cli_table_add(t, key);
	cli_table_add(t, when);
}

static void job_print(const json_t *j)
{
	const json_t *res = json_object_get(j, "resources");
	const json_t *use = json_object_get(j, "usage");
	const json_t *v, *h;
	struct cli_table t;
	char took[32];
	size_t i;
	cli_table_init_kv(&t);
	cli_table_kv(&t, "id", j, "id");
	cli_table_kv(&t, "name", j, "name");
	cli_table_kv(&t, "app", j, "app");
	cli_table_kv(&t, "user", j, "user");
	cli_table_kv(&t, "project", j, "project");
	if (json_is_string(json_object_get(j, "image"))) {
		cli_table_kv(&t, "image", j, "image");
		cli_table_kv(&t, "image digest", j, "image_digest");
	}
	cli_table_kv(&t, "queue", j, "queue");
	cli_table_kv(&t, "priority", j, "priority");
	cli_table_kv(&t, "state", j, "state");
	cli_table_kv(&t, "reason", j, "reason");
	cli_table_kv(&t, "exit code", j, "exit_code");
	if (json_integer_value(json_object_get(j, "signal")))
		cli_table_kv(&t, "signal", j, "signal");
	cli_table_kv(&t, "attempt", j, "attempt");
	job_row_time(&t, "submitted", j, "submitted_at");
	job_row_time(&t, "started", j, "started_at");
	job_row_time(&t, "finished", j, "finished_at");
	job_elapsed(j, took);
	cli_table_add(&t, "duration");
	cli_table_add(&t, took);
	cli_table_add(&t, "args");
	cli_table_add_json(&t, json_object_get(j, "args"));
	cli_table_kv(&t, "inputs", j, "inputs");
	cli_table_add(&t, "output");
	v = json_object_get(j, "output");
	if (json_string_value(v) && json_integer_value(json_object_get(j, "output_files")))
		cli_table_addf(&t, "%s (%" JSON_INTEGER_FORMAT " files)",
			       json_string_value(v),
			       json_integer_value(json_object_get(j, "output_files")));
	else
		cli_table_add_json(&t, v);
	if (job_str(j, "output_error"))
		cli_table_kv(&t, "output error", j, "output_error");
	cli_table_kv(&t, "cpu", res, "cpu");
	cli_table_add(&t, "memory");
	job_size_cell(&t, json_object_get(res, "memory"));
	cli_table_add(&t, "time limit");
	v = json_object_get(res, "time");
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		cli_duration_format((double)json_integer_value(v), took);
		cli_table_add(&t, took);
	} else {
		cli_table_add(&t, json_is_integer(v) ? "unlimited" : "-");
	}
	cli_table_kv(&t, "processes", res, "pids");
	cli_table_add(&t, "scratch");
	job_size_cell(&t, json_object_get(res, "scratch"));
	cli_table_add(&t, "cpu used");
	v = json_object_get(use, "cpu_seconds");
	if (json_is_number(v)) {
		cli_duration_format(json_number_value(v), took);
		cli_table_add(&t, took);
	} else {
		cli_table_add(&t, "-");
	}
	cli_table_add(&t, "peak memory");
	job_size_cell(&t, json_object_get(use, "peak_memory"));
	if (json_object_size(json_object_get(j, "env")))
		cli_table_kv(&t, "env", j, "env");
	if (json_object_size(json_object_get(j, "labels")))
		cli_table_kv(&t, "labels", j, "labels");
	cli_table_print(&t, stdout);
	cli_table_free(&t);

	printf("\n");
	cli_table_init(&t, 3, "TIME", "STATE", "REASON");
	json_array_foreach(json_object_get(j, "history"), i, h)
	{
		char when[32];
		job_time_local(json_object_get(h, "at"), 1, when);
		cli_table_add(&t, when);
		cli_table_add_json(&t, json_object_get(h, "state"));
		cli_table_add_json(&t, json_object_get(h, "reason"));
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int cmd_job(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *j = NULL;
	char *path = cli_path(c, "/v1/jobs/%s", a->pos[0]);
	int rc = cli_call(c, "GET", path, NULL, &j, e);
	free(path);
	if (rc)
		return rc;
	if (c->json)
		cli_print_json(j);
	else
		job_print(j);
	json_decref(j);
	return 0;
}

/* ---- logs ------------------------------------------------------------------- */

static const struct cli_flag logs_flags[] = {
	{"f", NULL, CLI_FLAG_BOOL, "follow: keep printing new lines until the job ends"},
	{"timestamps", NULL, CLI_FLAG_BOOL,
	 "print the records with their time and stream (O or E)"},
	{0},
};

static int cmd_logs(struct client *c, const struct cli_args *a, struct err *e)
{
	struct log_out out = {.timestamps = cli_arg_has(a, "timestamps"),
			      .json = c->json};
	int rc;
	if (cli_arg_has(a, "f")) {
		json_t *end = NULL;
		rc = job_follow(c, a->pos[0], out, &end, e);
		json_decref(end);
		return rc;
	}
	struct log_plain p = {.out = out};
	struct job_ans x = {0};
	char *path = cli_path(c, "/v1/jobs/%s/logs", a->pos[0]);
	const char *headers[] = {"Accept: text/plain, application/problem+json", NULL};
	struct job_req rq = {"GET", path, NULL, headers, 0, log_plain_sink, &p};
	if (!(rc = job_exchange(c, &rq, &x, e)) &&
	    (x.cc != CURLE_OK || x.status < 200 || x.status > 299))
		rc = job_ans_err(c, &x, e);
	if (!rc && p.line.len) /* a last record without its newline */
		rc = log_plain_sink(&p, "\n", 1, e) ? CLI_EFAIL : 0;
	buf_free(&p.line);
	buf_free(&x.body);
	free(path);
	return rc;
}

/* ---- cancel ------------------------------------------------------------------- */

static int cmd_cancel(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *j = NULL;
	char *path = cli_path(c, "/v1/jobs/%s/cancel", a->pos[0]);
	int rc = cli_call(c, "POST", path, NULL, &j, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, j, "Cancelled job %s (%s)", a->pos[0],
			       job_str(j, "state") ? job_str(j, "state") : "cancelling");
	json_decref(j);
	return rc;
}

/* ---- wait --------------------------------------------------------------------- */

/*
 * Long-poll GET /v1/jobs/{id}?wait=S until the job is over, or until
 * timeout seconds passed (-1: no limit; 0: look once without waiting).
 * *job gets the last answer; a job still going at the deadline is a
 * failure ("job ID is still running after 90s").
 * Transient failures (a dropped connection, 429, 503) are borne
 * JOB_POLL_TRIES times in a row.
 */
static int job_wait_until(struct client *c, const char *id, int64_t timeout,
			  json_t **job, struct err *e)
{
	double deadline = timeout >= 0 ? time_mono() + (double)timeout : 0;
	struct job_ans x = {0};
	const char *headers[] = {"Accept: application/json, application/problem+json",
				 NULL};
	int rc = 0, fails = 0, seen = 0;
	*job = NULL;
	for (;;) {
		long w = JOB_WAIT_MAX;
		if (deadline) {
			double left = deadline - time_mono();
			w = left <= 0 ? 0 : left < JOB_WAIT_MAX ? (long)ceil(left) : JOB_WAIT_MAX;
		}
		char *n = xasprintf("%ld", w);
		char *path = cli_path(c, "/v1/jobs/%s?wait=%s", id, n);
		struct job_req rq = {"GET", path, NULL, headers, w + 30, NULL, NULL};
		rc = job_exchange(c, &rq, &x, e);
		free(path);
		free(n);
		if (rc)
			break;
		if (x.status >= 200 && x.status < 300 && x.cc == CURLE_OK) {
			json_decref(*job);
			*job = NULL;
			if ((rc = job_ans_json(&x, job, e)))
				break;
			fails = 0;
			seen = 1;
			if (job_state_terminal(job_str(*job, "state")))
				break;
			if (deadline && time_mono() >= deadline) {
				char took[32];
				cli_duration_format((double)timeout, took);
				rc = err_set(e, CLI_EFAIL, "job %s is still %s after %s", id,
					     job_str(*job, "state") ? job_str(*job, "state")
								     : "running",
					     took);
				break;
			}
			continue;
		}
		/* a refused connection after an answer: the server restarts */
		if (++fails >= JOB_POLL_TRIES ||
		    !(job_ans_transient(&x) || job_ans_dropped(&x) || (seen && !x.status) ||
		      (x.status >= 200 && x.status < 300))) {
			rc = job_ans_err(c, &x, e);
			break;
		}
		job_sleep(x.retry_after > 0 && x.retry_after < JOB_RETRY_AFTER_MAX
				  ? x.retry_after
				  : fails);
	}
	buf_free(&x.body);
	if (rc) {
		json_decref(*job);
		*job = NULL;
	}
	return rc;
}

static const struct cli_flag wait_flags[] = {
	{"timeout", "DUR", CLI_FLAG_VALUE,
	 "give up after this long (90s, 15m, 2h); default: wait for ever"},
	{0},
};

static int cmd_wait(struct client *c, const struct cli_args *a, struct err *e)
{
	const char *s = cli_arg_get(a, "timeout");
	int64_t timeout = -1;
	json_t *j = NULL;
	if (s && (timeout = duration_parse(s)) < 0)
		return cli_usage_err(a, e, "bad --timeout '%s': use 90s, 15m, 2h or 1d", s);
	int rc = job_wait_until(c, a->pos[0], timeout, &j, e);
	if (rc)
		return rc;
	const char *id = job_str(j, "id") ? job_str(j, "id") : a->pos[0];
	if (c->json)
		cli_print_json(j);
	else
		printf("%s %s\n", id, job_str(j, "state") ? job_str(j, "state") : "-");
	rc = job_exit_status(id, job_str(j, "state"), json_object_get(j, "exit_code"),
			     job_str(j, "reason"), e);
	json_decref(j);
	return rc;
}

/* ---- the table ------------------------------------------------------------------ */

const struct cli_cmd cli_job_cmds[] = {
	{"run", "APP [--] [SCRIPT-OR-ARGS...]", 1, 4096, run_flags, cmd_run, NULL,
	 "run a job: 'cove run bash -i data.csv -o out -- wc -l {input}'"},
	{"jobs", "", 0, 0, jobs_flags, cmd_jobs, NULL, "list jobs"},
	{"job", "ID", 1, 1, NULL, cmd_job, NULL,
	 "show a job: state, exit code, resources, history"},
	{"logs", "ID", 1, 1, logs_flags, cmd_logs, NULL,
	 "print a job's output (stdout and stderr as they were)"},
	{"cancel", "ID", 1, 1, NULL, cmd_cancel, NULL, "cancel a queued or running job"},
	{"wait", "ID", 1, 1, wait_flags, cmd_wait, NULL,
	 "wait for a job to end and exit with its status"},
	{0},
};
