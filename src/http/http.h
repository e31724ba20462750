/*
 * http.h - the HTTP server on libmicrohttpd: routing by method and path
 * pattern, bounded request bodies, authentication of every request,
 * problem+json errors, request ids, access logs and Prometheus metrics.
 *
 * Handlers see a struct req and answer with one reply_* call. The HTTP
 * layer never sees SQL; handlers in each module's api.c turn requests into
 * domain calls and results into JSON.
 */
#ifndef COVE_HTTP_H
#define COVE_HTTP_H

#include "auth/auth.h"
#include "core/core.h"
#include "db/db.h"

struct server;
struct req;

typedef void (*route_fn)(struct req *r);

enum route_flags {
	ROUTE_PUBLIC = 1,    /* no authentication needed */
	ROUTE_AUTH = 2,      /* any authenticated user */
	ROUTE_ADMIN = 4,     /* admins only (and tokens with the admin scope) */
	ROUTE_TEXT = 8,      /* accepts a text/plain body instead of JSON */
	ROUTE_QUIET = 16,    /* not in the access log at info level (probes) */
	ROUTE_HIDDEN = 32,   /* not part of the API document (none yet) */
	/* also accepts ?access_token= (browsers' EventSource cannot send an
	 * Authorization header); only for GET routes that stream */
	ROUTE_TOKEN_QUERY = 64,
};

/*
 * A route that streams its request body (uploads) instead of receiving it
 * whole: begin runs after authentication and before any byte is read (it
 * may reply at once, e.g. 403 or 413, and the body is then never read),
 * data gets each piece as it arrives, end answers once the body is
 * complete, and cleanup always runs last (also when the client vanished).
 */
struct stream_ops {
	int (*begin)(struct req *r);
	int (*data)(struct req *r, const char *buf, size_t len);
	void (*end)(struct req *r);
	void (*cleanup)(struct req *r);
};

struct route {
	const char *method;
	/* "/v1/users/{name}": a braced segment binds one path segment;
	 * "{path*}" (last only) binds the rest, slashes included. */
	const char *pattern;
	route_fn fn;
	unsigned flags;
	const struct stream_ops *stream; /* NULL: body arrives whole */
};

#define ROUTE_PARAMS_MAX 4

struct server {
	struct config *cfg;
	struct db *db;
	struct auth *auth;
	struct MHD_Daemon *mhd;
	volatile int stopping;
	int inflight; /* requests begun and not completed (atomic) */
	int64_t bulk_bodies; /* bodies read by bulk.c (atomic) */
	/* route tables from every module, NULL-ended; flattened at start */
	const struct route **routes;
	size_t nroutes;
	struct metrics *metrics;
	struct files *files;
	struct workers *workers; /* I/O worker pool for req_offload */
	struct streams *streams; /* long-lived responses (stream.c) */
	struct jobs *jobs;
	struct registry *registry;
	int64_t started_ms; /* when server_start ran */
	struct portal *portal; /* the portal's answers, made once (portal.c) */
	struct tls *tls;       /* the https certificate (tls.c); NULL: plain http */
};

/* Start serving on cfg->listen; returns when the daemon runs. With
 * cfg->tls_cert, serves https: the files are read and checked here. */
int server_start(struct server *s, struct err *e);
/* Stop accepting, let in-flight requests finish, free everything. */
void server_stop(struct server *s);
/* SIGHUP: read the TLS certificate and key again (0 without TLS). */
int server_reload_tls(struct server *s, struct err *e);
/* Every route of every module (for `cove routes` and the API test). */
void server_print_routes(FILE *out);

/* ---- inside a handler --------------------------------------------------- */

struct req {
	struct server *srv;
	struct MHD_Connection *conn;
	const struct route *route;
	int route_index;
	const char *method;
	char *path;
	const char *params[ROUTE_PARAMS_MAX]; /* values of {..} segments */
	const char *param_names[ROUTE_PARAMS_MAX];
	struct buf body;
	json_t *json;
	struct actor actor;
	double t0;
	/* reply state */
	int status;
	int replied;
	int queued;    /* handed to MHD */
	int offloaded; /* the handler just called req_offload or req_suspend */
	int skip_body; /* body refused early: consume and drop */
	int bulk;      /* the body is read by a thread of its own (bulk.c) */
	struct MHD_Response *resp;
	int resp_shared; /* resp is kept by its maker (reply_shared): not ours to drop */
	void *stream_ctx; /* owned by the route's stream_ops */
	void (*resume_fn)(struct req *r); /* req_resume_with */
	void *resume_arg;
};

const char *req_param(struct req *r, const char *name);
const char *req_query(struct req *r, const char *key);
const char *req_header(struct req *r, const char *name);
/* The value of the request's cookie name, or NULL. */
const char *req_cookie(struct req *r, const char *name);
/* 0 when the request says it comes from another origin: an Origin header
 * that is not this server's own (scheme, host and port, or --public-url),
 * or Sec-Fetch-Site other than same-origin or none. Requests without
 * either (curl, the CLI) pass: they carry no browser's ambient cookie. */
int req_same_origin(struct req *r);
/* The body as a JSON object (borrowed; NULL with e set when malformed or
 * not an object). An empty body gives an empty object. */
json_t *req_json(struct req *r, struct err *e);
/* ?limit= (1..1000, default 100). COVE_EINVAL when malformed. */
int req_limit(struct req *r, int *limit, struct err *e);

/* Run fn(r) on the I/O worker pool, off the event loop: the connection is
 * suspended meanwhile and resumed when fn has replied. For work that
 * waits on the disk (fsync, group commit). Call at most once per request,
 * as the handler's (or stream end's) last act. */
void req_offload(struct req *r, void (*fn)(struct req *r));

/* Answer later, from another thread: req_suspend takes the connection off
 * the event loop (call it before handing r to anything that may answer),
 * and whoever answers calls reply_* and then req_resume. */
void req_suspend(struct req *r);
/* Called once the header of a streamed request passed req_begin: when
 * the body is big, take it off the event loop (bulk.c). When taken, the
 * connection is suspended and a thread of its own reads the body, answers
 * and resumes it. */
void bulk_take(struct req *r, const char *version);
void req_resume(struct req *r);
/* Resume without an answer yet: fn(r) answers on the event loop's thread
 * when the connection is back (so the answer's JSON is written there, in
 * parallel, not by the thread that resumed it). */
void req_resume_with(struct req *r, void (*fn)(struct req *r), void *arg);

void reply_json(struct req *r, int status, json_t *body); /* steals body */
/*
 * A response produced while it is sent (Server-Sent Events, long polls).
 * fill writes up to max bytes into buf and returns how many; 0 means
 * nothing yet: the connection then sleeps, off the event loop, until the
 * next tick (every 100 ms) or a wake; -1 ends the response; STREAM_ABORT
 * breaks it off (the client sees an incomplete transfer, not an end).
 * free_fn(ctx) runs once when the response is over, also when the client
 * went away or the server stops.
 */
#define STREAM_ABORT (-2)
typedef long (*stream_fill_fn)(void *ctx, char *buf, size_t max);
void reply_stream(struct req *r, int status, const char *ctype,
		  stream_fill_fn fill, void (*free_fn)(void *ctx), void *ctx);
/*
 * The same for a download whose bytes a thread of its own produces (an
 * archive): fill returns 0 while the producer is behind, and the producer
 * calls http_stream_wake(st) when it has bytes again, so the connection
 * sleeps exactly as long as it must. A server stop breaks it off at once
 * (as STREAM_ABORT), since a cut download must not look complete. Returns
 * the stream (valid until free_fn has returned), or NULL when it answered
 * with an error instead (free_fn has then run).
 */
struct stream;
struct stream *reply_stream_download(struct req *r, int status, const char *ctype,
				     stream_fill_fn fill, void (*free_fn)(void *ctx),
				     void *ctx);
/* Wake one stream: callable from any thread until its free_fn returned. */
void http_stream_wake(struct stream *st);
/* Wake every sleeping stream now (for instance when a job changed). */
void http_streams_wake(struct server *s);
int http_streams_start(struct server *s);
void http_streams_stop(struct server *s);
/* Answer with bytes [offset, offset+len) of fd (taken: closed by MHD). */
void reply_fd(struct req *r, int status, const char *ctype, int fd,
	      uint64_t offset, uint64_t len);
void reply_text(struct req *r, int status, const char *ctype, const char *body,
		size_t len);
void reply_empty(struct req *r, int status);
void reply_problem(struct req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Map an error code to its status and reply with e's message. */
void reply_err(struct req *r, const struct err *e);
void reply_header(struct req *r, const char *name, const char *value);
/*
 * Responses carrying user bytes (usercontent.c): never active content in
 * our origin. reply_user_content adds Content-Security-Policy "sandbox;
 * default-src 'none'" and nosniff to the reply just made, and
 * Content-Disposition attachment with name when attachment is set or the
 * name is one a browser would render or run (http_name_is_active).
 */
void reply_user_content(struct req *r, const char *name, int attachment);
/* 1 for names ending (in any case) in .html .htm .xhtml .svg .svgz .xml
 * .xsl .js .mjs. */
int http_name_is_active(const char *name);
/* "<type>; filename=\"<ASCII fallback>\"; filename*=UTF-8''<name
 * percent-encoded>" (RFC 6266, RFC 8187). Caller frees. */
char *http_disposition(const char *type, const char *name);
/* HTTP status for an error code. */
int http_status_for(int code);

/* ---- metrics ------------------------------------------------------------ */
struct metrics *metrics_new(size_t nroutes);
void metrics_free(struct metrics *m);
void metrics_observe(struct metrics *m, int route_index, int status,
		     double seconds);
void metrics_render(struct metrics *m, struct server *s, struct buf *out);

/* ---- the portal (portal.c) ------------------------------------------------ */

/* One embedded file of the web portal (table generated by web/build.mjs):
 * its URL path, type, ETag and bytes, plain and precompressed (NULL when
 * a variant was not worth keeping). immutable: the name carries a hash. */
struct portal_asset {
	const char *path;
	const char *ctype;
	const char *etag;
	int immutable;
	const char *raw, *raw_end;
	const char *gz, *gz_end;
	const char *br, *br_end;
};
extern const struct portal_asset portal_assets[];
/* The portal's answers are made once at start, headers and all, and
 * queued again for every request (portal.c). */
int portal_start(struct server *s);
void portal_stop(struct server *s);
/* Answer with a response made beforehand and kept by its maker (it is
 * queued again, never changed: no reply_header after this). */
struct MHD_Response;
void reply_shared(struct req *r, int status, struct MHD_Response *resp);
/* Answer with static bytes that outlive the response (no copy). */
void reply_static(struct req *r, int status, const char *ctype, const char *data,
		  size_t len);

/* Every module's route table, NULL-ended, composed in server.c. */
extern const struct route system_routes[]; /* http/system.c */
extern const struct route auth_routes[];   /* auth/api.c */
extern const struct route sso_routes[];    /* auth/sso_api.c */
extern const struct route files_routes[];  /* files/api.c */
extern const struct route jobs_routes[];   /* jobs/api.c */
extern const struct route registry_routes[]; /* registry/api.c */
extern const struct route portal_routes[];   /* http/portal.c */

#endif
