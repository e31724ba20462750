/*
 * v2.c - the OCI Distribution API under /v2/, its reading side: the path
 * after /v2/ parsed and checked (one catch-all route per method, since
 * names hold slashes), the principal of a request and what it may do, OCI
 * error bodies and the Bearer challenge, and the GET, HEAD and DELETE
 * endpoints (base, catalog, tags, manifests, blobs with Range, referrers).
 * Pushes are in push.c.
 */
#include "registry/v2.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>


/* ---- OCI replies ------------------------------------------------------------ */

void v2_api_version(struct req *r)
{
	reply_header(r, "Docker-Distribution-API-Version", "registry/2.0");
}

/* Where clients reach us: the configured public URL, else the Host. */
static char *base_url(struct req *r)
{
	const char *pub = r->srv->cfg->public_url;
	if (pub && *pub) {
		size_t n = strlen(pub);
		while (n && pub[n - 1] == '/')
			n--;
		return xstrndup(pub, n);
	}
	const char *host = req_header(r, "Host");
	if (!host || !*host || strpbrk(host, "\"\\ \r\n"))
		host = r->srv->cfg->listen;
	return xasprintf("%s://%s", r->srv->tls ? "https" : "http", host);
}

void oci_error(struct req *r, int status, const char *code, const char *detail,
	       const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *err = json_pack("{s:s,s:s}", "code", code, "message", msg);
	if (detail)
		json_object_set_new(err, "detail", json_string(detail));
	json_t *o = json_pack("{s:[o]}", "errors", err);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply_text(r, status, "application/json", s, strlen(s));
	free(s);
	v2_api_version(r);
}

/* 401 with the challenge that tells a client where to get a token. */
void v2_challenge(struct req *r, const char *scope, const char *why)
{
	oci_error(r, 401, "UNAUTHORIZED", NULL, "%s", why);
	char *base = base_url(r);
	char *h = scope ? xasprintf("Bearer realm=\"%s/v1/registry/token\",service=\"cove\","
				    "scope=\"%s\"",
				    base, scope)
			: xasprintf("Bearer realm=\"%s/v1/registry/token\",service=\"cove\"",
				    base);
	reply_header(r, "WWW-Authenticate", h);
	free(h);
	free(base);
}

/* An error from the domain, as the OCI code that fits the operation. */
void oci_from_err(struct req *r, const struct err *e, const char *unknown)
{
	switch (e->code) {
	case COVE_ENOENT: oci_error(r, 404, unknown, NULL, "%s", e->msg); break;
	case COVE_EPERM: oci_error(r, 403, "DENIED", NULL, "%s", e->msg); break;
	case COVE_EAUTH: oci_error(r, 401, "UNAUTHORIZED", NULL, "%s", e->msg); break;
	case COVE_EINVAL: oci_error(r, 400, "MANIFEST_INVALID", NULL, "%s", e->msg); break;
	case COVE_ETOOBIG: oci_error(r, 403, "DENIED", NULL, "%s", e->msg); break;
	case COVE_ETOOMANY: oci_error(r, 429, "TOOMANYREQUESTS", NULL, "%s", e->msg); break;
	case COVE_EEXIST:
	case COVE_ECONFLICT: oci_error(r, 409, "DENIED", NULL, "%s", e->msg); break;
	default:
		log_event(LOG_ERROR, "registry", "{s:s,s:s}", "error", e->msg,
			  "request_id", r->actor.request_id);
		oci_error(r, 500, "UNKNOWN", NULL,
			  "internal error; the request id identifies it in the server log");
	}
}

/* ---- the path -------------------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !memcmp(s + n - k, suffix, k);
}

/* Parse what follows /v2/. 0 ok; -1 not a registry route; -2 bad name. */
int v2_parse(const char *rest, struct v2path *p)
{
	memset(p, 0, sizeof(*p));
	if (!*rest) {
		p->kind = V2_BASE;
		return 0;
	}
	if (!strcmp(rest, "_catalog")) {
		p->kind = V2_CATALOG;
		return 0;
	}
	const char *slash = strrchr(rest, '/');
	if (!slash)
		return -1;
	const char *tail = slash + 1;
	size_t before = (size_t)(slash - rest);
	size_t cut;
	if (ends_with(rest, before, "/blobs/uploads")) {
		p->kind = V2_UPLOAD;
		cut = before - strlen("/blobs/uploads");
	} else if (ends_with(rest, before, "/blobs")) {
		p->kind = V2_BLOB;
		cut = before - strlen("/blobs");
	} else if (ends_with(rest, before, "/manifests")) {
		p->kind = V2_MANIFEST;
		cut = before - strlen("/manifests");
	} else if (ends_with(rest, before, "/referrers")) {
		p->kind = V2_REFERRERS;
		cut = before - strlen("/referrers");
	} else if (ends_with(rest, before, "/tags") && !strcmp(tail, "list")) {
		p->kind = V2_TAGS;
		cut = before - strlen("/tags");
		tail = "";
	} else {
		return -1;
	}
	if (strlen(tail) >= sizeof(p->ref))
		return -1;
	snprintf(p->ref, sizeof(p->ref), "%s", tail);
	if (cut == 0 || cut > REG_NAME_MAX)
		return -2;
	memcpy(p->name, rest, cut);
	p->name[cut] = '\0';
	return reg_name_valid(p->name) ? 0 : -2;
}

/* ---- who is asking ------------------------------------------------------------- */

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Standard base64 (padding optional) into a NUL-terminated string. */
static char *b64_decode(const char *s)
{
	struct buf b = {0};
	uint32_t v = 0;
	int bits = 0;
	for (; *s && *s != '='; s++) {
		int x = b64val(*s);
		if (x < 0) {
			buf_free(&b);
			return NULL;
		}
		v = (v << 6) | (uint32_t)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(&b, (char)((v >> bits) & 0xff));
		}
	}
	if (!b.data)
		buf_addc(&b, '\0'), b.len = 0;
	if (strlen(b.data) != b.len) { /* an embedded NUL */
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* Establish the principal of a registry request (or of the token
 * endpoint): Bearer registry token, Bearer cove token (already verified
 * by the HTTP layer), Basic credentials, or nobody. */
int v2_principal_load(struct req *r, struct dbconn *c, struct principal *p,
			  struct err *e)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->act.ip, sizeof(p->act.ip), "%s", r->actor.ip);
	snprintf(p->act.request_id, sizeof(p->act.request_id), "%s",
		 r->actor.request_id);
	const char *h = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h)
		return 0;
	if (!strncasecmp(h, "Bearer ", 7)) {
		if (r->actor.authenticated) {
			p->kind = PR_USER;
			p->uid = r->actor.uid;
			p->admin = r->actor.admin;
			p->scopes = r->actor.scopes;
			snprintf(p->name, sizeof(p->name), "%s", r->actor.username);
			p->act = r->actor;
			return 0;
		}
		const char *tok = h + 7;
		while (*tok == ' ')
			tok++;
		json_t *claims = NULL;
		int rc = auth_verify(RG(r)->auth, tok, REG_AUDIENCE, &claims, e);
		if (rc)
			return err_set(e, COVE_EAUTH, "invalid or expired token");
		rc = reg_principal_from_claims(c, claims, p, e);
		json_decref(claims);
		return rc;
	}
	if (!strncasecmp(h, "Basic ", 6)) {
		const char *v = h + 6;
		while (*v == ' ')
			v++;
		if (strlen(v) > 2048)
			return err_set(e, COVE_EAUTH, "credentials are too long");
		char *dec = b64_decode(v);
		char *colon = dec ? strchr(dec, ':') : NULL;
		if (!colon) {
			free(dec);
			return err_set(e, COVE_EAUTH, "malformed Basic credentials");
		}
		*colon = '\0';
		int rc;
		if (strchr(dec, '+')) {
			rc = reg_robot_login(c, dec, colon + 1, p, e);
		} else {
			struct actor a = r->actor;
			rc = auth_basic(RG(r)->auth, dec, colon + 1, &a, e);
			if (rc == 0) {
				p->kind = PR_USER;
				p->uid = a.uid;
				p->admin = a.admin;
				p->scopes = a.scopes;
				snprintf(p->name, sizeof(p->name), "%s", a.username);
				p->act = a;
			}
		}
		free(dec);
		if (rc)
			return rc == COVE_ETOOMANY ? rc : err_set(e, COVE_EAUTH, "%s", e->msg);
		snprintf(p->act.ip, sizeof(p->act.ip), "%s", r->actor.ip);
		snprintf(p->act.request_id, sizeof(p->act.request_id), "%s",
			 r->actor.request_id);
		return 0;
	}
	return err_set(e, COVE_EAUTH, "unsupported authorization scheme");
}

void v2_principal_free(struct principal *p)
{
	json_decref(p->access);
	p->access = NULL;
}

static void scope_for(const char *name, unsigned need, char *out, size_t n)
{
	snprintf(out, n, "repository:%s:%s%s", name,
		 (need & ACT_PUSH) ? "pull,push" : "pull",
		 (need & ACT_DELETE) ? ",delete" : "");
}

/* 0 when p may do need on name; otherwise replies (401 with a challenge
 * when a token could help, 403 DENIED or 404 NAME_UNKNOWN) and returns 1. */
int v2_authorize(struct req *r, struct dbconn *c, const struct principal *p,
		     const char *name, unsigned need)
{
	int ns = 0;
	unsigned live = reg_allowed(c, p, name, &ns);
	unsigned tok = reg_token_grants(p, "repository", name);
	if ((live & tok & need) == need)
		return 0;
	char scope[REG_NAME_MAX + 64];
	scope_for(name, need, scope, sizeof(scope));
	if (p->kind == PR_ANON) {
		v2_challenge(r, scope, "authentication required");
		return 1;
	}
	if (!ns) {
		oci_error(r, 404, "NAME_UNKNOWN", NULL,
			  "no project or user owns the namespace of %s", name);
		return 1;
	}
	if ((live & need) == need) {
		v2_challenge(r, scope, "the token does not grant this access");
		return 1;
	}
	oci_error(r, 403, "DENIED", NULL, "requested access to %s is denied", name);
	return 1;
}

/* Parse path and principal of a /v2 request; on failure replies. */
int v2_enter(struct req *r, struct dbconn *c, struct v2path *vp,
		    struct principal *p)
{
	const char *rest = req_param(r, "path");
	int rc = v2_parse(rest ? rest : "", vp);
	if (rc == -1) {
		oci_error(r, 404, "UNSUPPORTED", NULL, "no such registry endpoint");
		return 1;
	}
	if (rc == -2) {
		oci_error(r, 400, "NAME_INVALID", NULL,
			  "invalid repository name (want <namespace>/<repo>, lowercase)");
		return 1;
	}
	struct err e = {0};
	if (v2_principal_load(r, c, p, &e)) {
		if (e.code == COVE_ETOOMANY) {
			oci_error(r, 429, "TOOMANYREQUESTS", NULL, "%s", e.msg);
			return 1;
		}
		v2_challenge(r, NULL, e.msg);
		return 1;
	}
	/* the access log names who it was (registry tokens and Basic
	 * credentials are not known to the HTTP layer) */
	if (p->kind != PR_ANON && !r->actor.authenticated)
		snprintf(r->actor.username, sizeof(r->actor.username), "%s", p->act.username);
	if (p->kind != PR_ANON)
		r->actor.authenticated = 1;
	return 0;
}

/* ---- GET /v2/ and the catalog ------------------------------------------------- */

static void v2_base(struct req *r, const struct principal *p)
{
	if (p->kind == PR_ANON) {
		v2_challenge(r, NULL, "authentication required");
		return;
	}
	reply_text(r, 200, "application/json", "{}", 2);
	v2_api_version(r);
}

/* n=, or -1 when absent; -2 when malformed. */
static int query_n(struct req *r)
{
	const char *v = req_query(r, "n");
	if (!v)
		return -1;
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < 0)
		return -2;
	return n > 10000 ? 10000 : (int)n;
}

static void link_next(struct req *r, const char *path, int n, const char *last)
{
	char *h = xasprintf("<%s?n=%d&last=%s>; rel=\"next\"", path, n, last);
	reply_header(r, "Link", h);
	free(h);
}

static void v2_catalog(struct req *r, struct dbconn *c, const struct principal *p)
{
	if (p->kind == PR_ANON) {
		v2_challenge(r, "registry:catalog:*", "authentication required");
		return;
	}
	int n = query_n(r);
	if (n == -2) {
		oci_error(r, 400, "PAGINATION_NUMBER_INVALID", NULL, "n must be a number");
		return;
	}
	if (n < 0)
		n = 1000;
	if (n == 0) {
		reply_json(r, 200, json_pack("{s:[]}", "repositories"));
		v2_api_version(r);
		return;
	}
	const char *last = req_query(r, "last");
	struct stmt *st;
	struct err e = {0};
	if (db_query(c, &st, &e,
		     "SELECT name FROM repositories r WHERE name > ? AND EXISTS (SELECT 1 "
		     "FROM manifests m WHERE m.repo = r.id) ORDER BY name",
		     "s", last ? last : "")) {
		oci_from_err(r, &e, "NAME_UNKNOWN");
		return;
	}
	json_t *names = json_array();
	char *more = NULL;
	while (db_step(st, NULL) == 1) {
		const char *name = db_text(st, 0);
		int ns;
		if (!(reg_allowed(c, p, name, &ns) & ACT_PULL))
			continue;
		if ((int)json_array_size(names) >= n) {
			more = xstrdup(json_string_value(json_array_get(names, json_array_size(names) - 1)));
			break;
		}
		json_array_append_new(names, json_string(name));
	}
	db_done(st);
	reply_json(r, 200, json_pack("{s:o}", "repositories", names));
	v2_api_version(r);
	if (more && n > 0)
		link_next(r, "/v2/_catalog", n, more);
	free(more);
}

/* ---- tags ------------------------------------------------------------------------ */

static void v2_tags(struct req *r, struct dbconn *c, const struct v2path *vp)
{
	int64_t repo;
	if (!reg_repo_find(c, vp->name, &repo)) {
		oci_error(r, 404, "NAME_UNKNOWN", NULL, "repository %s is not known", vp->name);
		return;
	}
	int n = query_n(r);
	if (n == -2) {
		oci_error(r, 400, "PAGINATION_NUMBER_INVALID", NULL, "n must be a number");
		return;
	}
	if (n == 0) {
		reply_json(r, 200, json_pack("{s:s,s:[]}", "name", vp->name, "tags"));
		v2_api_version(r);
		return;
	}
	const char *last = req_query(r, "last");
	struct stmt *st;
	struct err e = {0};
	if (db_query(c, &st, &e,
		     "SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name LIMIT ?",
		     "isi", repo, last ? last : "", (int64_t)(n < 0 ? 100000 : n + 1))) {
		oci_from_err(r, &e, "NAME_UNKNOWN");
		return;
	}
	json_t *tags = json_array();
	int more = 0;
	while (db_step(st, NULL) == 1) {
		if (n >= 0 && (int)json_array_size(tags) >= n) {
			more = 1;
			break;
		}
		json_array_append_new(tags, json_string(db_text(st, 0)));
	}
	db_done(st);
	char *lastc = more ? xstrdup(json_string_value(json_array_get(tags, json_array_size(tags) - 1)))
			   : NULL;
	reply_json(r, 200, json_pack("{s:s,s:o}", "name", vp->name, "tags", tags));
	v2_api_version(r);
	if (lastc) {
		char *path = xasprintf("/v2/%s/tags/list", vp->name);
		link_next(r, path, n, lastc);
		free(path);
	}
	free(lastc);
}

/* ---- manifests: GET, HEAD, DELETE ------------------------------------------------- */

int v2_ref_valid(const char *ref)
{
	char hex[65];
	return reg_tag_valid(ref) || reg_digest_parse(ref, hex);
}

/* What Accept says about manifest types, over every Accept header. */
struct accept {
	const char *stored;
	int negotiates; /* names at least one manifest media type */
	int ok;         /* names the stored type, or a wildcard */
};

static const char *const manifest_types[] = {MT_OCI_MANIFEST, MT_OCI_INDEX,
					     MT_DOCKER_MANIFEST, MT_DOCKER_LIST, NULL};

static enum MHD_Result accept_one(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *value)
{
	struct accept *a = cls;
	if (!key || !value || strcasecmp(key, "Accept"))
		return MHD_YES;
	const char *p = value;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ",;");
		while (n && p[n - 1] == ' ')
			n--;
		if ((n == 3 && !strncmp(p, "*/*", 3)) ||
		    (n == strlen(a->stored) && !strncasecmp(p, a->stored, n)))
			a->ok = 1;
		for (int i = 0; manifest_types[i]; i++)
			if (n == strlen(manifest_types[i]) && !strncasecmp(p, manifest_types[i], n))
				a->negotiates = 1;
		p += strcspn(p, ",");
	}
	return MHD_YES;
}

/* A client that lists the manifest types it understands and not this
 * one would fail to read it: we do not convert between formats, so such
 * a manifest is unknown to it (as in the reference registry). Clients
 * that name no manifest type (curl, Accept: application/json) get it. */
static int accepts(struct req *r, const char *stored)
{
	struct accept a = {.stored = stored};
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, accept_one, &a);
	return a.ok || !a.negotiates;
}

static void v2_manifest_get(struct req *r, struct dbconn *c, const struct v2path *vp)
{
	if (!v2_ref_valid(vp->ref)) {
		oci_error(r, 400, strncmp(vp->ref, "sha", 3) ? "MANIFEST_INVALID" : "DIGEST_INVALID",
			  NULL, "invalid tag or digest");
		return;
	}
	int64_t repo, size;
	char hex[65], *mt = NULL;
	if (!reg_repo_find(c, vp->name, &repo)) {
		oci_error(r, 404, "NAME_UNKNOWN", NULL, "repository %s is not known", vp->name);
		return;
	}
	if (!reg_manifest_find(c, repo, vp->ref, hex, &mt, &size)) {
		oci_error(r, 404, "MANIFEST_UNKNOWN", NULL, "manifest %s is not known", vp->ref);
		return;
	}
	if (!accepts(r, mt)) {
		oci_error(r, 404, "MANIFEST_UNKNOWN", NULL,
			  "manifest %s is a %s, which the Accept header does not list",
			  vp->ref, mt);
		free(mt);
		return;
	}
	struct err e = {0};
	int64_t got;
	int fd = files_blob_open(RG(r)->files, hex, &got, &e);
	if (fd < 0) {
		free(mt);
		oci_from_err(r, &e, "MANIFEST_UNKNOWN");
		return;
	}
	reply_fd(r, 200, mt, fd, 0, (uint64_t)size);
	char dig[80];
	snprintf(dig, sizeof(dig), "sha256:%s", hex);
	reply_header(r, "Docker-Content-Digest", dig);
	char etag[84];
	snprintf(etag, sizeof(etag), "\"%s\"", dig);
	reply_header(r, "ETag", etag);
	v2_api_version(r);
	free(mt);
}

/* The end of a DELETE: audited either way; 202, or the error (unknown: the
 * code for a missing object). */
static void v2_deleted(struct req *r, struct dbconn *c, const struct principal *p,
		       const char *action, const char *target, int rc,
		       const struct err *e, const char *unknown)
{
	auth_audit(c, &p->act, action, target, rc == 0, rc ? e->msg : NULL);
	if (rc) {
		oci_from_err(r, e, unknown);
		return;
	}
	reply_empty(r, 202);
	v2_api_version(r);
}

static void v2_manifest_delete(struct req *r, struct dbconn *c,
			       const struct v2path *vp, const struct principal *p)
{
	if (!v2_ref_valid(vp->ref)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid tag or digest");
		return;
	}
	struct err e = {0};
	int rc = reg_manifest_delete(c, &p->act, vp->name, vp->ref, &e);
	char *target = xasprintf("%s:%s", vp->name, vp->ref);
	v2_deleted(r, c, p, "registry.delete", target, rc, &e, "MANIFEST_UNKNOWN");
	free(target);
}

/* ---- blobs: GET, HEAD, DELETE ------------------------------------------------------ */

/* Parse "bytes=a-b", "bytes=a-", "bytes=-n" against size: 1 a range, 0
 * none, -1 unsatisfiable or malformed. */
int v2_range_parse(const char *h, int64_t size, int64_t *from, int64_t *to)
{
	if (!h)
		return 0;
	if (strncmp(h, "bytes=", 6) || strchr(h, ','))
		return -1;
	const char *p = h + 6;
	char *end;
	if (*p == '-') {
		if (!p[1])
			return -1;
		long long n = strtoll(p + 1, &end, 10);
		if (*end || n <= 0 || size == 0)
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return 1;
	}
	if (*p < '0' || *p > '9')
		return -1;
	long long a = strtoll(p, &end, 10);
	if (*end != '-')
		return -1;
	p = end + 1;
	long long b = size - 1;
	if (*p) {
		if (*p < '0' || *p > '9')
			return -1;
		b = strtoll(p, &end, 10);
		if (*end)
			return -1;
	}
	if (a >= size || b < a)
		return -1;
	if (b >= size)
		b = size - 1;
	*from = a;
	*to = b;
	return 1;
}

static void v2_blob_get(struct req *r, struct dbconn *c, const struct v2path *vp)
{
	char hex[65];
	if (!reg_digest_parse(vp->ref, hex)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid digest (want sha256:<hex>)");
		return;
	}
	int64_t repo, size;
	if (!reg_repo_find(c, vp->name, &repo)) {
		oci_error(r, 404, "NAME_UNKNOWN", NULL, "repository %s is not known", vp->name);
		return;
	}
	char mhex[65], *mt = NULL;
	if (!reg_blob_linked(c, repo, hex, &size)) {
		if (!reg_manifest_find(c, repo, vp->ref, mhex, &mt, &size)) {
			oci_error(r, 404, "BLOB_UNKNOWN", NULL, "blob %s is not known", vp->ref);
			return;
		}
		free(mt);
	}
	struct err e = {0};
	int64_t got;
	int fd = files_blob_open(RG(r)->files, hex, &got, &e);
	if (fd < 0) {
		oci_from_err(r, &e, "BLOB_UNKNOWN");
		return;
	}
	int64_t from = 0, to = size - 1;
	int rr = v2_range_parse(req_header(r, "Range"), size, &from, &to);
	if (rr < 0) {
		close(fd);
		oci_error(r, 416, "BLOB_UNKNOWN", NULL, "range not satisfiable");
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%lld", (long long)size);
		reply_header(r, "Content-Range", cr);
		return;
	}
	reply_fd(r, rr ? 206 : 200, "application/octet-stream", fd, (uint64_t)from,
		 (uint64_t)(size ? to - from + 1 : 0));
	if (rr) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)from,
			 (long long)to, (long long)size);
		reply_header(r, "Content-Range", cr);
	}
	reply_header(r, "Accept-Ranges", "bytes");
	reply_header(r, "Docker-Content-Digest", vp->ref);
	reply_header(r, "Cache-Control", "max-age=31536000");
	v2_api_version(r);
}

static void v2_blob_delete(struct req *r, struct dbconn *c, const struct v2path *vp,
			   const struct principal *p)
{
	char hex[65];
	if (!reg_digest_parse(vp->ref, hex)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid digest (want sha256:<hex>)");
		return;
	}
	struct err e = {0};
	int rc = reg_blob_unlink(c, vp->name, hex, &e);
	char *target = xasprintf("%s@%s", vp->name, vp->ref);
	v2_deleted(r, c, p, "registry.blob.delete", target, rc, &e, "BLOB_UNKNOWN");
	free(target);
}

static void registry_referrers(struct req *r, struct dbconn *c,
			       const struct v2path *vp);

/* ---- GET / HEAD / DELETE dispatch --------------------------------------------------------- */

static void get_work(struct req *r)
{
	struct v2path vp;
	struct principal p;
	struct dbconn *c = db_get(r->srv->db);
	if (v2_enter(r, c, &vp, &p))
		goto out;
	switch (vp.kind) {
	case V2_BASE: v2_base(r, &p); break;
	case V2_CATALOG: v2_catalog(r, c, &p); break;
	case V2_TAGS:
		if (!v2_authorize(r, c, &p, vp.name, ACT_PULL))
			v2_tags(r, c, &vp);
		break;
	case V2_MANIFEST:
		if (!v2_authorize(r, c, &p, vp.name, ACT_PULL))
			v2_manifest_get(r, c, &vp);
		break;
	case V2_BLOB:
		if (!v2_authorize(r, c, &p, vp.name, ACT_PULL))
			v2_blob_get(r, c, &vp);
		break;
	case V2_UPLOAD:
		if (!v2_authorize(r, c, &p, vp.name, ACT_PUSH))
			v2_upload_status(r, c, &vp, &p);
		break;
	case V2_REFERRERS:
		if (!v2_authorize(r, c, &p, vp.name, ACT_PULL))
			registry_referrers(r, c, &vp);
		break;
	}
	v2_principal_free(&p);
out:
	db_put(r->srv->db, c);
}

static void delete_work(struct req *r)
{
	struct v2path vp;
	struct principal p;
	struct dbconn *c = db_get(r->srv->db);
	if (v2_enter(r, c, &vp, &p))
		goto out;
	switch (vp.kind) {
	case V2_MANIFEST:
		if (!v2_authorize(r, c, &p, vp.name, ACT_DELETE))
			v2_manifest_delete(r, c, &vp, &p);
		break;
	case V2_BLOB:
		if (!v2_authorize(r, c, &p, vp.name, ACT_DELETE))
			v2_blob_delete(r, c, &vp, &p);
		break;
	case V2_UPLOAD:
		if (!v2_authorize(r, c, &p, vp.name, ACT_PUSH))
			v2_upload_cancel(r, c, &vp, &p);
		break;
	default:
		oci_error(r, 405, "UNSUPPORTED", NULL, "DELETE is not supported here");
	}
	v2_principal_free(&p);
out:
	db_put(r->srv->db, c);
}

/* ---- referrers ------------------------------------------------------------------------------ */

static void registry_referrers(struct req *r, struct dbconn *c,
			       const struct v2path *vp)
{
	char hex[65];
	if (!reg_digest_parse(vp->ref, hex)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid digest (want sha256:<hex>)");
		return;
	}
	const char *at = req_query(r, "artifactType");
	json_t *list = json_array();
	int64_t repo;
	if (reg_repo_find(c, vp->name, &repo)) {
		struct stmt *st;
		if (db_query(c, &st, NULL,
			     "SELECT sha256, media_type, size, artifact_type, annotations FROM "
			     "manifests WHERE repo = ? AND subject = ? AND (? IS NULL OR "
			     "artifact_type = ?) ORDER BY created_at, sha256",
			     "isss", repo, hex, at, at) == 0) {
			while (db_step(st, NULL) == 1) {
				char dig[80];
				snprintf(dig, sizeof(dig), "sha256:%s", db_text(st, 0));
				json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", db_text(st, 1),
						      "digest", dig, "size",
						      (json_int_t)db_int(st, 2));
				if (db_text(st, 3))
					json_object_set_new(d, "artifactType",
							    json_string(db_text(st, 3)));
				if (db_text(st, 4)) {
					json_t *an = json_loads(db_text(st, 4), 0, NULL);
					if (an)
						json_object_set_new(d, "annotations", an);
				}
				json_array_append_new(list, d);
			}
			db_done(st);
		}
	}
	json_t *o = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
			      MT_OCI_INDEX, "manifests", list);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply_text(r, 200, MT_OCI_INDEX, s, strlen(s));
	free(s);
	if (at)
		reply_header(r, "OCI-Filters-Applied", "artifactType");
	v2_api_version(r);
}

/* HTTP Basic with a password costs an Argon2 verification: such requests
 * run on the I/O workers, off the event loop (tokens are cheap to check). */
static int basic_auth(struct req *r)
{
	const char *h = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	return h && !strncasecmp(h, "Basic ", 6);
}

void v2_get(struct req *r)
{
	if (basic_auth(r))
		req_offload(r, get_work);
	else
		get_work(r);
}

void v2_delete(struct req *r)
{
	if (basic_auth(r))
		req_offload(r, delete_work);
	else
		delete_work(r);
}
