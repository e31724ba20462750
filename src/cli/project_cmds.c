/*
 * project_cmds.c - `cove project ...`: projects (tenants), their members
 * with roles, and quotas. Sizes are typed as 10G / 512M / plain bytes
 * and shown the same way. The server decides who may change what.
 */
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>

/* The quota flags, shared by create and set-quota. */
#define PROJECT_QUOTA_FLAGS                                                      \
	{"storage", "SIZE", CLI_FLAG_VALUE,                                      \
	 "storage quota: 10G, 512M, 1T or bytes; 0 = unlimited (admin)"},         \
		{"jobs", "N", CLI_FLAG_VALUE, "concurrent jobs; 0 = unlimited (admin)"}, \
		{"cpu", "N", CLI_FLAG_VALUE, "CPUs; 0 = unlimited (admin)"},             \
		{"memory", "SIZE", CLI_FLAG_VALUE, "memory quota, like --storage (admin)"}

/* Build {"storage_bytes",...} from the quota flags given; *out is NULL
 * when none was given. CLI_EUSAGE on a bad number. */
static int project_quota(const struct cli_args *a, json_t **out, struct err *e)
{
	static const struct {
		const char *flag, *key;
		int size;
	} q[] = {{"storage", "storage_bytes", 1},
		 {"jobs", "jobs", 0},
		 {"cpu", "cpu", 0},
		 {"memory", "memory_bytes", 1}};
	*out = NULL;
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		const char *s = cli_arg_get(a, q[i].flag);
		int64_t v;
		if (!s)
			continue;
		if ((q[i].size ? cli_size_parse(s, &v) : cli_count_parse(s, &v)) < 0) {
			json_decref(*out);
			*out = NULL;
			return cli_usage_err(a, e, "bad --%s '%s': %s", q[i].flag, s,
					     q[i].size ? "use 10G, 512M, 1T or bytes"
						       : "use a whole number");
		}
		if (!*out)
			*out = json_object();
		json_object_set_new(*out, q[i].key, json_integer(v));
	}
	return 0;
}

static void project_size_row(struct cli_table *t, const char *key,
			     const json_t *quota, const char *field)
{
	char s[32];
	cli_size_format(json_integer_value(json_object_get(quota, field)), s);
	cli_table_add(t, key);
	cli_table_add(t, s);
}

static void project_count_row(struct cli_table *t, const char *key,
			      const json_t *quota, const char *field)
{
	json_int_t v = json_integer_value(json_object_get(quota, field));
	cli_table_add(t, key);
	if (v)
		cli_table_addf(t, "%" JSON_INTEGER_FORMAT, v);
	else
		cli_table_add(t, "unlimited");
}

static void project_print(const struct client *c, const json_t *p)
{
	struct cli_table t;
	const json_t *q = json_object_get(p, "quota");
	if (c->json) {
		cli_print_json(p);
		return;
	}
	cli_table_init_kv(&t);
	cli_table_kv(&t, "name", p, "name");
	cli_table_kv(&t, "gid", p, "gid");
	cli_table_kv(&t, "description", p, "description");
	cli_table_kv(&t, "created", p, "created_at");
	project_size_row(&t, "storage quota", q, "storage_bytes");
	project_count_row(&t, "jobs quota", q, "jobs");
	project_count_row(&t, "cpu quota", q, "cpu");
	project_size_row(&t, "memory quota", q, "memory_bytes");
	cli_table_kv(&t, "members", p, "members");
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int project_ls(struct client *c, const struct cli_args *a,
		      struct err *e)
{
	json_t *list = NULL, *p;
	size_t i;
	int rc = cli_call_list(c, "/v1/projects", "", &list, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
	} else {
		struct cli_table t;
		cli_table_init(&t, 4, "NAME", "GID", "MEMBERS", "DESCRIPTION");
		json_array_foreach(json_object_get(list, "items"), i, p)
		{
			cli_table_add_json(&t, json_object_get(p, "name"));
			cli_table_add_json(&t, json_object_get(p, "gid"));
			cli_table_addf(&t, "%zu",
				       json_array_size(json_object_get(p, "members")));
			cli_table_add_json(&t, json_object_get(p, "description"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(list);
	return 0;
}

static int project_show(struct client *c, const struct cli_args *a,
			struct err *e)
{
	json_t *p = NULL;
	char *path = cli_path(c, "/v1/projects/%s", a->pos[0]);
	int rc = cli_call(c, "GET", path, NULL, &p, e);
	free(path);
	if (rc == 0)
		project_print(c, p);
	json_decref(p);
	return rc;
}

static const struct cli_flag create_flags[] = {
	{"description", "D", CLI_FLAG_VALUE, "what the project is for"},
	PROJECT_QUOTA_FLAGS,
	{0},
};

static int project_create(struct client *c, const struct cli_args *a,
			  struct err *e)
{
	json_t *quota, *p = NULL;
	int rc = project_quota(a, &quota, e);
	if (rc)
		return rc;
	json_t *body = json_pack("{s:s,s:s*,s:o*}", "name", a->pos[0],
				 "description", cli_arg_get(a, "description"),
				 "quota", quota);
	if ((rc = cli_call(c, "POST", "/v1/projects", body, &p, e)) == 0)
		cli_print_done(c, p, "Created project %s (gid %" JSON_INTEGER_FORMAT ")",
			       a->pos[0], json_integer_value(json_object_get(p, "gid")));
	json_decref(p);
	return rc;
}

static int project_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/projects/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Removed project %s", a->pos[0]);
	return rc;
}

static int project_members(struct client *c, const struct cli_args *a,
			   struct err *e)
{
	json_t *list = NULL, *m;
	size_t i;
	char *path = cli_path(c, "/v1/projects/%s/members", a->pos[0]);
	int rc = cli_call(c, "GET", path, NULL, &list, e);
	free(path);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
	} else {
		struct cli_table t;
		cli_table_init(&t, 2, "USERNAME", "ROLE");
		json_array_foreach(json_object_get(list, "items"), i, m)
		{
			cli_table_add_json(&t, json_object_get(m, "username"));
			cli_table_add_json(&t, json_object_get(m, "role"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(list);
	return 0;
}

/* PUT the member with role; both add-member and set-role. */
static int project_put_member(struct client *c, const char *project,
			      const char *user, const char *role, struct err *e)
{
	json_t *m = NULL;
	char *path = cli_path(c, "/v1/projects/%s/members/%s", project, user);
	int rc = cli_call(c, "PUT", path, json_pack("{s:s}", "role", role), &m, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, m, "Set the role of %s in project %s to %s", user,
			       project, role);
	json_decref(m);
	return rc;
}

static const struct cli_flag add_member_flags[] = {
	{"role", "ROLE", CLI_FLAG_VALUE,
	 "owner, maintainer, developer or guest (required)"},
	{0},
};

static int project_add_member(struct client *c, const struct cli_args *a,
			      struct err *e)
{
	const char *role = cli_arg_get(a, "role");
	if (!role || !*role)
		return cli_usage_err(a, e, "--role is required");
	return project_put_member(c, a->pos[0], a->pos[1], role, e);
}

static int project_set_role(struct client *c, const struct cli_args *a,
			    struct err *e)
{
	return project_put_member(c, a->pos[0], a->pos[1], a->pos[2], e);
}

static int project_rm_member(struct client *c, const struct cli_args *a,
			     struct err *e)
{
	char *path = cli_path(c, "/v1/projects/%s/members/%s", a->pos[0], a->pos[1]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Removed %s from project %s", a->pos[1],
			       a->pos[0]);
	return rc;
}

static const struct cli_flag quota_flags[] = {
	PROJECT_QUOTA_FLAGS,
	{0},
};

static int project_set_quota(struct client *c, const struct cli_args *a,
			     struct err *e)
{
	json_t *quota, *p = NULL;
	int rc = project_quota(a, &quota, e);
	if (rc)
		return rc;
	if (!quota)
		return cli_usage_err(a, e,
				     "give at least one of --storage, --jobs, --cpu, --memory");
	char *path = cli_path(c, "/v1/projects/%s", a->pos[0]);
	rc = cli_call(c, "PATCH", path, json_pack("{s:o}", "quota", quota), &p, e);
	free(path);
	if (rc == 0)
		project_print(c, p);
	json_decref(p);
	return rc;
}

static const struct cli_cmd project_subs[] = {
	{"ls", "", 0, 0, NULL, project_ls, NULL,
	 "list your projects (admin: all)"},
	{"show", "NAME", 1, 1, NULL, project_show, NULL,
	 "show a project with its quota and members"},
	{"create", "NAME", 1, 1, create_flags, project_create, NULL,
	 "create a project; you become its owner"},
	{"rm", "NAME", 1, 1, NULL, project_rm, NULL, "delete a project (owner)"},
	{"members", "NAME", 1, 1, NULL, project_members, NULL,
	 "list a project's members and roles"},
	{"add-member", "NAME USER", 2, 2, add_member_flags, project_add_member,
	 NULL, "add a member with --role ROLE (owner)"},
	{"set-role", "NAME USER ROLE", 3, 3, NULL, project_set_role, NULL,
	 "change a member's role (owner)"},
	{"rm-member", "NAME USER", 2, 2, NULL, project_rm_member, NULL,
	 "remove a member (owner, or yourself)"},
	{"set-quota", "NAME", 1, 1, quota_flags, project_set_quota, NULL,
	 "change a project's quota (admin)"},
	{0},
};

const struct cli_cmd cli_project_cmds[] = {
	{"project", "", 0, 0, NULL, NULL, project_subs,
	 "manage projects, their members and quotas"},
	{0},
};
