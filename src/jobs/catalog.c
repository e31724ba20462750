/*
 * catalog.c - the applications jobs can run and the queues they wait in:
 * the built-in catalog seeded at start, admin changes through the API, and
 * the engine's in-memory copy of queue and project limits.
 *
 * An application is a command template (a JSON array) in which "{script}"
 * is the path of the job's script file inside the sandbox and "{args}" (a
 * whole element) expands to the job's arguments. input = "script": the
 * job's arguments are joined into a script; "args": they are passed on.
 */
#include "jobs/internal.h"

#include <stdlib.h>
#include <string.h>

#define DUCKDB_LIB "/usr/local/lib/cove/node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so"

struct builtin_app {
	const char *name, *version, *description, *command, *input, *env;
};

static const struct builtin_app BUILTIN[] = {
	{"bash", "5", "Bash script", "[\"/bin/bash\",\"{script}\"]", "script", "{}"},
	{"python", "3", "Python 3 with pandas and numpy",
	 "[\"/usr/bin/python3\",\"-u\",\"{script}\"]", "script", "{}"},
	{"duckdb", "1.5", "DuckDB SQL (CSV, Parquet, JSON); results of queries print as CSV",
	 "[\"/opt/cove/bin/cove\",\"__duckdb\",\"{script}\"]", "script",
	 "{\"COVE_DUCKDB_LIB\":\"" DUCKDB_LIB "\",\"ASAN_OPTIONS\":\"detect_leaks=0\"}"},
	{"sqlite", "3", "SQLite SQL on an in-memory database; results print as CSV with headers",
	 "[\"/usr/bin/sqlite3\",\"-batch\",\"-bail\",\"-header\",\"-csv\",\":memory:\",\".read {script}\"]",
	 "script", "{}"},
	{"octave", "7", "GNU Octave script",
	 "[\"/usr/bin/octave-cli\",\"--quiet\",\"--norc\",\"--no-history\",\"--no-window-system\",\"{script}\"]",
	 "script", "{}"},
	{"ffmpeg", "5", "FFmpeg with the job's arguments",
	 "[\"/usr/bin/ffmpeg\",\"-hide_banner\",\"-nostdin\",\"-y\",\"{args}\"]", "args", "{}"},
	{"image", "1",
	 "The image's own command (needs an image): its Entrypoint, then the job's "
	 "arguments or else its Cmd, in its WorkingDir",
	 "[\"{image}\"]", "args", "{}"},
	{NULL, NULL, NULL, NULL, NULL, NULL},
};

/* ---- applications ------------------------------------------------------------ */

static json_t *app_row_json(struct stmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(db_text(st, 0)));
	json_object_set_new(o, "version", json_string(db_text(st, 1)));
	json_object_set_new(o, "description", json_string(db_text(st, 2)));
	json_t *cmd = json_loads(db_text(st, 3), 0, NULL);
	json_object_set_new(o, "command", cmd ? cmd : json_array());
	json_object_set_new(o, "input", json_string(db_text(st, 4)));
	json_t *env = json_loads(db_text(st, 5), 0, NULL);
	json_object_set_new(o, "env", env ? env : json_object());
	json_object_set_new(o, "builtin", json_boolean(db_int(st, 6)));
	return o;
}

#define APP_COLS "name, version, description, command, input, env, builtin"

int apps_list(struct dbconn *c, json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT " APP_COLS " FROM apps ORDER BY name", "");
	if (rc)
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(items, app_row_json(st));
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int apps_get(struct dbconn *c, const char *name, json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT " APP_COLS " FROM apps WHERE name = ?", "s",
			  name);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1)
		*out = app_row_json(st);
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such application: %.64s (see GET /v1/apps)",
			       name);
	return rc < 0 ? rc : 0;
}

int app_load(struct dbconn *c, const char *name, json_t **command, json_t **env,
	     char input[8], struct err *e)
{
	json_t *a;
	int rc = apps_get(c, name, &a, e);
	if (rc)
		return rc;
	*command = json_incref(json_object_get(a, "command"));
	*env = json_incref(json_object_get(a, "env"));
	snprintf(input, 8, "%s", json_string_value(json_object_get(a, "input")));
	json_decref(a);
	return 0;
}

static int name_ok(const char *n)
{
	size_t len = strlen(n);
	if (!len || len > 64)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return 0;
	return n[0] != '.' && n[0] != '-';
}

int apps_put(struct dbconn *c, const char *name, json_t *body, int create,
	     json_t **out, struct err *e)
{
	static const char *const allowed[] = {"name", "version", "description", "command",
					      "input", "env", NULL};
	int rc = json_only_fields(body, allowed, e);
	if (rc)
		return rc;
	if (!name_ok(name))
		return err_set(e, COVE_EINVAL, "application names are 1 to 64 of a-z 0-9 . _ -");
	const char *version = "", *desc = "", *input = "script", *bname = NULL;
	if ((rc = json_opt_str(body, "name", &bname, e)) ||
	    (rc = json_opt_str(body, "version", &version, e)) ||
	    (rc = json_opt_str(body, "description", &desc, e)) ||
	    (rc = json_opt_str(body, "input", &input, e)))
		return rc;
	if (bname && strcmp(bname, name))
		return err_set(e, COVE_EINVAL, "'name' in the body differs from the path");
	version = version ? version : "";
	desc = desc ? desc : "";
	input = input ? input : "script";
	if (strcmp(input, "script") && strcmp(input, "args"))
		return err_set(e, COVE_EINVAL, "'input' is \"script\" or \"args\"");
	if (strlen(version) > 64 || strlen(desc) > 1024)
		return err_set(e, COVE_EINVAL, "'version' or 'description' is too long");
	json_t *cmd = json_object_get(body, "command");
	if (!json_is_array(cmd) || !json_array_size(cmd) || json_array_size(cmd) > 256)
		return err_set(e, COVE_EINVAL,
			       "'command' must be a non-empty array of strings, e.g. "
			       "[\"/usr/bin/python3\", \"{script}\"]");
	size_t i;
	json_t *x;
	json_array_foreach(cmd, i, x)
	{
		if (!json_is_string(x) || strlen(json_string_value(x)) > 4096)
			return err_set(e, COVE_EINVAL, "'command' must contain strings only");
	}
	/* a bare program name is looked up in the sandbox's PATH */
	if (!json_string_value(json_array_get(cmd, 0))[0])
		return err_set(e, COVE_EINVAL, "the program (first element of 'command') is empty");
	json_t *env = json_object_get(body, "env");
	if (env && !json_is_object(env))
		return err_set(e, COVE_EINVAL, "'env' must be an object of strings");
	const char *k;
	json_object_foreach(env, k, x)
	{
		if (!json_is_string(x))
			return err_set(e, COVE_EINVAL, "'env.%.60s' must be a string", k);
	}
	char *cmds = json_dumps(cmd, JSON_COMPACT);
	char *envs = env ? json_dumps(env, JSON_COMPACT) : xstrdup("{}");
	int64_t now = time_now();
	if (create)
		rc = db_exec(c, e,
			     "INSERT INTO apps(name, version, description, command, input, env,"
			     " builtin, updated_at) VALUES (?,?,?,?,?,?,0,?)",
			     "ssssssi", name, version, desc, cmds, input, envs, now);
	else
		rc = db_exec(c, e,
			     "INSERT INTO apps(name, version, description, command, input, env,"
			     " builtin, updated_at) VALUES (?,?,?,?,?,?,0,?)"
			     " ON CONFLICT(name) DO UPDATE SET version = excluded.version,"
			     " description = excluded.description, command = excluded.command,"
			     " input = excluded.input, env = excluded.env, builtin = 0,"
			     " updated_at = excluded.updated_at",
			     "ssssssi", name, version, desc, cmds, input, envs, now);
	free(cmds);
	free(envs);
	if (rc == COVE_EEXIST)
		return err_set(e, COVE_EEXIST, "application '%s' exists (PUT replaces it)", name);
	if (rc < 0)
		return rc;
	return apps_get(c, name, out, e);
}

int apps_delete(struct dbconn *c, const char *name, struct err *e)
{
	int rc = db_exec(c, e, "DELETE FROM apps WHERE name = ?", "s", name);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such application: %.64s", name);
	return 0;
}

/* ---- queues ------------------------------------------------------------------- */

#define QUEUE_COLS                                                                \
	"name, description, users, groups, default_cpu_milli, default_memory,"   \
	" default_time, max_cpu_milli, max_memory, max_time, max_running, network," \
	" retries, priority"

static json_t *queue_row_json(struct stmt *st, int running)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(db_text(st, 0)));
	json_object_set_new(o, "description", json_string(db_text(st, 1)));
	json_t *u = json_loads(db_text(st, 2), 0, NULL), *g = json_loads(db_text(st, 3), 0, NULL);
	json_object_set_new(o, "users", u ? u : json_array());
	json_object_set_new(o, "groups", g ? g : json_array());
	json_object_set_new(o, "default",
			    json_pack("{s:f,s:I,s:I}", "cpu", (double)db_int(st, 4) / 1000.0,
				      "memory", (json_int_t)db_int(st, 5), "time",
				      (json_int_t)db_int(st, 6)));
	json_object_set_new(o, "max",
			    json_pack("{s:f,s:I,s:I}", "cpu", (double)db_int(st, 7) / 1000.0,
				      "memory", (json_int_t)db_int(st, 8), "time",
				      (json_int_t)db_int(st, 9)));
	json_object_set_new(o, "max_running", json_integer(db_int(st, 10)));
	json_object_set_new(o, "network", json_boolean(db_int(st, 11)));
	json_object_set_new(o, "retries", json_integer(db_int(st, 12)));
	json_object_set_new(o, "priority", json_integer(db_int(st, 13)));
	if (running >= 0)
		json_object_set_new(o, "running", json_integer(running));
	return o;
}

static int queue_running(struct jobs *j, const char *name)
{
	pthread_mutex_lock(&j->mu);
	int i = queue_index(j, name);
	int n = i >= 0 ? j->queues[i].running : 0;
	pthread_mutex_unlock(&j->mu);
	return n;
}

int queues_list(struct jobs *j, struct dbconn *c, json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT " QUEUE_COLS " FROM queues ORDER BY name", "");
	if (rc)
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(items, queue_row_json(st, queue_running(j, db_text(st, 0))));
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int queues_get(struct jobs *j, struct dbconn *c, const char *name, json_t **out,
	       struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT " QUEUE_COLS " FROM queues WHERE name = ?", "s",
			  name);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1)
		*out = queue_row_json(st, queue_running(j, name));
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such queue: %.64s", name);
	return rc < 0 ? rc : 0;
}

/* Read {"cpu","memory","time"} of a queue body into the three values. */
static int limits_read(json_t *o, const char *what, int64_t *cpu_milli,
		       int64_t *mem, int64_t *t, struct err *e)
{
	if (!o)
		return 0;
	if (!json_is_object(o))
		return err_set(e, COVE_EINVAL, "'%s' must be an object {cpu, memory, time}", what);
	static const char *const allowed[] = {"cpu", "memory", "time", NULL};
	int rc = json_only_fields(o, allowed, e);
	if (rc)
		return rc;
	json_t *v;
	if ((v = json_object_get(o, "cpu"))) {
		if (!json_is_number(v) || !(json_number_value(v) > 0))
			return err_set(e, COVE_EINVAL, "'%s.cpu' must be a number above 0", what);
		*cpu_milli = (int64_t)(json_number_value(v) * 1000.0 + 0.5);
	}
	if ((v = json_object_get(o, "memory"))) {
		if ((*mem = job_size_value(v)) < 0)
			return err_set(e, COVE_EINVAL, "'%s.memory' must be a size such as \"2G\"", what);
	}
	if ((v = json_object_get(o, "time"))) {
		int64_t s = json_is_integer(v) ? json_integer_value(v)
			    : json_is_string(v) ? duration_parse(json_string_value(v))
						: -1;
		if (s <= 0)
			return err_set(e, COVE_EINVAL, "'%s.time' must be a duration such as \"2h\"", what);
		*t = s;
	}
	return 0;
}

static int names_array(json_t *v, const char *what, struct err *e)
{
	if (!json_is_array(v) || json_array_size(v) > 1000)
		return err_set(e, COVE_EINVAL, "'%s' must be an array of names", what);
	size_t i;
	json_t *x;
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x) || !*json_string_value(x) ||
		    strlen(json_string_value(x)) > AUTH_NAME_MAX)
			return err_set(e, COVE_EINVAL, "'%s' must be an array of names", what);
	}
	return 0;
}

int queues_put(struct jobs *j, struct dbconn *c, const char *name, json_t *body,
	       int create, json_t **out, struct err *e)
{
	static const char *const allowed[] = {"name", "description", "users", "groups",
					      "default", "max", "max_running", "network",
					      "retries", "priority", NULL};
	int rc = json_only_fields(body, allowed, e);
	if (rc)
		return rc;
	if (!name_ok(name))
		return err_set(e, COVE_EINVAL, "queue names are 1 to 64 of a-z 0-9 . _ -");
	/* start from the current settings (or the defaults for a new queue) */
	int64_t dcpu = 1000, dmem = 1LL << 30, dtime = 3600;
	int64_t mcpu = (int64_t)(j->cpus * 1000), mmem = j->memory, mtime = 7 * 86400;
	int64_t max_running = 0, network = 0, retries = 1, priority = 0;
	char *desc = xstrdup(""), *users = xstrdup("[]"), *groups = xstrdup("[]");
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT " QUEUE_COLS " FROM queues WHERE name = ?", "s",
			   name)))
		goto out;
	rc = db_step(st, e);
	if (rc == 1) {
		free(desc);
		free(users);
		free(groups);
		desc = xstrdup(db_text(st, 1));
		users = xstrdup(db_text(st, 2));
		groups = xstrdup(db_text(st, 3));
		dcpu = db_int(st, 4), dmem = db_int(st, 5), dtime = db_int(st, 6);
		mcpu = db_int(st, 7), mmem = db_int(st, 8), mtime = db_int(st, 9);
		max_running = db_int(st, 10), network = db_int(st, 11);
		retries = db_int(st, 12), priority = db_int(st, 13);
	}
	db_done(st);
	if (rc < 0)
		goto out;
	if (rc == 1 && create) {
		rc = err_set(e, COVE_EEXIST, "queue '%s' exists (PATCH changes it)", name);
		goto out;
	}
	if (rc == 0 && !create) {
		rc = err_set(e, COVE_ENOENT, "no such queue: %.64s", name);
		goto out;
	}
	const char *d = NULL, *bname = NULL;
	if ((rc = json_opt_str(body, "description", &d, e)) ||
	    (rc = json_opt_str(body, "name", &bname, e)))
		goto out;
	if (bname && strcmp(bname, name)) {
		rc = err_set(e, COVE_EINVAL, "'name' in the body differs from the path");
		goto out;
	}
	if (d) {
		free(desc);
		desc = xstrdup(d);
	}
	json_t *v;
	if ((v = json_object_get(body, "users"))) {
		if ((rc = names_array(v, "users", e)))
			goto out;
		free(users);
		users = json_dumps(v, JSON_COMPACT);
	}
	if ((v = json_object_get(body, "groups"))) {
		if ((rc = names_array(v, "groups", e)))
			goto out;
		free(groups);
		groups = json_dumps(v, JSON_COMPACT);
	}
	if ((rc = limits_read(json_object_get(body, "default"), "default", &dcpu, &dmem, &dtime, e)) ||
	    (rc = limits_read(json_object_get(body, "max"), "max", &mcpu, &mmem, &mtime, e)))
		goto out;
	/* a lower maximum, without new defaults, lowers the defaults with it */
	if (!json_object_get(body, "default")) {
		dcpu = dcpu < mcpu ? dcpu : mcpu;
		dmem = dmem < mmem ? dmem : mmem;
		dtime = dtime < mtime ? dtime : mtime;
	}
	struct {
		const char *key;
		int64_t *val;
		int64_t lo, hi;
	} ints[] = {{"max_running", &max_running, 0, 1000000},
		    {"retries", &retries, 0, 100},
		    {"priority", &priority, -1000, 1000}};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if ((v = json_object_get(body, ints[i].key))) {
			if (!json_is_integer(v) || json_integer_value(v) < ints[i].lo ||
			    json_integer_value(v) > ints[i].hi) {
				rc = err_set(e, COVE_EINVAL, "'%s' must be an integer from %lld to %lld",
					     ints[i].key, (long long)ints[i].lo, (long long)ints[i].hi);
				goto out;
			}
			*ints[i].val = json_integer_value(v);
		}
	if ((v = json_object_get(body, "network"))) {
		if (!json_is_boolean(v)) {
			rc = err_set(e, COVE_EINVAL, "'network' must be true or false");
			goto out;
		}
		network = json_is_true(v);
	}
	if (dcpu > mcpu || dmem > mmem || dtime > mtime) {
		rc = err_set(e, COVE_EINVAL, "a queue's defaults must not exceed its maximums");
		goto out;
	}
	rc = db_exec(c, e,
		     "INSERT INTO queues(" QUEUE_COLS ", updated_at)"
		     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
		     " ON CONFLICT(name) DO UPDATE SET description = excluded.description,"
		     " users = excluded.users, groups = excluded.groups,"
		     " default_cpu_milli = excluded.default_cpu_milli,"
		     " default_memory = excluded.default_memory,"
		     " default_time = excluded.default_time,"
		     " max_cpu_milli = excluded.max_cpu_milli, max_memory = excluded.max_memory,"
		     " max_time = excluded.max_time, max_running = excluded.max_running,"
		     " network = excluded.network, retries = excluded.retries,"
		     " priority = excluded.priority, updated_at = excluded.updated_at",
		     "ssssiiiiiiiiiii", name, desc, users, groups, dcpu, dmem, dtime, mcpu,
		     mmem, mtime, max_running, network, retries, priority, time_now());
	if (rc < 0)
		goto out;
	rc = 0;
	catalog_load(j, NULL);
	engine_wake(j);
	rc = queues_get(j, c, name, out, e);
out:
	free(desc);
	free(users);
	free(groups);
	return rc;
}

int queues_delete(struct jobs *j, struct dbconn *c, const char *name, struct err *e)
{
	if (!strcmp(name, "default"))
		return err_set(e, COVE_ECONFLICT, "the default queue cannot be removed");
	int64_t n = 0;
	int rc = db_query_int(c, e, &n,
			      "SELECT count(*) FROM jobs WHERE queue = ? AND state IN"
			      " ('queued','starting','running')",
			      "s", name);
	if (rc < 0)
		return rc;
	if (n > 0)
		return err_set(e, COVE_ECONFLICT, "queue '%s' still has %lld active jobs", name,
			       (long long)n);
	rc = db_exec(c, e, "DELETE FROM queues WHERE name = ?", "s", name);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such queue: %.64s", name);
	catalog_load(j, NULL);
	return 0;
}

/* ---- the engine's copy ---------------------------------------------------------- */

int queue_index(struct jobs *j, const char *name)
{
	for (int i = 0; i < j->nqueues; i++)
		if (!strcmp(j->queues[i].name, name))
			return i;
	return -1;
}

int project_index(struct jobs *j, const char *name)
{
	for (int i = 0; i < j->nprojects; i++)
		if (!strcmp(j->projects[i].name, name))
			return i;
	return -1;
}

int queue_allows(struct dbconn *c, const struct qconf *q, const char *user, int64_t uid)
{
	if (!json_array_size(q->users) && !json_array_size(q->groups))
		return 1;
	size_t i;
	json_t *x;
	json_array_foreach(q->users, i, x)
	{
		if (!strcmp(json_string_value(x), user))
			return 1;
	}
	json_array_foreach(q->groups, i, x)
	{
		int64_t n = 0;
		db_query_int(c, NULL, &n,
			     "SELECT count(*) FROM groups g JOIN group_members m ON m.gid = g.gid"
			     " WHERE g.name = ? AND m.uid = ?",
			     "si", json_string_value(x), uid);
		if (n > 0)
			return 1;
	}
	return 0;
}

void jobs_apps_changed(struct jobs *j)
{
	struct dbconn *c = db_get(j->db);
	struct stmt *st;
	json_t *apps = json_object();
	if (!db_query(c, &st, NULL, "SELECT name, input FROM apps", "")) {
		while (db_step(st, NULL) == 1)
			json_object_set_new(apps, db_text(st, 0), json_string(db_text(st, 1)));
		db_done(st);
	}
	db_put(j->db, c);
	pthread_mutex_lock(&j->mu);
	json_decref(j->apps);
	j->apps = apps;
	pthread_mutex_unlock(&j->mu);
}

int app_kind(struct jobs *j, const char *name, char input[8], struct err *e)
{
	pthread_mutex_lock(&j->mu);
	json_t *v = json_object_get(j->apps, name);
	if (v)
		snprintf(input, 8, "%s", json_string_value(v));
	pthread_mutex_unlock(&j->mu);
	if (!v)
		return err_set(e, COVE_ENOENT, "no such application: %.64s (see GET /v1/apps)",
			       name);
	return 0;
}

int catalog_load(struct jobs *j, struct err *e)
{
	if (!j->apps)
		jobs_apps_changed(j);
	struct dbconn *c = db_get(j->db);
	struct qconf *qs = NULL;
	struct pconf *ps = NULL;
	int nq = 0, np = 0;
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT " QUEUE_COLS " FROM queues ORDER BY name", "");
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == 1) {
		qs = xrealloc(qs, sizeof(*qs) * (size_t)(nq + 1));
		struct qconf *q = &qs[nq++];
		memset(q, 0, sizeof(*q));
		snprintf(q->name, sizeof(q->name), "%s", db_text(st, 0));
		q->users = json_loads(db_text(st, 2), 0, NULL);
		q->groups = json_loads(db_text(st, 3), 0, NULL);
		if (!q->users)
			q->users = json_array();
		if (!q->groups)
			q->groups = json_array();
		q->def_cpu_milli = db_int(st, 4);
		q->def_memory = db_int(st, 5);
		q->def_time = db_int(st, 6);
		q->max_cpu_milli = db_int(st, 7);
		q->max_memory = db_int(st, 8);
		q->max_time = db_int(st, 9);
		q->max_running = (int)db_int(st, 10);
		q->network = (int)db_int(st, 11);
		q->retries = (int)db_int(st, 12);
		q->priority = (int)db_int(st, 13);
	}
	db_done(st);
	if (rc < 0)
		goto out;
	if ((rc = db_query(c, &st, e,
			   "SELECT name, quota_jobs, quota_cpu, quota_memory_bytes FROM projects",
			   "")))
		goto out;
	while ((rc = db_step(st, e)) == 1) {
		ps = xrealloc(ps, sizeof(*ps) * (size_t)(np + 1));
		struct pconf *p = &ps[np++];
		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", db_text(st, 0));
		p->p.max_jobs = (int)db_int(st, 1);
		p->p.max_cpu_milli = db_int(st, 2) * 1000;
		p->p.max_memory = db_int(st, 3);
	}
	db_done(st);
	if (rc < 0)
		goto out;
	rc = 0;
	/* Swap in, keeping what running jobs hold; indices change, so the
	 * engine's queued and running jobs are re-indexed by name. */
	pthread_mutex_lock(&j->mu);
	for (int i = 0; i < nq; i++) {
		int old = queue_index(j, qs[i].name);
		qs[i].running = old >= 0 ? j->queues[old].running : 0;
	}
	for (int i = 0; i < np; i++) {
		int old = project_index(j, ps[i].name);
		if (old >= 0) {
			ps[i].p.running = j->projects[old].p.running;
			ps[i].p.cpu_milli = j->projects[old].p.cpu_milli;
			ps[i].p.memory = j->projects[old].p.memory;
		}
	}
	/* map old indices to new */
	int *qmap = xcalloc((size_t)j->nqueues + 1, sizeof(int));
	int *pmap = xcalloc((size_t)j->nprojects + 1, sizeof(int));
	for (int i = 0; i < j->nqueues; i++) {
		qmap[i] = -1;
		for (int k = 0; k < nq; k++)
			if (!strcmp(qs[k].name, j->queues[i].name))
				qmap[i] = k;
	}
	for (int i = 0; i < j->nprojects; i++) {
		pmap[i] = -1;
		for (int k = 0; k < np; k++)
			if (!strcmp(ps[k].name, j->projects[i].name))
				pmap[i] = k;
	}
	for (int l = 0; l < j->nlines; l++) {
		struct line *ln = &j->lines[l];
		ln->queue = ln->queue >= 0 ? qmap[ln->queue] : -1;
		for (int i = ln->head; i < ln->n; i++) {
			struct sched_job *s = &ln->v[i].s;
			s->queue = ln->queue;
			s->project = s->project >= 0 ? pmap[s->project] : -1;
		}
	}
	for (int i = 0; i < j->nrunning; i++) {
		struct sched_job *s = &j->running[i].s;
		s->queue = s->queue >= 0 ? qmap[s->queue] : -1;
		s->project = s->project >= 0 ? pmap[s->project] : -1;
	}
	free(qmap);
	free(pmap);
	for (int i = 0; i < j->nqueues; i++) {
		json_decref(j->queues[i].users);
		json_decref(j->queues[i].groups);
	}
	free(j->queues);
	free(j->projects);
	j->queues = qs;
	j->nqueues = nq;
	j->projects = ps;
	j->nprojects = np;
	qs = NULL;
	ps = NULL;
	pthread_mutex_unlock(&j->mu);
out:
	free(qs);
	free(ps);
	db_put(j->db, c);
	return rc;
}

int catalog_seed(struct jobs *j, struct err *e)
{
	struct dbconn *c = db_get(j->db);
	int rc = db_begin(c, e);
	if (rc)
		goto out;
	int64_t now = time_now();
	for (const struct builtin_app *a = BUILTIN; a->name; a++) {
		/* built-ins follow the binary unless an admin replaced them */
		rc = db_exec(c, e,
			     "INSERT INTO apps(name, version, description, command, input, env,"
			     " builtin, updated_at) VALUES (?,?,?,?,?,?,1,?)"
			     " ON CONFLICT(name) DO UPDATE SET version = excluded.version,"
			     " description = excluded.description, command = excluded.command,"
			     " input = excluded.input, env = excluded.env,"
			     " updated_at = excluded.updated_at WHERE apps.builtin = 1",
			     "ssssssi", a->name, a->version, a->description, a->command, a->input,
			     a->env, now);
		if (rc < 0)
			goto rollback;
	}
	int64_t mcpu = (int64_t)(j->cpus * 1000);
	rc = db_exec(c, e,
		     "INSERT OR IGNORE INTO queues(" QUEUE_COLS ", updated_at)"
		     " VALUES ('default','Every user''s jobs, no network','[]','[]',?,?,?,?,?,?,"
		     "0,0,1,0,?)",
		     "iiiiiii", mcpu < 1000 ? mcpu : (int64_t)1000,
		     j->memory < (1LL << 30) ? j->memory : (int64_t)(1LL << 30), (int64_t)3600,
		     mcpu, j->memory, (int64_t)(7 * 86400), now);
	if (rc < 0)
		goto rollback;
	rc = db_commit(c, e);
	goto out;
rollback:
	db_rollback(c);
out:
	db_put(j->db, c);
	return rc < 0 ? rc : 0;
}
