/*
 * admin_cmds.c - the administrator's platform commands: cove audit (read
 * the audit log), cove settings (self-registration) and cove admin
 * (overview, rotate-key, fsck, gc, backup, volumes) and cove admin restore,
 * which runs here, offline (files_restore). Otherwise only requests and printing;
 * the server enforces admin.
 */
#include "cli/internal.h"
#include "files/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- audit ---------------------------------------------------------------- */

static const struct cli_flag audit_flags[] = {
	{"limit", "N", CLI_FLAG_VALUE, "entries to show, newest first (1-1000)"},
	{"actor", "USER", CLI_FLAG_VALUE, "only what USER did"},
	{"action", "A", CLI_FLAG_VALUE,
	 "only action A, or a family such as 'user' for user.*"},
	{"outcome", "success|failure", CLI_FLAG_VALUE, "only successes, or only failures"},
	{"target", "T", CLI_FLAG_VALUE, "only entries about T (a user, project, path...)"},
	{"since", "TIME", CLI_FLAG_VALUE,
	 "only from TIME on: RFC 3339 (2026-05-01T00:00:00Z) or a duration ago (24h, 7d)"},
	{"until", "TIME", CLI_FLAG_VALUE, "only before TIME (as --since)"},
	{0},
};

/* --since/--until: a duration (24h) means that long ago; anything else
 * goes to the server as it is (which checks it is RFC 3339). */
static char *audit_time(const char *v)
{
	int64_t d = duration_parse(v);
	if (d < 0)
		return xstrdup(v);
	char t[32];
	time_format(time_now() - d, t);
	return xstrdup(t);
}

/* Append "?limit=N&actor=U&action=A..." (the flags given) to q. */
static int audit_query(struct client *c, const struct cli_args *a,
		       struct buf *q, struct err *e)
{
	static const char *const keys[] = {"limit",  "actor", "action", "outcome",
					   "target", "since", "until"};
	char sep = '?';
	int64_t n;
	const char *limit = cli_arg_get(a, "limit");
	if (limit && (cli_count_parse(limit, &n) < 0 || n < 1 || n > 1000))
		return cli_usage_err(a, e, "bad --limit '%s': use 1 to 1000", limit);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = cli_arg_get(a, keys[i]);
		if (!v)
			continue;
		char *t = i >= 5 ? audit_time(v) : xstrdup(v);
		char *esc = cli_path(c, "%s", t);
		free(t);
		buf_addf(q, "%c%s=%s", sep, keys[i], esc);
		free(esc);
		sep = '&';
	}
	return 0;
}

static void audit_table(const json_t *list)
{
	struct cli_table t;
	const json_t *x;
	size_t i;
	cli_table_init(&t, 6, "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME",
		       "DETAIL");
	json_array_foreach(json_object_get(list, "items"), i, x)
	{
		cli_table_add_json(&t, json_object_get(x, "time"));
		cli_table_add_json(&t, json_object_get(x, "actor"));
		cli_table_add_json(&t, json_object_get(x, "action"));
		cli_table_add_json(&t, json_object_get(x, "target"));
		cli_table_add_json(&t, json_object_get(x, "outcome"));
		cli_table_add_json(&t, json_object_get(x, "detail"));
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int cli_admin_audit(struct client *c, const struct cli_args *a,
			   struct err *e)
{
	struct buf path = {0};
	json_t *list = NULL;
	int rc;
	buf_adds(&path, "/v1/audit");
	if ((rc = audit_query(c, a, &path, e)) ||
	    (rc = cli_call(c, "GET", buf_str(&path), NULL, &list, e)))
		goto out;
	if (c->json)
		cli_print_json(list);
	else
		audit_table(list);
out:
	json_decref(list);
	buf_free(&path);
	return rc;
}

/* ---- settings ------------------------------------------------------------- */

static const struct cli_flag settings_flags[] = {
	{"registration", "on|off", CLI_FLAG_VALUE,
	 "allow or refuse self-registration (cove register)"},
	{"password-login", "on|off", CLI_FLAG_VALUE,
	 "allow password login (off: single sign-on only, but for the break-glass admin)"},
	{0},
};

/* on/off (and the usual synonyms) -> 1/0; -1 otherwise. */
static int settings_switch(const char *s)
{
	static const char *const on[] = {"on", "true", "yes", "1"};
	static const char *const off[] = {"off", "false", "no", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, on[i]))
			return 1;
		if (!strcasecmp(s, off[i]))
			return 0;
	}
	return -1;
}

static int cli_admin_settings(struct client *c, const struct cli_args *a,
			      struct err *e)
{
	const char *reg = cli_arg_get(a, "registration");
	const char *pwl = cli_arg_get(a, "password-login");
	json_t *o = NULL;
	int rc, on = reg ? settings_switch(reg) : -1;
	int pon = pwl ? settings_switch(pwl) : -1;
	if (reg && on < 0)
		return cli_usage_err(a, e, "bad --registration '%s': use on or off", reg);
	if (pwl && pon < 0)
		return cli_usage_err(a, e, "bad --password-login '%s': use on or off", pwl);
	if (reg || pwl) {
		json_t *b = json_object();
		if (reg)
			json_object_set_new(b, "registration", json_boolean(on));
		if (pwl)
			json_object_set_new(b, "password_login", json_boolean(pon));
		rc = cli_call(c, "PATCH", "/v1/settings", b, &o, e);
	} else
		rc = cli_call(c, "GET", "/v1/settings", NULL, &o, e);
	if (rc)
		return rc;
	cli_print_done(c, o, "registration: %s\npassword login: %s",
		       json_is_true(json_object_get(o, "registration")) ? "on" : "off",
		       json_is_false(json_object_get(o, "password_login")) ? "off" : "on");
	json_decref(o);
	return 0;
}

/* ---- identities of single sign-on ------------------------------------------ */

static const struct cli_flag identity_flags[] = {
	{"issuer", "URL", CLI_FLAG_VALUE, "the provider's issuer URL (or its id)"},
	{"sub", "SUB", CLI_FLAG_VALUE, "the identity's subject at the provider"},
	{0},
};

static int identity_args(const struct cli_args *a, const char **iss, const char **sub,
			 struct err *e)
{
	*iss = cli_arg_get(a, "issuer");
	*sub = cli_arg_get(a, "sub");
	if (!*iss || !**iss || !*sub || !**sub)
		return cli_usage_err(a, e, "--issuer and --sub are required");
	return 0;
}

static int cli_admin_link_identity(struct client *c, const struct cli_args *a,
				   struct err *e)
{
	const char *iss, *sub;
	int rc = identity_args(a, &iss, &sub, e);
	if (rc)
		return rc;
	char *path = cli_path(c, "/v1/users/%s/identities", a->pos[0]);
	json_t *o = NULL;
	rc = cli_call(c, "POST", path, json_pack("{s:s,s:s}", "issuer", iss, "sub", sub),
		      &o, e);
	free(path);
	if (!rc)
		cli_print_done(c, o, "Linked %s to %s at %s", a->pos[0], sub, iss);
	json_decref(o);
	return rc;
}

static int cli_admin_unlink_identity(struct client *c, const struct cli_args *a,
				     struct err *e)
{
	const char *iss, *sub;
	int rc = identity_args(a, &iss, &sub, e);
	if (rc)
		return rc;
	char *path = cli_path(c, "/v1/users/%s/identities?issuer=%s&sub=%s", a->pos[0],
			      iss, sub);
	rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (!rc)
		cli_print_done(c, NULL, "Unlinked %s from %s at %s", a->pos[0], sub, iss);
	return rc;
}

static int cli_admin_identities(struct client *c, const struct cli_args *a,
				struct err *e)
{
	char *path = cli_path(c, "/v1/users/%s/identities", a->pos[0]);
	json_t *o = NULL;
	int rc = cli_call(c, "GET", path, NULL, &o, e);
	free(path);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		size_t i;
		json_t *it;
		json_array_foreach(json_object_get(o, "items"), i, it)
			printf("%s\t%s\t%s\n", json_string_value(json_object_get(it, "provider")),
			       json_string_value(json_object_get(it, "issuer")),
			       json_string_value(json_object_get(it, "sub")));
	}
	json_decref(o);
	return 0;
}

/* ---- admin ---------------------------------------------------------------- */

static int cli_admin_rotate_key(struct client *c, const struct cli_args *a,
				struct err *e)
{
	json_t *o = NULL;
	int rc = cli_call(c, "POST", "/v1/admin/keys/rotate", NULL, &o, e);
	if (rc)
		return rc;
	const char *kid = json_string_value(json_object_get(o, "kid"));
	cli_print_done(c, o, "Rotated the signing key; the new key id is %s",
		       kid ? kid : "-");
	json_decref(o);
	return 0;
}

/* ---- overview ------------------------------------------------------------- */

static json_int_t ov_int(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* "database ok, disk ok, jobs ok": every part of o (an object of strings). */
static void ov_health(struct cli_table *t, const json_t *health)
{
	struct buf b = {0};
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)health, k, v)
		buf_addf(&b, "%s%s %s", b.len ? ", " : "", k,
			 json_string_value(v) ? json_string_value(v) : "-");
	cli_table_add(t, "health");
	cli_table_add(t, b.len ? buf_str(&b) : "-");
	buf_free(&b);
}

static void ov_print(const json_t *o)
{
	const json_t *users = json_object_get(o, "users"), *jobs = json_object_get(o, "jobs");
	const json_t *st = json_object_get(o, "storage"), *reg = json_object_get(o, "registry");
	const json_t *disk = json_object_get(st, "disk"), *x;
	char a[32], b[32], up[32];
	size_t i;
	struct cli_table t;
	cli_table_init_kv(&t);
	cli_table_kv(&t, "version", o, "version");
	cli_duration_format((double)ov_int(o, "uptime_s"), up);
	cli_table_add(&t, "started");
	cli_table_addf(&t, "%s (up %s)",
		       json_string_value(json_object_get(o, "started_at"))
			       ? json_string_value(json_object_get(o, "started_at"))
			       : "-",
		       up);
	ov_health(&t, json_object_get(o, "health"));
	cli_table_add(&t, "users");
	if (json_is_object(users))
		cli_table_addf(&t,
			       "%" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
			       " active, %" JSON_INTEGER_FORMAT " locked, %" JSON_INTEGER_FORMAT
			       " disabled; %" JSON_INTEGER_FORMAT " administrators)",
			       ov_int(users, "total"), ov_int(users, "active"),
			       ov_int(users, "locked"), ov_int(users, "disabled"),
			       ov_int(users, "admins"));
	else
		cli_table_add(&t, "-");
	cli_table_kv(&t, "projects", o, "projects");
	cli_table_add(&t, "jobs");
	if (json_is_object(jobs))
		cli_table_addf(&t,
			       "%" JSON_INTEGER_FORMAT " queued, %" JSON_INTEGER_FORMAT
			       " starting, %" JSON_INTEGER_FORMAT " running",
			       ov_int(jobs, "queued"), ov_int(jobs, "starting"),
			       ov_int(jobs, "running"));
	else
		cli_table_add(&t, "-");
	cli_table_add(&t, "blob store");
	if (json_is_object(st)) {
		cli_size_human(ov_int(st, "blob_bytes"), a);
		if (json_is_object(disk)) {
			char c[32];
			cli_size_human(ov_int(disk, "free"), b);
			cli_size_human(ov_int(disk, "total"), c);
			cli_table_addf(&t, "%s; disk %s free of %s", a, b, c);
		} else {
			cli_table_add(&t, a);
		}
	} else {
		cli_table_add(&t, "-");
	}
	cli_table_add(&t, "registry");
	if (json_is_object(reg)) {
		cli_size_human(ov_int(reg, "bytes"), a);
		cli_table_addf(&t, "%" JSON_INTEGER_FORMAT " repositories, %s",
			       ov_int(reg, "repositories"), a);
	} else {
		cli_table_add(&t, "-");
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);

	if (json_array_size(json_object_get(jobs, "queues"))) {
		printf("\n");
		cli_table_init(&t, 4, "QUEUE", "QUEUED", "STARTING", "RUNNING");
		json_array_foreach(json_object_get(jobs, "queues"), i, x)
		{
			cli_table_add_json(&t, json_object_get(x, "name"));
			cli_table_add_json(&t, json_object_get(x, "queued"));
			cli_table_add_json(&t, json_object_get(x, "starting"));
			cli_table_add_json(&t, json_object_get(x, "running"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	if (json_array_size(json_object_get(st, "volumes"))) {
		printf("\n");
		cli_table_init(&t, 3, "VOLUME", "USED", "CAPACITY");
		json_array_foreach(json_object_get(st, "volumes"), i, x)
		{
			cli_size_human(ov_int(x, "used"), a);
			if (ov_int(x, "capacity"))
				cli_size_human(ov_int(x, "capacity"), b);
			else
				snprintf(b, sizeof(b), "unlimited");
			cli_table_add_json(&t, json_object_get(x, "name"));
			cli_table_add(&t, a);
			cli_table_add(&t, b);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
}

static int cli_admin_overview(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	int rc = cli_call(c, "GET", "/v1/admin/overview", NULL, &o, e);
	if (rc)
		return rc;
	if (c->json)
		cli_print_json(o);
	else
		ov_print(o);
	json_decref(o);
	return 0;
}

static const struct cli_flag fsck_flags[] = {
	{"repair", NULL, CLI_FLAG_BOOL, "fix reference counts, usage and stray blob files"},
	{"verify", NULL, CLI_FLAG_BOOL, "re-hash every stored blob (reads everything)"},
	{0},
};

static int cli_admin_fsck(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	char path[64];
	snprintf(path, sizeof(path), "/v1/admin/fsck?repair=%s&verify=%s",
		 cli_arg_has(a, "repair") ? "true" : "false",
		 cli_arg_has(a, "verify") ? "true" : "false");
	int rc = cli_call(c, "POST", path, NULL, &o, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(o, "problems"), i, p)
			printf("%s: %s\n", json_string_value(json_object_get(p, "kind")),
			       json_string_value(json_object_get(p, "detail")));
		json_t *ck = json_object_get(o, "checked");
		printf("%s: %lld files, %lld blobs checked; %lld repaired; %lld unreferenced blob files\n",
		       json_is_true(json_object_get(o, "clean")) ? "clean" : "PROBLEMS",
		       (long long)json_integer_value(json_object_get(ck, "files")),
		       (long long)json_integer_value(json_object_get(ck, "blobs")),
		       (long long)json_integer_value(json_object_get(o, "repaired")),
		       (long long)json_integer_value(json_object_get(o, "unreferenced_blob_files")));
	}
	int clean = json_is_true(json_object_get(o, "clean"));
	json_decref(o);
	if (!clean && !cli_arg_has(a, "repair"))
		return err_set(e, CLI_EFAIL, "fsck found problems (run with --repair)");
	return 0;
}

static const struct cli_flag gc_flags[] = {
	{"grace", "DURATION", CLI_FLAG_VALUE, "only blobs untouched this long (default 1h)"},
	{0},
};

static int cli_admin_gc(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	const char *g = cli_arg_get(a, "grace");
	char *path = g ? cli_path(c, "/v1/admin/gc?grace=%s", g) : xstrdup("/v1/admin/gc");
	int rc = cli_call(c, "POST", path, NULL, &o, e);
	free(path);
	if (rc)
		return rc;
	cli_print_done(c, o, "removed %lld blobs (%lld bytes); %lld kept within the grace period",
		       (long long)json_integer_value(json_object_get(o, "removed")),
		       (long long)json_integer_value(json_object_get(o, "bytes")),
		       (long long)json_integer_value(json_object_get(o, "kept_in_grace")));
	json_decref(o);
	return 0;
}

static const struct cli_flag volume_flags[] = {
	{"capacity", "SIZE", CLI_FLAG_VALUE, "capacity such as 500G (default: unlimited)"},
	{"group", "GROUP", CLI_FLAG_VALUE, "the group that owns it (mode 2770)"},
	{0},
};

static int cli_volume_create(struct client *c, const struct cli_args *a, struct err *e)
{
	int64_t cap = 0;
	const char *cs = cli_arg_get(a, "capacity");
	if (cs && cli_size_parse(cs, &cap))
		return cli_usage_err(a, e, "bad size '%s'", cs);
	json_t *b = json_pack("{s:s,s:I}", "name", a->pos[0], "capacity_bytes", (json_int_t)cap);
	if (cli_arg_get(a, "group"))
		json_object_set_new(b, "group", json_string(cli_arg_get(a, "group")));
	json_t *o = NULL;
	int rc = cli_call(c, "POST", "/v1/volumes", b, &o, e);
	if (!rc)
		cli_print_done(c, o, "Created %s", json_string_value(json_object_get(o, "path")));
	json_decref(o);
	return rc;
}

static int cli_volume_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	int rc = cli_call(c, "GET", "/v1/volumes", NULL, &o, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		struct cli_table t;
		cli_table_init(&t, 4, "NAME", "PATH", "USED", "CAPACITY");
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(o, "items"), i, v)
		{
			char u[32], cp[32];
			cli_size_format(json_integer_value(json_object_get(v, "used_bytes")), u);
			cli_size_format(json_integer_value(json_object_get(v, "capacity_bytes")), cp);
			cli_table_add_json(&t, json_object_get(v, "name"));
			cli_table_add_json(&t, json_object_get(v, "path"));
			cli_table_add(&t, json_integer_value(json_object_get(v, "used_bytes")) ? u : "0");
			cli_table_add(&t, cp);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(o);
	return 0;
}

static int cli_volume_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/volumes/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (!rc)
		cli_print_done(c, NULL, "Removed volume %s", a->pos[0]);
	return rc;
}

static const struct cli_cmd volume_subs[] = {
	{"create", "NAME", 1, 1, volume_flags, cli_volume_create, NULL,
	 "make /volumes/NAME with a capacity"},
	{"ls", "", 0, 0, NULL, cli_volume_ls, NULL, "list volumes"},
	{"rm", "NAME", 1, 1, NULL, cli_volume_rm, NULL, "remove an empty volume"},
	{0},
};

static const struct cli_flag backup_flags[] = {
	{"link", NULL, CLI_FLAG_BOOL,
	 "hard-link blobs instead of copying them (same file system only: fast, "
	 "but shares the disk's fate)"},
	{0},
};

static void print_counts(const json_t *counts)
{
	const char *k;
	json_t *v;
	int first = 1;
	json_object_foreach((json_t *)counts, k, v) {
		printf("%s%lld %s", first ? "" : ", ", (long long)json_integer_value(v), k);
		first = 0;
	}
	if (!first)
		printf("\n");
}

static int cli_admin_backup(struct client *c, const struct cli_args *a, struct err *e)
{
	const char *dir = a->pos[0];
	if (dir[0] != '/')
		return err_set(e, CLI_EUSAGE, "give the backup directory as an absolute path "
			       "on the server's machine (the server writes it)");
	json_t *body = json_pack("{s:s,s:b}", "dir", dir, "link", cli_arg_has(a, "link"));
	json_t *o = NULL;
	c->timeout_s = 24 * 3600; /* the answer comes once everything is on disk */
	int rc = cli_call(c, "POST", "/v1/admin/backup", body, &o, e); /* takes body */
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		printf("backup written to %s in %.1f s: schema version %lld, %lld blobs "
		       "(%lld bytes), %lld other files\n",
		       dir, json_real_value(json_object_get(o, "seconds")),
		       (long long)json_integer_value(json_object_get(o, "schema_version")),
		       (long long)json_integer_value(json_object_get(o, "blobs")),
		       (long long)json_integer_value(json_object_get(o, "blob_bytes")),
		       (long long)json_integer_value(json_object_get(o, "other_files")));
		print_counts(json_object_get(o, "counts"));
	}
	size_t lost = json_array_size(json_object_get(o, "missing"));
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(o, "missing"), i, m)
		fprintf(stderr, "%s: not in the backup: %s\n", a->prog,
			json_string_value(json_object_get(m, "detail")));
	json_decref(o);
	if (lost)
		return err_set(e, CLI_EFAIL, "%zu blobs could not be copied (run 'cove admin "
			       "fsck --verify')", lost);
	return 0;
}

static const struct cli_flag restore_flags[] = {
	{"data", "NEWDIR", CLI_FLAG_VALUE, "the new data directory (absent or empty)"},
	{0},
};

/* Offline: no server is asked, the server must not run on NEWDIR. */
static int cli_admin_restore(struct client *c, const struct cli_args *a, struct err *e)
{
	const char *data = cli_arg_get(a, "data");
	if (!data || !data[0])
		return err_set(e, CLI_EUSAGE, "name the new data directory with --data NEWDIR");
	json_t *o = NULL;
	struct err fe = {0};
	if (files_restore(a->pos[0], data, &o, &fe))
		return err_set(e, CLI_EFAIL, "%s", fe.msg);
	if (c->json) {
		cli_print_json(o);
	} else {
		printf("restored %s into %s: %lld blobs (%lld bytes) checked, %lld other files\n",
		       a->pos[0], data, (long long)json_integer_value(json_object_get(o, "blobs")),
		       (long long)json_integer_value(json_object_get(o, "blob_bytes")),
		       (long long)json_integer_value(json_object_get(o, "other_files")));
		print_counts(json_object_get(o, "counts"));
		printf("start it with: cove serve --data %s\n", data);
	}
	json_decref(o);
	return 0;
}

static const struct cli_flag diagnose_flags[] = {
	{"output", "FILE", CLI_FLAG_VALUE,
	 "where to write the bundle (default cove-diagnose-TIME.json here; - for stdout)"},
	{"no-fsck", NULL, CLI_FLAG_BOOL, "skip the file-space check"},
	{0},
};

static int cli_admin_diagnose(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	c->timeout_s = 3600; /* the fsck reads every file's metadata */
	int rc = cli_call(c, "GET", cli_arg_has(a, "no-fsck") ? "/v1/admin/diagnose?fsck=false"
							     : "/v1/admin/diagnose",
			  NULL, &o, e);
	if (rc)
		return rc;
	const char *out = cli_arg_get(a, "output");
	char name[64];
	if (!out) {
		char ts[32];
		time_format(time_now(), ts);
		for (char *p = ts; *p; p++)
			if (*p == ':')
				*p = '-';
		snprintf(name, sizeof(name), "cove-diagnose-%s.json", ts);
		out = name;
	}
	if (!strcmp(out, "-")) {
		cli_print_json(o);
		json_decref(o);
		return 0;
	}
	/* 0600: the bundle names users, paths and settings */
	int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		json_decref(o);
		return err_set(e, CLI_EFAIL, "cannot create %s: %s", out, strerror(errno));
	}
	rc = json_dumpfd(o, fd, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (close(fd) < 0)
		rc = -1;
	json_t *fsck = json_object_get(o, "fsck");
	size_t logged = json_array_size(json_object_get(o, "recent_log"));
	if (rc == 0)
		printf("wrote %s: cove %s, fsck %s, %zu recent warnings and errors\n", out,
		       json_string_value(json_object_get(o, "version")),
		       !fsck ? "skipped"
		       : json_object_get(fsck, "error")
			       ? json_string_value(json_object_get(fsck, "error"))
		       : json_is_true(json_object_get(fsck, "clean")) ? "clean"
								   : "found problems",
		       logged);
	json_decref(o);
	if (rc) {
		unlink(out);
		return err_set(e, CLI_EFAIL, "cannot write %s", out);
	}
	return 0;
}

static const struct cli_cmd admin_subs[] = {
	{"overview", "", 0, 0, NULL, cli_admin_overview, NULL,
	 "the platform at a glance: health, users, jobs, storage, registry"},
	{"rotate-key", "", 0, 0, NULL, cli_admin_rotate_key, NULL,
	 "start signing tokens with a new key (old tokens stay valid)"},
	{"fsck", "", 0, 0, fsck_flags, cli_admin_fsck, NULL,
	 "check file metadata against stored bytes (and repair)"},
	{"gc", "", 0, 0, gc_flags, cli_admin_gc, NULL, "remove bytes no file uses"},
	{"backup", "DIR", 1, 1, backup_flags, cli_admin_backup, NULL,
	 "write a consistent backup of the running server into DIR (on its machine)"},
	{"diagnose", "", 0, 0, diagnose_flags, cli_admin_diagnose, NULL,
	 "write a bundle for a bug report: version, settings without secrets, fsck, recent errors"},
	{"restore", "DIR", 1, 1, restore_flags, cli_admin_restore, NULL,
	 "make a new data directory from a backup (offline, on this machine)"},
	{"volume", NULL, 0, 0, NULL, NULL, volume_subs, "volumes with a capacity"},
	{"link-identity", "USER", 1, 1, identity_flags, cli_admin_link_identity, NULL,
	 "link a provider identity (--issuer, --sub) to an existing account"},
	{"unlink-identity", "USER", 1, 1, identity_flags, cli_admin_unlink_identity, NULL,
	 "unlink a provider identity from an account"},
	{"identities", "USER", 1, 1, NULL, cli_admin_identities, NULL,
	 "list the provider identities linked to an account"},
	{0},
};

const struct cli_cmd cli_admin_cmds[] = {
	{"audit", "", 0, 0, audit_flags, cli_admin_audit, NULL,
	 "show the audit log (admin)"},
	{"settings", "", 0, 0, settings_flags, cli_admin_settings, NULL,
	 "show or change platform settings (admin)"},
	{"admin", "", 0, 0, NULL, NULL, admin_subs, "administration (admin)"},
	{0},
};
