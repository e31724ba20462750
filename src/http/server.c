/*
 * server.c - libmicrohttpd glue: listening socket, the access handler that
 * routes, authenticates and collects bounded bodies, replies, access logs
 * and graceful stop. Handlers are called once per request, with the whole
 * (bounded) body; a response may be queued before the body is read when
 * the request is refused early (unknown route, no credentials, too large).
 */
#include "http/http.h"
#include "http/tls.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct route *const *module_tables(void)
{
	static const struct route *const tables[] = {system_routes, auth_routes, sso_routes,
						     files_routes, jobs_routes,
						     registry_routes, portal_routes, NULL};
	return tables;
}

static void routes_flatten(struct server *s)
{
	size_t n = 0;
	for (const struct route *const *t = module_tables(); *t; t++)
		for (const struct route *r = *t; r->method; r++)
			n++;
	s->routes = xcalloc(n + 1, sizeof(*s->routes));
	s->nroutes = 0;
	for (const struct route *const *t = module_tables(); *t; t++)
		for (const struct route *r = *t; r->method; r++)
			s->routes[s->nroutes++] = r;
}

void server_print_routes(FILE *out)
{
	for (const struct route *const *t = module_tables(); *t; t++)
		for (const struct route *r = *t; r->method; r++)
			if (!(r->flags & ROUTE_HIDDEN))
				fprintf(out, "%s %s\n", r->method, r->pattern);
}

/* Match path against pattern, binding {name} segments into r->params.
 * r->path is a private copy, so segment values can be NUL-terminated in a
 * scratch copy kept in the request. */
static int pattern_match(const char *pattern, const char *path, struct req *r,
			 char *scratch)
{
	int np = 0;
	const char *p = pattern, *q = path;
	char *w = scratch;
	while (*p) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close || np >= ROUTE_PARAMS_MAX)
				return 0;
			if (close[-1] == '*') {
				/* binds the rest of the path, possibly empty */
				size_t len = strlen(q);
				memcpy(w, q, len);
				w[len] = '\0';
				r->params[np] = w;
				r->param_names[np] = p + 1;
				np++;
				q += len;
				p = close + 1;
				continue;
			}
			const char *end = q;
			while (*end && *end != '/')
				end++;
			if (end == q)
				return 0;
			size_t len = (size_t)(end - q);
			memcpy(w, q, len);
			w[len] = '\0';
			r->params[np] = w;
			r->param_names[np] = p + 1; /* up to '}' */
			np++;
			w += len + 1;
			q = end;
			p = close + 1;
			continue;
		}
		if (*p != *q)
			return 0;
		p++, q++;
	}
	if (*q)
		return 0;
	for (int i = np; i < ROUTE_PARAMS_MAX; i++)
		r->params[i] = r->param_names[i] = NULL;
	return 1;
}

const char *req_param(struct req *r, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < ROUTE_PARAMS_MAX && r->params[i]; i++)
		if (!strncmp(r->param_names[i], name, n) &&
		    (r->param_names[i][n] == '}' ||
		     (r->param_names[i][n] == '*' && r->param_names[i][n + 1] == '}')))
			return r->params[i];
	return NULL;
}

const char *req_query(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_cookie(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

int req_same_origin(struct req *r)
{
	const char *sfs = req_header(r, "Sec-Fetch-Site");
	if (sfs && strcmp(sfs, "same-origin") && strcmp(sfs, "none"))
		return 0;
	const char *origin = req_header(r, "Origin");
	if (!origin)
		return 1;
	const char *pub = r->srv->cfg->public_url;
	size_t pl = strlen(pub);
	while (pl && pub[pl - 1] == '/')
		pl--;
	if (pl && strlen(origin) == pl && !strncasecmp(origin, pub, pl))
		return 1;
	const char *host = req_header(r, "Host");
	if (!host || !*host)
		return 0;
	const char *scheme = r->srv->tls ? "https://" : "http://";
	return !strncasecmp(origin, scheme, strlen(scheme)) &&
	       !strcasecmp(origin + strlen(scheme), host);
}

json_t *req_json(struct req *r, struct err *e)
{
	if (r->json)
		return r->json;
	if (r->body.len == 0) {
		r->json = json_object();
		return r->json;
	}
	if (!utf8_valid(r->body.data, r->body.len)) {
		err_set(e, COVE_EINVAL, "request body is not valid UTF-8");
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(r->body.data, r->body.len,
			       JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		err_set(e, COVE_EINVAL, "malformed JSON at line %d column %d: %s",
			je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(e, COVE_EINVAL, "request body must be a JSON object");
		return NULL;
	}
	r->json = j;
	return j;
}

int req_limit(struct req *r, int *limit, struct err *e)
{
	const char *v = req_query(r, "limit");
	*limit = 100;
	if (!v)
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < 1 || n > 1000)
		return err_set(e, COVE_EINVAL, "limit must be a number from 1 to 1000");
	*limit = (int)n;
	return 0;
}

/* ---- the I/O worker pool ---------------------------------------------------- */

/*
 * Event-loop threads must not sleep on the disk: while one waits in fsync
 * every connection it serves waits too. Work that does (the commit of an
 * upload) is handed to these workers with the connection suspended; the
 * worker replies and resumes it, and the event loop sends the answer.
 */
struct job {
	struct req *r;
	void (*fn)(struct req *r);
	struct job *next;
};

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;
	int stop;
	int n;
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->head)
			break;
		struct job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->mu);
		j->fn(j->r);
		if (!j->r->replied)
			reply_problem(j->r, 500, "handler gave no answer");
		MHD_resume_connection(j->r->conn);
		free(j);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static struct workers *workers_start(int n)
{
	struct workers *w = xcalloc(1, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->tail = &w->head;
	w->n = n;
	w->threads = xcalloc((size_t)n, sizeof(pthread_t));
	for (int i = 0; i < n; i++)
		pthread_create(&w->threads[i], NULL, worker_main, w);
	return w;
}

static void workers_stop(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->threads);
	free(w);
}

void req_offload(struct req *r, void (*fn)(struct req *r))
{
	if (r->bulk) { /* on the body's own thread: off the loop already */
		fn(r);
		return;
	}
	struct workers *w = r->srv->workers;
	struct job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->fn = fn;
	r->offloaded = 1;
	MHD_suspend_connection(r->conn);
	pthread_mutex_lock(&w->mu);
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void req_suspend(struct req *r)
{
	r->offloaded = 1;
	MHD_suspend_connection(r->conn);
}

void req_resume_with(struct req *r, void (*fn)(struct req *r), void *arg)
{
	r->resume_arg = arg;
	r->resume_fn = fn;
	MHD_resume_connection(r->conn);
}

void req_resume(struct req *r)
{
	if (!r->replied)
		reply_problem(r, 500, "handler gave no answer");
	MHD_resume_connection(r->conn);
}

/* ---- replies ----------------------------------------------------------- */

static void reply_bytes(struct req *r, int status, const char *ctype,
			const void *data, size_t len)
{
	if (r->replied)
		return;
	r->replied = 1;
	r->status = status;
	r->resp = MHD_create_response_from_buffer(len, (void *)data,
						  MHD_RESPMEM_MUST_COPY);
	if (ctype)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r->resp, "X-Request-Id", r->actor.request_id);
	MHD_add_response_header(r->resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r->resp, "Cache-Control", "no-store");
}

void reply_static(struct req *r, int status, const char *ctype, const char *data,
		  size_t len)
{
	if (r->replied)
		return;
	r->replied = 1;
	r->status = status;
	r->resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
	if (ctype)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r->resp, "X-Content-Type-Options", "nosniff");
}

void reply_shared(struct req *r, int status, struct MHD_Response *resp)
{
	if (r->replied)
		return;
	r->replied = 1;
	r->status = status;
	/* MHD_queue_response takes a reference of its own, dropped when the
	 * answer is sent; the maker's stays, so queue() must not drop one */
	r->resp = resp;
	r->resp_shared = 1;
}

void reply_fd(struct req *r, int status, const char *ctype, int fd,
	      uint64_t offset, uint64_t len)
{
	if (r->replied) {
		close(fd);
		return;
	}
	r->replied = 1;
	r->status = status;
	r->resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
	if (!r->resp) {
		close(fd);
		r->replied = 0;
		reply_problem(r, 500, "cannot send file");
		return;
	}
	if (ctype)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r->resp, "X-Request-Id", r->actor.request_id);
	MHD_add_response_header(r->resp, "X-Content-Type-Options", "nosniff");
}

void reply_header(struct req *r, const char *name, const char *value)
{
	/* a shared answer is every request's: never changed for one */
	assert(!r->resp_shared);
	if (r->resp && !r->resp_shared)
		MHD_add_response_header(r->resp, name, value);
}

void reply_json(struct req *r, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	reply_bytes(r, status, "application/json", s ? s : "{}",
		    s ? strlen(s) : 2);
	free(s);
}

void reply_text(struct req *r, int status, const char *ctype, const char *body,
		size_t len)
{
	reply_bytes(r, status, ctype, body, len);
}

void reply_empty(struct req *r, int status)
{
	reply_bytes(r, status, NULL, "", 0);
}

static const char *status_title(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

static void problem(struct req *r, int status, const char *detail_in)
{
	/* A detail may quote the request (a query value, a name), which need
	 * not be UTF-8; JSON must be, and jansson refuses to pack it. */
	char detail[512];
	snprintf(detail, sizeof(detail), "%s", detail_in);
	if (!utf8_valid(detail, strlen(detail)))
		for (char *p = detail; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	char type[96];
	const char *t = status_title(status);
	size_t k = 0;
	k += (size_t)snprintf(type, sizeof(type), "https://cove.dev/problems/");
	for (const char *c = t; *c && k + 1 < sizeof(type); c++)
		type[k++] = *c == ' ' ? '-' : (char)(*c | 0x20);
	type[k] = '\0';
	json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:s}", "type", type, "title", t,
			      "status", status, "detail", detail, "request_id",
			      r->actor.request_id);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply_bytes(r, status, "application/problem+json", s, strlen(s));
	free(s);
}

void reply_problem(struct req *r, int status, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	problem(r, status, detail);
}

int http_status_for(int code)
{
	switch (code) {
	case COVE_EINVAL: return 400;
	case COVE_EAUTH: return 401;
	case COVE_EPERM: return 403;
	case COVE_ENOENT: return 404;
	case COVE_EEXIST:
	case COVE_ECONFLICT: return 409;
	case COVE_ETOOBIG: return 413;
	case COVE_ETOOMANY: return 429;
	case COVE_EUNAVAIL: return 503;
	default: return 500;
	}
}

void reply_err(struct req *r, const struct err *e)
{
	int status = http_status_for(e->code);
	const char *msg = e->msg[0] ? e->msg : err_code_name(e->code);
	if (status >= 500 && e->code != COVE_EUNAVAIL)
		msg = "internal error; the request id identifies it in the server log";
	problem(r, status, msg);
	if (status == 401)
		reply_header(r, "WWW-Authenticate", "Bearer realm=\"cove\"");
	if (status == 429 || status == 503) {
		char ra[24];
		snprintf(ra, sizeof(ra), "%d", e->retry_after > 0 ? e->retry_after : 1);
		reply_header(r, "Retry-After", ra);
	}
}

/* ---- request lifecycle ------------------------------------------------- */

static void client_ip(struct MHD_Connection *conn, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	out[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)n);
}

static int is_read_method(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD");
}

static int media_type_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);
	if (!ctype || strncasecmp(ctype, want, n))
		return 0;
	return ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ';
}

/* An authenticated caller was refused an administrative route: that is
 * an admin event too, and goes to the audit log. */
static void audit_denied(struct req *r, const char *why)
{
	struct dbconn *c = db_get(r->srv->db);
	char *target = xasprintf("%s %s", r->method, r->route->pattern);
	auth_audit(c, &r->actor, "admin.denied", target, 0, why);
	free(target);
	db_put(r->srv->db, c);
}

/* A change authenticated by the session cookie must prove it comes from
 * our own pages: the session's CSRF token in a header (which a page of
 * another site cannot read, nor send without a CORS preflight we never
 * grant) and, when the browser says where it comes from, our origin. */
static int csrf_ok(struct req *r, const char *cookie)
{
	return auth_csrf_ok(cookie, req_header(r, AUTH_CSRF_HEADER)) &&
	       req_same_origin(r);
}

static void csrf_refused(struct req *r)
{
	const char *why = !req_same_origin(r) ? "it comes from another site"
						: "its X-CSRF-Token header is missing or wrong";
	struct dbconn *c = db_get(r->srv->db);
	char *target = xasprintf("%s %s", r->method, r->path);
	auth_audit(c, &r->actor, "auth.csrf_refused", target, 0, why);
	free(target);
	db_put(r->srv->db, c);
	reply_problem(r, 403, "cross-site request refused: %s (a request authenticated by "
			      "the session cookie needs the session's CSRF token)", why);
}

/* Route, authenticate and check the request line and headers. Returns 0
 * to go on reading the body, or non-zero when a reply was made. */
static int req_begin(struct req *r, char *scratch)
{
	struct server *s = r->srv;
	int path_ok = 0;
	r->route_index = (int)s->nroutes; /* "unmatched" bucket */
	if (strlen(r->path) > 4096 || !utf8_valid(r->path, strlen(r->path))) {
		reply_problem(r, 400, "request path is too long or not valid UTF-8");
		return 1;
	}
	for (size_t i = 0; i < s->nroutes; i++) {
		if (!pattern_match(s->routes[i]->pattern, r->path, r, scratch))
			continue;
		path_ok = 1;
		if (!strcmp(s->routes[i]->method, r->method) ||
		    (!strcmp(r->method, "HEAD") && !strcmp(s->routes[i]->method, "GET"))) {
			r->route = s->routes[i];
			r->route_index = (int)i;
			break;
		}
	}
	if (!r->route) {
		if (path_ok) {
			reply_problem(r, 405, "method %s is not allowed on %s", r->method,
				      r->path);
			return 1;
		}
		reply_problem(r, 404, "no such route: %s", r->path);
		return 1;
	}

	struct err e = {0};
	const char *authz = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	char *from_query = NULL;
	if (!authz && (r->route->flags & ROUTE_TOKEN_QUERY) && req_query(r, "access_token"))
		authz = from_query = xasprintf("Bearer %s", req_query(r, "access_token"));
	/* A browser's session cookie, for the API only (never /v2: registry
	 * clients authenticate themselves), and only without a token: an
	 * explicit credential wins over an ambient one. */
	const char *cookie = NULL;
	if (!authz && !strncmp(r->path, "/v1/", 4))
		cookie = req_cookie(r, AUTH_COOKIE);
	int rc = cookie ? auth_cookie(s->auth, cookie, &r->actor, &e)
			: auth_authenticate(s->auth, authz, &r->actor, &e);
	free(from_query);
	if (cookie && rc == 0 && !is_read_method(r->method) && !csrf_ok(r, cookie)) {
		if (r->route->flags & ROUTE_PUBLIC) {
			/* a stale page logging in again: as if anonymous */
			r->actor.authenticated = 0;
		} else {
			csrf_refused(r);
			return 1;
		}
	}
	if (rc && !(r->route->flags & ROUTE_PUBLIC)) {
		reply_err(r, &e);
		if (cookie) /* the browser holds an ended session: forget it */
			reply_header(r, "Set-Cookie",
				     r->srv->tls ? AUTH_COOKIE "=; Path=/v1/; Max-Age=0; "
						   "HttpOnly; SameSite=Strict; Secure"
						 : AUTH_COOKIE "=; Path=/v1/; Max-Age=0; "
						   "HttpOnly; SameSite=Strict");
		return 1;
	}
	if (rc) /* a public route with a bad token: treat as anonymous */
		r->actor.authenticated = 0;
	if (!(r->route->flags & ROUTE_PUBLIC)) {
		if (!r->actor.authenticated) {
			err_set(&e, COVE_EAUTH, "authentication required: send "
						"'Authorization: Bearer <token>'");
			reply_err(r, &e);
			return 1;
		}
		unsigned need = is_read_method(r->method) ? SCOPE_READ : SCOPE_WRITE;
		if (r->route->flags & ROUTE_ADMIN)
			need |= SCOPE_ADMIN;
		if ((r->actor.scopes & need) != need) {
			if (r->route->flags & ROUTE_ADMIN)
				audit_denied(r, "token scope");
			reply_problem(r, 403, "permission denied: this token's scopes do "
					      "not allow %s %s", r->method, r->path);
			return 1;
		}
		if ((r->route->flags & ROUTE_ADMIN) && !r->actor.admin) {
			audit_denied(r, "not an administrator");
			reply_problem(r, 403, "permission denied: administrators only");
			return 1;
		}
	}

	if (r->route->stream)
		return r->route->stream->begin(r);
	const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	int has_body = (cl && strcmp(cl, "0")) || te;
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno || *end || n > (unsigned long long)s->cfg->max_body) {
			reply_problem(r, 413, "request body is larger than %lld bytes",
				      (long long)s->cfg->max_body);
			return 1;
		}
	}
	if (has_body) {
		const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		int ok = (r->route->flags & ROUTE_TEXT)
				 ? media_type_is(ct, "text/plain")
				 : media_type_is(ct, "application/json");
		if (!ok) {
			reply_problem(r, 415, "request body must be %s",
				      (r->route->flags & ROUTE_TEXT) ? "text/plain"
								    : "application/json");
			return 1;
		}
	}
	return 0;
}

struct req_box {
	struct req r;
	char *scratch;
};

static enum MHD_Result queue(struct req *r)
{
	if (!r->resp)
		reply_problem(r, 500, "handler gave no answer");
	r->queued = 1;
	/* shared answers (the portal's) got theirs when they were made */
	if (r->srv->tls && !r->resp_shared)
		MHD_add_response_header(r->resp, "Strict-Transport-Security", TLS_HSTS);
	enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
	if (!r->resp_shared)
		MHD_destroy_response(r->resp);
	r->resp = NULL;
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *s = cls;
	struct req_box *box = *con_cls;
	if (!box) {
		box = xcalloc(1, sizeof(*box));
		*con_cls = box;
		__atomic_add_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
		struct req *r = &box->r;
		r->srv = s;
		r->conn = conn;
		r->method = method;
		r->path = xstrdup(url);
		r->t0 = time_mono();
		box->scratch = xmalloc(strlen(url) + 2 * ROUTE_PARAMS_MAX + 2);
		id_new_weak(r->actor.request_id);
		client_ip(conn, r->actor.ip, sizeof(r->actor.ip));
		if (s->stopping) {
			reply_problem(r, 503, "server is shutting down");
			return queue(r);
		}
		if (req_begin(r, box->scratch))
			return queue(r);
		/* A big body may be taken off the loop: r is then the bulk
		 * reader's until it resumes us, and not touched here. */
		bulk_take(r, version);
		return MHD_YES;
	}
	struct req *r = &box->r;
	if (r->resume_fn && !r->replied) {
		/* back from req_resume_with: answer here */
		void (*fn)(struct req *) = r->resume_fn;
		r->resume_fn = NULL;
		fn(r);
		return queue(r);
	}
	if (!r->route || r->replied) {
		/* refused before or while the body arrived: drop the rest, and
		 * send the answer once the body is over */
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return r->queued ? MHD_YES : queue(r);
	}
	if (r->route->stream) {
		if (*upload_data_size) {
			if (!r->replied && !r->skip_body &&
			    r->route->stream->data(r, upload_data, *upload_data_size))
				r->skip_body = 1;
			*upload_data_size = 0;
			return MHD_YES;
		}
		r->offloaded = 0;
		if (!r->replied)
			r->route->stream->end(r);
		if (r->offloaded)
			return MHD_YES; /* another thread answers, then resumes us */
		return queue(r);
	}
	if (*upload_data_size) {
		if (!r->skip_body) {
			if (r->body.len + *upload_data_size > (size_t)s->cfg->max_body) {
				r->skip_body = 1;
				buf_free(&r->body);
			} else {
				buf_add(&r->body, upload_data, *upload_data_size);
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->skip_body) {
		reply_problem(r, 413, "request body is larger than %lld bytes",
			      (long long)s->cfg->max_body);
		return queue(r);
	}
	r->offloaded = 0;
	r->route->fn(r);
	/* Once offloaded or suspended, r belongs to the thread that answers
	 * until it resumes us: not even r->replied may be read here (the
	 * worker may be answering right now, and queueing the half-made
	 * answer crashed under load). */
	if (r->offloaded)
		return MHD_YES;
	return queue(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *s = cls;
	struct req_box *box = *con_cls;
	if (!box)
		return;
	struct req *r = &box->r;
	double dt = time_mono() - r->t0;
	int status = r->status ? r->status : 499;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0)
		status = 499;
	metrics_observe(s->metrics, r->route_index, status, dt);
	int level = (r->route && (r->route->flags & ROUTE_QUIET)) ? LOG_DEBUG : LOG_INFO;
	if (status >= 500)
		level = LOG_ERROR;
	if (log_enabled(level))
		log_event(level, "request", "{s:s,s:s,s:s,s:i,s:f,s:s,s:s,s:s}",
			  "method", r->method, "path", r->path, "route",
			  r->route ? r->route->pattern : "", "status", status,
			  "ms", dt * 1000.0, "request_id", r->actor.request_id,
			  "user", r->actor.authenticated ? r->actor.username : "",
			  "ip", r->actor.ip);
	if (r->route && r->route->stream && r->route->stream->cleanup)
		r->route->stream->cleanup(r);
	if (r->resp && !r->resp_shared)
		MHD_destroy_response(r->resp);
	json_decref(r->json);
	buf_free(&r->body);
	free(r->path);
	free(box->scratch);
	free(box);
	*con_cls = NULL;
	__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding of paths and query values. An encoded NUL would cut
 * the string short silently; it becomes \x01 instead, a control
 * character that every name check refuses with a clear 400. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		int hi, lo;
		if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
			char ch = (char)(hi * 16 + lo);
			*w++ = ch ? ch : '\x01';
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_event(LOG_DEBUG, "http", "{s:s}", "detail", msg);
}

/* "host:port", ":port", "[v6]:port" -> a bound, listening socket. */
static int listen_socket(const char *spec, struct err *e)
{
	char host[256] = "";
	const char *port;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':' || (size_t)(close - spec) > sizeof(host))
			return err_set(e, COVE_EINVAL, "bad listen address '%s'", spec);
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return err_set(e, COVE_EINVAL,
				       "bad listen address '%s' (want host:port)", spec);
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = colon + 1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return err_set(e, COVE_EINVAL, "bad port in listen address '%s'", spec);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	if (!*host || !strcmp(host, "0.0.0.0") || inet_pton(AF_INET, host,
		&((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		if (!*host)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host,
			     &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		sl = sizeof(*sin6);
	} else if (!strcmp(host, "localhost")) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*sin);
	} else {
		return err_set(e, COVE_EINVAL,
			       "listen host '%s' must be an IP address or localhost", host);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, COVE_EIO, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		int err = errno;
		close(fd);
		return err_set(e, COVE_EIO, "cannot listen on %s: %s", spec,
			       strerror(err));
	}
	if (listen(fd, 1024) < 0) {
		int err = errno;
		close(fd);
		return err_set(e, COVE_EIO, "listen on %s: %s", spec, strerror(err));
	}
	return fd;
}

int server_start(struct server *s, struct err *e)
{
	s->started_ms = time_now_ms();
	int rc;
	if (*s->cfg->tls_cert &&
	    (rc = tls_open(&s->tls, s->cfg->tls_cert, s->cfg->tls_key, e)))
		return rc;
	routes_flatten(s);
	if (portal_start(s))
		return err_set(e, COVE_EINTERNAL, "cannot prepare the portal's answers");
	s->metrics = metrics_new(s->nroutes);
	s->workers = workers_start((int)s->cfg->io_workers);
	if (http_streams_start(s))
		return err_set(e, COVE_EINTERNAL, "cannot start the stream ticker");
	int fd = listen_socket(s->cfg->listen, e);
	if (fd < 0)
		return fd;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
	/* https: the certificate comes from tls.c's callback at each handshake
	 * (so SIGHUP can change it), the protocols and ciphers from ours */
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
		{MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)&tls_retrieve},
		{MHD_OPTION_END, 0, NULL},
	};
	if (s->tls)
		flags |= MHD_USE_TLS;
	else
		tls_opts[0].option = MHD_OPTION_END;
	s->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, &on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg->threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg->conn_timeout,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg->max_conns,
		/* libmicrohttpd zeroes this pool on every request of a kept-alive
		 * connection: bigger costs time (64 KiB took 5% of a submission);
		 * 32 KiB still bounds headers well (a 10 KB token passes). */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
		MHD_OPTION_NOTIFY_COMPLETED, &on_completed, s,
		MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, s,
		MHD_OPTION_UNESCAPE_CALLBACK, &unescape, s,
		MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!s->mhd) {
		close(fd);
		return err_set(e, COVE_EIO, "cannot start the HTTP server on %s",
			       s->cfg->listen);
	}
	return 0;
}

void server_stop(struct server *s)
{
	s->stopping = 1;
	if (s->mhd) {
		/* The listening socket is ours to close, but only once the daemon
		 * is stopped: each of its threads takes it out of its own epoll
		 * set on its next turn, and libmicrohttpd aborts the process when
		 * that fails on a socket already closed. Shutting it down now
		 * refuses new connections at once all the same. */
		MHD_socket lfd = MHD_quiesce_daemon(s->mhd);
		if (lfd != MHD_INVALID_SOCKET)
			shutdown(lfd, SHUT_RDWR);
		/* log followers and long polls end now rather than hold us up */
		http_streams_stop(s);
		/* Let requests in flight finish (bounded), then close the rest. */
		for (int i = 0; i < 300 && __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST) > 0; i++)
			usleep(100 * 1000);
		MHD_stop_daemon(s->mhd);
		s->mhd = NULL;
		if (lfd != MHD_INVALID_SOCKET)
			close(lfd);
	}
	workers_stop(s->workers);
	s->workers = NULL;
	if (s->streams) {
		http_streams_stop(s);
		free(s->streams);
		s->streams = NULL;
	}
	metrics_free(s->metrics);
	s->metrics = NULL;
	portal_stop(s);
	free(s->routes);
	s->routes = NULL;
	tls_free(s->tls);
	s->tls = NULL;
}

int server_reload_tls(struct server *s, struct err *e)
{
	return s->tls ? tls_reload(s->tls, e) : 0;
}
