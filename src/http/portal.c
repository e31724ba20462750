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

static const struct portal_asset *asset_find(const char *path)
{
	for (const struct portal_asset *a = portal_assets; a->path; a++)
		if (!strcmp(a->path, path))
			return a;
	return NULL;
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

static void send_asset(struct req *r, const struct portal_asset *a)
{
	const char *inm = req_header(r, "If-None-Match");
	const char *ae = req_header(r, "Accept-Encoding");
	const char *data = a->raw, *end = a->raw_end, *coding = NULL;
	if (a->br && accepts(ae, "br")) {
		data = a->br, end = a->br_end, coding = "br";
	} else if (a->gz && accepts(ae, "gzip")) {
		data = a->gz, end = a->gz_end, coding = "gzip";
	}
	if (inm && strstr(inm, a->etag))
		reply_static(r, 304, NULL, "", 0);
	else
		reply_static(r, 200, a->ctype, data, (size_t)(end - data));
	if (coding)
		reply_header(r, "Content-Encoding", coding);
	if (a->gz || a->br)
		reply_header(r, "Vary", "Accept-Encoding");
	reply_header(r, "ETag", a->etag);
	reply_header(r, "Cache-Control", a->immutable ? "public, max-age=31536000, immutable"
						      : "no-cache");
}

/* Any page of the application: the browser-side router shows it. */
static void get_page(struct req *r)
{
	const struct portal_asset *a = asset_find("/index.html");
	if (!a) {
		reply_problem(r, 404, "this build of cove has no portal");
		return;
	}
	send_asset(r, a);
	reply_header(r, "Content-Security-Policy", PORTAL_CSP);
	reply_header(r, "X-Frame-Options", "DENY");
	reply_header(r, "Referrer-Policy", "same-origin");
	reply_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	reply_header(r, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
}

static void get_asset(struct req *r)
{
	const char *name = req_param(r, "name");
	char path[512];
	if (!name || snprintf(path, sizeof(path), "/assets/%s", name) >= (int)sizeof(path)) {
		reply_problem(r, 404, "no such asset");
		return;
	}
	const struct portal_asset *a = asset_find(path);
	if (!a) {
		reply_problem(r, 404, "no such asset: %.200s (the portal was rebuilt; reload "
				      "the page)", name);
		return;
	}
	send_asset(r, a);
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
