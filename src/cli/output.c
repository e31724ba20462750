/*
 * output.c - what the client prints on stdout: aligned tables with a
 * header row, "key: value" blocks, pretty JSON for --json, and the
 * human forms of values (sizes, lists, booleans). Text that came from
 * the server is made harmless for a terminal (no control characters).
 * No network and no decisions here: commands choose what to show.
 */
#include "cli/internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ------------------------------------------------------------- */

static void table_push(struct cli_table *t, char *cell)
{
	if (t->ncells == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->ncells++] = cell;
}

void cli_table_init(struct cli_table *t, size_t ncols, ...)
{
	va_list ap;
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	va_start(ap, ncols);
	for (size_t i = 0; i < ncols; i++)
		cli_table_add(t, va_arg(ap, const char *));
	va_end(ap);
}

void cli_table_init_kv(struct cli_table *t)
{
	memset(t, 0, sizeof(*t));
	t->ncols = 2;
	t->kv = 1;
}

/* A copy of s with control characters (C0, DEL, and C1 as UTF-8) replaced
 * by '?', so a name or detail cannot drive the terminal. */
static char *table_clean(const char *s)
{
	char *out = xstrdup(s && *s ? s : "-");
	unsigned char *p = (unsigned char *)out;
	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			p[0] = '?', p[1] = '?';
	}
	return out;
}

void cli_table_add(struct cli_table *t, const char *s)
{
	table_push(t, table_clean(s));
}

void cli_table_addf(struct cli_table *t, const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cli_table_add(t, buf_str(&b));
	buf_free(&b);
}

void cli_table_add_json(struct cli_table *t, const json_t *v)
{
	char *s = cli_json_text(v);
	cli_table_add(t, s);
	free(s);
}

void cli_table_kv(struct cli_table *t, const char *key, const json_t *o,
		  const char *field)
{
	cli_table_add(t, key);
	cli_table_add_json(t, json_object_get(o, field));
}

/* Columns on a terminal: count UTF-8 sequences, not bytes. */
static size_t table_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
	size_t *width = xcalloc(t->ncols, sizeof(*width));
	for (size_t i = 0; i < t->ncells; i++) {
		size_t w = table_width(t->cells[i]) + (t->kv && i % 2 == 0);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (size_t i = 0; i < t->ncells; i++) {
		size_t col = i % t->ncols;
		const char *cell = t->cells[i];
		if (col == t->ncols - 1 || i == t->ncells - 1) {
			fprintf(out, "%s\n", cell);
			continue;
		}
		size_t w = table_width(cell);
		fprintf(out, "%s%s", cell, t->kv ? ":" : "");
		w += (size_t)t->kv;
		fprintf(out, "%*s", (int)(width[col] - w + (t->kv ? 1 : 2)), "");
	}
	free(width);
}

void cli_table_free(struct cli_table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* ---- values ------------------------------------------------------------- */

/* An element of a list: a string, or an object such as a project member
 * {"username","role"} shown as "alice (owner)". */
static void json_text_item(struct buf *b, const json_t *v)
{
	const char *name = json_string_value(json_object_get(v, "username"));
	if (!name)
		name = json_string_value(json_object_get(v, "name"));
	const char *role = json_string_value(json_object_get(v, "role"));
	if (json_is_object(v) && name) {
		buf_adds(b, name);
		if (role)
			buf_addf(b, " (%s)", role);
		return;
	}
	char *s = cli_json_text(v);
	buf_adds(b, s);
	free(s);
}

char *cli_json_text(const json_t *v)
{
	struct buf b = {0};
	size_t i;
	const json_t *x;
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return xstrdup(json_string_value(v)[0] ? json_string_value(v) : "-");
	case JSON_INTEGER:
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return xasprintf("%g", json_real_value(v));
	case JSON_TRUE:
		return xstrdup("yes");
	case JSON_FALSE:
		return xstrdup("no");
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
		{
			if (i)
				buf_adds(&b, ", ");
			json_text_item(&b, x);
		}
		return b.len ? buf_detach(&b) : xstrdup("-");
	case JSON_OBJECT: {
		char *s = json_dumps(v, JSON_COMPACT);
		char *r = xstrdup(s);
		free(s);
		return r;
	}
	default:
		return xstrdup("-");
	}
}

void cli_size_format(int64_t v, char out[32])
{
	static const char units[] = "PTGMK";
	if (v == 0) {
		snprintf(out, 32, "unlimited");
		return;
	}
	for (int i = 0; units[i]; i++) {
		int64_t m = (int64_t)1 << (10 * (5 - i));
		if (v >= m && v % m == 0) {
			snprintf(out, 32, "%lld%c", (long long)(v / m), units[i]);
			return;
		}
	}
	snprintf(out, 32, "%lld", (long long)v);
}

void cli_size_human(int64_t v, char out[32])
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double d = (double)v;
	int u = 0;
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%lld B", (long long)v);
	else
		snprintf(out, 32, "%.1f %s", d, units[u]);
}

/* ---- whole answers ------------------------------------------------------ */

void cli_print_json(const json_t *o)
{
	if (!o)
		return;
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

void cli_print_done(const struct client *c, const json_t *o, const char *fmt,
		    ...)
{
	va_list ap;
	if (c->json) {
		/* An empty answer (204) still gives scripts valid JSON. */
		if (o)
			cli_print_json(o);
		else
			printf("{}\n");
		return;
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void cli_print_import(const json_t *o)
{
	struct cli_table t;
	size_t i;
	const json_t *s;
	cli_table_init_kv(&t);
	const json_t *created = json_object_get(o, "created");
	char *names = cli_json_text(created);
	cli_table_add(&t, "created");
	cli_table_add(&t, json_array_size(created) ? names : "none");
	free(names);
	json_array_foreach(json_object_get(o, "skipped"), i, s)
	{
		cli_table_add(&t, "skipped");
		cli_table_addf(&t, "line %" JSON_INTEGER_FORMAT ": %s",
			       json_integer_value(json_object_get(s, "line")),
			       json_string_value(json_object_get(s, "reason"))
				       ? json_string_value(json_object_get(s, "reason"))
				       : "-");
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}
