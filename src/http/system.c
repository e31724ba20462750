/*
 * system.c - the routes that describe the server itself: liveness,
 * readiness, metrics, the administrators' overview (each module tells its
 * part; no SQL here), the diagnostic bundle for bug reports, and the
 * OpenAPI document (linked in by embed.S).
 */
#include "files/files.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* The disk holding the blob store is "low" below this share free. */
#define DISK_LOW_PERCENT 5

extern const char cove_openapi_json[];
extern const char cove_openapi_json_end[];

static void get_healthz(struct req *r)
{
	reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void get_readyz(struct req *r)
{
	if (r->srv->stopping || db_ping(r->srv->db) != 0) {
		reply_problem(r, 503, "not ready: %s",
			      r->srv->stopping ? "shutting down" : "database unavailable");
		return;
	}
	reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}

static json_t *overview_json(struct server *s);

/* A label value in the exposition format: backslash, quote and newline
 * escaped (names are restricted anyway; this keeps the format whole). */
static void add_label(struct buf *b, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_addc(b, '\\');
		if (*v == '\n')
			buf_adds(b, "\\n");
		else
			buf_addc(b, *v);
	}
}

static void gauge_head(struct buf *b, const char *name, const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* The platform's state as gauges, from the same overview the dashboard
 * reads (indexes, counters and the scheduler's memory: cheap to scrape). */
static void render_gauges(struct buf *b, struct server *s, json_t *o)
{
	json_t *jobs = json_object_get(o, "jobs"), *q;
	size_t i;
	gauge_head(b, "cove_jobs", "Jobs per queue and state (queued, starting, running).");
	json_array_foreach(json_object_get(jobs, "queues"), i, q) {
		static const char *const states[] = {"queued", "starting", "running"};
		for (int k = 0; k < 3; k++) {
			buf_adds(b, "cove_jobs{queue=\"");
			add_label(b, json_string_value(json_object_get(q, "name")));
			buf_addf(b, "\",state=\"%s\"} %lld\n", states[k],
				 (long long)json_integer_value(json_object_get(q, states[k])));
		}
	}
	json_t *storage = json_object_get(o, "storage"), *v;
	gauge_head(b, "cove_volume_used_bytes", "Bytes used in each volume.");
	json_array_foreach(json_object_get(storage, "volumes"), i, v) {
		buf_adds(b, "cove_volume_used_bytes{volume=\"");
		add_label(b, json_string_value(json_object_get(v, "name")));
		buf_addf(b, "\"} %lld\n", (long long)json_integer_value(json_object_get(v, "used")));
	}
	gauge_head(b, "cove_volume_capacity_bytes", "Capacity of each volume.");
	json_array_foreach(json_object_get(storage, "volumes"), i, v) {
		buf_adds(b, "cove_volume_capacity_bytes{volume=\"");
		add_label(b, json_string_value(json_object_get(v, "name")));
		buf_addf(b, "\"} %lld\n",
			 (long long)json_integer_value(json_object_get(v, "capacity")));
	}
	json_t *disk = json_object_get(storage, "disk");
	struct {
		const char *name, *help;
		json_t *value;
	} one[] = {
		{"cove_blob_store_bytes", "Bytes the blob store holds (each blob once).",
		 json_object_get(storage, "blob_bytes")},
		{"cove_disk_total_bytes", "Size of the blob store's file system.",
		 json_object_get(disk, "total")},
		{"cove_disk_free_bytes", "Free bytes on the blob store's file system.",
		 json_object_get(disk, "free")},
		{"cove_registry_bytes", "Bytes of the registry's blobs and manifests (each once).",
		 json_object_get(json_object_get(o, "registry"), "bytes")},
		{"cove_registry_repositories", "Repositories in the registry.",
		 json_object_get(json_object_get(o, "registry"), "repositories")},
		{"cove_projects", "Projects.", json_object_get(o, "projects")},
	};
	for (size_t k = 0; k < sizeof(one) / sizeof(one[0]); k++)
		if (json_is_integer(one[k].value)) {
			gauge_head(b, one[k].name, one[k].help);
			buf_addf(b, "%s %lld\n", one[k].name,
				 (long long)json_integer_value(one[k].value));
		}
	json_t *users = json_object_get(o, "users");
	if (json_is_object(users)) {
		gauge_head(b, "cove_users", "User accounts by state.");
		static const char *const ustates[] = {"active", "locked", "disabled"};
		for (int k = 0; k < 3; k++)
			buf_addf(b, "cove_users{state=\"%s\"} %lld\n", ustates[k],
				 (long long)json_integer_value(json_object_get(users, ustates[k])));
	}
	json_t *health = json_object_get(o, "health");
	gauge_head(b, "cove_db_cache_bytes",
		   "Bytes held by the database connections' page caches (bounded).");
	buf_addf(b, "cove_db_cache_bytes %lld\n", (long long)db_cache_bytes(s->db));
	gauge_head(b, "cove_healthy", "1 when a part is healthy (database, disk, jobs), else 0.");
	const char *part;
	json_object_foreach(health, part, v)
		buf_addf(b, "cove_healthy{part=\"%s\"} %d\n", part,
			 json_is_string(v) && !strcmp(json_string_value(v), "ok"));
}

/* /metrics tells who uses which routes how often: an administrator's
 * token (a read-scoped API token is what a scraper should hold) unless the
 * operator opened it with --metrics-public. */
static void get_metrics(struct req *r)
{
	if (!r->srv->cfg->metrics_public) {
		if (!r->actor.authenticated) {
			struct err e = {0};
			err_set(&e, COVE_EAUTH, "authentication required: send an "
						"administrator's token (or start the server "
						"with --metrics-public)");
			reply_err(r, &e);
			return;
		}
		if (!r->actor.admin || !(r->actor.scopes & SCOPE_READ)) {
			reply_problem(r, 403, "permission denied: administrators only");
			return;
		}
	}
	struct buf b = {0};
	metrics_render(r->srv->metrics, r->srv, &b);
	json_t *o = overview_json(r->srv);
	render_gauges(&b, r->srv, o);
	json_decref(o);
	reply_text(r, 200, "text/plain; version=0.0.4", buf_str(&b), b.len);
	buf_free(&b);
}

/*
 * One page for an administrator's dashboard: what runs, its health, and
 * how much there is. Every number comes from an index, a counter kept by
 * triggers, or the scheduler's memory, so a large installation answers as
 * fast as a small one. A part that cannot be read is null, and the
 * database's health says why.
 */
static json_t *overview_json(struct server *s)
{
	int64_t now = time_now_ms();
	json_t *o = json_object(), *health = json_object();
	json_object_set_new(o, "version", json_string(COVE_VERSION));
	json_set_time_ms(o, "started_at", s->started_ms);
	json_object_set_new(o, "uptime_s", json_integer((now - s->started_ms) / 1000));
	json_object_set_new(o, "health", health);

	struct err e = {0};
	struct dbconn *c = db_get(s->db);
	db_read_begin(c); /* one snapshot: the numbers agree with each other */
	int rc = auth_overview(c, o, &e);
	if (!rc)
		rc = files_overview(s->files, c, o, &e);
	if (!rc)
		rc = registry_overview(c, o, &e);
	db_read_end(c);
	db_put(s->db, c);
	static const char *const parts[] = {"users", "projects", "storage", "registry"};
	for (size_t i = 0; rc && i < sizeof(parts) / sizeof(parts[0]); i++)
		if (!json_object_get(o, parts[i]))
			json_object_set_new(o, parts[i], json_null());
	json_object_set_new(health, "database", json_string(rc ? e.msg : "ok"));
	/* the disk of the blob store: uploads fail when it is full */
	json_t *disk = json_object_get(json_object_get(o, "storage"), "disk");
	json_int_t total = json_integer_value(json_object_get(disk, "total"));
	json_int_t free_b = json_integer_value(json_object_get(disk, "free"));
	if (!json_is_object(disk)) {
		json_object_set_new(health, "disk", json_string("unknown"));
	} else if (total > 0 && free_b * 100 < total * DISK_LOW_PERCENT) {
		char *low = xasprintf("low: %lld%% free", (long long)(free_b * 100 / total));
		json_object_set_new(health, "disk", json_string(low));
		free(low);
	} else {
		json_object_set_new(health, "disk", json_string("ok"));
	}

	const char *why = s->jobs ? jobs_unavailable(s->jobs) : "the jobs engine is not running";
	json_object_set_new(health, "jobs", json_string(why ? why : "ok"));
	json_object_set_new(o, "jobs", s->jobs ? jobs_overview(s->jobs) : json_null());
	return o;
}

static void get_overview(struct req *r)
{
	reply_json(r, 200, overview_json(r->srv));
}

/*
 * What a bug report needs, in one document an administrator can attach:
 * the version and host, every setting (secrets replaced by "(set)"), the
 * overview, an fsck summary (?fsck=false skips it: it reads every file's
 * metadata), the sandbox's limits and the last warnings and errors logged.
 * Nothing in it is a secret: logs never carry any, and settings that could
 * be are masked by config_json.
 */
static void get_diagnose(struct req *r)
{
	struct server *s = r->srv;
	json_t *o = overview_json(s);
	char now[32];
	time_format(time_now(), now);
	json_object_set_new(o, "generated_at", json_string(now));
	struct utsname u;
	if (uname(&u) == 0)
		json_object_set_new(o, "host", json_pack("{s:s,s:s,s:s,s:I,s:I}", "system",
							 u.sysname, "release", u.release,
							 "machine", u.machine, "cpus",
							 (json_int_t)sysconf(_SC_NPROCESSORS_ONLN),
							 "memory_bytes",
							 (json_int_t)sysconf(_SC_PHYS_PAGES) *
								 (json_int_t)sysconf(_SC_PAGESIZE)));
	json_object_set_new(o, "config", config_json(s->cfg));
	json_object_set_new(o, "sandbox", json_string(s->jobs ? jobs_limits(s->jobs) : ""));
	const char *fq = req_query(r, "fsck");
	if (fq && strcmp(fq, "false") && strcmp(fq, "true")) {
		json_decref(o);
		reply_problem(r, 400, "fsck must be true or false");
		return;
	}
	if (!fq || !strcmp(fq, "true")) {
		struct err e = {0};
		json_t *f = NULL;
		struct dbconn *c = db_get(s->db);
		int rc = files_fsck(s->files, c, 0, 0, &f, &e);
		db_put(s->db, c);
		if (rc) {
			json_object_set_new(o, "fsck", json_pack("{s:s}", "error", e.msg));
		} else {
			json_t *problems = json_object_get(f, "problems");
			while (json_array_size(problems) > 50) /* a summary, not a listing */
				json_array_remove(problems, json_array_size(problems) - 1);
			json_object_set_new(o, "fsck", f);
		}
	}
	json_object_set_new(o, "recent_log", log_recent());
	reply_json(r, 200, o);
}

static void get_openapi(struct req *r)
{
	reply_text(r, 200, "application/json", cove_openapi_json,
		   (size_t)(cove_openapi_json_end - cove_openapi_json));
}

const struct route system_routes[] = {
	{"GET", "/healthz", get_healthz, ROUTE_PUBLIC | ROUTE_QUIET},
	{"GET", "/readyz", get_readyz, ROUTE_PUBLIC | ROUTE_QUIET},
	{"GET", "/metrics", get_metrics, ROUTE_PUBLIC | ROUTE_QUIET},
	{"GET", "/v1/openapi.json", get_openapi, ROUTE_PUBLIC},
	{"GET", "/v1/admin/overview", get_overview, ROUTE_ADMIN},
	{"GET", "/v1/admin/diagnose", get_diagnose, ROUTE_ADMIN},
	{NULL, NULL, NULL, 0},
};
