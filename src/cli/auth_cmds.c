/*
 * auth_cmds.c - the caller's own account: cove login, logout, whoami,
 * passwd and register. Passwords are read through prompt.c and go only
 * into request bodies; tokens go only into the credentials file.
 */
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A required --flag, or a usage error. */
static int auth_required(const struct cli_args *a, const char *flag,
			 const char **out, struct err *e)
{
	*out = cli_arg_get(a, flag);
	if (!*out || !**out)
		return cli_usage_err(a, e, "--%s is required", flag);
	return 0;
}

/* Refuse early (before asking for passwords) when there is no session. */
static int auth_need_session(struct client *c, struct err *e)
{
	if (c->env_token || c->creds.access_token)
		return 0;
	return err_set(e, CLI_ENOLOGIN, "not logged in to %s, run 'cove login'",
		       c->server);
}

/* ---- login ---------------------------------------------------------------- */

static const struct cli_flag login_flags[] = {
	{"username", "NAME", CLI_FLAG_VALUE,
	 "account to log in as (default: the saved one)"},
	{"password-stdin", NULL, CLI_FLAG_BOOL,
	 "read the password from the first line of standard input"},
	{"sso", NULL, CLI_FLAG_BOOL,
	 "log in with the server's identity provider (device login: open a URL, "
	 "enter a code)"},
	{"provider", "NAME", CLI_FLAG_VALUE,
	 "with --sso: which provider (its id or name; default: the only one)"},
	{0},
};

/* cove login --sso: the device authorization grant (RFC 8628), proxied by
 * the server (it holds the client secret and verifies the ID token). */
static int cli_auth_login_sso(struct client *c, const struct cli_args *a,
			      struct err *e)
{
	const char *want = cli_arg_get(a, "provider");
	json_t *opts = NULL, *dev = NULL, *pair = NULL;
	char *id = NULL, *path = NULL, *tpath = NULL;
	int rc;
	if ((rc = cli_call_as(c, 0, "GET", "/v1/auth/options", NULL, &opts, e)))
		goto out;
	json_t *list = json_object_get(opts, "providers"), *it;
	size_t i, n = json_array_size(list);
	json_array_foreach(list, i, it)
	{
		const char *pid = json_string_value(json_object_get(it, "id"));
		const char *pname = json_string_value(json_object_get(it, "name"));
		if (!want ? n == 1
			  : ((pid && !strcmp(pid, want)) || (pname && !strcmp(pname, want))))
			id = xstrdup(pid);
	}
	if (!id) {
		rc = err_set(e, CLI_EFAIL,
			     n == 0 ? "%s offers no single sign-on"
				    : "%s offers several identity providers: choose one "
				      "with --provider (see /v1/auth/options)",
			     c->server);
		goto out;
	}
	path = xasprintf("/v1/auth/oidc/%s/device", id);
	tpath = xasprintf("/v1/auth/oidc/%s/device/token", id);
	if ((rc = cli_call_as(c, 0, "POST", path, json_object(), &dev, e)))
		goto out;
	const char *uri = json_string_value(json_object_get(dev, "verification_uri"));
	const char *full = json_string_value(json_object_get(dev, "verification_uri_complete"));
	const char *code = json_string_value(json_object_get(dev, "user_code"));
	const char *did = json_string_value(json_object_get(dev, "device_id"));
	json_int_t interval = json_integer_value(json_object_get(dev, "interval"));
	json_int_t expires = json_integer_value(json_object_get(dev, "expires_in"));
	if (!uri || !code || !did) {
		rc = err_set(e, CLI_EFAIL, "the server's device login answer is incomplete");
		goto out;
	}
	fprintf(stderr, "To log in, open %s and enter the code %s\n", uri, code);
	if (full)
		fprintf(stderr, "(or open %s)\n", full);
	fflush(stderr);
	int64_t deadline = time_now() + (expires > 0 ? expires : 600);
	if (interval < 1)
		interval = 5;
	for (;;) {
		json_decref(pair);
		pair = NULL;
		if ((rc = cli_call_as(c, 0, "POST", tpath,
				      json_pack("{s:s}", "device_id", did), &pair, e)))
			goto out;
		if (json_object_get(pair, "access_token"))
			break;
		const char *st = json_string_value(json_object_get(pair, "status"));
		if (st && !strcmp(st, "slow_down"))
			interval += 5;
		if (time_now() + interval > deadline) {
			rc = err_set(e, CLI_EFAIL, "the code expired before the login was "
						   "completed: run cove login --sso again");
			goto out;
		}
		sleep((unsigned)interval);
	}
	const char *user = json_string_value(json_object_get(pair, "username"));
	char *name = xstrdup(user ? user : "");
	rc = cli_session_store(c, name, pair, e);
	if (rc == 0) {
		if (c->json) {
			json_t *o = json_pack("{s:s,s:s}", "server", c->server, "username", name);
			cli_print_json(o);
			json_decref(o);
		} else {
			printf("Logged in to %s as %s\n", c->server, name);
		}
	}
	free(name);
out:
	if (pair)
		json_object_clear(pair);
	json_decref(pair);
	json_decref(opts);
	json_decref(dev);
	free(id);
	free(path);
	free(tpath);
	return rc;
}

static int cli_auth_login(struct client *c, const struct cli_args *a,
			  struct err *e)
{
	const char *user = cli_arg_get(a, "username");
	char *pw = NULL;
	json_t *pair = NULL;
	int rc;
	if (cli_arg_has(a, "sso"))
		return cli_auth_login_sso(c, a, e);
	if (!user || !*user)
		user = c->creds.username;
	if (!user)
		return cli_usage_err(a, e, "--username is required");
	char *name = xstrdup(user); /* c->creds is replaced below */
	if ((rc = cli_secret_read(cli_arg_has(a, "password-stdin"), "Password: ",
				  &pw, e)))
		goto out;
	json_t *body = json_pack("{s:s,s:s}", "username", name, "password", pw);
	if ((rc = cli_call_as(c, 0, "POST", "/v1/auth/login", body, &pair, e)) ||
	    (rc = cli_session_store(c, name, pair, e)))
		goto out;
	if (c->json) {
		json_t *o = json_pack("{s:s,s:s}", "server", c->server, "username", name);
		cli_print_json(o);
		json_decref(o);
	} else {
		printf("Logged in to %s as %s\n", c->server, name);
	}
out:
	if (pair)
		json_object_clear(pair);
	json_decref(pair);
	cli_secret_free(pw);
	free(name);
	return rc;
}

/* ---- logout --------------------------------------------------------------- */

static int cli_auth_logout(struct client *c, const struct cli_args *a,
			   struct err *e)
{
	struct err why = {0};
	int rc;
	/* Logout ends the saved session; a $COVE_TOKEN has nothing to end. */
	cli_secret_free(c->env_token);
	c->env_token = NULL;
	if (!c->creds.access_token) {
		cli_print_done(c, NULL, "Not logged in to %s", c->server);
		return 0;
	}
	json_t *body = c->creds.refresh_token
			       ? json_pack("{s:s}", "refresh_token", c->creds.refresh_token)
			       : json_object();
	int ended = cli_call(c, "POST", "/v1/auth/logout", body, NULL, &why) == 0;
	if ((rc = cli_creds_remove(c->creds_path, e)))
		return rc;
	if (!ended)
		fprintf(stderr, "cove: the server did not end the session (%s); "
				"the local credentials are removed\n",
			why.msg);
	cli_print_done(c, NULL, "Logged out of %s", c->server);
	return 0;
}

/* ---- whoami --------------------------------------------------------------- */

static int cli_auth_whoami(struct client *c, const struct cli_args *a,
			   struct err *e)
{
	json_t *me = NULL;
	int rc = cli_call(c, "GET", "/v1/me", NULL, &me, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(me);
	} else {
		struct cli_table t;
		cli_table_init_kv(&t);
		cli_user_rows(&t, me);
		cli_table_kv(&t, "projects", me, "projects");
		cli_table_add(&t, "server");
		cli_table_add(&t, c->server);
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(me);
	return 0;
}

/* ---- passwd --------------------------------------------------------------- */

static const struct cli_flag passwd_flags[] = {
	{"password-stdin", NULL, CLI_FLAG_BOOL,
	 "read two lines from standard input: the current and the new password"},
	{0},
};

static int cli_auth_passwd(struct client *c, const struct cli_args *a,
			   struct err *e)
{
	int in = cli_arg_has(a, "password-stdin"), rc;
	char *cur = NULL, *new = NULL;
	if ((rc = auth_need_session(c, e)) ||
	    (rc = cli_secret_read(in, "Current password: ", &cur, e)) ||
	    (rc = cli_secret_read_new(in, "New password: ", "Repeat new password: ",
				      &new, e)))
		goto out;
	json_t *body = json_pack("{s:s,s:s}", "current_password", cur,
				 "new_password", new);
	if ((rc = cli_call(c, "POST", "/v1/me/password", body, NULL, e)))
		goto out;
	cli_print_done(c, NULL,
		       "Password changed; your other sessions have been logged out");
out:
	cli_secret_free(cur);
	cli_secret_free(new);
	return rc;
}

/* ---- register ------------------------------------------------------------- */

static const struct cli_flag register_flags[] = {
	{"username", "NAME", CLI_FLAG_VALUE, "the account to create (required)"},
	{"email", "E", CLI_FLAG_VALUE, "email address (required)"},
	{"full-name", "F", CLI_FLAG_VALUE, "full name"},
	{"password-stdin", NULL, CLI_FLAG_BOOL,
	 "read the password from the first line of standard input"},
	{0},
};

static int cli_auth_register(struct client *c, const struct cli_args *a,
			     struct err *e)
{
	const char *user, *email;
	char *pw = NULL;
	json_t *o = NULL;
	int rc;
	if ((rc = auth_required(a, "username", &user, e)) ||
	    (rc = auth_required(a, "email", &email, e)) ||
	    (rc = cli_secret_read_new(cli_arg_has(a, "password-stdin"),
				      "Password: ", "Repeat password: ", &pw, e)))
		goto out;
	json_t *body = json_pack("{s:s,s:s,s:s,s:s*}", "username", user, "email",
				 email, "password", pw, "full_name",
				 cli_arg_get(a, "full-name"));
	if ((rc = cli_call_as(c, 0, "POST", "/v1/auth/register", body, &o, e)))
		goto out;
	if (c->json)
		cli_print_json(o);
	else
		printf("Registered %s on %s; log in with 'cove login --server %s "
		       "--username %s'\n",
		       user, c->server, c->server, user);
out:
	json_decref(o);
	cli_secret_free(pw);
	return rc;
}

const struct cli_cmd cli_auth_cmds[] = {
	{"login", "", 0, 0, login_flags, cli_auth_login, NULL,
	 "log in to a server and save the session"},
	{"logout", "", 0, 0, NULL, cli_auth_logout, NULL,
	 "end the session and remove the saved credentials"},
	{"whoami", "", 0, 0, NULL, cli_auth_whoami, NULL,
	 "show the account you are logged in as"},
	{"passwd", "", 0, 0, passwd_flags, cli_auth_passwd, NULL,
	 "change your password"},
	{"register", "", 0, 0, register_flags, cli_auth_register, NULL,
	 "create an account on a server that allows self-registration"},
	{0},
};
