/*
 * group_cmds.c - `cove group ...`: Unix groups (list, show, create,
 * delete, rename, membership, export and import in group format).
 * User-private and project groups are listed too; the server refuses to
 * delete them.
 */
#include "cli/internal.h"

#include <stdlib.h>

static void group_rows(struct cli_table *t, const json_t *g)
{
	cli_table_kv(t, "name", g, "name");
	cli_table_kv(t, "gid", g, "gid");
	cli_table_kv(t, "kind", g, "kind");
	cli_table_kv(t, "members", g, "members");
}

static int group_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *list = NULL, *g;
	size_t i;
	int rc = cli_call_list(c, "/v1/groups", "", &list, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
	} else {
		struct cli_table t;
		cli_table_init(&t, 4, "NAME", "GID", "KIND", "MEMBERS");
		json_array_foreach(json_object_get(list, "items"), i, g)
		{
			cli_table_add_json(&t, json_object_get(g, "name"));
			cli_table_add_json(&t, json_object_get(g, "gid"));
			cli_table_add_json(&t, json_object_get(g, "kind"));
			cli_table_add_json(&t, json_object_get(g, "members"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(list);
	return 0;
}

/* Print a group answer: JSON, or its rows. */
static void group_print(const struct client *c, const json_t *g)
{
	struct cli_table t;
	if (c->json) {
		cli_print_json(g);
		return;
	}
	cli_table_init_kv(&t);
	group_rows(&t, g);
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int group_show(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *g = NULL;
	char *path = cli_path(c, "/v1/groups/%s", a->pos[0]);
	int rc = cli_call(c, "GET", path, NULL, &g, e);
	free(path);
	if (rc == 0)
		group_print(c, g);
	json_decref(g);
	return rc;
}

static const struct cli_flag add_flags[] = {
	{"member", "USER", CLI_FLAG_LIST, "a member of the new group"},
	{0},
};

static int group_add(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *members = json_array(), *g = NULL;
	const char *m;
	for (int i = 0; (m = cli_arg_nth(a, "member", i)); i++)
		json_array_append_new(members, json_string(m));
	json_t *body = json_pack("{s:s,s:o}", "name", a->pos[0], "members", members);
	int rc = cli_call(c, "POST", "/v1/groups", body, &g, e);
	if (rc == 0)
		cli_print_done(c, g, "Created group %s (gid %" JSON_INTEGER_FORMAT ")",
			       a->pos[0], json_integer_value(json_object_get(g, "gid")));
	json_decref(g);
	return rc;
}

static int group_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/groups/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Removed group %s", a->pos[0]);
	return rc;
}

static int group_rename(struct client *c, const struct cli_args *a,
			struct err *e)
{
	json_t *g = NULL;
	char *path = cli_path(c, "/v1/groups/%s", a->pos[0]);
	int rc = cli_call(c, "PATCH", path, json_pack("{s:s}", "name", a->pos[1]),
			  &g, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, g, "Renamed group %s to %s", a->pos[0], a->pos[1]);
	json_decref(g);
	return rc;
}

/* PUT (add) or DELETE (remove) GROUP's member USER. */
static int group_member(struct client *c, const struct cli_args *a,
			const char *method, struct err *e)
{
	char *path = cli_path(c, "/v1/groups/%s/members/%s", a->pos[0], a->pos[1]);
	int rc = cli_call(c, method, path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "%s %s %s group %s",
			       *method == 'P' ? "Added" : "Removed", a->pos[1],
			       *method == 'P' ? "to" : "from", a->pos[0]);
	return rc;
}

static int group_add_member(struct client *c, const struct cli_args *a,
			    struct err *e)
{
	return group_member(c, a, "PUT", e);
}

static int group_rm_member(struct client *c, const struct cli_args *a,
			   struct err *e)
{
	return group_member(c, a, "DELETE", e);
}

static int group_export(struct client *c, const struct cli_args *a,
			struct err *e)
{
	return cli_text_export(c, "/v1/groups?format=group", e);
}

static int group_import(struct client *c, const struct cli_args *a,
			struct err *e)
{
	return cli_text_import(c, "/v1/groups/import", a->pos[0], e);
}

static const struct cli_cmd group_subs[] = {
	{"ls", "", 0, 0, NULL, group_ls, NULL, "list groups"},
	{"show", "NAME", 1, 1, NULL, group_show, NULL, "show one group"},
	{"add", "NAME", 1, 1, add_flags, group_add, NULL, "create a group"},
	{"rm", "NAME", 1, 1, NULL, group_rm, NULL, "delete a group"},
	{"rename", "OLD NEW", 2, 2, NULL, group_rename, NULL, "rename a group"},
	{"add-member", "GROUP USER", 2, 2, NULL, group_add_member, NULL,
	 "add a user to a group"},
	{"rm-member", "GROUP USER", 2, 2, NULL, group_rm_member, NULL,
	 "remove a user from a group"},
	{"export", "", 0, 0, NULL, group_export, NULL,
	 "print all groups as group lines"},
	{"import", "FILE|-", 1, 1, NULL, group_import, NULL,
	 "create groups from group lines in FILE (- for stdin)"},
	{0},
};

const struct cli_cmd cli_group_cmds[] = {
	{"group", "", 0, 0, NULL, NULL, group_subs,
	 "manage groups (changes: admin)"},
	{0},
};
