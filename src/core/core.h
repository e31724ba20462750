/*
 * core.h - the small pieces every cove module stands on.
 *
 * Errors (one enum, one struct err), a growable buffer, JSON-lines logging,
 * time, identifiers, randomness, hashing and encoding helpers.
 * Nothing here knows about HTTP, SQL or users; nothing here calls exit().
 */
#ifndef COVE_CORE_H
#define COVE_CORE_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* ---- errors ------------------------------------------------------------ */

/* Every fallible function returns 0 or one of these (negative) codes. */
enum cove_code {
	COVE_OK = 0,
	COVE_EINVAL = -1,    /* bad input: the caller can fix it */
	COVE_ENOENT = -2,    /* no such thing */
	COVE_EEXIST = -3,    /* already exists */
	COVE_EPERM = -4,     /* authenticated but not allowed */
	COVE_EAUTH = -5,     /* not (validly) authenticated */
	COVE_ECONFLICT = -6, /* state conflict (busy, changed meanwhile) */
	COVE_ETOOMANY = -7,  /* throttled: retry later */
	COVE_ETOOBIG = -8,   /* payload or quota too large */
	COVE_EIO = -9,       /* storage failed */
	COVE_ENOMEM = -10,
	COVE_EINTERNAL = -11,
	COVE_EUNAVAIL = -12, /* switched off or not ready */
};

/*
 * A caller-provided error report: the code and a message a person can act
 * on. retry_after is set (seconds) with COVE_ETOOMANY.
 */
struct err {
	int code;
	int retry_after;
	char msg[256];
};

/* Fill e (if not NULL) and return code, so callers write
 * "return err_set(e, COVE_EINVAL, "bad name %s", n);". */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *err_code_name(int code);

/* ---- buffer ------------------------------------------------------------ */

/* A growable, always NUL-terminated byte buffer. Zero-initialise it
 * (struct buf b = {0};); buf_free releases it. Allocation failure aborts:
 * cove treats out-of-memory as fatal rather than threading it everywhere. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hand the bytes to the caller (free() them); b is left empty. */
char *buf_detach(struct buf *b);
const char *buf_str(const struct buf *b); /* "" when empty */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- logging ----------------------------------------------------------- */

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Process-wide sink: one JSON object per line on fd. Thread-safe. */
void log_setup(int level, int fd);
/* Log to the file at path from now on (appended, created 0600); log_reopen
 * opens it again by name, for rotation: lines in flight go whole to the
 * old file or the new one. 0, or COVE_EIO in e. */
int log_open_file(const char *path, struct err *e);
int log_reopen(struct err *e);
int log_level_parse(const char *s); /* -1 when unknown */
int log_enabled(int level);
/* Log msg with extra fields packed by jansson (json_pack format for an
 * object, e.g. "{s:s,s:i}", or NULL for none). Never log secrets. */
void log_event(int level, const char *msg, const char *fmt, ...);
/* The last (up to 100) warnings and errors logged, oldest first, as the
 * objects that were written. Caller owns the array. */
json_t *log_recent(void);

/* The release this binary is (cove --version, the admin overview). */
#define COVE_VERSION "0.1.0"

/* ---- time -------------------------------------------------------------- */

int64_t time_now(void);     /* Unix seconds */
int64_t time_now_ms(void);  /* Unix milliseconds */
double time_mono(void);     /* monotonic seconds */
/* RFC 3339 UTC ("2026-11-23T10:00:00Z") into out (>= 21 bytes). */
void time_format(int64_t t, char out[32]);
/* "90", "90s", "15m", "12h", "30d" -> seconds; -1 on bad input. */
int64_t duration_parse(const char *s);
/* An RFC 3339 date-time ("2026-11-23T10:00:00Z", "...T10:00:00.250+01:00";
 * 't', 'z' and a space for 'T' accepted, fractions beyond milliseconds
 * dropped) -> Unix milliseconds in *ms. 0, or -1 on anything else (a
 * missing zone, an impossible date such as February 30). */
int time_parse(const char *s, int64_t *ms);

/* ---- randomness, ids, hashing, encoding -------------------------------- */

int rand_bytes(void *out, size_t n); /* 0 or COVE_EIO */
/* A sortable, URL-safe id: 10 chars of millisecond time and 16 of
 * randomness in Crockford base32 (26 chars + NUL). */
void id_new(char out[27]);
/* The first 10 characters of every id made at millisecond ms (clamped to
 * what ids can hold): ids of events at or after ms compare >= it, those
 * before compare < it. For time ranges over id-ordered tables. */
void id_time_prefix(int64_t ms, char out[11]);
/* The same shape from a per-thread generator seeded once from getrandom:
 * unique enough to correlate log lines (request ids), never a secret nor a
 * record key. */
void id_new_weak(char out[27]);
/* Random token: prefix + base64url(n random bytes). Caller frees. */
char *token_new(const char *prefix, size_t n);
/* SHA-256 of data as 64 lowercase hex chars + NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);
/* The digest of a nettle SHA-256 context (which it resets), the same way. */
struct sha256_ctx;
void sha256_digest_hex(struct sha256_ctx *ctx, char out[65]);
/* Feed ctx what fd holds from its offset to the end, adding the count to
 * *size (when not NULL); 0, or -1 with errno set. */
int sha256_update_fd(struct sha256_ctx *ctx, int fd, int64_t *size);
/* base64url without padding. Caller frees. */
char *b64url_encode(const void *data, size_t len);

/* ---- JSON input checks ------------------------------------------------- */

/* Check that obj is an object whose keys are all in allowed (NULL-ended);
 * otherwise fill e with which key is unknown. */
int json_only_fields(const json_t *obj, const char *const *allowed,
		     struct err *e);
/* Read an optional string member: NULL when absent; COVE_EINVAL (in e)
 * when present but not a string. */
int json_opt_str(const json_t *obj, const char *key, const char **out,
		 struct err *e);
int json_req_str(const json_t *obj, const char *key, const char **out,
		 struct err *e);
int json_opt_int(const json_t *obj, const char *key, int64_t *out,
		 int *present, struct err *e);
/* Set key to an RFC 3339 time (seconds or milliseconds), null when 0. */
void json_set_time(json_t *o, const char *key, int64_t t);
void json_set_time_ms(json_t *o, const char *key, int64_t ms);
int json_opt_bool(const json_t *obj, const char *key, int *out, int *present,
		  struct err *e);

/* ---- JSON writing (hot paths) ------------------------------------------- */
/* Append s as a JSON string literal (quoted, escaped). */
void buf_json_str(struct buf *b, const char *s);
/* Append an RFC 3339 UTC time with milliseconds, quoted, or null for 0. */
void buf_json_time_ms(struct buf *b, int64_t ms);
/* Append a decimal integer (no printf on hot paths). */
void buf_add_int(struct buf *b, int64_t v);

/* ---- text -------------------------------------------------------------- */

int utf8_valid(const char *s, size_t len);
/* Whole-string checks used by names across modules. */
int str_has_prefix(const char *s, const char *prefix);

/* ---- configuration ----------------------------------------------------- */

/*
 * Settings of `cove serve`, from built-in defaults, then COVE_* environment
 * variables, then command-line flags (--listen, --data, ...). Every field
 * is listed once in config.c's table, with its flag, variable and help.
 */
struct config {
	char *listen;           /* host:port, default 127.0.0.1:8080 */
	char *data_dir;         /* default ./.cove-data */
	char *log_level;        /* debug|info|warn|error|off */
	char *log_file;         /* "" for stderr */
	char *public_url;       /* how clients reach us; default from listen */
	int64_t threads;        /* HTTP event-loop threads */
	int64_t io_workers;     /* threads for work that waits on the disk */
	int64_t max_body;       /* bytes of a JSON/text request body */
	int64_t conn_timeout;   /* idle seconds before a connection is closed */
	int64_t max_conns;      /* simultaneous connections */
	int64_t registration;   /* 1: anyone may register (until the admin says no) */
	int64_t metrics_public; /* 1: /metrics needs no token */
	int64_t access_ttl;     /* seconds an access token lives */
	int64_t refresh_ttl;    /* seconds a session (refresh family) lives */
	int64_t session_ttl;    /* seconds a browser session lives */
	int64_t session_idle;   /* seconds a browser session may go unused */
	int64_t argon2_m_kib;   /* Argon2id memory cost */
	int64_t argon2_t;       /* Argon2id passes */
	int64_t argon2_p;       /* Argon2id lanes */
	int64_t login_max_failures; /* per account, within login_window */
	int64_t ip_max_failures;    /* per client address, within login_window */
	int64_t login_window;       /* seconds */
	int64_t lockout_seconds;    /* first lockout; doubles on repeats */
	int64_t key_rotate_days;    /* rotate the signing key after this age */
	char *home_mode;            /* octal mode of new home directories */
	int64_t job_cpus;           /* CPUs offered to jobs; 0: all */
	int64_t job_memory;         /* bytes offered to jobs; 0: all less a reserve */
	int64_t max_queued;         /* waiting jobs before 429, all users */
	int64_t max_queued_user;    /* waiting jobs before 429, one user */
	int64_t user_running;       /* running jobs per user; 0: no limit */
	int64_t job_uid_base;       /* first host uid jobs run as */
	int64_t image_cache_age;    /* seconds an unused unpacked image is kept */
	int64_t image_cache_bytes;  /* bytes of unpacked images kept */
	int64_t registry_gc_interval; /* seconds between registry collections; 0: off */
	int64_t registry_gc_grace;    /* seconds an unreferenced image part is kept */
	/* OpenID Connect (src/auth/oidc.c): one provider from flags, or many
	 * from oidc_config; "" when unset */
	char *oidc_issuer;
	char *oidc_client_id;
	char *oidc_client_secret_file;
	char *oidc_name;
	char *oidc_config;
	char *oidc_groups_claim;
	char *oidc_project_groups;  /* POSIX extended regex */
	char *oidc_admin_group;
	char *oidc_required_group;
	int64_t oidc_jwks_refetch;  /* seconds between JWKS fetches for unknown kids */
	int64_t oidc_skew;          /* seconds of clock skew allowed */
	char *break_glass_admin;    /* may log in with a password when it is off */
	char *tls_cert;             /* PEM certificate (chain) file; "": no TLS */
	char *tls_key;              /* PEM private key file */
	char *tls;                  /* "auto": a private CA under DATA/tls; "": off */
	char *tls_san;              /* more names for the auto certificate, comma-separated */
};

/* Fill cfg from defaults, environment and argv (flags only; argv[0] is the
 * subcommand). Returns 0, 1 when --help was asked (usage printed to out),
 * or COVE_EINVAL with e naming the bad flag or value. */
int config_load(struct config *cfg, int argc, char **argv, struct err *e);
void config_usage(FILE *out);
void config_free(struct config *cfg);
/* Every setting as {"flag": value}, with values that could be secrets
 * (a flag naming a secret, password or token, unless it names a file)
 * replaced by "(set)" or "". Caller owns it. */
json_t *config_json(const struct config *cfg);

#endif
