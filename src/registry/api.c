/*
 * api.c - HTTP handlers of the registry: the OCI Distribution API under
 * /v2/ (one catch-all route per method, the rest of the path parsed and
 * validated here), the token endpoint /v1/registry/token and robot
 * accounts under /v1/projects/{name}/robots.
 *
 * Upload bodies stream: a blob is written to a temporary file while it is
 * hashed, fsynced and moved into the blob store before its metadata
 * commits (on the I/O workers); nothing is held whole in memory except a
 * manifest (at most 4 MiB). Errors are OCI error bodies.
 */
#include "http/http.h"
#include "registry/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RG(r) ((r)->srv->registry)

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* ---- OCI replies ------------------------------------------------------------ */

static void api_version(struct req *r)
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
	return xasprintf("http://%s", host);
}

static void oci_error(struct req *r, int status, const char *code,
		      const char *detail, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void oci_error(struct req *r, int status, const char *code,
		      const char *detail, const char *fmt, ...)
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
	api_version(r);
}

/* 401 with the challenge that tells a client where to get a token. */
static void challenge(struct req *r, const char *scope, const char *why)
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
static void oci_from_err(struct req *r, const struct err *e, const char *unknown)
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

enum v2_kind { V2_BASE, V2_CATALOG, V2_TAGS, V2_MANIFEST, V2_BLOB, V2_UPLOAD, V2_REFERRERS };

struct v2path {
	int kind;
	char name[REG_NAME_MAX + 1];
	char ref[160]; /* tag, digest or upload id ("" for a new upload) */
};

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !memcmp(s + n - k, suffix, k);
}

/* Parse what follows /v2/. 0 ok; -1 not a registry route; -2 bad name. */
static int v2_parse(const char *rest, struct v2path *p)
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
static int principal_load(struct req *r, struct dbconn *c, struct principal *p,
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

static void principal_free(struct principal *p)
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
static int authorize(struct req *r, struct dbconn *c, const struct principal *p,
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
		challenge(r, scope, "authentication required");
		return 1;
	}
	if (!ns) {
		oci_error(r, 404, "NAME_UNKNOWN", NULL,
			  "no project or user owns the namespace of %s", name);
		return 1;
	}
	if ((live & need) == need) {
		challenge(r, scope, "the token does not grant this access");
		return 1;
	}
	oci_error(r, 403, "DENIED", NULL, "requested access to %s is denied", name);
	return 1;
}

/* Parse path and principal of a /v2 request; on failure replies. */
static int v2_enter(struct req *r, struct dbconn *c, struct v2path *vp,
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
	if (principal_load(r, c, p, &e)) {
		if (e.code == COVE_ETOOMANY) {
			oci_error(r, 429, "TOOMANYREQUESTS", NULL, "%s", e.msg);
			return 1;
		}
		challenge(r, NULL, e.msg);
		return 1;
	}
	return 0;
}

/* ---- GET /v2/ and the catalog ------------------------------------------------- */

static void v2_base(struct req *r, const struct principal *p)
{
	if (p->kind == PR_ANON) {
		challenge(r, NULL, "authentication required");
		return;
	}
	reply_text(r, 200, "application/json", "{}", 2);
	api_version(r);
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
		challenge(r, "registry:catalog:*", "authentication required");
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
		api_version(r);
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
	api_version(r);
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
		api_version(r);
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
	api_version(r);
	if (lastc) {
		char *path = xasprintf("/v2/%s/tags/list", vp->name);
		link_next(r, path, n, lastc);
		free(path);
	}
	free(lastc);
}

/* ---- manifests: GET, HEAD, DELETE ------------------------------------------------- */

static int ref_valid(const char *ref)
{
	char hex[65];
	return reg_tag_valid(ref) || reg_digest_parse(ref, hex);
}

static void v2_manifest_get(struct req *r, struct dbconn *c, const struct v2path *vp)
{
	if (!ref_valid(vp->ref)) {
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
	api_version(r);
	free(mt);
}

static void v2_manifest_delete(struct req *r, struct dbconn *c,
			       const struct v2path *vp, const struct principal *p)
{
	if (!ref_valid(vp->ref)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid tag or digest");
		return;
	}
	struct err e = {0};
	int rc = reg_manifest_delete(c, &p->act, vp->name, vp->ref, &e);
	char *target = xasprintf("%s:%s", vp->name, vp->ref);
	auth_audit(c, &p->act, "registry.delete", target, rc == 0, rc ? e.msg : NULL);
	free(target);
	if (rc) {
		oci_from_err(r, &e, "MANIFEST_UNKNOWN");
		return;
	}
	reply_empty(r, 202);
	api_version(r);
}

/* ---- blobs: GET, HEAD, DELETE ------------------------------------------------------ */

/* Parse "bytes=a-b", "bytes=a-", "bytes=-n" against size: 1 a range, 0
 * none, -1 unsatisfiable or malformed. */
static int range_parse(const char *h, int64_t size, int64_t *from, int64_t *to)
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
	int rr = range_parse(req_header(r, "Range"), size, &from, &to);
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
	api_version(r);
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
	auth_audit(c, &p->act, "registry.blob.delete", target, rc == 0, rc ? e.msg : NULL);
	free(target);
	if (rc) {
		oci_from_err(r, &e, "BLOB_UNKNOWN");
		return;
	}
	reply_empty(r, 202);
	api_version(r);
}

/* ---- upload sessions ------------------------------------------------------------------- */

struct session {
	char id[32];
	int64_t received;
	struct sha256_ctx sha;
	int sha_ok;
};

static char *part_path(struct registry *rg, const char *id)
{
	return xasprintf("%s/%s.part", rg->uploads, id);
}

static char *sha_hex(const struct sha256_ctx *s)
{
	const unsigned char *b = (const unsigned char *)s;
	char *out = xmalloc(2 * sizeof(*s) + 1);
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(*s); i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * sizeof(*s)] = '\0';
	return out;
}

static int sha_unhex(const char *h, struct sha256_ctx *s)
{
	if (!h || strlen(h) != 2 * sizeof(*s))
		return 0;
	unsigned char *b = (unsigned char *)s;
	for (size_t i = 0; i < sizeof(*s); i++) {
		int hi = h[2 * i], lo = h[2 * i + 1];
		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return 0;
		b[i] = (unsigned char)(hi * 16 + lo);
	}
	return 1;
}

/* Load session id of p for repository name: 1 found, 0 not. */
static int session_load(struct dbconn *c, const char *id, const char *name,
			const struct principal *p, struct session *s)
{
	char key[40];
	reg_principal_key(p, key);
	struct stmt *st;
	if (strlen(id) >= sizeof(s->id) ||
	    db_query(c, &st, NULL,
		     "SELECT received, hash_state FROM registry_uploads WHERE id = ? AND "
		     "repo_name = ? AND principal = ?",
		     "sss", id, name, key))
		return 0;
	int found = db_step(st, NULL) == 1;
	if (found) {
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->received = db_int(st, 0);
		s->sha_ok = sha_unhex(db_text(st, 1), &s->sha);
	}
	db_done(st);
	return found;
}

static void upload_headers(struct req *r, const char *name, const char *id,
			   int64_t received)
{
	char *loc = xasprintf("/v2/%s/blobs/uploads/%s", name, id);
	reply_header(r, "Location", loc);
	free(loc);
	char range[48];
	snprintf(range, sizeof(range), "0-%lld", (long long)(received > 0 ? received - 1 : 0));
	reply_header(r, "Range", range);
	reply_header(r, "Docker-Upload-UUID", id);
	api_version(r);
}

static void v2_upload_status(struct req *r, struct dbconn *c, const struct v2path *vp,
			     const struct principal *p)
{
	struct session s;
	if (!vp->ref[0] || !session_load(c, vp->ref, vp->name, p, &s)) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "no such upload session");
		return;
	}
	reply_empty(r, 204);
	upload_headers(r, vp->name, s.id, s.received);
}

static void v2_upload_cancel(struct req *r, struct dbconn *c, const struct v2path *vp,
			     const struct principal *p)
{
	struct session s;
	if (!vp->ref[0] || !session_load(c, vp->ref, vp->name, p, &s)) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "no such upload session");
		return;
	}
	db_exec(c, NULL, "DELETE FROM registry_uploads WHERE id = ?", "s", s.id);
	char *part = part_path(RG(r), s.id);
	unlink(part);
	free(part);
	reply_empty(r, 204);
	api_version(r);
}

static void registry_referrers(struct req *r, struct dbconn *c,
			       const struct v2path *vp);

/* ---- GET / HEAD / DELETE dispatch --------------------------------------------------------- */

static void v2_get(struct req *r)
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
		if (!authorize(r, c, &p, vp.name, ACT_PULL))
			v2_tags(r, c, &vp);
		break;
	case V2_MANIFEST:
		if (!authorize(r, c, &p, vp.name, ACT_PULL))
			v2_manifest_get(r, c, &vp);
		break;
	case V2_BLOB:
		if (!authorize(r, c, &p, vp.name, ACT_PULL))
			v2_blob_get(r, c, &vp);
		break;
	case V2_UPLOAD:
		if (!authorize(r, c, &p, vp.name, ACT_PUSH))
			v2_upload_status(r, c, &vp, &p);
		break;
	case V2_REFERRERS:
		if (!authorize(r, c, &p, vp.name, ACT_PULL))
			registry_referrers(r, c, &vp);
		break;
	}
	principal_free(&p);
out:
	db_put(r->srv->db, c);
}

static void v2_delete(struct req *r)
{
	struct v2path vp;
	struct principal p;
	struct dbconn *c = db_get(r->srv->db);
	if (v2_enter(r, c, &vp, &p))
		goto out;
	switch (vp.kind) {
	case V2_MANIFEST:
		if (!authorize(r, c, &p, vp.name, ACT_DELETE))
			v2_manifest_delete(r, c, &vp, &p);
		break;
	case V2_BLOB:
		if (!authorize(r, c, &p, vp.name, ACT_DELETE))
			v2_blob_delete(r, c, &vp, &p);
		break;
	case V2_UPLOAD:
		if (!authorize(r, c, &p, vp.name, ACT_PUSH))
			v2_upload_cancel(r, c, &vp, &p);
		break;
	default:
		oci_error(r, 405, "UNSUPPORTED", NULL, "DELETE is not supported here");
	}
	principal_free(&p);
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
	api_version(r);
}

/* ---- streamed bodies: POST, PATCH, PUT ------------------------------------------------------ */

enum v2_op { OP_NONE, OP_MONOLITHIC, OP_START, OP_CHUNK, OP_FINISH, OP_MANIFEST };

struct v2ctx {
	struct v2path vp;
	struct principal p;
	int op;
	char want[65];             /* digest asked for (hex) */
	struct blob_writer *w;     /* monolithic */
	int fd;                    /* session part, appending */
	struct session s;
	int64_t start;             /* Content-Range start */
	struct buf body;           /* a manifest */
	char *stage;               /* session bytes, written 1 MiB at a time */
	size_t staged;
	int64_t kicked;            /* write-back started up to here */
	struct err e;
	int failed;                /* data refused: e says why */
	int status;                /* for failures found while data arrives */
	const char *code;
};

static void ctx_free(struct v2ctx *x)
{
	if (!x)
		return;
	files_blob_abort(x->w);
	if (x->fd >= 0)
		close(x->fd);
	buf_free(&x->body);
	principal_free(&x->p);
	free(x->stage);
	free(x);
}

static void v2_stream_cleanup(struct req *r)
{
	ctx_free(r->stream_ctx);
	r->stream_ctx = NULL;
}

/* Open the part of session s for appending at its durable length, locked
 * against other requests on the same session (COVE_ECONFLICT when one is
 * writing). The session is loaded again under the lock: a session that
 * completed or was cancelled meanwhile is gone (COVE_ENOENT). */
static int part_open(struct registry *rg, struct dbconn *c, const char *name,
		     const struct principal *p, struct session *s, struct err *e)
{
	char *path = part_path(rg, s->id);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return err_set(e, COVE_ENOENT, "no such upload session");
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return err_set(e, COVE_ECONFLICT,
			       "another request is writing to this upload session");
	}
	char id[32];
	snprintf(id, sizeof(id), "%s", s->id);
	if (!session_load(c, id, name, p, s)) {
		close(fd);
		return err_set(e, COVE_ENOENT, "no such upload session");
	}
	/* bytes after the durable offset came from a request that did not
	 * finish: they are dropped, and the client resumes at the offset */
	struct stat st;
	if (fstat(fd, &st) < 0 || (st.st_size != s->received &&
				   ftruncate(fd, s->received) < 0) ||
	    lseek(fd, s->received, SEEK_SET) < 0) {
		close(fd);
		return err_set(e, COVE_EIO, "cannot resume the upload: %s", strerror(errno));
	}
	if (!s->sha_ok && s->received == 0) {
		sha256_init(&s->sha);
		s->sha_ok = 1;
	}
	return fd;
}

/* Sessions untouched for a week are abandoned: their rows and bytes go. */
static void sessions_sweep(struct registry *rg, struct dbconn *c)
{
	struct stmt *st;
	int64_t cutoff = time_now() - 7 * 86400;
	if (db_query(c, &st, NULL, "SELECT id FROM registry_uploads WHERE updated_at < ?",
		     "i", cutoff))
		return;
	while (db_step(st, NULL) == 1) {
		char *part = part_path(rg, db_text(st, 0));
		unlink(part);
		free(part);
	}
	db_done(st);
	db_exec(c, NULL, "DELETE FROM registry_uploads WHERE updated_at < ?", "i", cutoff);
}

static int start_session(struct req *r, struct dbconn *c, struct v2ctx *x)
{
	sessions_sweep(RG(r), c);
	char id[27];
	id_new(id);
	char key[40];
	reg_principal_key(&x->p, key);
	int64_t now = time_now();
	struct err e = {0};
	/* the part first: a row never names a file that does not exist */
	char *path = part_path(RG(r), id);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(path);
		err_set(&e, COVE_EIO, "cannot start an upload: %s", strerror(errno));
		oci_from_err(r, &e, "BLOB_UPLOAD_UNKNOWN");
		return 1;
	}
	close(fd);
	struct sha256_ctx sha;
	sha256_init(&sha);
	char *hs = sha_hex(&sha);
	int rc = db_exec(c, &e,
			 "INSERT INTO registry_uploads(id, repo_name, principal, received, "
			 "hash_state, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
			 "ssssii", id, x->vp.name, key, hs, now, now);
	free(hs);
	if (rc < 0) {
		unlink(path);
		free(path);
		oci_from_err(r, &e, "BLOB_UPLOAD_UNKNOWN");
		return 1;
	}
	free(path);
	reply_empty(r, 202);
	upload_headers(r, x->vp.name, id, 0);
	return 1;
}

/* Cross-repository mount: 1 when replied (mounted, or refused). */
static int try_mount(struct req *r, struct dbconn *c, struct v2ctx *x,
		     const char *mount, const char *from)
{
	char hex[65];
	if (!reg_digest_parse(mount, hex)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid digest in mount");
		return 1;
	}
	int ns;
	int64_t repo, size;
	if (!from || !reg_name_valid(from) ||
	    !(reg_allowed(c, &x->p, from, &ns) & reg_token_grants(&x->p, "repository", from) &
	      ACT_PULL) ||
	    !reg_repo_find(c, from, &repo) || !reg_blob_linked(c, repo, hex, &size))
		return 0; /* not mountable: start an ordinary session */
	struct err e = {0};
	if (reg_blob_link(RG(r), c, x->vp.name, hex, size, &e)) {
		oci_from_err(r, &e, "BLOB_UNKNOWN");
		return 1;
	}
	reply_empty(r, 201);
	char *loc = xasprintf("/v2/%s/blobs/%s", x->vp.name, mount);
	reply_header(r, "Location", loc);
	free(loc);
	reply_header(r, "Docker-Content-Digest", mount);
	api_version(r);
	return 1;
}

static int v2_stream_begin(struct req *r)
{
	struct v2ctx *x = xcalloc(1, sizeof(*x));
	x->fd = -1;
	r->stream_ctx = x;
	struct dbconn *c = db_get(r->srv->db);
	int replied = 1;
	if (v2_enter(r, c, &x->vp, &x->p))
		goto out;
	const char *m = r->method;
	if (x->vp.kind == V2_MANIFEST && !strcmp(m, "PUT")) {
		if (!ref_valid(x->vp.ref)) {
			oci_error(r, 400, "MANIFEST_INVALID", NULL, "invalid tag or digest");
			goto out;
		}
		if (authorize(r, c, &x->p, x->vp.name, ACT_PUSH))
			goto out;
		const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoll(cl, NULL, 10) > REG_MANIFEST_MAX) {
			oci_error(r, 413, "MANIFEST_INVALID", NULL,
				  "manifest is larger than %d bytes", REG_MANIFEST_MAX);
			goto out;
		}
		x->op = OP_MANIFEST;
		replied = 0;
		goto out;
	}
	if (x->vp.kind != V2_UPLOAD || (!strcmp(m, "POST") && x->vp.ref[0]) ||
	    (strcmp(m, "POST") && !x->vp.ref[0])) {
		oci_error(r, 405, "UNSUPPORTED", NULL, "%s is not supported here", m);
		goto out;
	}
	if (authorize(r, c, &x->p, x->vp.name, ACT_PUSH))
		goto out;
	struct err e = {0};
	if (!strcmp(m, "POST")) {
		const char *mount = req_query(r, "mount");
		if (mount && try_mount(r, c, x, mount, req_query(r, "from")))
			goto out;
		const char *dig = req_query(r, "digest");
		if (!dig) {
			/* the row's commit waits on the disk: at the end, off the loop */
			x->op = OP_START;
			replied = 0;
			goto out;
		}
		if (!reg_digest_parse(dig, x->want)) {
			oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid digest (want sha256:<hex>)");
			goto out;
		}
		if (files_blob_writer(RG(r)->files, &x->w, &e)) {
			oci_from_err(r, &e, "BLOB_UPLOAD_INVALID");
			goto out;
		}
		x->op = OP_MONOLITHIC;
		replied = 0;
		goto out;
	}
	/* PATCH or PUT on a session */
	if (!session_load(c, x->vp.ref, x->vp.name, &x->p, &x->s)) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "no such upload session");
		goto out;
	}
	if (!strcmp(m, "PUT")) {
		const char *dig = req_query(r, "digest");
		if (!dig || !reg_digest_parse(dig, x->want)) {
			oci_error(r, 400, "DIGEST_INVALID", NULL,
				  "completing an upload needs ?digest=sha256:<hex>");
			goto out;
		}
		x->op = OP_FINISH;
	} else if (!strcmp(m, "PATCH")) {
		x->op = OP_CHUNK;
		const char *cr = req_header(r, "Content-Range");
		if (cr && (!strncmp(cr, "bytes=", 6) || !strncmp(cr, "bytes ", 6)))
			cr += 6; /* some clients write it as for responses */
		if (cr) {
			long long a, b;
			char tail;
			if (sscanf(cr, "%lld-%lld%c", &a, &b, &tail) != 2 || a < 0 || b < a) {
				oci_error(r, 400, "BLOB_UPLOAD_INVALID", NULL,
					  "Content-Range must be <start>-<end>");
				goto out;
			}
			if (a != x->s.received) {
				oci_error(r, 416, "BLOB_UPLOAD_INVALID", NULL,
					  "upload is at offset %lld, not %lld",
					  (long long)x->s.received, a);
				upload_headers(r, x->vp.name, x->s.id, x->s.received);
				goto out;
			}
		}
	} else {
		oci_error(r, 405, "UNSUPPORTED", NULL, "%s is not supported here", m);
		goto out;
	}
	if ((x->fd = part_open(RG(r), c, x->vp.name, &x->p, &x->s, &e)) < 0) {
		x->fd = -1;
		if (e.code == COVE_ECONFLICT)
			oci_error(r, 409, "BLOB_UPLOAD_INVALID", NULL, "%s", e.msg);
		else
			oci_from_err(r, &e, "BLOB_UPLOAD_UNKNOWN");
		goto out;
	}
	x->kicked = x->s.received;
	replied = 0;
out:
	db_put(r->srv->db, c);
	return replied;
}

#define STAGE_SIZE (1 << 20)

/* Write the staged bytes of a session; start write-back every 8 MiB so
 * that the fsync at the end has little left to do. */
static int stage_flush(struct v2ctx *x)
{
	const char *p = x->stage;
	size_t n = x->staged;
	while (n) {
		ssize_t k = write(x->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_set(&x->e, errno == ENOSPC ? COVE_ETOOBIG : COVE_EIO,
				       "cannot store bytes: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
	x->staged = 0;
	off_t at = lseek(x->fd, 0, SEEK_CUR);
	if (at - x->kicked >= (8 << 20)) {
		sync_file_range(x->fd, x->kicked, at - x->kicked, SYNC_FILE_RANGE_WRITE);
		x->kicked = at;
	}
	return 0;
}

static int v2_stream_data(struct req *r, const char *buf, size_t len)
{
	struct v2ctx *x = r->stream_ctx;
	if (x->failed)
		return 1;
	switch (x->op) {
	case OP_MANIFEST:
		if (x->body.len + len > REG_MANIFEST_MAX) {
			x->failed = 1;
			x->status = 413;
			x->code = "MANIFEST_INVALID";
			err_set(&x->e, COVE_ETOOBIG, "manifest is larger than %d bytes",
				REG_MANIFEST_MAX);
			return 1;
		}
		buf_add(&x->body, buf, len);
		return 0;
	case OP_MONOLITHIC:
		if (files_blob_write(x->w, buf, len, &x->e)) {
			x->failed = 1;
			return 1;
		}
		return 0;
	case OP_CHUNK:
	case OP_FINISH:
		/* libmicrohttpd hands bytes over in small pieces: gather them
		 * and write a megabyte at a time */
		if (x->s.sha_ok)
			sha256_update(&x->s.sha, len, (const uint8_t *)buf);
		x->s.received += (int64_t)len;
		while (len) {
			if (!x->stage)
				x->stage = xmalloc(STAGE_SIZE);
			size_t n = STAGE_SIZE - x->staged < len ? STAGE_SIZE - x->staged : len;
			memcpy(x->stage + x->staged, buf, n);
			x->staged += n;
			buf += n;
			len -= n;
			if (x->staged == STAGE_SIZE && stage_flush(x)) {
				x->failed = 1;
				return 1;
			}
		}
		return 0;
	default:
		return 0;
	}
}

/* Reply with the failure noted while data arrived. */
static void data_failed(struct req *r, struct v2ctx *x)
{
	if (x->status)
		oci_error(r, x->status, x->code, NULL, "%s", x->e.msg);
	else
		oci_from_err(r, &x->e, "BLOB_UPLOAD_INVALID");
}

static void blob_created(struct req *r, const char *name, const char *hex)
{
	reply_empty(r, 201);
	char *loc = xasprintf("/v2/%s/blobs/sha256:%s", name, hex);
	reply_header(r, "Location", loc);
	free(loc);
	char dig[80];
	snprintf(dig, sizeof(dig), "sha256:%s", hex);
	reply_header(r, "Docker-Content-Digest", dig);
	api_version(r);
}

/* Bytes are durable in the store: check the digest, link, answer. */
static void blob_commit(struct req *r, struct dbconn *c, struct v2ctx *x,
			const char *got, int64_t size)
{
	if (strcmp(got, x->want)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL,
			  "the bytes hash to sha256:%s, not sha256:%s", got, x->want);
		return;
	}
	struct err e = {0};
	if (reg_blob_link(RG(r), c, x->vp.name, got, size, &e)) {
		oci_from_err(r, &e, "BLOB_UPLOAD_INVALID");
		return;
	}
	blob_created(r, x->vp.name, got);
}

static void finish_monolithic(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	char got[65];
	int64_t size;
	struct blob_writer *w = x->w;
	x->w = NULL;
	if (files_blob_finish(RG(r)->files, w, got, &size, &x->e)) {
		oci_from_err(r, &x->e, "BLOB_UPLOAD_INVALID");
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	blob_commit(r, c, x, got, size);
	db_put(r->srv->db, c);
}

/* Make the bytes of this request durable and record the new offset. */
static int chunk_save(struct req *r, struct dbconn *c, struct v2ctx *x)
{
	if (x->staged && stage_flush(x)) {
		oci_from_err(r, &x->e, "BLOB_UPLOAD_INVALID");
		return 1;
	}
	if (fsync(x->fd) < 0) {
		oci_error(r, 500, "UNKNOWN", NULL, "cannot flush bytes to disk");
		return 1;
	}
	char *hs = x->s.sha_ok ? sha_hex(&x->s.sha) : NULL;
	struct err e = {0};
	int rc = db_exec(c, &e,
			 "UPDATE registry_uploads SET received = ?, hash_state = ?, "
			 "updated_at = ? WHERE id = ?",
			 "isis", x->s.received, hs, time_now(), x->s.id);
	free(hs);
	if (rc <= 0) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "the upload session ended");
		return 1;
	}
	return 0;
}

static void finish_chunk(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct dbconn *c = db_get(r->srv->db);
	int bad = chunk_save(r, c, x);
	/* unlock before the answer leaves: the client's next request on the
	 * session may arrive before this one's cleanup runs */
	close(x->fd);
	x->fd = -1;
	if (!bad) {
		reply_empty(r, 202);
		upload_headers(r, x->vp.name, x->s.id, x->s.received);
	}
	db_put(r->srv->db, c);
}

static void finish_upload(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct dbconn *c = db_get(r->srv->db);
	if (chunk_save(r, c, x))
		goto out;
	/* the session ends here, whatever the digest says; its row goes
	 * while the part is still locked, so no other request writes on */
	db_exec(c, NULL, "DELETE FROM registry_uploads WHERE id = ?", "s", x->s.id);
	close(x->fd);
	x->fd = -1;
	char *part = part_path(RG(r), x->s.id);
	char got[65];
	struct err e = {0};
	int rc = files_blob_adopt(RG(r)->files, part, x->s.sha_ok ? &x->s.sha : NULL,
				  x->s.received, got, &e);
	unlink(part);
	free(part);
	if (rc) {
		oci_from_err(r, &e, "BLOB_UPLOAD_INVALID");
		goto out;
	}
	blob_commit(r, c, x, got, x->s.received);
out:
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	db_put(r->srv->db, c);
}

/* ---- manifests: PUT ------------------------------------------------------------------------ */

static const char *media_type_of(struct req *r, json_t *doc)
{
	const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	static const char *const known[] = {MT_OCI_MANIFEST, MT_OCI_INDEX,
					    MT_DOCKER_MANIFEST, MT_DOCKER_LIST, NULL};
	const char *want = ct && *ct ? ct : mt;
	if (!want)
		want = json_object_get(doc, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
	for (int i = 0; known[i]; i++) {
		size_t n = strlen(known[i]);
		if (!strncmp(want, known[i], n) && (want[n] == '\0' || want[n] == ';'))
			return known[i];
	}
	return NULL;
}

/* Add a descriptor's digest to m; COVE_EINVAL when malformed. */
static int add_ref(struct reg_manifest *m, json_t *desc, int is_manifest,
		   struct err *e)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	json_t *sz = json_object_get(desc, "size");
	char hex[65];
	if (!json_is_object(desc) || !reg_digest_parse(d, hex) ||
	    !json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    !json_is_string(json_object_get(desc, "mediaType")))
		return err_set(e, COVE_EINVAL,
			       "a descriptor needs mediaType, size and a sha256 digest");
	int n = m->nrefs++;
	m->refs = xrealloc(m->refs, (size_t)m->nrefs * sizeof(*m->refs));
	m->ref_sizes = xrealloc(m->ref_sizes, (size_t)m->nrefs * sizeof(int64_t));
	m->ref_is_manifest = xrealloc(m->ref_is_manifest, (size_t)m->nrefs * sizeof(int));
	memcpy(m->refs[n], hex, 65);
	m->ref_sizes[n] = json_integer_value(sz);
	m->ref_is_manifest[n] = is_manifest;
	return 0;
}

static void manifest_free(struct reg_manifest *m)
{
	free(m->refs);
	free(m->ref_sizes);
	free(m->ref_is_manifest);
	free(m->artifact_type);
	free(m->annotations);
}

/* Parse and check a manifest document into m. */
static int manifest_parse(struct req *r, json_t *doc, struct reg_manifest *m,
			  struct err *e)
{
	if (!json_is_object(doc))
		return err_set(e, COVE_EINVAL, "a manifest is a JSON object");
	if (json_integer_value(json_object_get(doc, "schemaVersion")) != 2)
		return err_set(e, COVE_EINVAL, "schemaVersion must be 2");
	m->media_type = media_type_of(r, doc);
	if (!m->media_type)
		return err_set(e, COVE_EINVAL, "unsupported manifest media type");
	const char *inner = json_string_value(json_object_get(doc, "mediaType"));
	if (inner && strcmp(inner, m->media_type))
		return err_set(e, COVE_EINVAL, "mediaType %s does not match Content-Type %s",
			       inner, m->media_type);
	int is_index = !strcmp(m->media_type, MT_OCI_INDEX) ||
		       !strcmp(m->media_type, MT_DOCKER_LIST);
	int rc;
	const char *at = json_string_value(json_object_get(doc, "artifactType"));
	if (is_index) {
		json_t *list = json_object_get(doc, "manifests");
		if (!json_is_array(list))
			return err_set(e, COVE_EINVAL, "an index needs a manifests array");
		size_t i;
		json_t *d;
		json_array_foreach(list, i, d)
			if ((rc = add_ref(m, d, 1, e)))
				return rc;
	} else {
		json_t *config = json_object_get(doc, "config");
		json_t *layers = json_object_get(doc, "layers");
		if (!json_is_object(config) || !json_is_array(layers))
			return err_set(e, COVE_EINVAL, "an image manifest needs config and layers");
		if ((rc = add_ref(m, config, 0, e)))
			return rc;
		size_t i;
		json_t *d;
		json_array_foreach(layers, i, d) {
			const char *lmt = json_string_value(json_object_get(d, "mediaType"));
			if (lmt && strstr(lmt, "foreign") && json_object_get(d, "urls")) {
				/* a layer fetched from elsewhere: not stored here */
				continue;
			}
			if ((rc = add_ref(m, d, 0, e)))
				return rc;
		}
		if (!at)
			at = json_string_value(json_object_get(config, "mediaType"));
	}
	json_t *subject = json_object_get(doc, "subject");
	if (subject) {
		const char *sd = json_string_value(json_object_get(subject, "digest"));
		if (!json_is_object(subject) || !reg_digest_parse(sd, m->subject))
			return err_set(e, COVE_EINVAL, "subject needs a sha256 digest");
	}
	if (at)
		m->artifact_type = xstrdup(at);
	json_t *an = json_object_get(doc, "annotations");
	if (an && json_is_object(an))
		m->annotations = json_dumps(an, JSON_COMPACT);
	return 0;
}

static void finish_manifest(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct reg_manifest m;
	memset(&m, 0, sizeof(m));
	struct err e = {0};
	char want[65];
	int by_digest = reg_digest_parse(x->vp.ref, want);
	sha256_hex(x->body.data ? x->body.data : "", x->body.len, m.hex);
	m.size = (int64_t)x->body.len;
	struct dbconn *c = NULL;
	if (by_digest && strcmp(want, m.hex)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL,
			  "the manifest hashes to sha256:%s, not %s", m.hex, x->vp.ref);
		goto out;
	}
	json_error_t je;
	json_t *doc = json_loadb(x->body.data ? x->body.data : "", x->body.len,
				 JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		oci_error(r, 400, "MANIFEST_INVALID", NULL, "malformed JSON: %s", je.text);
		goto out;
	}
	int rc = manifest_parse(r, doc, &m, &e);
	json_decref(doc);
	if (rc) {
		oci_error(r, 400, "MANIFEST_INVALID", NULL, "%s", e.msg);
		goto out;
	}
	/* the bytes first, durable in the store; then the metadata */
	struct blob_writer *w;
	char got[65];
	int64_t size;
	if (files_blob_writer(RG(r)->files, &w, &e) ||
	    files_blob_write(w, x->body.data ? x->body.data : "", x->body.len, &e) ||
	    files_blob_finish(RG(r)->files, w, got, &size, &e)) {
		oci_from_err(r, &e, "MANIFEST_INVALID");
		goto out;
	}
	c = db_get(r->srv->db);
	char missing[72];
	rc = reg_manifest_put(RG(r), c, x->vp.name, &m, by_digest ? NULL : x->vp.ref,
			      missing, &e);
	char *target = xasprintf("%s@sha256:%s%s%s", x->vp.name, m.hex,
				 by_digest ? "" : " tag ", by_digest ? "" : x->vp.ref);
	auth_audit(c, &x->p.act, "registry.push", target, rc == 0, rc ? e.msg : NULL);
	free(target);
	if (rc == COVE_ENOENT) {
		oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN", missing, "%s", e.msg);
		goto out;
	}
	if (rc) {
		oci_from_err(r, &e, "MANIFEST_INVALID");
		goto out;
	}
	reply_empty(r, 201);
	char *loc = xasprintf("/v2/%s/manifests/sha256:%s", x->vp.name, m.hex);
	reply_header(r, "Location", loc);
	free(loc);
	char dig[80];
	snprintf(dig, sizeof(dig), "sha256:%s", m.hex);
	reply_header(r, "Docker-Content-Digest", dig);
	if (m.subject[0]) {
		snprintf(dig, sizeof(dig), "sha256:%s", m.subject);
		reply_header(r, "OCI-Subject", dig);
	}
	api_version(r);
out:
	if (c)
		db_put(r->srv->db, c);
	manifest_free(&m);
}

static void finish_start(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct dbconn *c = db_get(r->srv->db);
	start_session(r, c, x);
	db_put(r->srv->db, c);
}

static void v2_stream_end(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	if (x->failed) {
		if (x->fd >= 0)
			close(x->fd);
		x->fd = -1;
		data_failed(r, x);
		return;
	}
	switch (x->op) {
	case OP_MANIFEST: req_offload(r, finish_manifest); break;
	case OP_MONOLITHIC: req_offload(r, finish_monolithic); break;
	case OP_CHUNK: req_offload(r, finish_chunk); break;
	case OP_FINISH: req_offload(r, finish_upload); break;
	case OP_START: req_offload(r, finish_start); break;
	default: oci_error(r, 405, "UNSUPPORTED", NULL, "not supported");
	}
}

static const struct stream_ops v2_stream = {v2_stream_begin, v2_stream_data,
					    v2_stream_end, v2_stream_cleanup};

static void v2_unused(struct req *r)
{
	oci_error(r, 405, "UNSUPPORTED", NULL, "not supported");
}

/* ---- the token endpoint ---------------------------------------------------------------------- */

static enum MHD_Result collect_scope(void *cls, enum MHD_ValueKind kind,
				     const char *key, const char *value)
{
	json_t *arr = cls;
	if (key && value && !strcmp(key, "scope") && json_array_size(arr) < 64) {
		char *copy = xstrdup(value);
		for (char *save = NULL, *t = strtok_r(copy, " ", &save); t;
		     t = strtok_r(NULL, " ", &save))
			if (strlen(t) < 512)
				json_array_append_new(arr, json_string(t));
		free(copy);
	}
	return MHD_YES;
}

static void token_get(struct req *r)
{
	struct dbconn *c = db_get(r->srv->db);
	struct principal p;
	struct err e = {0};
	const char *svc = req_query(r, "service");
	if (svc && strcmp(svc, "cove")) {
		reply_problem(r, 400, "unknown service '%s' (this registry is 'cove')", svc);
		goto out;
	}
	int rc = principal_load(r, c, &p, &e);
	if (rc) {
		if (rc == COVE_ETOOMANY)
			reply_err(r, &e);
		else
			reply_problem(r, 401, "%s", e.msg);
		reply_header(r, "WWW-Authenticate", "Basic realm=\"cove\"");
		goto out;
	}
	json_t *scopes = json_array();
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_scope, scopes);
	json_t *o = NULL;
	rc = reg_token_issue(RG(r), c, &p, scopes, &o, &e);
	json_decref(scopes);
	principal_free(&p);
	if (rc)
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
out:
	db_put(r->srv->db, c);
}

/* ---- robots ------------------------------------------------------------------------------------ */

static void robots_get(struct req *r)
{
	struct dbconn *c = db_get(r->srv->db);
	struct err e = {0};
	json_t *o = NULL;
	if (reg_robots_list(c, &r->actor, req_param(r, "name"), &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void robots_post(struct req *r)
{
	struct err e = {0};
	json_t *body = req_json(r, &e);
	if (!body) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_robots_create(c, &r->actor, req_param(r, "name"), body, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 201, o);
	db_put(r->srv->db, c);
}

static void robots_delete(struct req *r)
{
	struct dbconn *c = db_get(r->srv->db);
	struct err e = {0};
	if (reg_robots_delete(c, &r->actor, req_param(r, "name"), req_param(r, "robot"), &e))
		reply_err(r, &e);
	else
		reply_empty(r, 204);
	db_put(r->srv->db, c);
}

/* ---- repositories and tag rules (/v1) ---------------------------------------------------------- */

static void user_principal(struct req *r, struct principal *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = PR_USER;
	p->uid = r->actor.uid;
	p->admin = r->actor.admin;
	p->scopes = r->actor.scopes;
	snprintf(p->name, sizeof(p->name), "%s", r->actor.username);
	p->act = r->actor;
}

static void repos_list(struct req *r)
{
	struct err e = {0};
	int limit;
	if (req_limit(r, &limit, &e)) {
		reply_err(r, &e);
		return;
	}
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_repos_list(c, &p, req_query(r, "cursor"), limit, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void repos_get(struct req *r)
{
	struct err e = {0};
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_repo_get(c, &p, req_param(r, "name"), &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void repos_patch(struct req *r)
{
	struct err e = {0};
	json_t *body = req_json(r, &e);
	static const char *const fields[] = {"immutable_tags", NULL};
	int on = 0, present = 0;
	if (!body || json_only_fields(body, fields, &e) ||
	    json_opt_bool(body, "immutable_tags", &on, &present, &e)) {
		reply_err(r, &e);
		return;
	}
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	const char *name = req_param(r, "name");
	if ((present && reg_repo_set_immutable(c, &p, name, on, &e)) ||
	    reg_repo_get(c, &p, name, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void rules_get(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_rules_list(c, &r->actor, req_param(r, "name"), &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void rules_post(struct req *r)
{
	struct err e = {0};
	json_t *body = req_json(r, &e);
	if (!body) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_rules_add(c, &r->actor, req_param(r, "name"), body, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 201, o);
	db_put(r->srv->db, c);
}

static void rules_delete(struct req *r)
{
	struct err e = {0};
	const char *id = req_param(r, "id");
	char *end;
	long long v = strtoll(id, &end, 10);
	if (!*id || *end || v <= 0) {
		reply_problem(r, 404, "no such tag rule");
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	if (reg_rules_delete(c, &r->actor, req_param(r, "name"), v, &e))
		reply_err(r, &e);
	else
		reply_empty(r, 204);
	db_put(r->srv->db, c);
}

const struct route registry_routes[] = {
	{"GET", "/v2/{path*}", v2_get, ROUTE_PUBLIC, NULL},
	{"DELETE", "/v2/{path*}", v2_delete, ROUTE_PUBLIC, NULL},
	{"POST", "/v2/{path*}", v2_unused, ROUTE_PUBLIC, &v2_stream},
	{"PUT", "/v2/{path*}", v2_unused, ROUTE_PUBLIC, &v2_stream},
	{"PATCH", "/v2/{path*}", v2_unused, ROUTE_PUBLIC, &v2_stream},
	{"GET", "/v1/registry/token", token_get, ROUTE_PUBLIC, NULL},
	{"GET", "/v1/projects/{name}/robots", robots_get, ROUTE_AUTH, NULL},
	{"POST", "/v1/projects/{name}/robots", robots_post, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/projects/{name}/robots/{robot}", robots_delete, ROUTE_AUTH, NULL},
	{"GET", "/v1/projects/{name}/tag-rules", rules_get, ROUTE_AUTH, NULL},
	{"POST", "/v1/projects/{name}/tag-rules", rules_post, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/projects/{name}/tag-rules/{id}", rules_delete, ROUTE_AUTH, NULL},
	{"GET", "/v1/registry/repositories", repos_list, ROUTE_AUTH, NULL},
	{"GET", "/v1/registry/repositories/{name*}", repos_get, ROUTE_AUTH, NULL},
	{"PATCH", "/v1/registry/repositories/{name*}", repos_patch, ROUTE_AUTH, NULL},
	{NULL, NULL, NULL, 0, NULL},
};

/* ---- open / close ---------------------------------------------------------------------------- */

int registry_open(struct registry **out, struct db *db, struct files *files,
		  struct auth *auth, const struct config *cfg, struct err *e)
{
	struct registry *rg = xcalloc(1, sizeof(*rg));
	rg->db = db;
	rg->files = files;
	rg->auth = auth;
	rg->cfg = cfg;
	char *dir = xasprintf("%s/registry", cfg->data_dir);
	rg->uploads = xasprintf("%s/uploads", dir);
	int ok = (mkdir(dir, 0700) == 0 || errno == EEXIST) &&
		 (mkdir(rg->uploads, 0700) == 0 || errno == EEXIST);
	free(dir);
	if (!ok) {
		int rc = err_set(e, COVE_EIO, "cannot create %s: %s", rg->uploads,
				 strerror(errno));
		registry_close(rg);
		return rc;
	}
	*out = rg;
	return 0;
}

void registry_close(struct registry *rg)
{
	if (!rg)
		return;
	free(rg->uploads);
	free(rg);
}
