/*
 * config.c - the settings of `cove serve`: one table of flags, environment
 * variables, defaults and help text, read in that order of precedence
 * (default < environment < flag). No I/O beyond reading the environment.
 */
#include "core.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum opt_kind { OPT_STR, OPT_INT, OPT_BOOL, OPT_DUR, OPT_SIZE };

struct opt {
	const char *flag; /* without leading dashes */
	const char *env;
	enum opt_kind kind;
	size_t off;
	const char *def;
	const char *help;
};

#define F(f) offsetof(struct config, f)
static const struct opt opts[] = {
	{"listen", "COVE_LISTEN", OPT_STR, F(listen), "127.0.0.1:8080",
	 "address and port to serve on"},
	{"data", "COVE_DATA", OPT_STR, F(data_dir), "./.cove-data",
	 "data directory (database, blobs, keys)"},
	{"log-level", "COVE_LOG_LEVEL", OPT_STR, F(log_level), "info",
	 "debug, info, warn, error or off"},
	{"log-file", "COVE_LOG_FILE", OPT_STR, F(log_file), "",
	 "append logs to this file, reopened on SIGHUP (default: standard error)"},
	{"public-url", "COVE_PUBLIC_URL", OPT_STR, F(public_url), "",
	 "URL clients use to reach this server (default: from --listen)"},
	{"threads", "COVE_THREADS", OPT_INT, F(threads), "8",
	 "HTTP worker threads"},
	{"io-workers", "COVE_IO_WORKERS", OPT_INT, F(io_workers), "32",
	 "threads for work that waits on the disk (upload commits)"},
	{"max-body", "COVE_MAX_BODY", OPT_SIZE, F(max_body), "1M",
	 "largest JSON or text request body"},
	{"conn-timeout", "COVE_CONN_TIMEOUT", OPT_DUR, F(conn_timeout), "30s",
	 "close connections idle (or trickling) this long"},
	{"max-conns", "COVE_MAX_CONNS", OPT_INT, F(max_conns), "1000",
	 "simultaneous connections"},
	{"metrics-public", "COVE_METRICS_PUBLIC", OPT_BOOL, F(metrics_public), "off",
	 "serve /metrics without a token (default: an administrator's token, read scope)"},
	{"registration", "COVE_REGISTRATION", OPT_BOOL, F(registration), "on",
	 "allow self-registration at first start (admins can change it later)"},
	{"access-ttl", "COVE_ACCESS_TTL", OPT_DUR, F(access_ttl), "15m",
	 "lifetime of access tokens"},
	{"refresh-ttl", "COVE_REFRESH_TTL", OPT_DUR, F(refresh_ttl), "30d",
	 "lifetime of a login session"},
	{"session-ttl", "COVE_SESSION_TTL", OPT_DUR, F(session_ttl), "7d",
	 "lifetime of a browser session (the portal's login)"},
	{"session-idle", "COVE_SESSION_IDLE", OPT_DUR, F(session_idle), "12h",
	 "a browser session unused this long ends"},
	{"argon2-memory", "COVE_ARGON2_MEMORY_KIB", OPT_INT, F(argon2_m_kib),
	 "19456", "Argon2id memory cost in KiB"},
	{"argon2-passes", "COVE_ARGON2_PASSES", OPT_INT, F(argon2_t), "2",
	 "Argon2id passes"},
	{"argon2-lanes", "COVE_ARGON2_LANES", OPT_INT, F(argon2_p), "1",
	 "Argon2id lanes"},
	{"login-max-failures", "COVE_LOGIN_MAX_FAILURES", OPT_INT,
	 F(login_max_failures), "5", "failed logins per account before lockout"},
	{"ip-max-failures", "COVE_IP_MAX_FAILURES", OPT_INT, F(ip_max_failures),
	 "30", "failed logins per client address before lockout"},
	{"login-window", "COVE_LOGIN_WINDOW", OPT_DUR, F(login_window), "15m",
	 "window in which failed logins are counted"},
	{"lockout", "COVE_LOCKOUT", OPT_DUR, F(lockout_seconds), "1m",
	 "first lockout; each repeat doubles it (up to a day)"},
	{"key-rotate-days", "COVE_KEY_ROTATE_DAYS", OPT_INT, F(key_rotate_days),
	 "30", "rotate the token signing key after this many days"},
	{"home-mode", "COVE_HOME_MODE", OPT_STR, F(home_mode), "0700",
	 "octal mode of new home directories"},
	{"job-cpus", "COVE_JOB_CPUS", OPT_INT, F(job_cpus), "0",
	 "CPUs offered to jobs (0: every CPU of this machine)"},
	{"job-memory", "COVE_JOB_MEMORY", OPT_SIZE, F(job_memory), "0",
	 "memory offered to jobs (0: this machine's, less a reserve)"},
	{"max-queued", "COVE_MAX_QUEUED", OPT_INT, F(max_queued), "200000",
	 "jobs waiting, all users together, before submissions get 429"},
	{"max-queued-user", "COVE_MAX_QUEUED_USER", OPT_INT, F(max_queued_user),
	 "20000", "jobs waiting per user before their submissions get 429"},
	{"user-running", "COVE_USER_RUNNING", OPT_INT, F(user_running), "0",
	 "running jobs per user (0: no limit beyond fair share)"},
	{"job-uid-base", "COVE_JOB_UID_BASE", OPT_INT, F(job_uid_base), "200000",
	 "jobs run as host uids from this one (65,536 of them), never as root"},
	{"image-cache-age", "COVE_IMAGE_CACHE_AGE", OPT_DUR, F(image_cache_age), "14d",
	 "unpacked job images unused this long are removed"},
	{"image-cache-size", "COVE_IMAGE_CACHE_SIZE", OPT_SIZE, F(image_cache_bytes),
	 "20G", "bytes of unpacked job images kept (least recently used go first)"},
	{"registry-gc-interval", "COVE_REGISTRY_GC_INTERVAL", OPT_DUR,
	 F(registry_gc_interval), "1d",
	 "collect untagged images and unused layers this often (0: never)"},
	{"oidc-issuer", "COVE_OIDC_ISSUER", OPT_STR, F(oidc_issuer), "",
	 "OpenID Connect provider (issuer URL) users may log in with"},
	{"oidc-client-id", "COVE_OIDC_CLIENT_ID", OPT_STR, F(oidc_client_id), "",
	 "cove's client id at --oidc-issuer"},
	{"oidc-client-secret-file", "COVE_OIDC_CLIENT_SECRET_FILE", OPT_STR,
	 F(oidc_client_secret_file), "", "file holding cove's client secret at --oidc-issuer"},
	{"oidc-name", "COVE_OIDC_NAME", OPT_STR, F(oidc_name), "",
	 "the provider's name on the login page (\"Log in with <name>\")"},
	{"oidc-config", "COVE_OIDC_CONFIG", OPT_STR, F(oidc_config), "",
	 "JSON file describing one or more OpenID Connect providers (docs/operations.md)"},
	{"oidc-groups-claim", "COVE_OIDC_GROUPS_CLAIM", OPT_STR, F(oidc_groups_claim),
	 "groups", "ID token claim listing the user's groups (or eduperson_entitlement)"},
	{"oidc-project-groups", "COVE_OIDC_PROJECT_GROUPS", OPT_STR,
	 F(oidc_project_groups), "", "POSIX regex: matching groups become projects"},
	{"oidc-admin-group", "COVE_OIDC_ADMIN_GROUP", OPT_STR, F(oidc_admin_group), "",
	 "members of this provider group are administrators"},
	{"oidc-required-group", "COVE_OIDC_REQUIRED_GROUP", OPT_STR,
	 F(oidc_required_group), "", "only members of this provider group may log in"},
	{"oidc-jwks-refetch", "COVE_OIDC_JWKS_REFETCH", OPT_DUR, F(oidc_jwks_refetch),
	 "10s", "at most one JWKS fetch this often for an unknown key id"},
	{"oidc-skew", "COVE_OIDC_SKEW", OPT_DUR, F(oidc_skew), "60s",
	 "clock skew allowed when checking ID tokens' exp, iat and nbf"},
	{"break-glass-admin", "COVE_BREAK_GLASS_ADMIN", OPT_STR, F(break_glass_admin),
	 "admin", "the account that may still log in with a password when password login is off"},
	{"registry-gc-grace", "COVE_REGISTRY_GC_GRACE", OPT_DUR, F(registry_gc_grace),
	 "1h", "the periodic collection leaves image parts pushed more recently"},
	{"tls-cert", "COVE_TLS_CERT", OPT_STR, F(tls_cert), "",
	 "serve https with this PEM certificate file (server certificate, then its CA)"},
	{"tls-key", "COVE_TLS_KEY", OPT_STR, F(tls_key), "",
	 "the PEM private key of --tls-cert"},
	{"tls", "COVE_TLS", OPT_STR, F(tls), "off",
	 "auto: serve https with a private CA made under DATA/tls/ (off: plain http, or --tls-cert)"},
	{"tls-san", "COVE_TLS_SAN", OPT_STR, F(tls_san), "",
	 "more host names or addresses for the --tls auto certificate, comma-separated"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int64_t size_parse(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || v < 0 || errno)
		return -1;
	int64_t m = 1;
	if (!strcmp(end, "") || !strcmp(end, "B"))
		m = 1;
	else if (!strcmp(end, "K") || !strcmp(end, "k"))
		m = 1024;
	else if (!strcmp(end, "M"))
		m = 1024 * 1024;
	else if (!strcmp(end, "G"))
		m = 1024LL * 1024 * 1024;
	else
		return -1;
	return v * m;
}

static int set_opt(struct config *cfg, const struct opt *o, const char *val,
		   const char *src, struct err *e)
{
	char *base = (char *)cfg + o->off;
	int64_t v;
	switch (o->kind) {
	case OPT_STR:
		free(*(char **)base);
		*(char **)base = xstrdup(val);
		return 0;
	case OPT_INT: {
		char *end;
		errno = 0;
		long long n = strtoll(val, &end, 10);
		if (!*val || *end || errno || n < 0)
			return err_set(e, COVE_EINVAL,
				       "%s: '%s' is not a non-negative number", src, val);
		v = n;
		break;
	}
	case OPT_BOOL:
		if (!strcmp(val, "on") || !strcmp(val, "true") || !strcmp(val, "1") ||
		    !strcmp(val, "yes"))
			v = 1;
		else if (!strcmp(val, "off") || !strcmp(val, "false") ||
			 !strcmp(val, "0") || !strcmp(val, "no"))
			v = 0;
		else
			return err_set(e, COVE_EINVAL, "%s: '%s' is not on or off",
				       src, val);
		break;
	case OPT_DUR:
		v = duration_parse(val);
		if (v < 0)
			return err_set(e, COVE_EINVAL,
				       "%s: '%s' is not a duration (like 30s, 15m, 2h, 7d)",
				       src, val);
		break;
	case OPT_SIZE:
		v = size_parse(val);
		if (v < 0)
			return err_set(e, COVE_EINVAL,
				       "%s: '%s' is not a size (like 512K, 1M)", src, val);
		break;
	default:
		return COVE_EINTERNAL;
	}
	*(int64_t *)base = v;
	return 0;
}

void config_usage(FILE *out)
{
	fprintf(out, "usage: cove serve [flags]\n\nflags (environment variable, default):\n");
	for (size_t i = 0; i < NOPTS; i++)
		fprintf(out, "  --%-20s %s (%s, %s)\n", opts[i].flag, opts[i].help,
			opts[i].env, *opts[i].def ? opts[i].def : "none");
	fprintf(out, "\nCOVE_ADMIN_PASSWORD sets the first admin's password "
		     "(otherwise one is generated and printed once).\n");
}

int config_load(struct config *cfg, int argc, char **argv, struct err *e)
{
	memset(cfg, 0, sizeof(*cfg));
	int rc;
	for (size_t i = 0; i < NOPTS; i++)
		if ((rc = set_opt(cfg, &opts[i], opts[i].def, "default", e)))
			return rc;
	for (size_t i = 0; i < NOPTS; i++) {
		const char *v = getenv(opts[i].env);
		if (v && (rc = set_opt(cfg, &opts[i], v, opts[i].env, e)))
			return rc;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
			return 1;
		if (strncmp(arg, "--", 2))
			return err_set(e, COVE_EINVAL, "unexpected argument '%s'", arg);
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt *o = NULL;
		for (size_t i = 0; i < NOPTS; i++)
			if (strlen(opts[i].flag) == nlen && !strncmp(opts[i].flag, name, nlen))
				o = &opts[i];
		if (!o)
			return err_set(e, COVE_EINVAL, "unknown flag '%s' (see cove serve --help)", arg);
		const char *val = eq ? eq + 1 : NULL;
		if (!val) {
			if (a + 1 >= argc)
				return err_set(e, COVE_EINVAL, "flag --%s needs a value", o->flag);
			val = argv[++a];
		}
		if ((rc = set_opt(cfg, o, val, arg, e)))
			return rc;
	}
	if (log_level_parse(cfg->log_level) < 0)
		return err_set(e, COVE_EINVAL, "unknown log level '%s'", cfg->log_level);
	if (cfg->threads < 1 || cfg->threads > 256)
		return err_set(e, COVE_EINVAL, "--threads must be between 1 and 256");
	if (cfg->io_workers < 1 || cfg->io_workers > 1024)
		return err_set(e, COVE_EINVAL, "--io-workers must be between 1 and 1024");
	if (cfg->access_ttl < 10 || cfg->refresh_ttl < cfg->access_ttl)
		return err_set(e, COVE_EINVAL,
			       "access-ttl must be >= 10s and refresh-ttl >= access-ttl");
	if (cfg->session_ttl < 60 || cfg->session_idle < 60)
		return err_set(e, COVE_EINVAL,
			       "session-ttl and session-idle must be at least 1m");
	size_t hl = strlen(cfg->home_mode);
	if (hl < 3 || hl > 4 || strspn(cfg->home_mode, "01234567") != hl)
		return err_set(e, COVE_EINVAL, "home-mode must be octal, like 0700 or 0750");
	if (cfg->argon2_m_kib < 8 || cfg->argon2_t < 1 || cfg->argon2_p < 1 ||
	    cfg->argon2_m_kib < 8 * cfg->argon2_p)
		return err_set(e, COVE_EINVAL, "Argon2id parameters out of range");
	if (strcmp(cfg->tls, "off") && strcmp(cfg->tls, "auto"))
		return err_set(e, COVE_EINVAL, "--tls is auto or off, not '%s'", cfg->tls);
	if (!strcmp(cfg->tls, "auto") && (*cfg->tls_cert || *cfg->tls_key))
		return err_set(e, COVE_EINVAL, "--tls auto makes its own certificate: "
					       "leave out --tls-cert and --tls-key");
	if (!*cfg->tls_cert != !*cfg->tls_key)
		return err_set(e, COVE_EINVAL, "--tls-cert and --tls-key go together: "
					       "give both, or neither for plain http");
	return 0;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].kind == OPT_STR) {
			char **p = (char **)((char *)cfg + opts[i].off);
			free(*p);
			*p = NULL;
		}
}

/* A flag whose value may itself be a secret (not a path to one). */
static int opt_is_secret(const struct opt *o)
{
	static const char *const words[] = {"secret", "password", "token", NULL};
	size_t n = strlen(o->flag);
	if (n > 5 && !strcmp(o->flag + n - 5, "-file"))
		return 0;
	for (int i = 0; words[i]; i++)
		if (strstr(o->flag, words[i]))
			return 1;
	return 0;
}

json_t *config_json(const struct config *cfg)
{
	json_t *o = json_object();
	for (size_t i = 0; i < NOPTS; i++) {
		const char *base = (const char *)cfg + opts[i].off;
		json_t *v;
		if (opts[i].kind == OPT_STR) {
			const char *s = *(char *const *)base;
			if (opt_is_secret(&opts[i]))
				v = json_string(s && *s ? "(set)" : "");
			else
				v = json_string(s ? s : "");
		} else if (opts[i].kind == OPT_BOOL) {
			v = json_boolean(*(const int64_t *)base);
		} else {
			v = json_integer(*(const int64_t *)base);
		}
		json_object_set_new(o, opts[i].flag, v ? v : json_null());
	}
	return o;
}
