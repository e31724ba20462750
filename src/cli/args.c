/*
 * args.c - command-line parsing for the client: flags from a command's
 * table plus the global ones (--json, --server, --help) anywhere, and the
 * small number parsers (sizes, counts). Pure: no I/O, no network.
 */
#include "cli/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const struct cli_flag *flag_find(const struct cli_flag *flags,
					const char *name, size_t len)
{
	for (const struct cli_flag *f = flags; f && f->name; f++)
		if (strlen(f->name) == len && !strncmp(f->name, name, len))
			return f;
	return NULL;
}

int cli_usage_err(const struct cli_args *a, struct err *e, const char *fmt,
		  ...)
{
	struct buf b = {0};
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	err_set(e, CLI_EUSAGE, "%s (see '%s --help')", buf_str(&b), a->prog);
	buf_free(&b);
	return CLI_EUSAGE;
}

/* Take a global flag at argv[*i] if it is one: 1 taken, 0 not, -1 when
 * its value is missing (e filled). */
static int args_global(struct cli_args *a, int argc, char **argv, int *i,
		       struct err *e)
{
	const char *s = argv[*i];
	if (!strcmp(s, "--json")) {
		a->json = 1;
		return 1;
	}
	if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
		a->help = 1;
		return 1;
	}
	if (!strncmp(s, "--ca-file=", 10)) {
		a->ca_file = s + 10;
		return 1;
	}
	if (!strcmp(s, "--ca-file")) {
		if (*i + 1 >= argc) {
			cli_usage_err(a, e, "flag --ca-file needs a file");
			return -1;
		}
		a->ca_file = argv[++*i];
		return 1;
	}
	if (!strncmp(s, "--server=", 9)) {
		a->server = s + 9;
		return 1;
	}
	if (!strcmp(s, "--server")) {
		if (*i + 1 >= argc) {
			cli_usage_err(a, e, "flag --server needs a URL");
			return -1;
		}
		a->server = argv[++*i];
		return 1;
	}
	return 0;
}

/* Take argv[*i], known to start with "--", as one of flags. */
static int args_flag(struct cli_args *a, const struct cli_flag *flags,
		     int argc, char **argv, int *i, struct err *e)
{
	const char *s = argv[*i] + 2;
	const char *eq = strchr(s, '=');
	size_t len = eq ? (size_t)(eq - s) : strlen(s);
	const struct cli_flag *f = flag_find(flags, s, len);
	if (!f)
		return cli_usage_err(a, e, "unknown flag '--%.*s'", (int)len, s);
	const char *val = "";
	if (f->kind == CLI_FLAG_BOOL) {
		if (eq)
			return cli_usage_err(a, e, "flag --%s takes no value", f->name);
	} else if (eq) {
		val = eq + 1;
	} else if (*i + 1 < argc) {
		val = argv[++*i];
	} else {
		return cli_usage_err(a, e, "flag --%s needs a value (%s)", f->name,
				     f->metavar);
	}
	a->opts[a->nopts].flag = f;
	a->opts[a->nopts].val = val;
	a->nopts++;
	return 0;
}

/* Take argv[*i], "-x" style: one-letter flags, which may be clustered
 * ("-lR"); a flag with a value takes the rest ("-n5") or the next word. */
static int args_short(struct cli_args *a, const struct cli_flag *flags,
		      int argc, char **argv, int *i, struct err *e)
{
	const char *s = argv[*i] + 1;
	for (; *s; s++) {
		const struct cli_flag *f = flags ? flag_find(flags, s, 1) : NULL;
		if (!f || strlen(f->name) != 1)
			return cli_usage_err(a, e, "unknown flag '-%c'", *s);
		const char *val = "";
		if (f->kind != CLI_FLAG_BOOL) {
			if (s[1])
				val = s + 1;
			else if (*i + 1 < argc)
				val = argv[++*i];
			else
				return cli_usage_err(a, e, "flag -%s needs a value (%s)", f->name,
						     f->metavar);
		}
		a->opts[a->nopts].flag = f;
		a->opts[a->nopts].val = val;
		a->nopts++;
		if (f->kind != CLI_FLAG_BOOL)
			break;
	}
	return 0;
}

int cli_args_parse(struct cli_args *a, const char *prog,
		   const struct cli_flag *flags, int argc, char **argv,
		   struct err *e)
{
	memset(a, 0, sizeof(*a));
	a->prog = prog;
	a->pos = xcalloc((size_t)argc + 1, sizeof(*a->pos));
	/* a cluster such as -lR gives several options from one word */
	size_t nopt = 1;
	for (int i = 0; i < argc; i++)
		nopt += strlen(argv[i]) + 1;
	a->opts = xcalloc(nopt, sizeof(*a->opts));
	int only_pos = 0;
	for (int i = 0; i < argc; i++) {
		char *s = argv[i];
		if (only_pos || s[0] != '-' || !strcmp(s, "-")) {
			a->pos[a->npos++] = s;
			continue;
		}
		if (!strcmp(s, "--")) {
			only_pos = 1;
			continue;
		}
		int rc = args_global(a, argc, argv, &i, e);
		if (rc < 0)
			return CLI_EUSAGE;
		if (rc)
			continue;
		if (s[1] != '-') {
			if ((rc = args_short(a, flags, argc, argv, &i, e)))
				return rc;
			continue;
		}
		if ((rc = args_flag(a, flags, argc, argv, &i, e)))
			return rc;
	}
	return 0;
}

void cli_args_free(struct cli_args *a)
{
	free(a->pos);
	free(a->opts);
	a->pos = NULL;
	a->opts = NULL;
}

const char *cli_arg_get(const struct cli_args *a, const char *flag)
{
	const char *v = NULL;
	for (int i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i].flag->name, flag))
			v = a->opts[i].val;
	return v;
}

int cli_arg_has(const struct cli_args *a, const char *flag)
{
	return cli_arg_get(a, flag) != NULL;
}

const char *cli_arg_nth(const struct cli_args *a, const char *flag, int n)
{
	for (int i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i].flag->name, flag) && n-- == 0)
			return a->opts[i].val;
	return NULL;
}

int cli_count_parse(const char *s, int64_t *out)
{
	int64_t v = 0;
	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

/* The multiplier of a size suffix ("", "K", "MiB", "gb", ...), or 0. */
static int64_t size_unit(const char *u)
{
	static const char units[] = "KMGTP";
	int64_t mult = 1;
	if (!*u)
		return 1;
	const char *p = strchr(units, toupper((unsigned char)*u));
	if (!p)
		return (*u == 'b' || *u == 'B') && !u[1] ? 1 : 0;
	for (const char *q = units; q <= p; q++)
		mult *= 1024;
	u++;
	if (*u == 'i' && (u[1] == 'B' || u[1] == 'b'))
		u += 2;
	else if (*u == 'B' || *u == 'b')
		u++;
	return *u ? 0 : mult;
}

int cli_size_parse(const char *s, int64_t *out)
{
	int64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;
	if (!s || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (INT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		/* Up to three decimals: frac < 1000 keeps frac * mult exact. */
		for (p++; isdigit((unsigned char)*p); p++) {
			if (scale == 1000)
				return -1;
			frac = frac * 10 + (*p - '0');
			scale *= 10;
		}
		if (scale == 1)
			return -1;
	}
	int64_t mult = size_unit(p);
	if (!mult || whole > INT64_MAX / mult)
		return -1;
	int64_t extra = frac * mult;
	if (extra % scale)
		return -1; /* not a whole number of bytes */
	extra /= scale;
	if (whole * mult > INT64_MAX - extra)
		return -1;
	*out = whole * mult + extra;
	return 0;
}
