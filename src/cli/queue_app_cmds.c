/*
 * queue_app_cmds.c - `cove app ...` and `cove queue ...`: the applications
 * jobs can run (bash, python, duckdb, ...) and the queues jobs wait in,
 * with their access lists and resource defaults and limits. Anyone may
 * list and show them; the server allows changes to administrators only.
 * Sizes are typed as 2G / 512M / bytes and durations as 90s / 15m / 2h,
 * and sent as bytes and seconds.
 */
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- shared pieces --------------------------------------------------------- */

/* A value that may be bytes or already a string such as "2G". */
static char *qa_size_text(const json_t *v)
{
	char s[32];
	if (!json_is_integer(v))
		return cli_json_text(v);
	cli_size_format(json_integer_value(v), s);
	return xstrdup(s);
}

/* Seconds (0: unlimited), or a string as the server gave it. */
static char *qa_time_text(const json_t *v)
{
	char s[32];
	if (!json_is_integer(v))
		return cli_json_text(v);
	if (!json_integer_value(v))
		return xstrdup("unlimited");
	cli_duration_format((double)json_integer_value(v), s);
	return xstrdup(s);
}

/* {"cpu","memory","time"} as "cpu 2, memory 4G, time 1h", or "-". */
static char *qa_limits_text(const json_t *o)
{
	struct buf b = {0};
	const json_t *v;
	if ((v = json_object_get(o, "cpu")) && !json_is_null(v)) {
		char *s = cli_json_text(v);
		buf_addf(&b, "cpu %s", s);
		free(s);
	}
	if ((v = json_object_get(o, "memory")) && !json_is_null(v)) {
		char *s = qa_size_text(v);
		buf_addf(&b, "%smemory %s", b.len ? ", " : "", s);
		free(s);
	}
	if ((v = json_object_get(o, "time")) && !json_is_null(v)) {
		char *s = qa_time_text(v);
		buf_addf(&b, "%stime %s", b.len ? ", " : "", s);
		free(s);
	}
	return b.len ? buf_detach(&b) : xstrdup("-");
}

static void qa_add_owned(struct cli_table *t, char *s)
{
	cli_table_add(t, s);
	free(s);
}

/* ---- apps ------------------------------------------------------------------- */

static void app_print(const struct client *c, const json_t *app)
{
	struct cli_table t;
	if (c->json) {
		cli_print_json(app);
		return;
	}
	cli_table_init_kv(&t);
	cli_table_kv(&t, "name", app, "name");
	cli_table_kv(&t, "version", app, "version");
	cli_table_kv(&t, "description", app, "description");
	cli_table_add(&t, "command");
	/* the words as a person would type them */
	struct buf b = {0};
	size_t i;
	const json_t *w;
	json_array_foreach(json_object_get(app, "command"), i, w)
		buf_addf(&b, "%s%s", i ? " " : "",
			 json_string_value(w) ? json_string_value(w) : "?");
	cli_table_add(&t, buf_str(&b));
	buf_free(&b);
	cli_table_kv(&t, "input", app, "input");
	cli_table_kv(&t, "env", app, "env");
	cli_table_kv(&t, "builtin", app, "builtin");
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int app_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *list = NULL, *app;
	size_t i;
	int rc = cli_call_list(c, "/v1/apps", "", &list, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
		json_decref(list);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 5, "NAME", "VERSION", "INPUT", "BUILTIN", "DESCRIPTION");
	json_array_foreach(json_object_get(list, "items"), i, app)
	{
		cli_table_add_json(&t, json_object_get(app, "name"));
		cli_table_add_json(&t, json_object_get(app, "version"));
		cli_table_add_json(&t, json_object_get(app, "input"));
		cli_table_add_json(&t, json_object_get(app, "builtin"));
		cli_table_add_json(&t, json_object_get(app, "description"));
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	json_decref(list);
	return 0;
}

static int app_show(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *app = NULL;
	char *path = cli_path(c, "/v1/apps/%s", a->pos[0]);
	int rc = cli_call(c, "GET", path, NULL, &app, e);
	free(path);
	if (rc == 0)
		app_print(c, app);
	json_decref(app);
	return rc;
}

static const struct cli_flag app_flags[] = {
	{"command", "CMD", CLI_FLAG_VALUE,
	 "the command: a JSON array '[\"bash\",\"/job/script\"]' or words "
	 "'bash /job/script'"},
	{"input", "KIND", CLI_FLAG_VALUE,
	 "script (run's arguments become /job/script) or args (they follow the "
	 "command)"},
	{"version", "V", CLI_FLAG_VALUE, "the application's version"},
	{"description", "D", CLI_FLAG_VALUE, "what it is for"},
	{"env", "K=V", CLI_FLAG_LIST, "an environment variable of its jobs"},
	{0},
};

/* --command as an array of strings: JSON when it starts with '[', else
 * the words separated by blanks. */
static int app_command(const struct cli_args *a, const char *s, json_t **out,
		       struct err *e)
{
	json_t *w;
	size_t i;
	if (s[strspn(s, " \t")] == '[') {
		*out = json_loads(s, JSON_DECODE_ANY, NULL);
		int ok = json_is_array(*out) && json_array_size(*out) > 0;
		json_array_foreach(*out, i, w) ok = ok && json_string_length(w) > 0;
		if (!ok) {
			json_decref(*out);
			*out = NULL;
			return cli_usage_err(a, e,
					     "bad --command: a JSON array of non-empty strings");
		}
		return 0;
	}
	*out = json_array();
	for (const char *p = s; *p;) {
		p += strspn(p, " \t\n");
		size_t n = strcspn(p, " \t\n");
		if (n)
			json_array_append_new(*out, json_stringn(p, n));
		p += n;
	}
	if (!json_array_size(*out)) {
		json_decref(*out);
		*out = NULL;
		return cli_usage_err(a, e, "--command needs a command");
	}
	return 0;
}

/* The fields an app's flags give, set on app (existing ones replaced). */
static int app_fields(const struct cli_args *a, json_t *app, struct err *e)
{
	const char *s;
	json_t *v;
	int rc;
	if ((s = cli_arg_get(a, "command"))) {
		if ((rc = app_command(a, s, &v, e)))
			return rc;
		json_object_set_new(app, "command", v);
	}
	if ((s = cli_arg_get(a, "input"))) {
		if (strcmp(s, "script") && strcmp(s, "args"))
			return cli_usage_err(a, e, "bad --input '%s': use script or args", s);
		json_object_set_new(app, "input", json_string(s));
	}
	if ((s = cli_arg_get(a, "version")))
		json_object_set_new(app, "version", json_string(s));
	if ((s = cli_arg_get(a, "description")))
		json_object_set_new(app, "description", json_string(s));
	if ((rc = cli_arg_pairs(a, "env", &v, e)))
		return rc;
	if (v)
		json_object_set_new(app, "env", v);
	return 0;
}

static int app_add(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *app = json_pack("{s:s}", "name", a->pos[0]), *made = NULL;
	int rc;
	if (!cli_arg_has(a, "command") || !cli_arg_has(a, "input")) {
		json_decref(app);
		return cli_usage_err(a, e, "--command and --input are required");
	}
	if ((rc = app_fields(a, app, e))) {
		json_decref(app);
		return rc;
	}
	if ((rc = cli_call(c, "POST", "/v1/apps", app, &made, e)) == 0)
		cli_print_done(c, made, "Added app %s", a->pos[0]);
	json_decref(made);
	return rc;
}

/* Change the given fields: the app as it is, with them replaced, is PUT
 * back whole, so a field not named on the command line stays as it was. */
static int app_set(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *app = NULL, *done = NULL;
	char *path = cli_path(c, "/v1/apps/%s", a->pos[0]);
	int rc;
	if (!cli_arg_has(a, "command") && !cli_arg_has(a, "input") &&
	    !cli_arg_has(a, "version") && !cli_arg_has(a, "description") &&
	    !cli_arg_has(a, "env")) {
		rc = cli_usage_err(a, e, "nothing to change");
		goto out;
	}
	if ((rc = cli_call(c, "GET", path, NULL, &app, e)))
		goto out;
	if (!json_is_object(app)) {
		rc = err_set(e, CLI_EFAIL, "the server's answer is not an app");
		goto out;
	}
	json_object_del(app, "builtin"); /* the server's to say */
	if ((rc = app_fields(a, app, e)))
		goto out;
	rc = cli_call(c, "PUT", path, app, &done, e);
	app = NULL; /* taken by cli_call */
	if (rc == 0)
		cli_print_done(c, done, "Changed app %s", a->pos[0]);
out:
	json_decref(app);
	json_decref(done);
	free(path);
	return rc;
}

static int app_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/apps/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Removed app %s", a->pos[0]);
	return rc;
}

static const struct cli_cmd app_cmds[] = {
	{"ls", "", 0, 0, NULL, app_ls, NULL, "list the applications jobs can run"},
	{"show", "NAME", 1, 1, NULL, app_show, NULL, "show an application"},
	{"add", "NAME", 1, 1, app_flags, app_add, NULL,
	 "add an application (administrators)"},
	{"set", "NAME", 1, 1, app_flags, app_set, NULL,
	 "change an application's fields (administrators)"},
	{"rm", "NAME", 1, 1, NULL, app_rm, NULL, "remove an application (administrators)"},
	{0},
};

/* ---- queues ----------------------------------------------------------------- */

static const struct cli_flag queue_flags[] = {
	{"description", "D", CLI_FLAG_VALUE, "what the queue is for"},
	{"user", "U", CLI_FLAG_LIST, "a user who may submit (replaces the list)"},
	{"group", "G", CLI_FLAG_LIST, "a group whose members may submit (replaces the list)"},
	{"everyone", NULL, CLI_FLAG_BOOL, "anyone may submit (empties both lists)"},
	{"default-cpu", "N", CLI_FLAG_VALUE, "CPUs of a job that asks for none"},
	{"default-mem", "SIZE", CLI_FLAG_VALUE, "memory of a job that asks for none"},
	{"default-time", "DUR", CLI_FLAG_VALUE, "wall time of a job that asks for none"},
	{"max-cpu", "N", CLI_FLAG_VALUE, "most CPUs a job may ask for"},
	{"max-mem", "SIZE", CLI_FLAG_VALUE, "most memory a job may ask for"},
	{"max-time", "DUR", CLI_FLAG_VALUE, "longest wall time a job may ask for"},
	{"max-running", "N", CLI_FLAG_VALUE, "jobs running at once; 0 = no limit"},
	{"network", "yes|no", CLI_FLAG_VALUE, "whether jobs reach the network"},
	{"retries", "N", CLI_FLAG_VALUE, "times a lost job is run again"},
	{"priority", "N", CLI_FLAG_VALUE, "the queue's priority (higher first)"},
	{0},
};

/* --PREFIX-cpu, --PREFIX-mem and --PREFIX-time into body[key] (merged
 * with what is there). */
static int queue_limits(const struct cli_args *a, const char *prefix,
			const char *key, json_t *body, struct err *e)
{
	char flag[32];
	const char *s;
	json_t *o = json_object(), *cpu;
	int64_t v;
	snprintf(flag, sizeof(flag), "%s-cpu", prefix);
	if ((s = cli_arg_get(a, flag))) {
		if (cli_cpu_parse(s, &cpu) < 0)
			goto bad;
		json_object_set_new(o, "cpu", cpu);
	}
	snprintf(flag, sizeof(flag), "%s-mem", prefix);
	if ((s = cli_arg_get(a, flag))) {
		if (cli_size_parse(s, &v) < 0)
			goto bad;
		json_object_set_new(o, "memory", json_integer(v));
	}
	snprintf(flag, sizeof(flag), "%s-time", prefix);
	if ((s = cli_arg_get(a, flag))) {
		if ((v = duration_parse(s)) < 0)
			goto bad;
		json_object_set_new(o, "time", json_integer(v));
	}
	if (json_object_size(o))
		json_object_set_new(body, key, o);
	else
		json_decref(o);
	return 0;
bad:
	json_decref(o);
	return cli_usage_err(a, e, "bad --%s '%s'", flag, s);
}

/* The queue fields the flags give, into body. */
static int queue_fields(const struct cli_args *a, json_t *body, struct err *e)
{
	static const char *const counts[][2] = {
		{"max-running", "max_running"}, {"retries", "retries"}};
	const char *s;
	int64_t v;
	int rc;
	if ((s = cli_arg_get(a, "description")))
		json_object_set_new(body, "description", json_string(s));
	if (cli_arg_has(a, "everyone")) {
		if (cli_arg_has(a, "user") || cli_arg_has(a, "group"))
			return cli_usage_err(a, e, "--everyone goes without --user and --group");
		json_object_set_new(body, "users", json_array());
		json_object_set_new(body, "groups", json_array());
	}
	static const char *const lists[][2] = {{"user", "users"}, {"group", "groups"}};
	for (size_t i = 0; i < 2; i++) {
		if (!cli_arg_has(a, lists[i][0]))
			continue;
		json_t *arr = json_array();
		for (int n = 0; (s = cli_arg_nth(a, lists[i][0], n)); n++)
			json_array_append_new(arr, json_string(s));
		json_object_set_new(body, lists[i][1], arr);
	}
	if ((rc = queue_limits(a, "default", "default", body, e)) ||
	    (rc = queue_limits(a, "max", "max", body, e)))
		return rc;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		if (!(s = cli_arg_get(a, counts[i][0])))
			continue;
		if (cli_count_parse(s, &v) < 0)
			return cli_usage_err(a, e, "bad --%s '%s': use a whole number",
					     counts[i][0], s);
		json_object_set_new(body, counts[i][1], json_integer(v));
	}
	if ((s = cli_arg_get(a, "priority"))) {
		char *end;
		long long p = strtoll(s, &end, 10);
		if (!*s || *end)
			return cli_usage_err(a, e, "bad --priority '%s': use a whole number", s);
		json_object_set_new(body, "priority", json_integer(p));
	}
	if ((s = cli_arg_get(a, "network"))) {
		int yes = !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on");
		if (!yes && strcmp(s, "no") && strcmp(s, "false") && strcmp(s, "off"))
			return cli_usage_err(a, e, "bad --network '%s': use yes or no", s);
		json_object_set_new(body, "network", json_boolean(yes));
	}
	return 0;
}

/* Who may submit: "everyone", or the users and @groups. */
static char *queue_access_text(const json_t *q)
{
	const json_t *users = json_object_get(q, "users");
	const json_t *groups = json_object_get(q, "groups");
	struct buf b = {0};
	size_t i;
	const json_t *v;
	json_array_foreach(users, i, v)
		buf_addf(&b, "%s%s", b.len ? ", " : "",
			 json_string_value(v) ? json_string_value(v) : "?");
	json_array_foreach(groups, i, v)
		buf_addf(&b, "%s@%s", b.len ? ", " : "",
			 json_string_value(v) ? json_string_value(v) : "?");
	return b.len ? buf_detach(&b) : xstrdup("everyone");
}

/* max_running, where 0 means no limit. */
static void queue_max_running(struct cli_table *t, const json_t *q)
{
	const json_t *v = json_object_get(q, "max_running");
	if (json_is_integer(v) && !json_integer_value(v))
		cli_table_add(t, "unlimited");
	else
		cli_table_add_json(t, v);
}

static void queue_print(const struct client *c, const json_t *q)
{
	struct cli_table t;
	if (c->json) {
		cli_print_json(q);
		return;
	}
	cli_table_init_kv(&t);
	cli_table_kv(&t, "name", q, "name");
	cli_table_kv(&t, "description", q, "description");
	cli_table_add(&t, "access");
	qa_add_owned(&t, queue_access_text(q));
	cli_table_add(&t, "defaults");
	qa_add_owned(&t, qa_limits_text(json_object_get(q, "default")));
	cli_table_add(&t, "limits");
	qa_add_owned(&t, qa_limits_text(json_object_get(q, "max")));
	cli_table_add(&t, "max running");
	queue_max_running(&t, q);
	cli_table_kv(&t, "network", q, "network");
	cli_table_kv(&t, "retries", q, "retries");
	cli_table_kv(&t, "priority", q, "priority");
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int queue_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *list = NULL, *q;
	size_t i;
	int rc = cli_call_list(c, "/v1/queues", "", &list, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(list);
		json_decref(list);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 7, "NAME", "PRIORITY", "MAX RUNNING", "NETWORK", "ACCESS",
		       "LIMITS", "DESCRIPTION");
	json_array_foreach(json_object_get(list, "items"), i, q)
	{
		cli_table_add_json(&t, json_object_get(q, "name"));
		cli_table_add_json(&t, json_object_get(q, "priority"));
		queue_max_running(&t, q);
		cli_table_add_json(&t, json_object_get(q, "network"));
		qa_add_owned(&t, queue_access_text(q));
		qa_add_owned(&t, qa_limits_text(json_object_get(q, "max")));
		cli_table_add_json(&t, json_object_get(q, "description"));
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	json_decref(list);
	return 0;
}

static int queue_show(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *q = NULL;
	char *path = cli_path(c, "/v1/queues/%s", a->pos[0]);
	int rc = cli_call(c, "GET", path, NULL, &q, e);
	free(path);
	if (rc == 0)
		queue_print(c, q);
	json_decref(q);
	return rc;
}

static int queue_create(struct client *c, const struct cli_args *a,
			struct err *e)
{
	json_t *body = json_pack("{s:s}", "name", a->pos[0]), *q = NULL;
	int rc = queue_fields(a, body, e);
	if (rc) {
		json_decref(body);
		return rc;
	}
	if ((rc = cli_call(c, "POST", "/v1/queues", body, &q, e)) == 0)
		cli_print_done(c, q, "Created queue %s", a->pos[0]);
	json_decref(q);
	return rc;
}

/* PATCH with only the fields named (default and max merge field by
 * field: JSON merge patch). */
static int queue_set(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *body = json_object(), *q = NULL;
	int rc = queue_fields(a, body, e);
	if (!rc && !json_object_size(body))
		rc = cli_usage_err(a, e, "nothing to change");
	if (rc) {
		json_decref(body);
		return rc;
	}
	char *path = cli_path(c, "/v1/queues/%s", a->pos[0]);
	if ((rc = cli_call(c, "PATCH", path, body, &q, e)) == 0)
		cli_print_done(c, q, "Changed queue %s", a->pos[0]);
	free(path);
	json_decref(q);
	return rc;
}

static int queue_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/queues/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (rc == 0)
		cli_print_done(c, NULL, "Removed queue %s", a->pos[0]);
	return rc;
}

static const struct cli_cmd queue_cmds[] = {
	{"ls", "", 0, 0, NULL, queue_ls, NULL, "list the queues"},
	{"show", "NAME", 1, 1, NULL, queue_show, NULL, "show a queue"},
	{"create", "NAME", 1, 1, queue_flags, queue_create, NULL,
	 "create a queue (administrators)"},
	{"set", "NAME", 1, 1, queue_flags, queue_set, NULL,
	 "change a queue's fields (administrators)"},
	{"rm", "NAME", 1, 1, NULL, queue_rm, NULL, "remove a queue (administrators)"},
	{0},
};

const struct cli_cmd cli_queue_app_cmds[] = {
	{"app", NULL, 0, 0, NULL, NULL, app_cmds, "applications jobs can run"},
	{"queue", NULL, 0, 0, NULL, NULL, queue_cmds, "job queues"},
	{0},
};
