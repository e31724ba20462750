/*
 * oidc.c - OpenID Connect providers: their configuration (flags or a JSON
 * file), their discovery document and keys (fetched with libcurl and
 * cached), the calls cove makes to them (token, device authorization) and
 * the verification of the ID tokens they issue.
 *
 * An ID token is believed only when: it is a signed JWS (never alg none,
 * never an encrypted or nested one), its alg is asymmetric and announced
 * by the provider, its signature verifies with a key of the provider's
 * JWKS named by kid (the JWKS is fetched again, at most every
 * oidc_jwks_refetch seconds, when a kid is unknown: keys rotate), and its
 * claims say iss = the provider, aud holds our client id (azp too when
 * there are several audiences), exp/iat/nbf are right within a small skew
 * and nonce is the one this login sent. No SQL here, no HTTP serving;
 * secrets (client secret, codes, tokens) are never logged.
 */
#include "auth/internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <regex.h>
#include <rhonabwy.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX (1024 * 1024)
#define DISCOVERY_TTL 3600
#define ID_TOKEN_MAX 16384

/* ---- configuration --------------------------------------------------------- */

static void provider_free(struct oidc_provider *p)
{
	free(p->id);
	free(p->name);
	free(p->issuer);
	free(p->client_id);
	free(p->client_secret);
	free(p->groups_claim);
	free(p->admin_group);
	free(p->required_group);
	free(p->auth_method);
	if (p->has_re)
		regfree(&p->project_re);
	json_decref(p->project_roles);
	json_decref(p->meta);
	if (p->jwks)
		r_jwks_free(p->jwks);
	pthread_mutex_destroy(&p->lock);
}

void oidc_close(struct oidc *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++)
		provider_free(&o->p[i]);
	free(o->p);
	free(o);
}

/* The file's content with one trailing newline (or CRLF) removed. */
static int secret_read(const char *path, char **out, struct err *e)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return err_set(e, COVE_EINVAL, "cannot read the client secret file %s: %s",
			       path, strerror(errno));
	struct buf b = {0};
	char tmp[512];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0 && b.len < 65536)
		buf_add(&b, tmp, n);
	fclose(f);
	if (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	if (b.len && b.data[b.len - 1] == '\r')
		b.data[--b.len] = '\0';
	if (!b.len || strlen(buf_str(&b)) != b.len) {
		buf_free(&b);
		return err_set(e, COVE_EINVAL, "the client secret file %s is empty or binary",
			       path);
	}
	*out = buf_detach(&b);
	return 0;
}

void oidc_slug(const char *name, char *out, size_t n)
{
	size_t j = 0;
	int dash = 0;
	for (const char *s = name; *s && j + 1 < n; s++) {
		char ch = *s;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
			if (dash && j)
				out[j++] = '-';
			if (j + 1 < n)
				out[j++] = ch;
			dash = 0;
		} else {
			dash = 1;
		}
	}
	out[j] = '\0';
	if (!j)
		snprintf(out, n, "sso");
}

static int issuer_ok(const char *iss)
{
	if (str_has_prefix(iss, "https://"))
		return 1;
	/* plain http only on this machine (tests, a provider beside cove) */
	return str_has_prefix(iss, "http://127.0.0.1:") ||
	       str_has_prefix(iss, "http://127.0.0.1/") ||
	       str_has_prefix(iss, "http://localhost:") ||
	       str_has_prefix(iss, "http://[::1]:");
}

/* One provider from its fields (strings borrowed; NULL or "" when unset). */
struct provider_fields {
	const char *id, *name, *issuer, *client_id, *secret, *secret_file;
	const char *groups_claim, *project_groups, *admin_group, *required_group;
	const char *auth_method;
	json_t *project_roles;
};

static char *opt_dup(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

static int provider_init(struct oidc_provider *p, const struct provider_fields *f,
			 struct err *e)
{
	int rc;
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	if (!f->issuer || !*f->issuer || !f->client_id || !*f->client_id)
		return err_set(e, COVE_EINVAL, "an OpenID provider needs an issuer and a client id");
	if (!issuer_ok(f->issuer) || strlen(f->issuer) > 512)
		return err_set(e, COVE_EINVAL,
			       "issuer %s: must be an https:// URL (http:// only on loopback)",
			       f->issuer);
	const char *name = f->name && *f->name ? f->name : f->issuer;
	if (strlen(name) > 100 || !utf8_valid(name, strlen(name)))
		return err_set(e, COVE_EINVAL, "provider name: at most 100 bytes of UTF-8");
	char slug[48];
	oidc_slug(f->id && *f->id ? f->id : name, slug, sizeof(slug));
	if (f->id && *f->id && strcmp(slug, f->id))
		return err_set(e, COVE_EINVAL,
			       "provider id '%s': lowercase letters, digits and dashes only",
			       f->id);
	p->id = xstrdup(slug);
	p->name = xstrdup(name);
	p->issuer = xstrdup(f->issuer);
	size_t il = strlen(p->issuer);
	if (il > 8 && p->issuer[il - 1] == '/')
		p->issuer[il - 1] = '\0';
	p->client_id = xstrdup(f->client_id);
	if (f->secret && *f->secret)
		p->client_secret = xstrdup(f->secret);
	else if (f->secret_file && *f->secret_file) {
		if ((rc = secret_read(f->secret_file, &p->client_secret, e)))
			return rc;
	}
	p->groups_claim = xstrdup(f->groups_claim && *f->groups_claim ? f->groups_claim
								       : "groups");
	p->admin_group = opt_dup(f->admin_group);
	p->required_group = opt_dup(f->required_group);
	p->auth_method = xstrdup(f->auth_method && *f->auth_method ? f->auth_method
								   : "client_secret_basic");
	if (strcmp(p->auth_method, "client_secret_basic") &&
	    strcmp(p->auth_method, "client_secret_post"))
		return err_set(e, COVE_EINVAL, "token_endpoint_auth_method must be "
					       "client_secret_basic or client_secret_post");
	if (f->project_groups && *f->project_groups) {
		int r = regcomp(&p->project_re, f->project_groups, REG_EXTENDED | REG_NOSUB);
		if (r) {
			char msg[128];
			regerror(r, &p->project_re, msg, sizeof(msg));
			return err_set(e, COVE_EINVAL, "project groups regex '%s': %s",
				       f->project_groups, msg);
		}
		p->has_re = 1;
	}
	if (f->project_roles) {
		const char *k;
		json_t *v;
		json_object_foreach(f->project_roles, k, v)
		{
			const char *r = json_string_value(v);
			if (!r || (strcmp(r, "owner") && strcmp(r, "maintainer") &&
				   strcmp(r, "developer") && strcmp(r, "guest")))
				return err_set(e, COVE_EINVAL,
					       "project_roles.%s: owner, maintainer, developer "
					       "or guest",
					       k);
		}
		p->project_roles = json_incref(f->project_roles);
	}
	return 0;
}

static int config_file_load(struct oidc *o, const char *path, const struct config *cfg,
			    struct err *e)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return err_set(e, COVE_EINVAL, "%s:%d: %s", path, je.line, je.text);
	int rc = 0;
	json_t *list = json_object_get(root, "providers");
	if (!json_is_array(list) || !json_array_size(list) || json_array_size(list) > 32) {
		rc = err_set(e, COVE_EINVAL, "%s: needs \"providers\": [ ... ] (1 to 32)", path);
		goto out;
	}
	static const char *const fields[] = {
		"id", "name", "issuer", "client_id", "client_secret", "client_secret_file",
		"groups_claim", "project_groups", "project_roles", "admin_group",
		"required_group", "token_endpoint_auth_method", NULL};
	o->p = xcalloc(json_array_size(list), sizeof(*o->p));
	size_t i;
	json_t *it;
	json_array_foreach(list, i, it)
	{
		struct provider_fields f = {0};
		if (!json_is_object(it) || json_only_fields(it, fields, e) ||
		    json_opt_str(it, "id", &f.id, e) || json_opt_str(it, "name", &f.name, e) ||
		    json_req_str(it, "issuer", &f.issuer, e) ||
		    json_req_str(it, "client_id", &f.client_id, e) ||
		    json_opt_str(it, "client_secret", &f.secret, e) ||
		    json_opt_str(it, "client_secret_file", &f.secret_file, e) ||
		    json_opt_str(it, "groups_claim", &f.groups_claim, e) ||
		    json_opt_str(it, "project_groups", &f.project_groups, e) ||
		    json_opt_str(it, "admin_group", &f.admin_group, e) ||
		    json_opt_str(it, "required_group", &f.required_group, e) ||
		    json_opt_str(it, "token_endpoint_auth_method", &f.auth_method, e)) {
			rc = err_set(e, COVE_EINVAL, "%s: provider %zu: %s", path, i + 1,
				     e->msg[0] ? e->msg : "must be an object");
			goto out;
		}
		f.project_roles = json_object_get(it, "project_roles");
		if (f.project_roles && !json_is_object(f.project_roles)) {
			rc = err_set(e, COVE_EINVAL, "%s: project_roles must be an object", path);
			goto out;
		}
		if (!f.groups_claim)
			f.groups_claim = cfg->oidc_groups_claim;
		o->n++;
		if ((rc = provider_init(&o->p[i], &f, e))) {
			rc = err_set(e, rc, "%s: provider %zu: %s", path, i + 1, e->msg);
			goto out;
		}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(o->p[k].id, o->p[i].id)) {
				rc = err_set(e, COVE_EINVAL, "%s: two providers named '%s'", path,
					     o->p[i].id);
				goto out;
			}
	}
out:
	json_decref(root);
	return rc;
}

int oidc_open(struct oidc **out, const struct config *cfg, struct err *e)
{
	*out = NULL;
	int flags = cfg->oidc_issuer && *cfg->oidc_issuer;
	int file = cfg->oidc_config && *cfg->oidc_config;
	if (!flags && !file)
		return 0;
	if (flags && file)
		return err_set(e, COVE_EINVAL,
			       "--oidc-issuer and --oidc-config: give one or the other");
	struct oidc *o = xcalloc(1, sizeof(*o));
	o->skew = cfg->oidc_skew;
	o->jwks_refetch = cfg->oidc_jwks_refetch;
	int rc;
	if (file) {
		rc = config_file_load(o, cfg->oidc_config, cfg, e);
	} else {
		struct provider_fields f = {
			.name = cfg->oidc_name,
			.issuer = cfg->oidc_issuer,
			.client_id = cfg->oidc_client_id,
			.secret_file = cfg->oidc_client_secret_file,
			.groups_claim = cfg->oidc_groups_claim,
			.project_groups = cfg->oidc_project_groups,
			.admin_group = cfg->oidc_admin_group,
			.required_group = cfg->oidc_required_group,
		};
		o->p = xcalloc(1, sizeof(*o->p));
		o->n = 1;
		rc = provider_init(&o->p[0], &f, e);
		if (rc)
			rc = err_set(e, rc, "--oidc-issuer: %s", e->msg);
	}
	if (rc) {
		oidc_close(o);
		return rc;
	}
	*out = o;
	return 0;
}

struct oidc_provider *oidc_find(struct oidc *o, const char *id)
{
	for (size_t i = 0; o && id && i < o->n; i++)
		if (!strcmp(o->p[i].id, id))
			return &o->p[i];
	return NULL;
}

/* ---- HTTP to the provider ----------------------------------------------------- */

static size_t http_write(char *ptr, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	if (b->len + size * n > HTTP_MAX)
		return 0;
	buf_add(b, ptr, size * n);
	return size * n;
}

/* GET url (form NULL) or POST form (application/x-www-form-urlencoded),
 * with the client's credentials when p is given. *status is the HTTP
 * status; *body the parsed JSON object (caller decrefs) or NULL. A
 * provider that cannot be reached: COVE_EUNAVAIL. */
static int http_call(const struct oidc_provider *p, const char *url, const char *form,
		     long *status, json_t **body, struct err *e)
{
	*body = NULL;
	*status = 0;
	CURL *h = curl_easy_init();
	if (!h)
		return err_set(e, COVE_EINTERNAL, "curl_easy_init failed");
	struct buf b = {0};
	struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cove");
	if (form) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		if (p && p->client_secret && !strcmp(p->auth_method, "client_secret_basic")) {
			/* RFC 6749 2.3.1: each part form-encoded first */
			char *u = curl_easy_escape(h, p->client_id, 0);
			char *pw = curl_easy_escape(h, p->client_secret, 0);
			curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
			curl_easy_setopt(h, CURLOPT_USERNAME, u);
			curl_easy_setopt(h, CURLOPT_PASSWORD, pw);
			curl_free(u);
			curl_free(pw);
		}
	}
	CURLcode cc = curl_easy_perform(h);
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = err_set(e, COVE_EUNAVAIL,
			     "the identity provider cannot be reached (%s); try again later "
			     "or log in with a password",
			     curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	json_t *j = json_loadb(buf_str(&b), b.len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	*body = j;
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	buf_free(&b);
	return rc;
}

/* The discovery document (borrowed while p->lock is held by the caller,
 * so we hand out a reference): fetched at first use, kept an hour, and
 * kept longer when the provider cannot be reached again. */
int oidc_metadata(struct oidc_provider *p, json_t **meta, struct err *e)
{
	int64_t now = time_now();
	pthread_mutex_lock(&p->lock);
	if (p->meta && now - p->meta_at < DISCOVERY_TTL) {
		*meta = json_incref(p->meta);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	pthread_mutex_unlock(&p->lock);
	char *url = xasprintf("%s/.well-known/openid-configuration", p->issuer);
	long status;
	json_t *doc = NULL;
	int rc = http_call(NULL, url, NULL, &status, &doc, e);
	free(url);
	if (rc == 0 && (status != 200 || !doc))
		rc = err_set(e, COVE_EUNAVAIL,
			     "the identity provider's discovery document is unavailable "
			     "(HTTP %ld)",
			     status);
	if (rc == 0) {
		const char *iss = json_string_value(json_object_get(doc, "issuer"));
		const char *ae = json_string_value(json_object_get(doc, "authorization_endpoint"));
		const char *te = json_string_value(json_object_get(doc, "token_endpoint"));
		const char *ju = json_string_value(json_object_get(doc, "jwks_uri"));
		if (!iss || strcmp(iss, p->issuer) || !ae || !te || !ju)
			rc = err_set(e, COVE_EUNAVAIL,
				     "the identity provider's discovery document names another "
				     "issuer or lacks endpoints");
	}
	pthread_mutex_lock(&p->lock);
	if (rc == 0) {
		json_decref(p->meta);
		p->meta = doc;
		p->meta_at = now;
		doc = NULL;
	}
	if (p->meta) {
		*meta = json_incref(p->meta);
		rc = 0;
	}
	pthread_mutex_unlock(&p->lock);
	json_decref(doc);
	return rc;
}

const char *oidc_meta_str(json_t *meta, const char *key)
{
	return json_string_value(json_object_get(meta, key));
}

/* Fetch the JWKS into p (called with p->lock not held). */
static int jwks_fetch(struct oidc_provider *p, json_t *meta, struct err *e)
{
	long status;
	json_t *doc = NULL;
	int rc = http_call(NULL, oidc_meta_str(meta, "jwks_uri"), NULL, &status, &doc, e);
	if (rc)
		return rc;
	jwks_t *k = NULL;
	if (status != 200 || !doc || r_jwks_init(&k) != RHN_OK ||
	    r_jwks_import_from_json_t(k, doc) != RHN_OK) {
		if (k)
			r_jwks_free(k);
		json_decref(doc);
		return err_set(e, COVE_EUNAVAIL,
			       "the identity provider's keys (JWKS) are unavailable");
	}
	json_decref(doc);
	pthread_mutex_lock(&p->lock);
	if (p->jwks)
		r_jwks_free(p->jwks);
	p->jwks = k;
	p->jwks_at_ms = time_now_ms();
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* A copy of the provider's key named kid (or its only key when kid is
 * NULL), *key NULL when there is none. Caller frees with r_jwk_free. */
static void jwks_lookup(struct oidc_provider *p, const char *kid, jwk_t **key)
{
	*key = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->jwks) {
		jwk_t *k = NULL;
		if (kid)
			k = r_jwks_get_by_kid(p->jwks, kid);
		else if (r_jwks_size(p->jwks) == 1)
			k = r_jwks_get_at(p->jwks, 0);
		*key = k; /* rhonabwy hands out a copy */
	}
	pthread_mutex_unlock(&p->lock);
}

/* ---- ID tokens --------------------------------------------------------------- */

static int alg_asymmetric(const char *alg)
{
	static const char *const ok[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
					 "PS512", "ES256", "ES384", "ES512", "EdDSA",
					 NULL};
	for (int i = 0; ok[i]; i++)
		if (!strcmp(alg, ok[i]))
			return 1;
	return 0;
}

/* 1 when the provider announces alg for ID tokens (RS256 when it says
 * nothing, as OpenID Connect Discovery requires). */
static int alg_announced(json_t *meta, const char *alg)
{
	json_t *a = json_object_get(meta, "id_token_signing_alg_values_supported");
	if (!json_is_array(a))
		return !strcmp(alg, "RS256");
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), alg))
		return 1;
	return 0;
}

static int refuse(struct err *e, const char *why)
{
	return err_set(e, COVE_EAUTH, "ID token refused: %s", why);
}

int oidc_claims_check(const struct oidc *o, const struct oidc_provider *p,
		      json_t *c, const char *nonce, int64_t now, struct err *e)
{
	const char *iss = json_string_value(json_object_get(c, "iss"));
	if (!iss || strcmp(iss, p->issuer))
		return refuse(e, "wrong issuer (iss)");
	json_t *aud = json_object_get(c, "aud");
	int aud_ok = 0;
	size_t naud = 0;
	if (json_is_string(aud)) {
		naud = 1;
		aud_ok = !strcmp(json_string_value(aud), p->client_id);
	} else if (json_is_array(aud)) {
		size_t i;
		json_t *v;
		naud = json_array_size(aud);
		json_array_foreach(aud, i, v) if (json_is_string(v) &&
						  !strcmp(json_string_value(v), p->client_id))
			aud_ok = 1;
	}
	if (!aud_ok)
		return refuse(e, "not issued for this server (aud)");
	json_t *azp = json_object_get(c, "azp");
	if (azp && (!json_is_string(azp) || strcmp(json_string_value(azp), p->client_id)))
		return refuse(e, "issued to another client (azp)");
	if (naud > 1 && !azp)
		return refuse(e, "several audiences and no azp");
	json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
	json_t *nbf = json_object_get(c, "nbf");
	if (!json_is_integer(exp) || !json_is_integer(iat))
		return refuse(e, "exp and iat are required");
	if (json_integer_value(exp) + o->skew < now)
		return refuse(e, "expired (exp)");
	if (json_integer_value(iat) - o->skew > now)
		return refuse(e, "issued in the future (iat)");
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) - o->skew > now))
		return refuse(e, "not valid yet (nbf)");
	const char *sub = json_string_value(json_object_get(c, "sub"));
	if (!sub || !*sub || strlen(sub) > 255 || !utf8_valid(sub, strlen(sub)))
		return refuse(e, "sub is missing or malformed");
	json_t *n = json_object_get(c, "nonce");
	if (nonce) {
		if (!json_is_string(n))
			return refuse(e, "nonce missing");
		if (strcmp(json_string_value(n), nonce))
			return refuse(e, "wrong nonce (a replayed or injected token)");
	}
	return 0;
}

int oidc_verify_id_token(struct oidc *o, struct oidc_provider *p, const char *token,
			 const char *nonce, json_t **claims, struct err *e)
{
	*claims = NULL;
	jwt_t *jwt = NULL;
	jwk_t *key = NULL;
	json_t *meta = NULL, *c = NULL;
	int rc;
	if (!token || !*token || strlen(token) > ID_TOKEN_MAX)
		return refuse(e, "missing or too long");
	if ((rc = oidc_metadata(p, &meta, e)))
		return rc;
	if (r_jwt_init(&jwt) != RHN_OK) {
		rc = err_set(e, COVE_EINTERNAL, "r_jwt_init failed");
		goto out;
	}
	/* R_PARSE_NONE: no key taken from the token's own header (jwk, jku,
	 * x5c, x5u), and unsigned tokens do not parse */
	if (r_jwt_advanced_parse(jwt, token, R_PARSE_NONE, 0) != RHN_OK ||
	    r_jwt_get_type(jwt) != R_JWT_TYPE_SIGN) {
		rc = refuse(e, "not a signed JWT (alg none and encrypted tokens are refused)");
		goto out;
	}
	const char *alg = r_jwa_alg_to_str(r_jwt_get_sign_alg(jwt));
	if (!alg || !alg_asymmetric(alg) || !alg_announced(meta, alg)) {
		err_set(e, COVE_EAUTH, "ID token refused: algorithm %s is not one the "
				       "provider announces (asymmetric only)",
			alg ? alg : "unknown");
		rc = COVE_EAUTH;
		goto out;
	}
	const char *kid = r_jwt_get_header_str_value(jwt, "kid");
	int fetched = 0;
	pthread_mutex_lock(&p->lock);
	int have = p->jwks != NULL;
	int64_t since = time_now_ms() - p->jwks_at_ms;
	pthread_mutex_unlock(&p->lock);
	if (!have) {
		if ((rc = jwks_fetch(p, meta, e)))
			goto out;
		fetched = 1;
	}
	jwks_lookup(p, kid, &key);
	if (!key && !fetched && since >= o->jwks_refetch * 1000) {
		/* an unknown kid: the provider may have rotated its keys */
		if ((rc = jwks_fetch(p, meta, e)))
			goto out;
		jwks_lookup(p, kid, &key);
	}
	if (!key) {
		rc = refuse(e, "signed by a key the provider does not publish (kid)");
		goto out;
	}
	unsigned bits = 0;
	int kt = r_jwk_key_type(key, &bits, 0);
	const char *kalg = r_jwk_get_property_str(key, "alg");
	if (!(kt & R_KEY_TYPE_PUBLIC) || (kt & R_KEY_TYPE_SYMMETRIC) ||
	    (kalg && strcmp(kalg, alg))) {
		rc = refuse(e, "the key named does not fit the algorithm");
		goto out;
	}
	if (r_jwt_verify_signature(jwt, key, 0) != RHN_OK) {
		rc = refuse(e, "bad signature");
		goto out;
	}
	c = r_jwt_get_full_claims_json_t(jwt);
	if (!json_is_object(c)) {
		rc = refuse(e, "claims are not a JSON object");
		goto out;
	}
	if ((rc = oidc_claims_check(o, p, c, nonce, time_now(), e)))
		goto out;
	*claims = c;
	c = NULL;
out:
	json_decref(c);
	json_decref(meta);
	r_jwk_free(key);
	r_jwt_free(jwt);
	return rc;
}

/* ---- calls to the token and device endpoints ---------------------------------- */

/* key=value&... with values percent-encoded; NULL values skipped. */
static char *form_build(const char *const *kv)
{
	CURL *h = curl_easy_init();
	struct buf b = {0};
	for (int i = 0; kv[i]; i += 2) {
		if (!kv[i + 1])
			continue;
		char *v = curl_easy_escape(h, kv[i + 1], 0);
		buf_addf(&b, "%s%s=%s", b.len ? "&" : "", kv[i], v ? v : "");
		curl_free(v);
	}
	curl_easy_cleanup(h);
	return buf_detach(&b);
}

int oidc_token_call(struct oidc_provider *p, const char *endpoint_key,
		    const char *const *params, long *status, json_t **body, struct err *e)
{
	json_t *meta = NULL;
	int rc = oidc_metadata(p, &meta, e);
	if (rc)
		return rc;
	const char *url = oidc_meta_str(meta, endpoint_key);
	if (!url) {
		json_decref(meta);
		return err_set(e, COVE_EUNAVAIL, "the identity provider offers no %s",
			       endpoint_key);
	}
	const char *kv[32];
	int n = 0;
	for (int i = 0; params[i] && n < 26; i++)
		kv[n++] = params[i];
	int post = !p->client_secret || !strcmp(p->auth_method, "client_secret_post");
	kv[n++] = "client_id";
	kv[n++] = post ? p->client_id : NULL;
	kv[n++] = "client_secret";
	kv[n++] = post ? p->client_secret : NULL;
	kv[n] = NULL;
	char *form = form_build(kv);
	rc = http_call(p, url, form, status, body, e);
	free(form);
	json_decref(meta);
	return rc;
}

char *oidc_authorize_url(struct oidc_provider *p, json_t *meta, const char *redirect_uri,
			 const char *state, const char *nonce, const char *challenge)
{
	const char *kv[] = {"response_type", "code", "client_id", p->client_id,
			    "redirect_uri", redirect_uri, "scope", "openid profile email",
			    "state", state, "nonce", nonce, "code_challenge", challenge,
			    "code_challenge_method", "S256", NULL};
	char *q = form_build(kv);
	const char *ae = oidc_meta_str(meta, "authorization_endpoint");
	char *url = xasprintf("%s%c%s", ae, strchr(ae, '?') ? '&' : '?', q);
	free(q);
	return url;
}
