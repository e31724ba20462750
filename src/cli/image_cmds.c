/*
 * image_cmds.c - `cove image ...`: the project image registry from the
 * command line: repositories, their tags, removing a tag or an image,
 * garbage collection and retention policies. Pushing and pulling are for
 * OCI clients (skopeo, podman); this is the housekeeping side. The server
 * decides who may do what.
 */
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>


static void add_size(struct cli_table *t, const json_t *o, const char *field)
{
	char s[32];
	cli_size_human(json_integer_value(json_object_get(o, field)), s);
	cli_table_add(t, s);
}

/* Repository names, tags and digests are URL-safe by their grammars; a
 * name outside them is refused here, before it reaches a URL. */
static int image_name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-/:@", *p)))
			return 0;
	return 1;
}

static int image_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *list = NULL, *r;
	size_t i;
	const char *ns = a->npos ? a->pos[0] : NULL;
	int rc = cli_call_list(c, "/v1/registry/repositories", "", &list, e);
	if (rc)
		return rc;
	json_t *items = json_object_get(list, "items");
	if (ns) {
		json_t *keep = json_array();
		json_array_foreach(items, i, r)
		{
			const char *n = json_string_value(json_object_get(r, "namespace"));
			if (n && !strcmp(n, ns))
				json_array_append(keep, r);
		}
		json_object_set_new(list, "items", keep);
		items = keep;
	}
	if (c->json) {
		cli_print_json(list);
	} else {
		struct cli_table t;
		cli_table_init(&t, 5, "REPOSITORY", "TAGS", "MANIFESTS", "SIZE", "UPDATED");
		json_array_foreach(items, i, r)
		{
			cli_table_add_json(&t, json_object_get(r, "name"));
			cli_table_add_json(&t, json_object_get(r, "tags"));
			cli_table_add_json(&t, json_object_get(r, "manifests"));
			add_size(&t, r, "size");
			cli_table_add_json(&t, json_object_get(r, "updated_at"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(list);
	return 0;
}

static int image_tags(struct client *c, const struct cli_args *a, struct err *e)
{
	const char *repo = a->pos[0];
	if (!image_name_ok(repo) || strchr(repo, ':') || strchr(repo, '@'))
		return cli_usage_err(a, e, "'%s' is not a repository name like project/repo",
				     repo);
	char *path = xasprintf("/v1/registry/tags/%s", repo);
	json_t *o = NULL, *tag;
	size_t i;
	int rc = cli_call(c, "GET", path, NULL, &o, e);
	free(path);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		struct cli_table t;
		cli_table_init(&t, 6, "TAG", "DIGEST", "SIZE", "PUSHED", "PUSHED BY", "IMMUTABLE");
		json_array_foreach(json_object_get(o, "items"), i, tag)
		{
			const char *d = json_string_value(json_object_get(tag, "digest"));
			cli_table_add_json(&t, json_object_get(tag, "tag"));
			/* "sha256:" and 12 hex digits, as docker shows image ids */
			cli_table_addf(&t, "%.19s", d ? d : "-");
			add_size(&t, tag, "size");
			cli_table_add_json(&t, json_object_get(tag, "pushed_at"));
			cli_table_add_json(&t, json_object_get(tag, "pushed_by"));
			cli_table_add_json(&t, json_object_get(tag, "immutable"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(o);
	return 0;
}

/* The reason in an OCI error answer ({"errors":[{"code","message"}]}). */
static int image_v2_problem(const struct cli_response *rs, struct err *e)
{
	json_t *o = json_loadb(buf_str(&rs->body), rs->body.len, 0, NULL);
	json_t *first = json_array_get(json_object_get(o, "errors"), 0);
	const char *code = json_string_value(json_object_get(first, "code"));
	const char *msg = json_string_value(json_object_get(first, "message"));
	if (code && !strcmp(code, "DENIED"))
		err_set(e, CLI_EFAIL, "permission denied%s%s",
			msg && *msg && strcmp(msg, "requested access to the resource is denied")
				? ": "
				: "",
			msg && *msg && strcmp(msg, "requested access to the resource is denied")
				? msg
				: "");
	else if (code && (!strcmp(code, "MANIFEST_UNKNOWN") || !strcmp(code, "NAME_UNKNOWN")))
		err_set(e, CLI_EFAIL, "no such image%s%s", msg && *msg ? ": " : "",
			msg && *msg ? msg : "");
	else if (msg && *msg)
		err_set(e, CLI_EFAIL, "%s", msg);
	else
		err_set(e, CLI_EFAIL, "the server answered HTTP %ld", rs->status);
	json_decref(o);
	return CLI_EFAIL;
}

static int image_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	const char *arg = a->pos[0];
	char *repo = NULL;
	const char *ref = NULL;
	const char *at = strchr(arg, '@');
	const char *slash = strrchr(arg, '/');
	const char *colon = strrchr(arg, ':');
	if (at) {
		repo = xstrndup(arg, (size_t)(at - arg));
		ref = at + 1;
	} else if (colon && slash && colon > slash) {
		repo = xstrndup(arg, (size_t)(colon - arg));
		ref = colon + 1;
	}
	if (!repo || !*repo || !*ref || !image_name_ok(arg) || !strchr(repo, '/')) {
		free(repo);
		return cli_usage_err(a, e, "give an image as PROJECT/REPO:TAG or "
					   "PROJECT/REPO@sha256:DIGEST, not '%s'",
				     arg);
	}
	char *path = xasprintf("/v2/%s/manifests/%s", repo, ref);
	struct cli_request rq = {"DELETE", path, NULL, NULL, 0, 1};
	struct cli_response rs = {0};
	int rc = cli_http(c, &rq, &rs, e);
	if (rc == 0 && (rs.status < 200 || rs.status >= 300))
		rc = rs.status == 401 ? err_set(e, CLI_EFAIL, "session expired, run 'cove login'")
				      : image_v2_problem(&rs, e);
	if (rc == 0) {
		json_t *o = json_pack("{s:s,s:s}", "repository", repo,
				      at ? "digest" : "tag", ref);
		cli_print_done(c, o, at ? "Removed %s (the image and its tags)"
					: "Removed tag %s",
			       arg);
		json_decref(o);
	}
	buf_free(&rs.body);
	free(path);
	free(repo);
	return rc;
}

static const struct cli_flag gc_flags[] = {
	{"grace", "DURATION", CLI_FLAG_VALUE,
	 "leave what was pushed more recently than this (default 1h; 0s: nothing)"},
	{"dry-run", NULL, CLI_FLAG_BOOL, "show what would be removed, remove nothing"},
	{0},
};

static int image_gc(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *body = json_object();
	if (a->npos)
		json_object_set_new(body, "project", json_string(a->pos[0]));
	const char *grace = cli_arg_get(a, "grace");
	if (grace)
		json_object_set_new(body, "grace", json_string(grace));
	int dry = cli_arg_has(a, "dry-run");
	json_object_set_new(body, "dry_run", json_boolean(dry));
	json_t *o = NULL, *it;
	size_t i;
	int rc = cli_call(c, "POST", "/v1/registry/gc", body, &o, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		char sz[32];
		cli_size_human(json_integer_value(json_object_get(o, "bytes")), sz);
		printf("%s %lld tags, %lld manifests and %lld blobs (%s) in %lld "
		       "repositories\n",
		       dry ? "Would remove" : "Removed",
		       (long long)json_integer_value(json_object_get(o, "tags_removed")),
		       (long long)json_integer_value(json_object_get(o, "manifests_removed")),
		       (long long)json_integer_value(json_object_get(o, "blobs_removed")), sz,
		       (long long)json_integer_value(json_object_get(o, "repositories")));
		json_t *items = json_object_get(o, "items");
		if (json_array_size(items)) {
			struct cli_table t;
			cli_table_init(&t, 4, "KIND", "REPOSITORY", "WHAT", "SIZE");
			json_array_foreach(items, i, it)
			{
				const json_t *tag = json_object_get(it, "tag");
				cli_table_add_json(&t, json_object_get(it, "kind"));
				cli_table_add_json(&t, json_object_get(it, "repository"));
				cli_table_add_json(&t, tag ? tag : json_object_get(it, "digest"));
				if (json_object_get(it, "size"))
					add_size(&t, it, "size");
				else
					cli_table_add(&t, "-");
			}
			cli_table_print(&t, stdout);
			cli_table_free(&t);
		}
	}
	json_decref(o);
	return 0;
}

/* ---- retention policies ---------------------------------------------------- */

static int retention_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/projects/%s/retention", a->pos[0]);
	json_t *o = NULL, *p;
	size_t i;
	int rc = cli_call(c, "GET", path, NULL, &o, e);
	free(path);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		struct cli_table t;
		cli_table_init(&t, 5, "ID", "REPOSITORY", "TAG", "KEEP", "OLDER THAN");
		json_array_foreach(json_object_get(o, "items"), i, p)
		{
			cli_table_add_json(&t, json_object_get(p, "id"));
			cli_table_add_json(&t, json_object_get(p, "repository"));
			cli_table_add_json(&t, json_object_get(p, "tag"));
			cli_table_add_json(&t, json_object_get(p, "keep"));
			json_int_t s = json_integer_value(json_object_get(p, "older_than"));
			if (s)
				cli_table_addf(&t, "%" JSON_INTEGER_FORMAT "s", s);
			else
				cli_table_add(&t, "-");
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(o);
	return 0;
}

static const struct cli_flag retention_add_flags[] = {
	{"keep", "N", CLI_FLAG_VALUE, "keep the N most recently pushed matching tags"},
	{"tag", "GLOB", CLI_FLAG_VALUE, "tags the policy covers (default *)"},
	{"repository", "GLOB", CLI_FLAG_VALUE,
	 "repositories of the project it covers, without the project (default **)"},
	{"older-than", "DURATION", CLI_FLAG_VALUE,
	 "only remove tags pushed longer ago than this (like 30d)"},
	{0},
};

static int retention_add(struct client *c, const struct cli_args *a, struct err *e)
{
	const char *keep = cli_arg_get(a, "keep");
	int64_t n;
	if (!keep)
		return cli_usage_err(a, e, "give --keep N");
	if (cli_count_parse(keep, &n) < 0)
		return cli_usage_err(a, e, "bad --keep '%s': use a whole number", keep);
	json_t *body = json_pack("{s:I}", "keep", (json_int_t)n);
	const char *tag = cli_arg_get(a, "tag"), *repo = cli_arg_get(a, "repository"),
		   *older = cli_arg_get(a, "older-than");
	if (tag)
		json_object_set_new(body, "tag", json_string(tag));
	if (repo)
		json_object_set_new(body, "repository", json_string(repo));
	if (older)
		json_object_set_new(body, "older_than", json_string(older));
	char *path = cli_path(c, "/v1/projects/%s/retention", a->pos[0]);
	json_t *o = NULL;
	int rc = cli_call(c, "POST", path, body, &o, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, o, "Created retention policy %" JSON_INTEGER_FORMAT
			       " of %s: keep %s tags matching %s in %s",
			       json_integer_value(json_object_get(o, "id")), a->pos[0], keep,
			       json_string_value(json_object_get(o, "tag")),
			       json_string_value(json_object_get(o, "repository")));
	json_decref(o);
	return rc;
}

static int retention_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/projects/%s/retention/%s", a->pos[0], a->pos[1]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Removed retention policy %s of %s", a->pos[1],
			       a->pos[0]);
	return rc;
}

static const struct cli_cmd retention_subs[] = {
	{"ls", "PROJECT", 1, 1, NULL, retention_ls, NULL,
	 "list a project's retention policies"},
	{"add", "PROJECT", 1, 1, retention_add_flags, retention_add, NULL,
	 "keep only the last --keep N tags matching --tag (maintainer)"},
	{"rm", "PROJECT ID", 2, 2, NULL, retention_rm, NULL,
	 "remove a retention policy (maintainer)"},
	{0},
};

static const struct cli_cmd image_subs[] = {
	{"ls", "[PROJECT]", 0, 1, NULL, image_ls, NULL,
	 "list the repositories you may pull, with tags and size"},
	{"tags", "REPO", 1, 1, NULL, image_tags, NULL,
	 "list a repository's tags, newest first"},
	{"rm", "REPO:TAG|REPO@DIGEST", 1, 1, NULL, image_rm, NULL,
	 "remove a tag, or an image with its tags (maintainer)"},
	{"gc", "[PROJECT]", 0, 1, gc_flags, image_gc, NULL,
	 "remove untagged images and unused layers (maintainer; all: admin)"},
	{"retention", "", 0, 0, NULL, NULL, retention_subs,
	 "keep the last N tags of a project's repositories"},
	{0},
};

const struct cli_cmd cli_image_cmds[] = {
	{"image", "", 0, 0, NULL, NULL, image_subs,
	 "manage images in the project registry"},
	{0},
};
