/*
 * admin_cmds.c - the administrator's platform commands: cove audit (read
 * the audit log), cove settings (self-registration) and cove admin
 * rotate-key. Only requests and printing; the server enforces admin.
 */
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- audit ---------------------------------------------------------------- */

static const struct cli_flag audit_flags[] = {
	{"limit", "N", CLI_FLAG_VALUE, "entries to show, newest first (1-1000)"},
	{"actor", "USER", CLI_FLAG_VALUE, "only what USER did"},
	{"action", "A", CLI_FLAG_VALUE,
	 "only action A, or a family such as 'user' for user.*"},
	{0},
};

/* Append "?limit=N&actor=U&action=A" (the flags given) to q. */
static int audit_query(struct client *c, const struct cli_args *a,
		       struct buf *q, struct err *e)
{
	static const char *const keys[] = {"limit", "actor", "action"};
	char sep = '?';
	int64_t n;
	const char *limit = cli_arg_get(a, "limit");
	if (limit && (cli_count_parse(limit, &n) < 0 || n < 1 || n > 1000))
		return cli_usage_err(a, e, "bad --limit '%s': use 1 to 1000", limit);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = cli_arg_get(a, keys[i]);
		if (!v)
			continue;
		char *esc = cli_path(c, "%s", v);
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
	json_t *o = NULL;
	int rc, on = reg ? settings_switch(reg) : -1;
	if (reg && on < 0)
		return cli_usage_err(a, e, "bad --registration '%s': use on or off", reg);
	if (reg)
		rc = cli_call(c, "PATCH", "/v1/settings",
			      json_pack("{s:b}", "registration", on), &o, e);
	else
		rc = cli_call(c, "GET", "/v1/settings", NULL, &o, e);
	if (rc)
		return rc;
	cli_print_done(c, o, "registration: %s",
		       json_is_true(json_object_get(o, "registration")) ? "on" : "off");
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

static const struct cli_cmd admin_subs[] = {
	{"rotate-key", "", 0, 0, NULL, cli_admin_rotate_key, NULL,
	 "start signing tokens with a new key (old tokens stay valid)"},
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
