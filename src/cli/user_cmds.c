/*
 * user_cmds.c - `cove user ...`: the administrator's view of accounts
 * (list, show, add, remove, modify, lock, unlock, disable, export,
 * import). Each command is one request; the server decides who may.
 */
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>

void cli_user_rows(struct cli_table *t, const json_t *u)
{
	cli_table_kv(t, "username", u, "username");
	cli_table_kv(t, "uid", u, "uid");
	cli_table_kv(t, "gid", u, "gid");
	cli_table_kv(t, "email", u, "email");
	cli_table_kv(t, "full name", u, "full_name");
	cli_table_kv(t, "state", u, "state");
	cli_table_kv(t, "admin", u, "admin");
	cli_table_kv(t, "groups", u, "groups");
	cli_table_kv(t, "umask", u, "umask");
	cli_table_kv(t, "created", u, "created_at");
}

static const struct cli_flag ls_flags[] = {
	{"search", "TEXT", CLI_FLAG_VALUE,
	 "only users whose username, email or full name contains TEXT (any case)"},
	{"state", "S", CLI_FLAG_VALUE, "only users in state S: active, locked or disabled"},
	{0},
};

static int user_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *list = NULL, *u;
	size_t i;
	struct buf q = {0};
	const char *search = cli_arg_get(a, "search"), *state = cli_arg_get(a, "state");
	if (search) {
		char *esc = cli_path(c, "%s", search);
		buf_addf(&q, "&q=%s", esc);
		free(esc);
	}
	if (state) {
		char *esc = cli_path(c, "%s", state);
		buf_addf(&q, "&state=%s", esc);
		free(esc);
	}
	int rc = cli_call_list(c, "/v1/users", buf_str(&q), &list, e);
	buf_free(&q);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
	} else {
		struct cli_table t;
		cli_table_init(&t, 6, "USERNAME", "UID", "STATE", "ADMIN", "EMAIL",
			       "FULL NAME");
		json_array_foreach(json_object_get(list, "items"), i, u)
		{
			cli_table_add_json(&t, json_object_get(u, "username"));
			cli_table_add_json(&t, json_object_get(u, "uid"));
			cli_table_add_json(&t, json_object_get(u, "state"));
			cli_table_add_json(&t, json_object_get(u, "admin"));
			cli_table_add_json(&t, json_object_get(u, "email"));
			cli_table_add_json(&t, json_object_get(u, "full_name"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(list);
	return 0;
}

static int user_show(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *u = NULL;
	char *path = cli_path(c, "/v1/users/%s", a->pos[0]);
	int rc = cli_call(c, "GET", path, NULL, &u, e);
	free(path);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(u);
	} else {
		struct cli_table t;
		cli_table_init_kv(&t);
		cli_user_rows(&t, u);
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(u);
	return 0;
}

static const struct cli_flag add_flags[] = {
	{"email", "E", CLI_FLAG_VALUE, "email address"},
	{"full-name", "F", CLI_FLAG_VALUE, "full name"},
	{"admin", NULL, CLI_FLAG_BOOL, "make the user an administrator"},
	{"password-stdin", NULL, CLI_FLAG_BOOL,
	 "read a password from the first line of standard input "
	 "(without it the account has no password)"},
	{0},
};

static int user_add(struct client *c, const struct cli_args *a, struct err *e)
{
	char *pw = NULL;
	json_t *u = NULL;
	int rc;
	if (cli_arg_has(a, "password-stdin") &&
	    (rc = cli_secret_read(1, NULL, &pw, e)))
		return rc;
	json_t *body = json_pack("{s:s,s:s*,s:s*,s:s*}", "username", a->pos[0],
				 "email", cli_arg_get(a, "email"), "full_name",
				 cli_arg_get(a, "full-name"), "password", pw);
	if (cli_arg_has(a, "admin"))
		json_object_set_new(body, "admin", json_true());
	rc = cli_call(c, "POST", "/v1/users", body, &u, e);
	cli_secret_free(pw);
	if (rc)
		return rc;
	cli_print_done(c, u, "Created user %s (uid %" JSON_INTEGER_FORMAT ")",
		       a->pos[0], json_integer_value(json_object_get(u, "uid")));
	json_decref(u);
	return 0;
}

/* PATCH /v1/users/NAME with body (taken over) and report with done. */
static int user_patch(struct client *c, const char *name, json_t *body,
		      const char *done, struct err *e)
{
	json_t *u = NULL;
	char *path = cli_path(c, "/v1/users/%s", name);
	int rc = cli_call(c, "PATCH", path, body, &u, e);
	free(path);
	if (rc)
		return rc;
	cli_print_done(c, u, "%s user %s", done, name);
	json_decref(u);
	return 0;
}

static const struct cli_flag mod_flags[] = {
	{"email", "E", CLI_FLAG_VALUE, "new email address"},
	{"full-name", "F", CLI_FLAG_VALUE, "new full name"},
	{"admin", NULL, CLI_FLAG_BOOL, "make the user an administrator"},
	{"no-admin", NULL, CLI_FLAG_BOOL, "take administrator rights away"},
	{"umask", "MASK", CLI_FLAG_VALUE, "default umask, octal (0027)"},
	{"storage", "SIZE", CLI_FLAG_VALUE,
	 "storage quota for the user's files outside projects (0: none)"},
	{"password-stdin", NULL, CLI_FLAG_BOOL,
	 "set the password read from the first line of standard input"},
	{0},
};

static int user_mod(struct client *c, const struct cli_args *a, struct err *e)
{
	char *pw = NULL;
	int rc;
	if (cli_arg_has(a, "admin") && cli_arg_has(a, "no-admin"))
		return cli_usage_err(a, e, "--admin and --no-admin exclude each other");
	json_t *body = json_pack("{s:s*,s:s*,s:s*}", "email", cli_arg_get(a, "email"),
				 "full_name", cli_arg_get(a, "full-name"), "umask",
				 cli_arg_get(a, "umask"));
	if (cli_arg_has(a, "admin") || cli_arg_has(a, "no-admin"))
		json_object_set_new(body, "admin",
				    json_boolean(cli_arg_has(a, "admin")));
	const char *storage = cli_arg_get(a, "storage");
	if (storage) {
		int64_t bytes;
		if (cli_size_parse(storage, &bytes)) {
			json_decref(body);
			return cli_usage_err(a, e, "bad size '%s'", storage);
		}
		json_object_set_new(body, "quota_storage_bytes", json_integer(bytes));
	}
	if (cli_arg_has(a, "password-stdin")) {
		if ((rc = cli_secret_read(1, NULL, &pw, e))) {
			json_decref(body);
			return rc;
		}
		json_object_set_new(body, "password", json_string(pw));
		cli_secret_free(pw);
	}
	if (json_object_size(body) == 0) {
		json_decref(body);
		return cli_usage_err(a, e, "nothing to change");
	}
	return user_patch(c, a->pos[0], body, "Updated", e);
}

static int user_state(struct client *c, const struct cli_args *a,
		      const char *state, const char *done, struct err *e)
{
	return user_patch(c, a->pos[0], json_pack("{s:s}", "state", state), done, e);
}

static int user_lock(struct client *c, const struct cli_args *a, struct err *e)
{
	return user_state(c, a, "locked", "Locked", e);
}

static int user_unlock(struct client *c, const struct cli_args *a,
		       struct err *e)
{
	return user_state(c, a, "active", "Unlocked", e);
}

static int user_disable(struct client *c, const struct cli_args *a,
			struct err *e)
{
	return user_state(c, a, "disabled", "Disabled", e);
}

static int user_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/users/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Removed user %s", a->pos[0]);
	return rc;
}

static int user_export(struct client *c, const struct cli_args *a,
		       struct err *e)
{
	return cli_text_export(c, "/v1/users?format=passwd", e);
}

static int user_import(struct client *c, const struct cli_args *a,
		       struct err *e)
{
	return cli_text_import(c, "/v1/users/import", a->pos[0], e);
}

static const struct cli_cmd user_subs[] = {
	{"ls", "", 0, 0, ls_flags, user_ls, NULL, "list users (--search, --state)"},
	{"show", "NAME", 1, 1, NULL, user_show, NULL, "show one user"},
	{"add", "NAME", 1, 1, add_flags, user_add, NULL, "create a user"},
	{"rm", "NAME", 1, 1, NULL, user_rm, NULL, "delete a user"},
	{"mod", "NAME", 1, 1, mod_flags, user_mod, NULL,
	 "change a user's email, name, admin rights, umask or password"},
	{"lock", "NAME", 1, 1, NULL, user_lock, NULL,
	 "lock a user out"},
	{"unlock", "NAME", 1, 1, NULL, user_unlock, NULL,
	 "make a locked or disabled user active again"},
	{"disable", "NAME", 1, 1, NULL, user_disable, NULL, "disable a user"},
	{"export", "", 0, 0, NULL, user_export, NULL,
	 "print all users as passwd lines"},
	{"import", "FILE|-", 1, 1, NULL, user_import, NULL,
	 "create users from passwd lines in FILE (- for stdin)"},
	{0},
};

const struct cli_cmd cli_user_cmds[] = {
	{"user", "", 0, 0, NULL, NULL, user_subs, "manage user accounts (admin)"},
	{0},
};
