/*
 * internal.h - what the files of cli/ share: exit statuses, the command
 * and flag tables, the parsed arguments, the client context with its
 * request helpers, credentials, output and password prompts.
 *
 * Conventions inside cli/: a function returns 0 or an exit status
 * (enum cli_status) and puts the one-line reason in a caller's struct err;
 * only cli_main prints that reason. Nothing here is global: the state of a
 * run lives in struct client, passed down.
 */
#ifndef COVE_CLI_INTERNAL_H
#define COVE_CLI_INTERNAL_H

#include "core/core.h"

#include <curl/curl.h>
#include <stdint.h>

#define CLI_DEFAULT_SERVER "http://127.0.0.1:8080"

/* Process exit statuses. struct err's code carries one of them in cli/. */
enum cli_status {
	CLI_OK = 0,
	CLI_EFAIL = 1,    /* the server refused, or the request failed */
	CLI_EUSAGE = 2,   /* bad command line: unknown flag, missing argument */
	CLI_ENOLOGIN = 3, /* no credentials for this server */
};

/* ---- command line (args.c) --------------------------------------------- */

enum cli_flag_kind {
	CLI_FLAG_BOOL,  /* --admin */
	CLI_FLAG_VALUE, /* --email E (the last one counts) */
	CLI_FLAG_LIST,  /* --member U, repeatable */
};

/* One flag a command accepts; tables end with a zeroed entry. */
struct cli_flag {
	const char *name;    /* without the dashes: "email" */
	const char *metavar; /* "E" for --email E; NULL for booleans */
	int kind;
	const char *help;
};

/* One occurrence of a flag on the command line. */
struct cli_opt {
	const struct cli_flag *flag;
	const char *val; /* "" for booleans; points into argv */
};

/*
 * A parsed command line. Global flags (--json, --server, --help) are
 * accepted anywhere and land in json, server and help. Strings point
 * into argv; pos and opts are owned (cli_args_free).
 */
struct cli_args {
	const char *prog; /* "cove user add", for messages */
	char **pos;
	int npos;
	struct cli_opt *opts;
	int nopts;
	int json;
	int help;
	const char *server;
	const char *ca_file; /* --ca-file: a CA to trust for https */
};

struct client;

/*
 * A client command, or (with subs) a group of them such as `cove user`.
 * run receives arguments already checked against flags and
 * min_args..max_args. Tables end with a zeroed entry.
 */
struct cli_cmd {
	const char *name;
	const char *args; /* positional synopsis: "GROUP USER" */
	int min_args, max_args;
	const struct cli_flag *flags;
	int (*run)(struct client *c, const struct cli_args *a, struct err *e);
	const struct cli_cmd *subs;
	const char *summary; /* one line, lower case, no full stop */
};

/* The top-level commands of each file, concatenated by cli.c. */
extern const struct cli_cmd cli_auth_cmds[];
extern const struct cli_cmd cli_user_cmds[];
extern const struct cli_cmd cli_group_cmds[];
extern const struct cli_cmd cli_project_cmds[];
extern const struct cli_cmd cli_token_cmds[];
extern const struct cli_cmd cli_admin_cmds[];
extern const struct cli_cmd cli_files_cmds[];
extern const struct cli_cmd cli_job_cmds[];
extern const struct cli_cmd cli_queue_app_cmds[];
extern const struct cli_cmd cli_image_cmds[];

/* Parse argv (the command's own arguments, without its name) against
 * flags plus the global flags. CLI_EUSAGE with e naming the problem. */
int cli_args_parse(struct cli_args *a, const char *prog,
		   const struct cli_flag *flags, int argc, char **argv,
		   struct err *e);
void cli_args_free(struct cli_args *a);
/* The last value given for flag (name without dashes), or NULL. */
const char *cli_arg_get(const struct cli_args *a, const char *flag);
int cli_arg_has(const struct cli_args *a, const char *flag);
/* The n-th (from 0) value of a repeatable flag, or NULL past the end. */
const char *cli_arg_nth(const struct cli_args *a, const char *flag, int n);
/* Fill e with a usage error about a's command; returns CLI_EUSAGE. */
int cli_usage_err(const struct cli_args *a, struct err *e, const char *fmt,
		  ...) __attribute__((format(printf, 3, 4)));

/* "10G", "512M", "1.5T", "4096" -> bytes (binary multiples; an optional
 * trailing B or iB). 0 or -1 on bad input or overflow. */
int cli_size_parse(const char *s, int64_t *out);
/* A plain non-negative decimal integer. 0 or -1. */
int cli_count_parse(const char *s, int64_t *out);

/* ---- credentials (creds.c) ---------------------------------------------- */

/* The saved session, $HOME/.config/cove/credentials.json. Strings are
 * owned; cli_creds_clear frees them (and wipes the tokens). */
struct creds {
	char *server;
	char *username;
	char *access_token;
	char *refresh_token;
	int64_t access_expires_at; /* Unix seconds; 0 when unknown */
	char *ca_file;             /* the CA trusted at login (absolute path) */
};

/* $HOME/.config/cove/credentials.json; caller frees. */
int cli_creds_path(char **out, struct err *e);
/* Load path into cr. A missing file leaves cr empty and returns 0. */
int cli_creds_load(const char *path, struct creds *cr, struct err *e);
/* Write cr atomically (temp file, fsync, rename), file 0600, dir 0700. */
int cli_creds_save(const char *path, const struct creds *cr, struct err *e);
/* Delete the file; a missing file is not an error. */
int cli_creds_remove(const char *path, struct err *e);
void cli_creds_clear(struct creds *cr);
/* Serialise refreshes across concurrent cove processes: an exclusive
 * flock on the directory of path. Returns the fd (or -1: proceed
 * unlocked). */
int cli_creds_lock(const char *path);
void cli_creds_unlock(int fd);

/* ---- the client and its requests (client.c) --------------------------- */

/*
 * One run of the client. server is the base URL (no trailing slash):
 * --server, else $COVE_SERVER, else the saved one, else the default.
 * env_token ($COVE_TOKEN) wins over the saved session and is never
 * refreshed. creds holds the saved session only if it belongs to server.
 */
struct client {
	char *server;
	int json;
	char *env_token;
	char *creds_path;
	struct creds creds;
	CURL *curl;
	long timeout_s; /* a whole exchange's limit; 0: the default 30 s */
	char *ca_file; /* --ca-file, COVE_CA or the login's; NULL: the system's */
};

struct cli_request {
	const char *method;
	const char *path;  /* escaped, from the root: "/v1/users/al%20x" */
	const char *ctype; /* Content-Type of body, or NULL for no body */
	const char *body;
	size_t len;
	int auth; /* send the bearer token (refreshing it as needed) */
};

struct cli_response {
	long status;
	struct buf body;
};

int cli_client_open(struct client *c, const struct cli_args *a, struct err *e);
/* Set h's certificate checks (always on; c->ca_file trusted when given),
 * after every curl_easy_reset. */
void cli_client_tls(const struct client *c, CURL *h);
/* "cannot reach server" for curl's failure cc, in one clear line when the
 * server's certificate was refused (unknown CA, expired, wrong host). */
int cli_client_reach_err(const struct client *c, CURLcode cc,
			 const char *errbuf, struct err *e);
void cli_client_close(struct client *c);

/* Send rq, refreshing the session first when it is about to expire and
 * once more after a 401. Fails only when no HTTP answer came (or the
 * session cannot be renewed); rs holds any status. Free rs->body. */
int cli_http(struct client *c, const struct cli_request *rq,
	     struct cli_response *rs, struct err *e);
/* The bearer token for a request cli_http cannot send (a streamed
 * transfer): renewed first when it is about to expire, or (renew) in any
 * case, after the server answered 401. $COVE_TOKEN is never renewed. */
int cli_token(struct client *c, int renew, const char **token, struct err *e);
/* JSON round trip: send body (taken over; NULL for none), require a 2xx,
 * and parse the answer into *out (NULL for an empty answer; out may be
 * NULL when the answer is not wanted). Errors carry the problem detail. */
int cli_call(struct client *c, const char *method, const char *path,
	     json_t *body, json_t **out, struct err *e);
/* cli_call, but auth 0 sends no token (login, register). */
int cli_call_as(struct client *c, int auth, const char *method,
		const char *path, json_t *body, json_t **out, struct err *e);
/* An authenticated exchange of text: body (NULL for none) of type ctype,
 * a 2xx answer appended to answer as it came. */
int cli_call_raw(struct client *c, const char *method, const char *path,
		 const char *ctype, const struct buf *body, struct buf *answer,
		 struct err *e);
/* GET every page of a list route into {"items":[...],"next_cursor":null}.
 * query is "" or "&k=v..." (already escaped). */
int cli_call_list(struct client *c, const char *path, const char *query,
		  json_t **out, struct err *e);
/* Fill e from a non-2xx answer: the problem document's detail. */
int cli_problem(const struct cli_response *rs, struct err *e);
/* Build a path from fmt where each %s is replaced by one URL-escaped
 * argument (a path segment or query value). Caller frees. */
char *cli_path(struct client *c, const char *fmt, ...);
/* Store a fresh token pair (login, refresh answer) for username. */
int cli_session_store(struct client *c, const char *username,
		      const json_t *pair, struct err *e);

/* ---- output (output.c) ------------------------------------------------- */

/* Aligned text: a table with a header row, or (kv) "key: value" lines.
 * Cells are copied, with control characters made harmless. */
struct cli_table {
	size_t ncols;
	int kv;
	char **cells;
	size_t ncells, cap;
};

/* A table whose header is the ncols strings that follow. */
void cli_table_init(struct cli_table *t, size_t ncols, ...);
/* key: value lines. */
void cli_table_init_kv(struct cli_table *t);
void cli_table_add(struct cli_table *t, const char *s);
void cli_table_addf(struct cli_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON value as a person reads it: null "-", bools yes/no, arrays of
 * strings joined by commas. */
void cli_table_add_json(struct cli_table *t, const json_t *v);
/* key and o[field] as one kv row. */
void cli_table_kv(struct cli_table *t, const char *key, const json_t *o,
		  const char *field);
void cli_table_print(const struct cli_table *t, FILE *out);
void cli_table_free(struct cli_table *t);

/* Pretty JSON on stdout, for --json. */
void cli_print_json(const json_t *o);
/* Text of a JSON value (see cli_table_add_json). Caller frees. */
char *cli_json_text(const json_t *v);
/* Bytes as "10G" when exact, else the number; 0 is "unlimited". */
void cli_size_format(int64_t v, char out[32]);
/* Bytes as a person reads them: "512 B", "1.5 KiB", "3.2 GiB". */
void cli_size_human(int64_t v, char out[32]);
/* With --json the answer o ("{}" when NULL, an empty answer), else the
 * message fmt and a newline: how commands that change something end. */
void cli_print_done(const struct client *c, const json_t *o, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
/* Print the {"created":[..],"skipped":[..]} answer of an import. */
void cli_print_import(const json_t *o);

/* ---- shared pieces of commands --------------------------------------- */

/* user_cmds.c: the "key: value" rows of a user object. */
void cli_user_rows(struct cli_table *t, const json_t *u);
/* io_cmds.c: print GET path (a text export) as it comes. */
int cli_text_export(struct client *c, const char *path, struct err *e);
/* io_cmds.c: POST file ("-": stdin) as text/plain to path and print the
 * created/skipped report. */
int cli_text_import(struct client *c, const char *path, const char *file,
		    struct err *e);

/* job_cmds.c: every value of the repeatable flag (K=V each) into a new
 * object *out (NULL when the flag was not given); CLI_EUSAGE on a value
 * without '=' or without a key. */
int cli_arg_pairs(const struct cli_args *a, const char *flag, json_t **out,
		  struct err *e);
/* job_cmds.c: a CPU count ("2", "0.5") as a new JSON number: an integer
 * when whole. -1 when not a positive number. */
int cli_cpu_parse(const char *s, json_t **out);
/* job_cmds.c: seconds as "0.4s", "42s", "3m05s", "2h10m", "3d04h". */
void cli_duration_format(double s, char out[32]);

/* ---- file bytes, streamed (transfer.c) --------------------------------- */

/* "/v1/fs" + each segment of the absolute path URL-escaped ("/v1/fs/"
 * for the root), then query (NULL, or "?k=v" already escaped). Caller
 * frees. */
char *cli_fs_url(struct client *c, const char *path, const char *query);
/* Upload local (a file, or stdin for "-", sent chunked) to the absolute
 * remote path, streamed from disk; files from 64 MiB go through a
 * resumable upload session that survives a dropped connection. progress
 * draws a bar on stderr. *entry (entry may be NULL) gets the server's
 * entry of the file, or NULL. */
int cli_fs_upload(struct client *c, const char *local, const char *remote,
		  int progress, json_t **entry, struct err *e);
/* Download the file at remote into local through a temporary file next
 * to it, fsync'd then renamed into place; local "-" is stdout. A
 * directory fails with "'<remote>' is a directory". */
int cli_fs_download(struct client *c, const char *remote, const char *local,
		    int progress, struct err *e);
/* Bytes [from, from+len) of the file at remote (a Range request) into
 * out; *got (got may be NULL) counts them. Fewer than len when the file
 * ends first; none, without error, when it ends before from. */
int cli_fs_range(struct client *c, const char *remote, int64_t from,
		 int64_t len, FILE *out, int64_t *got, struct err *e);

/* ---- secrets (prompt.c) ------------------------------------------------ */

/* Read one secret: from stdin (one line, newline stripped) when
 * from_stdin, else from the terminal with echo off after prompt.
 * *out is freed with cli_secret_free. */
int cli_secret_read(int from_stdin, const char *prompt, char **out,
		    struct err *e);
/* A new password: on a terminal asked twice (prompt, then again_prompt)
 * and compared; from stdin one line. */
int cli_secret_read_new(int from_stdin, const char *prompt,
			const char *again_prompt, char **out, struct err *e);
/* Wipe and free. */
void cli_secret_free(char *s);
/* Read a whole file, or stdin for "-" (text for the import routes). */
int cli_file_read(const char *path, struct buf *out, struct err *e);

#endif
