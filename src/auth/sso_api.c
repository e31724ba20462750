/*
 * sso_api.c - HTTP handlers of single sign-on: the browser's authorization
 * code flow (start, callback), the CLI's device flow (RFC 8628, proxied:
 * the provider is called by cove, never by the CLI with our secret), and
 * the administrators' identity links. Domain work is in oidc.c (talking
 * to providers, verifying tokens) and sso.c (provisioning).
 *
 * Calls to a provider block, so every handler that may make one runs off
 * the event loop (req_offload). Every login, refusal and link is audited;
 * codes, tokens and secrets never reach a log or an audit record.
 */
#include "auth/internal.h"
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#define DB(r) ((r)->srv->db)
#define AUTH(r) ((r)->srv->auth)
#define ATTEMPT_COOKIE "cove_oidc"
#define ATTEMPT_TTL 600

/* The server's own URL without a trailing slash (as main.c computes it). */
static void self_url(const struct config *cfg, char *out, size_t n)
{
	if (*cfg->public_url) {
		snprintf(out, n, "%s", cfg->public_url);
		size_t l = strlen(out);
		if (l && out[l - 1] == '/')
			out[l - 1] = '\0';
		return;
	}
	const char *colon = strrchr(cfg->listen, ':');
	const char *port = colon ? colon + 1 : "8080";
	size_t hl = colon ? (size_t)(colon - cfg->listen) : 0;
	if (hl == 0 || (hl == 7 && !strncmp(cfg->listen, "0.0.0.0", 7)))
		snprintf(out, n, "http://127.0.0.1:%s", port);
	else if (hl == 4 && !strncmp(cfg->listen, "[::]", 4))
		snprintf(out, n, "http://[::1]:%s", port);
	else
		snprintf(out, n, "http://%.*s:%s", (int)hl, cfg->listen, port);
}

static char *redirect_uri(struct req *r, const struct oidc_provider *p)
{
	char self[512];
	self_url(r->srv->cfg, self, sizeof(self));
	return xasprintf("%s/v1/auth/oidc/%s/callback", self, p->id);
}

/* The provider of the path, or NULL with a 404 answered. */
static struct oidc_provider *provider_of(struct req *r)
{
	struct oidc_provider *p = oidc_find(AUTH(r)->oidc, req_param(r, "provider"));
	if (!p)
		reply_problem(r, 404, "no such identity provider (see GET /v1/auth/options)");
	return p;
}

/* Refuse a login: audited (sso.refused), answered with e. */
static void refuse(struct req *r, struct dbconn *c, const struct oidc_provider *p,
		   const struct err *e)
{
	auth_audit(c, &r->actor, "sso.refused", p ? p->id : "?", 0, e->msg);
	reply_err(r, e);
}

static void attempt_cookie(struct req *r, const char *value, int64_t max_age)
{
	int secure = str_has_prefix(r->srv->cfg->public_url, "https://");
	char *h = xasprintf("%s=%s; Path=/v1/auth/oidc/; Max-Age=%lld; HttpOnly; "
			    "SameSite=Lax%s",
			    ATTEMPT_COOKIE, value ? value : "", (long long)max_age,
			    secure ? "; Secure" : "");
	reply_header(r, "Set-Cookie", h);
	free(h);
}

static void session_cookie(struct req *r, const char *value, int64_t max_age)
{
	int secure = str_has_prefix(r->srv->cfg->public_url, "https://");
	char *h = xasprintf("%s=%s; Path=/v1/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
			    AUTH_COOKIE, value, (long long)max_age, secure ? "; Secure" : "");
	reply_header(r, "Set-Cookie", h);
	free(h);
}

static void redirect(struct req *r, const char *location)
{
	reply_empty(r, 302);
	reply_header(r, "Location", location);
	reply_header(r, "Cache-Control", "no-store");
}

/* ---- browser: authorization code flow with PKCE ------------------------------- */

static void start_work(struct req *r)
{
	struct err e = {0};
	struct oidc_provider *p = provider_of(r);
	if (!p)
		return;
	const char *ret = req_query(r, "return");
	if (!ret || !*ret)
		ret = "/";
	if (!sso_return_ok(ret)) {
		struct dbconn *c = db_get(DB(r));
		err_set(&e, COVE_EINVAL,
			"return must be one of the portal's own paths (like /files), not "
			"another site");
		refuse(r, c, p, &e);
		db_put(DB(r), c);
		return;
	}
	json_t *meta = NULL;
	if (oidc_metadata(p, &meta, &e)) {
		struct dbconn *c = db_get(DB(r));
		refuse(r, c, p, &e);
		db_put(DB(r), c);
		return;
	}
	char *state = token_new("", 24), *nonce = token_new("", 24);
	char *verifier = token_new("", 32), *secret = token_new("cove_oa_", 32);
	char *challenge = NULL, *url = NULL, *ru = NULL;
	if (!state || !nonce || !verifier || !secret) {
		reply_problem(r, 503, "no randomness available");
		goto out;
	}
	/* S256: base64url(SHA-256(verifier)), from the hex digest */
	char hex[65], hash[65];
	unsigned char raw[32];
	sha256_hex(verifier, strlen(verifier), hex);
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		raw[i] = (unsigned char)v;
	}
	challenge = b64url_encode(raw, sizeof(raw));
	sha256_hex(secret, strlen(secret), hash);
	int64_t now = time_now();
	struct dbconn *c = db_get(DB(r));
	db_exec(c, NULL, "DELETE FROM oidc_attempts WHERE created_at < ?", "i",
		now - ATTEMPT_TTL);
	int rc = db_exec(c, &e,
			 "INSERT INTO oidc_attempts(hash, provider, state, nonce, verifier, "
			 "return_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			 "ssssssi", hash, p->id, state, nonce, verifier, ret, now);
	db_put(DB(r), c);
	if (rc < 0) {
		reply_err(r, &e);
		goto out;
	}
	ru = redirect_uri(r, p);
	url = oidc_authorize_url(p, meta, ru, state, nonce, challenge);
	redirect(r, url);
	attempt_cookie(r, secret, ATTEMPT_TTL);
out:
	json_decref(meta);
	free(state);
	free(nonce);
	free(verifier);
	free(secret);
	free(challenge);
	free(url);
	free(ru);
}

static void get_start(struct req *r)
{
	req_offload(r, start_work);
}

struct attempt {
	char provider[64];
	char state[64];
	char nonce[64];
	char verifier[64];
	char return_to[1100];
};

/* Take (and delete: single use) the attempt the browser's cookie names.
 * 1 found, 0 not. */
static int attempt_take(struct dbconn *c, const char *cookie, struct attempt *at)
{
	if (!cookie || strlen(cookie) > 128)
		return 0;
	char hash[65];
	sha256_hex(cookie, strlen(cookie), hash);
	struct stmt *st;
	int found = 0;
	if (db_query(c, &st, NULL,
		     "SELECT provider, state, nonce, verifier, return_to FROM "
		     "oidc_attempts WHERE hash = ? AND created_at >= ?",
		     "si", hash, time_now() - ATTEMPT_TTL))
		return 0;
	if (db_step(st, NULL) == 1) {
		snprintf(at->provider, sizeof(at->provider), "%s", db_text(st, 0));
		snprintf(at->state, sizeof(at->state), "%s", db_text(st, 1));
		snprintf(at->nonce, sizeof(at->nonce), "%s", db_text(st, 2));
		snprintf(at->verifier, sizeof(at->verifier), "%s", db_text(st, 3));
		snprintf(at->return_to, sizeof(at->return_to), "%s", db_text(st, 4));
		found = 1;
	}
	db_done(st);
	if (found && db_exec(c, NULL, "DELETE FROM oidc_attempts WHERE hash = ?", "s",
			     hash) != 1)
		found = 0; /* another request took it first */
	return found;
}

/* Exchange code (or a device code) at the token endpoint, verify the ID
 * token and provision: 0 with the user's uid, gid and name. */
static int exchange(struct req *r, struct dbconn *c, struct oidc_provider *p,
		    const char *const *params, const char *nonce, int64_t *uid,
		    int64_t *gid, char username[AUTH_NAME_MAX + 1], json_t **answer,
		    struct err *e)
{
	long status = 0;
	json_t *body = NULL, *claims = NULL;
	int rc = oidc_token_call(p, "token_endpoint", params, &status, &body, e);
	if (rc)
		goto out;
	if (answer) {
		*answer = json_incref(body);
	}
	if (status != 200) {
		const char *er = json_string_value(json_object_get(body, "error"));
		char safe[64] = "";
		for (size_t i = 0; er && er[i] && i < sizeof(safe) - 1; i++)
			safe[i] = (er[i] >= 'a' && er[i] <= 'z') || er[i] == '_' ? er[i] : '?';
		rc = err_set(e, COVE_EAUTH,
			     "the identity provider refused the code (%s): start the login "
			     "again",
			     safe[0] ? safe : "no reason given");
		goto out;
	}
	const char *idt = json_string_value(json_object_get(body, "id_token"));
	if (!idt) {
		rc = err_set(e, COVE_EAUTH, "the identity provider sent no ID token");
		goto out;
	}
	if ((rc = oidc_verify_id_token(AUTH(r)->oidc, p, idt, nonce, &claims, e)))
		goto out;
	rc = sso_provision(AUTH(r), c, p, claims, &r->actor, uid, gid, username, e);
out:
	json_decref(claims);
	json_decref(body);
	return rc;
}

static void callback_work(struct req *r)
{
	struct err e = {0};
	struct oidc_provider *p = provider_of(r);
	if (!p)
		return;
	struct dbconn *c = db_get(DB(r));
	struct attempt at = {0};
	json_t *meta = NULL;
	char *cookie = NULL, *ru = NULL;
	const char *state = req_query(r, "state"), *code = req_query(r, "code");
	const char *iss = req_query(r, "iss"), *error = req_query(r, "error");
	int64_t uid = 0, gid = 0;
	char username[AUTH_NAME_MAX + 1] = "";
	if (!attempt_take(c, req_cookie(r, ATTEMPT_COOKIE), &at) ||
	    strcmp(at.provider, p->id)) {
		err_set(&e, COVE_EINVAL,
			"no login in progress in this browser (it expired, was used "
			"already or began elsewhere): start again from the login page");
		goto refused;
	}
	if (!state || strcmp(state, at.state)) {
		err_set(&e, COVE_EINVAL, "state does not match this browser's login: start "
					 "again from the login page");
		goto refused;
	}
	if (oidc_metadata(p, &meta, &e))
		goto refused;
	/* RFC 9207: the response names its issuer (mix-up attacks) */
	json_t *issp = json_object_get(meta, "authorization_response_iss_parameter_supported");
	if ((iss && strcmp(iss, p->issuer)) || (!iss && json_is_true(issp))) {
		err_set(&e, COVE_EINVAL, "the response's issuer (iss) is not %s", p->name);
		goto refused;
	}
	if (error) {
		char safe[64] = "";
		for (size_t i = 0; error[i] && i < sizeof(safe) - 1; i++)
			safe[i] = (error[i] >= 'a' && error[i] <= 'z') || error[i] == '_'
					  ? error[i]
					  : '?';
		err_set(&e, COVE_EAUTH, "%s refused the login (%s)", p->name, safe);
		goto refused;
	}
	if (!code || !*code || strlen(code) > 2048) {
		err_set(&e, COVE_EINVAL, "the response carries no code");
		goto refused;
	}
	ru = redirect_uri(r, p);
	const char *params[] = {"grant_type", "authorization_code", "code", code,
				"redirect_uri", ru, "code_verifier", at.verifier, NULL};
	if (exchange(r, c, p, params, at.nonce, &uid, &gid, username, NULL, &e))
		goto refused;
	char detail[128];
	snprintf(detail, sizeof(detail), "browser session, single sign-on with %s", p->id);
	if (sessions_browser_start(AUTH(r), c, &r->actor, uid, gid, username,
				   req_header(r, "User-Agent"), detail, p->id, &cookie, &e))
		goto refused;
	redirect(r, at.return_to[0] ? at.return_to : "/");
	session_cookie(r, cookie, r->srv->cfg->session_ttl);
	attempt_cookie(r, NULL, 0);
	goto out;
refused:
	refuse(r, c, p, &e);
	attempt_cookie(r, NULL, 0);
out:
	db_put(DB(r), c);
	json_decref(meta);
	free(cookie);
	free(ru);
}

static void get_callback(struct req *r)
{
	req_offload(r, callback_work);
}

/* ---- CLI: device authorization grant (RFC 8628) --------------------------------- */

static void device_work(struct req *r)
{
	struct err e = {0};
	struct oidc_provider *p = provider_of(r);
	if (!p)
		return;
	struct dbconn *c = db_get(DB(r));
	json_t *meta = NULL, *body = NULL;
	long status = 0;
	if (oidc_metadata(p, &meta, &e))
		goto refused;
	if (!oidc_meta_str(meta, "device_authorization_endpoint")) {
		err_set(&e, COVE_EUNAVAIL, "%s offers no device login: use a browser", p->name);
		goto refused;
	}
	const char *params[] = {"scope", "openid profile email", NULL};
	if (oidc_token_call(p, "device_authorization_endpoint", params, &status, &body, &e))
		goto refused;
	const char *dc = json_string_value(json_object_get(body, "device_code"));
	const char *uc = json_string_value(json_object_get(body, "user_code"));
	const char *vu = json_string_value(json_object_get(body, "verification_uri"));
	if (status != 200 || !dc || !uc || !vu || strlen(dc) > 2048) {
		err_set(&e, COVE_EAUTH, "%s refused to start a device login (HTTP %ld)",
			p->name, status);
		goto refused;
	}
	json_int_t expires = json_integer_value(json_object_get(body, "expires_in"));
	json_int_t interval = json_integer_value(json_object_get(body, "interval"));
	if (expires <= 0 || expires > 3600)
		expires = 600;
	if (interval <= 0 || interval > 60)
		interval = 5;
	char id[27];
	id_new(id);
	db_exec(c, NULL, "DELETE FROM oidc_devices WHERE expires_at < ?", "i", time_now());
	if (db_exec(c, &e,
		    "INSERT INTO oidc_devices(id, provider, device_code, expires_at) "
		    "VALUES (?, ?, ?, ?)",
		    "sssi", id, p->id, dc, time_now() + (int64_t)expires) < 0) {
		reply_err(r, &e);
		goto out;
	}
	auth_audit(c, &r->actor, "sso.device_start", p->id, 1, NULL);
	reply_json(r, 200,
		   json_pack("{s:s,s:s,s:s,s:O?,s:I,s:I}", "device_id", id, "user_code", uc,
			     "verification_uri", vu, "verification_uri_complete",
			     json_object_get(body, "verification_uri_complete"), "expires_in",
			     expires, "interval", interval));
	goto out;
refused:
	refuse(r, c, p, &e);
out:
	db_put(DB(r), c);
	json_decref(meta);
	json_decref(body);
}

static void post_device(struct req *r)
{
	req_offload(r, device_work);
}

static void device_token_work(struct req *r)
{
	static const char *const fields[] = {"device_id", NULL};
	struct err e = {0};
	struct oidc_provider *p = provider_of(r);
	if (!p)
		return;
	const char *id;
	json_t *b = req_json(r, &e);
	if (!b || json_only_fields(b, fields, &e) || json_req_str(b, "device_id", &id, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	char *dc = NULL;
	json_t *answer = NULL, *pair = NULL;
	struct stmt *st;
	if (db_query(c, &st, &e,
		     "SELECT device_code FROM oidc_devices WHERE id = ? AND provider = ? "
		     "AND expires_at >= ?",
		     "ssi", id, p->id, time_now()) == 0) {
		if (db_step(st, NULL) == 1)
			dc = xstrdup(db_text(st, 0));
		db_done(st);
	}
	if (!dc) {
		err_set(&e, COVE_EINVAL, "no such device login (it expired or was used): "
					 "run cove login --sso again");
		goto refused;
	}
	const char *params[] = {"grant_type", "urn:ietf:params:oauth:grant-type:device_code",
				"device_code", dc, NULL};
	int64_t uid = 0, gid = 0;
	char username[AUTH_NAME_MAX + 1] = "";
	int rc = exchange(r, c, p, params, NULL, &uid, &gid, username, &answer, &e);
	const char *er = json_string_value(json_object_get(answer, "error"));
	if (rc && er && (!strcmp(er, "authorization_pending") || !strcmp(er, "slow_down"))) {
		reply_json(r, 202, json_pack("{s:s}", "status", er));
		goto out;
	}
	db_exec(c, NULL, "DELETE FROM oidc_devices WHERE id = ?", "s", id);
	if (rc)
		goto refused;
	char detail[128];
	snprintf(detail, sizeof(detail), "device login, single sign-on with %s", p->id);
	if (sessions_token_start(AUTH(r), c, &r->actor, uid, gid, username, detail, &pair,
				 &e))
		goto refused;
	json_object_set_new(pair, "username", json_string(username));
	reply_json(r, 200, pair);
	goto out;
refused:
	refuse(r, c, p, &e);
out:
	db_put(DB(r), c);
	json_decref(answer);
	free(dc);
}

static void post_device_token(struct req *r)
{
	req_offload(r, device_token_work);
}

/* ---- administrators: identity links ---------------------------------------------- */

static void get_identities(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	json_t *o = NULL;
	sso_identities(c, req_param(r, "name"), &o, &e);
	db_put(DB(r), c);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
}

static void post_identities(struct req *r)
{
	static const char *const fields[] = {"issuer", "sub", NULL};
	struct err e = {0};
	const char *iss, *sub;
	json_t *b = req_json(r, &e);
	if (!b || json_only_fields(b, fields, &e) || json_req_str(b, "issuer", &iss, &e) ||
	    json_req_str(b, "sub", &sub, &e)) {
		reply_err(r, &e);
		return;
	}
	const char *name = req_param(r, "name");
	struct dbconn *c = db_get(DB(r));
	int rc = sso_link(c, AUTH(r)->oidc, name, iss, sub, &e);
	char target[300];
	snprintf(target, sizeof(target), "%s", name);
	auth_audit(c, &r->actor, "sso.link", target, rc == 0, rc ? e.msg : iss);
	json_t *o = NULL;
	if (rc == 0)
		sso_identities(c, name, &o, &e);
	db_put(DB(r), c);
	if (o)
		reply_json(r, 201, o);
	else
		reply_err(r, &e);
}

static void delete_identities(struct req *r)
{
	struct err e = {0};
	const char *iss = req_query(r, "issuer"), *sub = req_query(r, "sub");
	if (!iss || !sub) {
		reply_problem(r, 400, "give ?issuer= and &sub= of the identity to unlink");
		return;
	}
	const char *name = req_param(r, "name");
	struct dbconn *c = db_get(DB(r));
	int rc = sso_unlink(c, name, iss, sub, &e);
	auth_audit(c, &r->actor, "sso.unlink", name, rc == 0, rc ? e.msg : iss);
	db_put(DB(r), c);
	if (rc)
		reply_err(r, &e);
	else
		reply_empty(r, 204);
}

/* ---- for the login page and logout (api.c) ------------------------------------------ */

json_t *sso_options(struct auth *a)
{
	json_t *list = json_array();
	for (size_t i = 0; a->oidc && i < a->oidc->n; i++) {
		struct oidc_provider *p = &a->oidc->p[i];
		char *start = xasprintf("/v1/auth/oidc/%s/start", p->id);
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "id", p->id, "name",
						      p->name, "start", start));
		free(start);
	}
	return list;
}

char *sso_logout_url(struct auth *a, const char *provider, const char *self)
{
	struct oidc_provider *p = oidc_find(a->oidc, provider);
	if (!p)
		return NULL;
	json_t *meta = NULL;
	struct err e = {0};
	char *url = NULL;
	pthread_mutex_lock(&p->lock); /* only what is cached: never a fetch here */
	if (p->meta)
		meta = json_incref(p->meta);
	pthread_mutex_unlock(&p->lock);
	(void)e;
	const char *end = oidc_meta_str(meta, "end_session_endpoint");
	if (end) {
		char *ret = xasprintf("%s/", self);
		const char *kv[] = {"client_id", p->client_id, "post_logout_redirect_uri", ret,
				    NULL};
		struct buf b = {0};
		buf_adds(&b, end);
		buf_addc(&b, strchr(end, '?') ? '&' : '?');
		for (int i = 0; kv[i]; i += 2) {
			buf_addf(&b, "%s%s=", i ? "&" : "", kv[i]);
			for (const char *s = kv[i + 1]; *s; s++) {
				unsigned char ch = (unsigned char)*s;
				if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
					buf_addc(&b, (char)ch);
				else
					buf_addf(&b, "%%%02X", ch);
			}
		}
		url = buf_detach(&b);
		free(ret);
	}
	json_decref(meta);
	return url;
}

void sso_self_url(const struct config *cfg, char *out, size_t n)
{
	self_url(cfg, out, n);
}

const struct route sso_routes[] = {
	{"GET", "/v1/auth/oidc/{provider}/start", get_start, ROUTE_PUBLIC},
	{"GET", "/v1/auth/oidc/{provider}/callback", get_callback, ROUTE_PUBLIC},
	{"POST", "/v1/auth/oidc/{provider}/device", post_device, ROUTE_PUBLIC},
	{"POST", "/v1/auth/oidc/{provider}/device/token", post_device_token, ROUTE_PUBLIC},
	{"GET", "/v1/users/{name}/identities", get_identities, ROUTE_ADMIN},
	{"POST", "/v1/users/{name}/identities", post_identities, ROUTE_ADMIN},
	{"DELETE", "/v1/users/{name}/identities", delete_identities, ROUTE_ADMIN},
	{NULL, NULL, NULL, 0},
};
