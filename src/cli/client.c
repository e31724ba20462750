/*
 * client.c - the client's one way to the server: struct client (which
 * server, which token), HTTP through libcurl, transparent refresh of the
 * session, and problem documents turned into one-line reasons.
 * Every request of every command goes through cli_http; no command sets
 * up curl itself. Tokens go into Authorization headers and the
 * credentials file, never into a message or the terminal.
 * https: certificates are always verified (system CAs, or --ca-file /
 * COVE_CA / the login's CA); a refused certificate is explained in one line
 * (unknown CA, expired, other host) from a handshake of our own, which
 * sends no request.
 */
#include "cli/internal.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX_ANSWER (64L << 20) /* bytes of one answer we keep */
#define CLI_REFRESH_MARGIN 30      /* seconds before expiry we renew */

/* ---- opening --------------------------------------------------------- */

/* "host:port/" -> "http://host:port"; NULL for a scheme we do not speak. */
static char *client_server_url(const char *s)
{
	char *url = strstr(s, "://") ? xstrdup(s) : xasprintf("http://%s", s);
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    !strstr(url, "://")[3]) { /* no host */
		free(url);
		return NULL;
	}
	return url;
}

int cli_client_open(struct client *c, const struct cli_args *a, struct err *e)
{
	struct creds saved = {0};
	struct err ignore = {0};
	int rc;
	memset(c, 0, sizeof(*c));
	c->json = a->json;
	if ((rc = cli_creds_path(&c->creds_path, e)))
		goto out;
	/* An unreadable file counts as no session: `cove login` replaces it. */
	if (cli_creds_load(c->creds_path, &saved, &ignore))
		cli_creds_clear(&saved);
	const char *env = getenv("COVE_SERVER");
	const char *want = a->server                ? a->server
			   : env && *env            ? env
			   : saved.server           ? saved.server
						    : CLI_DEFAULT_SERVER;
	if (!(c->server = client_server_url(want))) {
		rc = err_set(e, CLI_EUSAGE,
			     "bad server URL '%.100s': use http://HOST:PORT or "
			     "https://HOST",
			     want);
		goto out;
	}
	/* A saved session is only ever sent to the server that issued it. */
	char *issuer = saved.server ? client_server_url(saved.server) : NULL;
	if (issuer && !strcmp(issuer, c->server)) {
		c->creds = saved;
		memset(&saved, 0, sizeof(saved));
	}
	free(issuer);
	/* The CA to trust: --ca-file, COVE_CA, or the one trusted at login
	 * (with its server only). Certificates are checked either way. */
	const char *ca_env = getenv("COVE_CA");
	const char *ca = a->ca_file              ? a->ca_file
			 : ca_env && *ca_env     ? ca_env
			 : c->creds.ca_file      ? c->creds.ca_file
						 : NULL;
	if (ca && !(c->ca_file = realpath(ca, NULL))) {
		rc = err_set(e, CLI_EUSAGE, "cannot read the CA file %.200s: %s", ca,
			     strerror(errno));
		goto out;
	}
	const char *tok = getenv("COVE_TOKEN");
	if (tok && *tok)
		c->env_token = xstrdup(tok);
	if (!(c->curl = curl_easy_init()))
		rc = err_set(e, CLI_EFAIL, "cannot start the HTTP client");
out:
	cli_creds_clear(&saved);
	return rc;
}

void cli_client_close(struct client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	cli_creds_clear(&c->creds);
	cli_secret_free(c->env_token);
	free(c->server);
	free(c->ca_file);
	free(c->creds_path);
	memset(c, 0, sizeof(*c));
}

/* ---- one exchange ------------------------------------------------------ */

void cli_client_tls(const struct client *c, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
}

/* Why the server's certificate chain is refused, found again by a
 * handshake of our own with GnuTLS (libcurl's message does not say):
 * GnuTLS's verification status flags for c->server's host, with the same
 * trust (c->ca_file or the system's). No request is sent. 0 if unknown. */
static unsigned client_tls_status(const struct client *c)
{
	unsigned status = 0;
	char *host = NULL, *port = NULL;
	struct addrinfo *ai = NULL, hints = {.ai_socktype = SOCK_STREAM};
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_session_t sess = NULL;
	int fd = -1;
	CURLU *u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, c->server, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
		goto out;
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[') { /* [::1] */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (getaddrinfo(host, port, &hints, &ai) || !ai)
		goto out;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = 10};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen))
		goto out;
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		goto out;
	if (c->ca_file ? gnutls_certificate_set_x509_trust_file(cred, c->ca_file,
								GNUTLS_X509_FMT_PEM) < 0
		       : gnutls_certificate_set_x509_system_trust(cred) < 0)
		goto out;
	if (gnutls_init(&sess, GNUTLS_CLIENT) < 0 || gnutls_set_default_priority(sess) < 0 ||
	    gnutls_credentials_set(sess, GNUTLS_CRD_CERTIFICATE, cred) < 0)
		goto out;
	gnutls_session_set_verify_cert(sess, host, 0);
	gnutls_transport_set_int(sess, fd);
	int g;
	do
		g = gnutls_handshake(sess);
	while (g < 0 && !gnutls_error_is_fatal(g));
	if (g == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
		status = gnutls_session_get_verify_cert_status(sess);
out:
	if (sess)
		gnutls_deinit(sess);
	if (cred)
		gnutls_certificate_free_credentials(cred);
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return status;
}

int cli_client_reach_err(const struct client *c, CURLcode cc,
			 const char *errbuf, struct err *e)
{
	const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(cc);
	if (cc != CURLE_PEER_FAILED_VERIFICATION)
		return err_set(e, CLI_EFAIL, "cannot reach server at %s: %s", c->server, why);
	unsigned st = client_tls_status(c);
	if (st & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return err_set(e, CLI_EFAIL,
			       "refused %s: its TLS certificate is signed by an unknown CA%s",
			       c->server,
			       c->ca_file ? "" : " (trust its CA with --ca-file FILE or COVE_CA)");
	if (st & GNUTLS_CERT_EXPIRED)
		return err_set(e, CLI_EFAIL, "refused %s: its TLS certificate has expired",
			       c->server);
	if (st & GNUTLS_CERT_NOT_ACTIVATED)
		return err_set(e, CLI_EFAIL, "refused %s: its TLS certificate is not valid yet",
			       c->server);
	if ((st & GNUTLS_CERT_UNEXPECTED_OWNER) || strstr(why, "does not match"))
		return err_set(e, CLI_EFAIL,
			       "refused %s: its TLS certificate is for another host name",
			       c->server);
	return err_set(e, CLI_EFAIL, "refused %s: its TLS certificate does not verify: %s",
		       c->server, why);
}

static size_t client_write(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	if (b->len + size * n > (size_t)CLI_MAX_ANSWER)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	buf_add(b, data, size * n);
	return size * n;
}

static struct curl_slist *client_headers(const struct cli_request *rq,
					 const char *token)
{
	struct curl_slist *h = NULL;
	h = curl_slist_append(h, "Accept: application/json, "
				 "application/problem+json, text/plain");
	h = curl_slist_append(h, "Expect:");
	if (rq->ctype) {
		char *ct = xasprintf("Content-Type: %s", rq->ctype);
		h = curl_slist_append(h, ct);
		free(ct);
	}
	if (token) {
		char *auth = xasprintf("Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
		cli_secret_free(auth);
	}
	return h;
}

/* Send rq once with token (NULL: none). Fills rs; fails only when no
 * HTTP answer arrived. */
static int client_send(struct client *c, const struct cli_request *rq,
		       const char *token, struct cli_response *rs,
		       struct err *e)
{
	CURL *h = c->curl;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *url = xasprintf("%s%s", c->server, rq->path);
	struct curl_slist *hdr = client_headers(rq, token);
	int rc = 0;
	buf_reset(&rs->body);
	rs->status = 0;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	cli_client_tls(c, h);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cove-cli/0.1");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s > 0 ? c->timeout_s : 30L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &rs->body);
	if (strcmp(rq->method, "GET"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	if (rq->ctype) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)rq->len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
	}
	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_WRITE_ERROR)
		rc = err_set(e, CLI_EFAIL, "the answer of %s is too large", c->server);
	else if (cc != CURLE_OK)
		rc = cli_client_reach_err(c, cc, errbuf, e);
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	curl_slist_free_all(hdr);
	free(url);
	return rc;
}

/* ---- the session ------------------------------------------------------- */

int cli_session_store(struct client *c, const char *username,
		      const json_t *pair, struct err *e)
{
	const char *at = json_string_value(json_object_get(pair, "access_token"));
	const char *rt = json_string_value(json_object_get(pair, "refresh_token"));
	json_int_t ttl = json_integer_value(json_object_get(pair, "expires_in"));
	if (!at || !rt)
		return err_set(e, CLI_EFAIL, "the server's token answer is incomplete");
	char *user = xstrdup(username);
	cli_creds_clear(&c->creds);
	c->creds.server = xstrdup(c->server);
	c->creds.ca_file = c->ca_file ? xstrdup(c->ca_file) : NULL;
	c->creds.username = user;
	c->creds.access_token = xstrdup(at);
	c->creds.refresh_token = xstrdup(rt);
	c->creds.access_expires_at = time_now() + (ttl > 0 ? ttl : 60);
	return cli_creds_save(c->creds_path, &c->creds, e);
}

/* Take the session another cove process saved meanwhile (it refreshed
 * first, which rotated the refresh token we hold). 1 when taken. */
static int client_adopt(struct client *c)
{
	struct creds disk = {0};
	struct err ignore = {0};
	int taken = 0;
	if (cli_creds_load(c->creds_path, &disk, &ignore) == 0 && disk.server &&
	    !strcmp(disk.server, c->server) && disk.access_token &&
	    disk.refresh_token && c->creds.refresh_token &&
	    strcmp(disk.refresh_token, c->creds.refresh_token)) {
		cli_creds_clear(&c->creds);
		c->creds = disk;
		memset(&disk, 0, sizeof(disk));
		taken = 1;
	}
	cli_creds_clear(&disk);
	return taken;
}

/* Trade the refresh token for a new pair and save it. Concurrent cove
 * processes take turns (a lock file), and one that comes second uses the
 * pair the first one saved instead of replaying a spent refresh token. */
static int client_refresh(struct client *c, struct err *e)
{
	int fd = cli_creds_lock(c->creds_path), rc = 0;
	json_t *pair = NULL;
	struct cli_response rs = {0};
	char *body = NULL;
	if (client_adopt(c) &&
	    c->creds.access_expires_at - time_now() >= CLI_REFRESH_MARGIN)
		goto out;
	json_t *o = json_pack("{s:s}", "refresh_token", c->creds.refresh_token);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct cli_request rq = {"POST", "/v1/auth/refresh", "application/json",
				 body, strlen(body), 0};
	if ((rc = client_send(c, &rq, NULL, &rs, e)))
		goto out;
	if (rs.status == 400 || rs.status == 401 || rs.status == 403) {
		rc = err_set(e, CLI_EFAIL, "session expired, run 'cove login'");
		goto out;
	}
	if (rs.status != 200) {
		rc = cli_problem(&rs, e);
		goto out;
	}
	if (!(pair = json_loadb(rs.body.data, rs.body.len, 0, NULL))) {
		rc = err_set(e, CLI_EFAIL, "the server's refresh answer is not JSON");
		goto out;
	}
	rc = cli_session_store(c, c->creds.username ? c->creds.username : "",
			       pair, e);
out:
	cli_creds_unlock(fd);
	json_decref(pair);
	if (rs.body.data)
		explicit_bzero(rs.body.data, rs.body.len);
	buf_free(&rs.body);
	cli_secret_free(body);
	return rc;
}

/* The bearer token for the next request, renewed when it is about to
 * expire. *refreshed tells whether that happened. */
static int client_token(struct client *c, const char **token, int *refreshed,
			struct err *e)
{
	int rc;
	*refreshed = 0;
	if (c->env_token) {
		*token = c->env_token;
		return 0;
	}
	if (!c->creds.access_token)
		return err_set(e, CLI_ENOLOGIN,
			       "not logged in to %s, run 'cove login'", c->server);
	if (c->creds.refresh_token &&
	    c->creds.access_expires_at - time_now() < CLI_REFRESH_MARGIN) {
		if ((rc = client_refresh(c, e)))
			return rc;
		*refreshed = 1;
	}
	*token = c->creds.access_token;
	return 0;
}

int cli_token(struct client *c, int renew, const char **token, struct err *e)
{
	int refreshed, rc;
	if (renew && !c->env_token && c->creds.refresh_token &&
	    (rc = client_refresh(c, e)))
		return rc;
	return client_token(c, token, &refreshed, e);
}

int cli_http(struct client *c, const struct cli_request *rq,
	     struct cli_response *rs, struct err *e)
{
	const char *token = NULL;
	int refreshed = 0, rc;
	if (rq->auth && (rc = client_token(c, &token, &refreshed, e)))
		return rc;
	if ((rc = client_send(c, rq, token, rs, e)))
		return rc;
	if (rs->status != 401 || !rq->auth || c->env_token || refreshed ||
	    !c->creds.refresh_token)
		return 0;
	if ((rc = client_refresh(c, e)))
		return rc;
	return client_send(c, rq, c->creds.access_token, rs, e);
}

/* ---- JSON calls -------------------------------------------------------- */

int cli_problem(const struct cli_response *rs, struct err *e)
{
	json_t *o = json_loadb(buf_str(&rs->body), rs->body.len, 0, NULL);
	const char *d = json_string_value(json_object_get(o, "detail"));
	if (!d || !*d)
		d = json_string_value(json_object_get(o, "title"));
	if (d && *d)
		err_set(e, CLI_EFAIL, "%s", d);
	else
		err_set(e, CLI_EFAIL, "the server answered HTTP %ld", rs->status);
	json_decref(o);
	return CLI_EFAIL;
}

int cli_call_as(struct client *c, int auth, const char *method,
		const char *path, json_t *body, json_t **out, struct err *e)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct cli_request rq = {method, path, text ? "application/json" : NULL,
				 text, text ? strlen(text) : 0, auth};
	struct cli_response rs = {0};
	json_decref(body);
	if (out)
		*out = NULL;
	int rc = cli_http(c, &rq, &rs, e);
	if (rc)
		goto out;
	if (rs.status == 401 && auth && !c->env_token) {
		rc = err_set(e, CLI_EFAIL, "session expired, run 'cove login'");
		goto out;
	}
	if (rs.status < 200 || rs.status > 299) {
		rc = cli_problem(&rs, e);
		goto out;
	}
	if (out && rs.body.len &&
	    !(*out = json_loadb(rs.body.data, rs.body.len, 0, NULL)))
		rc = err_set(e, CLI_EFAIL, "the server's answer is not JSON");
out:
	if (rs.body.data)
		explicit_bzero(rs.body.data, rs.body.len);
	buf_free(&rs.body);
	cli_secret_free(text); /* may hold a password */
	return rc;
}

int cli_call(struct client *c, const char *method, const char *path,
	     json_t *body, json_t **out, struct err *e)
{
	return cli_call_as(c, 1, method, path, body, out, e);
}

int cli_call_raw(struct client *c, const char *method, const char *path,
		 const char *ctype, const struct buf *body, struct buf *answer,
		 struct err *e)
{
	struct cli_request rq = {method, path, ctype, body ? buf_str(body) : NULL,
				 body ? body->len : 0, 1};
	struct cli_response rs = {0};
	int rc = cli_http(c, &rq, &rs, e);
	if (rc)
		goto out;
	if (rs.status == 401 && !c->env_token)
		rc = err_set(e, CLI_EFAIL, "session expired, run 'cove login'");
	else if (rs.status < 200 || rs.status > 299)
		rc = cli_problem(&rs, e);
	else
		buf_add(answer, buf_str(&rs.body), rs.body.len);
out:
	buf_free(&rs.body);
	return rc;
}

int cli_call_list(struct client *c, const char *path, const char *query,
		  json_t **out, struct err *e)
{
	json_t *items = json_array(), *page = NULL;
	char *cursor = NULL;
	int rc = 0;
	/* A server that kept answering cursors would keep us here: cap it. */
	for (int n = 0; n < 100000; n++) {
		struct buf p = {0};
		buf_addf(&p, "%s?limit=1000%s", path, query);
		if (cursor) {
			char *esc = cli_path(c, "&cursor=%s", cursor);
			buf_adds(&p, esc);
			free(esc);
		}
		rc = cli_call(c, "GET", buf_str(&p), NULL, &page, e);
		buf_free(&p);
		if (rc)
			goto out;
		json_array_extend(items, json_object_get(page, "items"));
		const char *next =
			json_string_value(json_object_get(page, "next_cursor"));
		free(cursor);
		cursor = next && *next ? xstrdup(next) : NULL;
		json_decref(page);
		page = NULL;
		if (!cursor)
			break;
	}
	*out = json_pack("{s:O,s:n}", "items", items, "next_cursor");
out:
	free(cursor);
	json_decref(items);
	return rc;
}

char *cli_path(struct client *c, const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			const char *arg = va_arg(ap, const char *);
			/* "." and ".." would be dot segments, removed by curl. */
			if (!strcmp(arg, ".") || !strcmp(arg, "..")) {
				for (; *arg; arg++)
					buf_adds(&b, "%2E");
			} else {
				char *esc = curl_easy_escape(c->curl, arg, 0);
				buf_adds(&b, esc ? esc : "");
				curl_free(esc);
			}
			p++;
		} else {
			buf_addc(&b, *p);
		}
	}
	va_end(ap);
	return buf_detach(&b);
}
