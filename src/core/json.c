/*
 * json.c - checks on decoded JSON input (unknown fields, member types) and
 * UTF-8 validation. Messages name the offending field so a person can act.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

int json_only_fields(const json_t *obj, const char *const *allowed,
		     struct err *e)
{
	if (!json_is_object(obj))
		return err_set(e, COVE_EINVAL, "request body must be a JSON object");
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)obj, key, val) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (!strcmp(*a, key)) {
				ok = 1;
				break;
			}
		if (!ok)
			return err_set(e, COVE_EINVAL, "unknown field '%.64s'", key);
	}
	return 0;
}

int json_opt_str(const json_t *obj, const char *key, const char **out,
		 struct err *e)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return err_set(e, COVE_EINVAL, "field '%s' must be a string", key);
	*out = json_string_value(v);
	return 0;
}

int json_req_str(const json_t *obj, const char *key, const char **out,
		 struct err *e)
{
	int rc = json_opt_str(obj, key, out, e);
	if (rc)
		return rc;
	if (!*out)
		return err_set(e, COVE_EINVAL, "field '%s' is required", key);
	return 0;
}

int json_opt_int(const json_t *obj, const char *key, int64_t *out,
		 int *present, struct err *e)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return err_set(e, COVE_EINVAL, "field '%s' must be an integer", key);
	*out = (int64_t)json_integer_value(v);
	if (present)
		*present = 1;
	return 0;
}

int json_opt_bool(const json_t *obj, const char *key, int *out, int *present,
		  struct err *e)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return err_set(e, COVE_EINVAL, "field '%s' must be true or false", key);
	*out = json_is_true(v);
	if (present)
		*present = 1;
	return 0;
}

void json_set_time(json_t *o, const char *key, int64_t t)
{
	if (!t) {
		json_object_set_new(o, key, json_null());
		return;
	}
	char ts[32];
	time_format(t, ts);
	json_object_set_new(o, key, json_string(ts));
}

void json_set_time_ms(json_t *o, const char *key, int64_t ms)
{
	if (!ms) {
		json_object_set_new(o, key, json_null());
		return;
	}
	char ts[32], out[40];
	time_format(ms / 1000, ts);
	/* 2026-11-23T10:00:00Z -> 2026-11-23T10:00:00.123Z */
	snprintf(out, sizeof(out), "%.19s.%03dZ", ts, (int)(ms % 1000));
	json_object_set_new(o, key, json_string(out));
}

int utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned c = p[i];
		size_t n;
		unsigned min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1, min = 0x80, c &= 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2, min = 0x800, c &= 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3, min = 0x10000, c &= 0x07;
		} else {
			return 0;
		}
		if (i + n >= len)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
			c = (c << 6) | (p[i + k] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return 0;
		i += n + 1;
	}
	return 1;
}

int str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void buf_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	buf_grow(b, strlen(s) + 2);
	buf_addc(b, '"');
	const char *run = s;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_add(b, run, (size_t)(p - run));
		run = p + 1;
		switch (c) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\t': buf_adds(b, "\\t"); break;
		case '\r': buf_adds(b, "\\r"); break;
		default: {
			char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
			buf_adds(b, u);
		}
		}
	}
	buf_adds(b, run);
	buf_addc(b, '"');
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

void buf_json_time_ms(struct buf *b, int64_t ms)
{
	if (!ms) {
		buf_adds(b, "null");
		return;
	}
	int64_t secs = ms / 1000, frac = ms % 1000;
	if (frac < 0) { /* floor, not truncation, before 1970 */
		frac += 1000;
		secs--;
	}
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	int y;
	unsigned mo, d;
	civil(days, &y, &mo, &d);
	char out[40];
	int n = 0;
	out[n++] = '"';
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	out[n++] = (char)('0' + y / 1000);
	out[n++] = (char)('0' + y / 100 % 10);
	out[n++] = (char)('0' + y / 10 % 10);
	out[n++] = (char)('0' + y % 10);
	unsigned parts[] = {mo, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
			    (unsigned)(rem % 60)};
	static const char seps[5] = {'-', '-', 'T', ':', ':'};
	for (int i = 0; i < 5; i++) {
		out[n++] = seps[i];
		out[n++] = (char)('0' + parts[i] / 10);
		out[n++] = (char)('0' + parts[i] % 10);
	}
	unsigned msr = (unsigned)frac;
	out[n++] = '.';
	out[n++] = (char)('0' + msr / 100);
	out[n++] = (char)('0' + msr / 10 % 10);
	out[n++] = (char)('0' + msr % 10);
	out[n++] = 'Z';
	out[n++] = '"';
	buf_add(b, out, (size_t)n);
}

void buf_add_int(struct buf *b, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[n++] = '-';
	buf_grow(b, (size_t)n);
	while (n)
		b->data[b->len++] = tmp[--n];
	b->data[b->len] = '\0';
}
