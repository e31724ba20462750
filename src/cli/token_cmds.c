/*
 * token_cmds.c - `cove token ...`: personal API tokens for scripts
 * (COVE_TOKEN). The secret is printed exactly once, by create; listing
 * never shows it (the server does not keep it).
 */
#include "cli/internal.h"

#include <stdlib.h>

/* Expiry and last use read better as "never" than as "-". */
static void token_time(struct cli_table *t, const json_t *tok,
		       const char *field)
{
	const json_t *v = json_object_get(tok, field);
	if (json_is_string(v))
		cli_table_add_json(t, v);
	else
		cli_table_add(t, "never");
}

static int token_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *list = NULL, *tok;
	size_t i;
	int rc = cli_call_list(c, "/v1/tokens", "", &list, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
	} else {
		struct cli_table t;
		cli_table_init(&t, 6, "ID", "NAME", "SCOPES", "CREATED", "EXPIRES",
			       "LAST USED");
		json_array_foreach(json_object_get(list, "items"), i, tok)
		{
			cli_table_add_json(&t, json_object_get(tok, "id"));
			cli_table_add_json(&t, json_object_get(tok, "name"));
			cli_table_add_json(&t, json_object_get(tok, "scopes"));
			cli_table_add_json(&t, json_object_get(tok, "created_at"));
			token_time(&t, tok, "expires_at");
			token_time(&t, tok, "last_used_at");
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(list);
	return 0;
}

static const struct cli_flag create_flags[] = {
	{"scope", "SCOPE", CLI_FLAG_LIST,
	 "read, write or admin (default: read and write)"},
	{"expires", "DURATION", CLI_FLAG_VALUE,
	 "lifetime such as 90m, 12h, 30d (default: no expiry)"},
	{0},
};

static void token_print_secret(const json_t *tok)
{
	struct cli_table t;
	cli_table_init_kv(&t);
	cli_table_kv(&t, "token", tok, "token");
	cli_table_kv(&t, "id", tok, "id");
	cli_table_kv(&t, "name", tok, "name");
	cli_table_kv(&t, "scopes", tok, "scopes");
	cli_table_add(&t, "expires");
	token_time(&t, tok, "expires_at");
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	printf("Store the token now: it will not be shown again.\n");
}

static int token_create(struct client *c, const struct cli_args *a,
			struct err *e)
{
	const char *exp = cli_arg_get(a, "expires"), *s;
	json_t *tok = NULL;
	if (exp && duration_parse(exp) < 0)
		return cli_usage_err(a, e, "bad --expires '%s': use 90m, 12h, 30d", exp);
	json_t *body = json_pack("{s:s,s:s*}", "name", a->pos[0], "expires_in", exp);
	if (cli_arg_has(a, "scope")) {
		json_t *scopes = json_array();
		for (int i = 0; (s = cli_arg_nth(a, "scope", i)); i++)
			json_array_append_new(scopes, json_string(s));
		json_object_set_new(body, "scopes", scopes);
	}
	int rc = cli_call(c, "POST", "/v1/tokens", body, &tok, e);
	if (rc)
		return rc;
	if (c->json)
		cli_print_json(tok);
	else
		token_print_secret(tok);
	json_decref(tok);
	return 0;
}

static int token_revoke(struct client *c, const struct cli_args *a,
			struct err *e)
{
	char *path = cli_path(c, "/v1/tokens/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Revoked token %s", a->pos[0]);
	return rc;
}

static const struct cli_cmd token_subs[] = {
	{"ls", "", 0, 0, NULL, token_ls, NULL, "list your API tokens"},
	{"create", "NAME", 1, 1, create_flags, token_create, NULL,
	 "create an API token and print its secret once"},
	{"revoke", "ID", 1, 1, NULL, token_revoke, NULL, "revoke an API token"},
	{0},
};

const struct cli_cmd cli_token_cmds[] = {
	{"token", "", 0, 0, NULL, NULL, token_subs,
	 "manage personal API tokens for scripts (COVE_TOKEN)"},
	{0},
};
