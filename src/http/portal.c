/*
 * portal.c - serves the web portal: a single-page application built from
 * web/ at make time and linked into the binary (portal_assets, generated
 * by web/build.mjs). Every page URL answers with index.html (the
 * application routes in the browser); /assets/ holds the hashed files,
 * cached for a year, sent brotli- or gzip-compressed as the browser
 * accepts. The portal talks to /v1 like any other client: nothing here
 * knows about users, files or jobs.
 *
 * The page's headers make it hard to turn against its users: a strict
 * Content-Security-Policy (scripts only from our own files: no inline
 * script, no eval), no framing, no MIME sniffing, no referrer beyond our
 * origin.
 */
#include "http/http.h"
#include "http/tls.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* User content is never shown from blob: or data: URLs as documents, only
 * as images (previews) and in frames holding PDFs made from fetched bytes. */
#define PORTAL_CSP                                                                 \
	"default-src 'none'; script-src 'self'; style-src 'self'; "                  \
	"img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "          \
	"frame-src blob:; media-src 'self' blob:; manifest-src 'self'; "             \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* Every asset's answers, one per encoding, made once with all their
 * headers: a request only chooses one and queues it again (no allocation,
 * no copy). Responses are reference-counted by libmicrohttpd; ours are
 * the last references, dropped at stop. */
struct portal_answers {
	struct MHD_Response *v[3]; /* identity, gzip, br (NULL: none) */
};

struct portal {
	size_t n;
	struct portal_answers *a;
};

enum { ENC_RAW, ENC_GZIP, ENC_BR };

static int is_page(const struct portal_asset *a)
{
	return !strcmp(a->path, "/index.html");
}

/* The headers of an asset's answer (also of its 304). */
static void asset_headers(struct MHD_Response *resp, const struct portal_asset *a,
			  int enc)
{
	char etag[64];
	size_t el = strlen(a->etag);
	/* one ETag per representation: "hash" "hash-gz" "hash-br" */
	snprintf(etag, sizeof(etag), "%.*s%s\"", (int)(el > 1 ? el - 1 : 0), a->etag,
		 enc == ENC_GZIP ? "-gz" : enc == ENC_BR ? "-br" : "");
	MHD_add_response_header(resp, "ETag", etag);
	if (enc == ENC_GZIP)
		MHD_add_response_header(resp, "Content-Encoding", "gzip");
	if (enc == ENC_BR)
		MHD_add_response_header(resp, "Content-Encoding", "br");
	if (a->gz || a->br)
		MHD_add_response_header(resp, "Vary", "Accept-Encoding");
	MHD_add_response_header(resp, "Cache-Control",
				a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (is_page(a)) {
		MHD_add_response_header(resp, "Content-Security-Policy", PORTAL_CSP);
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
		MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
		MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
		MHD_add_response_header(resp, "Permissions-Policy",
					"camera=(), microphone=(), geolocation=()");
	}
}

int portal_start(struct server *s)
{
	struct portal *p = xcalloc(1, sizeof(*p));
	for (const struct portal_asset *a = portal_assets; a->path; a++)
		p->n++;
	p->a = xcalloc(p->n + 1, sizeof(*p->a));
	for (size_t i = 0; i < p->n; i++) {
		const struct portal_asset *a = &portal_assets[i];
		const char *data[3] = {a->raw, a->gz, a->br};
		const char *end[3] = {a->raw_end, a->gz_end, a->br_end};
		for (int enc = 0; enc < 3; enc++) {
			if (!data[enc])
				continue;
			struct MHD_Response *r = MHD_create_response_from_buffer(
				(size_t)(end[enc] - data[enc]), (void *)data[enc],
				MHD_RESPMEM_PERSISTENT);
			if (!r) {
				s->portal = p;
				portal_stop(s);
				return COVE_EINTERNAL;
			}
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype);
			asset_headers(r, a, enc);
			if (s->tls)
				MHD_add_response_header(r, "Strict-Transport-Security",
							TLS_HSTS);
			p->a[i].v[enc] = r;
		}
	}
	s->portal = p;
	return 0;
}

void portal_stop(struct server *s)
{
	struct portal *p = s->portal;
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		for (int enc = 0; enc < 3; enc++)
			if (p->a[i].v[enc])
				MHD_destroy_response(p->a[i].v[enc]);
	free(p->a);
	free(p);
	s->portal = NULL;
}

static int asset_find(const char *path)
{
	for (int i = 0; portal_assets[i].path; i++)
		if (!strcmp(portal_assets[i].path, path))
			return i;
	return -1;
}

/* Does Accept-Encoding allow coding (named, and not with q=0)? */
static int accepts(const char *ae, const char *coding)
{
	size_t n = strlen(coding);
	for (const char *p = ae; p && *p; p = strchr(p, ',')) {
		p += strspn(p, ", ");
		if (strncasecmp(p, coding, n) || (p[n] && !strchr(" ;,", p[n])))
			continue;
		const char *q = p + n + strspn(p + n, " ");
		if (*q != ';')
			return 1;
		q += 1 + strspn(q + 1, " ");
		return !(q[0] == 'q' && q[1] == '=' && strtod(q + 2, NULL) <= 0.0);
	}
	return 0;
}

static void send_asset(struct req *r, int i)
{
	const struct portal_asset *a = &portal_assets[i];
	const struct portal_answers *ans = &r->srv->portal->a[i];
	const char *ae = req_header(r, "Accept-Encoding");
	int enc = ENC_RAW;
	if (ans->v[ENC_BR] && accepts(ae, "br"))
		enc = ENC_BR;
	else if (ans->v[ENC_GZIP] && accepts(ae, "gzip"))
		enc = ENC_GZIP;
	const char *inm = req_header(r, "If-None-Match");
	/* the hash, without its quotes, names every representation */
	size_t el = strlen(a->etag);
	if (inm && el > 2) {
		char bare[64];
		snprintf(bare, sizeof(bare), "%.*s", (int)(el - 2), a->etag + 1);
		if (strstr(inm, bare)) {
			reply_static(r, 304, NULL, "", 0);
			asset_headers(r->resp, a, enc);
			return;
		}
	}
	reply_shared(r, 200, ans->v[enc]);
}

/* Any page of the application: the browser-side router shows it. */
static void get_page(struct req *r)
{
	int i = asset_find("/index.html");
	if (i < 0) {
		reply_problem(r, 404, "this build of cove has no portal");
		return;
	}
	send_asset(r, i);
}

static void get_asset(struct req *r)
{
	const char *name = req_param(r, "name");
	char path[512];
	int i = -1;
	if (name && snprintf(path, sizeof(path), "/assets/%s", name) < (int)sizeof(path))
		i = asset_find(path);
	if (i < 0) {
		reply_problem(r, 404, "no such asset: %.200s (the portal was rebuilt; reload "
				      "the page)", name ? name : "");
		return;
	}
	send_asset(r, i);
}

#define PAGE(p) {"GET", p, get_page, ROUTE_PUBLIC | ROUTE_HIDDEN, NULL}
const struct route portal_routes[] = {
	PAGE("/"),
	PAGE("/login"),
	PAGE("/register"),
	PAGE("/files"),
	PAGE("/files/{path*}"),
	PAGE("/jobs"),
	PAGE("/jobs/{path*}"),
	PAGE("/projects"),
	PAGE("/projects/{path*}"),
	PAGE("/images"),
	PAGE("/images/{path*}"),
	PAGE("/account"),
	PAGE("/account/{path*}"),
	PAGE("/admin"),
	PAGE("/admin/{path*}"),
	{"GET", "/assets/{name*}", get_asset, ROUTE_PUBLIC | ROUTE_HIDDEN | ROUTE_QUIET, NULL},
	{NULL, NULL, NULL, 0, NULL},
};
