/*
 * err.c - filling struct err and naming codes. No I/O here.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

int err_set(struct err *e, int code, const char *fmt, ...)
{
	if (!e)
		return code;
	/* Format into a copy first: callers may pass e->msg as an argument
	 * ("quota: %s", e->msg). */
	char tmp[sizeof(e->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	e->code = code;
	memcpy(e->msg, tmp, sizeof(tmp));
	return code;
}

const char *err_code_name(int code)
{
	switch (code) {
	case COVE_OK: return "ok";
	case COVE_EINVAL: return "invalid";
	case COVE_ENOENT: return "not found";
	case COVE_EEXIST: return "exists";
	case COVE_EPERM: return "permission denied";
	case COVE_EAUTH: return "unauthenticated";
	case COVE_ECONFLICT: return "conflict";
	case COVE_ETOOMANY: return "too many requests";
	case COVE_ETOOBIG: return "too large";
	case COVE_EIO: return "i/o error";
	case COVE_ENOMEM: return "out of memory";
	case COVE_EUNAVAIL: return "unavailable";
	default: return "internal error";
	}
}
