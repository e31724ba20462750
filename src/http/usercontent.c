/*
 * usercontent.c - what a response carrying user bytes (a file, a share
 * link, an archive) must say so that a browser never runs them in our
 * origin, where the portal and its session live: a sandboxing
 * Content-Security-Policy, nosniff, and Content-Disposition attachment
 * (with the name encoded by RFC 6266 / RFC 8187) for downloads and for
 * names a browser would render as active content.
 *
 * Pure text functions plus one reply helper; no knowledge of files or of
 * who may read them.
 */
#include "http/http.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Extensions a browser renders as documents or runs as scripts when it
 * trusts the name over our Content-Type (or guesses): HTML, SVG, XML and
 * XSLT (which can carry scripts) and JavaScript modules. */
static const char *const active_ext[] = {".html", ".htm", ".xhtml", ".svg", ".svgz",
					 ".xml",  ".xsl", ".js",    ".mjs",  NULL};

int http_name_is_active(const char *name)
{
	if (!name)
		return 0;
	size_t n = strlen(name);
	for (const char *const *x = active_ext; *x; x++) {
		size_t k = strlen(*x);
		if (n >= k && !strcasecmp(name + n - k, *x))
			return 1;
	}
	return 0;
}

/* RFC 8187 attr-char: what may stand unencoded in filename*=. */
static int attr_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$&+-.^_`|~", c));
}

char *http_disposition(const char *type, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = {0};
	if (!name || !*name)
		name = "download";
	buf_adds(&b, type);
	/* The fallback for clients without RFC 8187: printable ASCII, one '_'
	 * per other character (continuation bytes dropped), and '_' for the
	 * quote and backslash (no escaping that some parsers get wrong) and
	 * for '%' (some browsers percent-decode this parameter). */
	buf_adds(&b, "; filename=\"");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p >= 0x80 && *p < 0xc0)
			continue;
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '%')
			buf_addc(&b, '_');
		else
			buf_addc(&b, (char)*p);
	}
	buf_adds(&b, "\"; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (attr_char(*p)) {
			buf_addc(&b, (char)*p);
		} else {
			buf_addc(&b, '%');
			buf_addc(&b, hex[*p >> 4]);
			buf_addc(&b, hex[*p & 15]);
		}
	}
	return buf_detach(&b);
}

void reply_user_content(struct req *r, const char *name, int attachment)
{
	/* sandbox: no script, no plugin, no same-origin access even when a
	 * browser renders the bytes; default-src 'none': nothing loaded */
	reply_header(r, "Content-Security-Policy", "sandbox; default-src 'none'");
	/* every reply_* sends nosniff already; never twice */
	if (r->resp && !MHD_get_response_header(r->resp, "X-Content-Type-Options"))
		reply_header(r, "X-Content-Type-Options", "nosniff");
	if (name && (attachment || http_name_is_active(name))) {
		char *cd = http_disposition("attachment", name);
		reply_header(r, "Content-Disposition", cd);
		free(cd);
	}
}
