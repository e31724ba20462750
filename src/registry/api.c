/*
 * api.c - the registry's /v1 routes and its route table: the token
 * endpoint (registry tokens for standard clients), robot accounts, the
 * repositories API, tag rules, deleting an image by reference; opening and
 * closing the registry.
 * The OCI endpoints under /v2/ are in v2.c (reading) and push.c (writing).
 */
#include "registry/v2.h"

#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the token endpoint ---------------------------------------------------------------------- */

static enum MHD_Result collect_scope(void *cls, enum MHD_ValueKind kind,
				     const char *key, const char *value)
{
	json_t *arr = cls;
	if (key && value && !strcmp(key, "scope") && json_array_size(arr) < 64) {
		char *copy = xstrdup(value);
		for (char *save = NULL, *t = strtok_r(copy, " ", &save); t;
		     t = strtok_r(NULL, " ", &save))
			if (strlen(t) < 512)
				json_array_append_new(arr, json_string(t));
		free(copy);
	}
	return MHD_YES;
}

/* A password check (Argon2) and the audit record wait on the CPU and the
 * disk: on the I/O workers, off the event loop. */
static void token_work(struct req *r)
{
	struct dbconn *c = db_get(r->srv->db);
	struct principal p;
	struct err e = {0};
	const char *svc = req_query(r, "service");
	if (svc && strcmp(svc, "cove")) {
		reply_problem(r, 400, "unknown service '%s' (this registry is 'cove')", svc);
		goto out;
	}
	int rc = v2_principal_load(r, c, &p, &e);
	if (rc) {
		if (rc == COVE_ETOOMANY)
			reply_err(r, &e);
		else
			reply_problem(r, 401, "%s", e.msg);
		reply_header(r, "WWW-Authenticate", "Basic realm=\"cove\"");
		goto out;
	}
	json_t *scopes = json_array();
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_scope, scopes);
	json_t *o = NULL;
	rc = reg_token_issue(RG(r), c, &p, scopes, &o, &e);
	json_decref(scopes);
	v2_principal_free(&p);
	if (rc)
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
out:
	db_put(r->srv->db, c);
}

static void token_get(struct req *r)
{
	req_offload(r, token_work);
}

/* ---- project-scoped lists (robots, tag rules, retention) ---------------------------------- */

/* The /v1/projects/{name}/... collections share one shape: list, add a
 * JSON body (201), remove by id (204); the domain function checks the
 * caller's role in the project. */
typedef int (*project_list_fn)(struct dbconn *c, const struct actor *act,
			       const char *project, json_t **out, struct err *e);
typedef int (*project_add_fn)(struct dbconn *c, const struct actor *act,
			      const char *project, json_t *body, json_t **out,
			      struct err *e);
typedef int (*project_remove_fn)(struct dbconn *c, const struct actor *act,
				 const char *project, int64_t id, struct err *e);

static void project_list(struct req *r, project_list_fn fn)
{
	struct err e = {0};
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (fn(c, &r->actor, req_param(r, "name"), &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void project_add(struct req *r, project_add_fn fn)
{
	struct err e = {0};
	json_t *body = req_json(r, &e);
	if (!body) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (fn(c, &r->actor, req_param(r, "name"), body, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 201, o);
	db_put(r->srv->db, c);
}

/* Remove entry {id} (a positive integer; anything else: 404 naming what). */
static void project_remove(struct req *r, project_remove_fn fn, const char *what)
{
	struct err e = {0};
	const char *id = req_param(r, "id");
	char *end;
	long long v = strtoll(id, &end, 10);
	if (!*id || *end || v <= 0) {
		reply_problem(r, 404, "no such %s", what);
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	if (fn(c, &r->actor, req_param(r, "name"), v, &e))
		reply_err(r, &e);
	else
		reply_empty(r, 204);
	db_put(r->srv->db, c);
}

/* ---- robots ------------------------------------------------------------------------------------ */

static void robots_get(struct req *r)
{
	project_list(r, reg_robots_list);
}

static void robots_post(struct req *r)
{
	project_add(r, reg_robots_create);
}

static void robots_delete(struct req *r)
{
	struct dbconn *c = db_get(r->srv->db);
	struct err e = {0};
	if (reg_robots_delete(c, &r->actor, req_param(r, "name"), req_param(r, "robot"), &e))
		reply_err(r, &e);
	else
		reply_empty(r, 204);
	db_put(r->srv->db, c);
}

/* ---- repositories and tag rules (/v1) ---------------------------------------------------------- */

static void user_principal(struct req *r, struct principal *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = PR_USER;
	p->uid = r->actor.uid;
	p->admin = r->actor.admin;
	p->scopes = r->actor.scopes;
	snprintf(p->name, sizeof(p->name), "%s", r->actor.username);
	p->act = r->actor;
}

static void repos_list(struct req *r)
{
	struct err e = {0};
	int limit;
	if (req_limit(r, &limit, &e)) {
		reply_err(r, &e);
		return;
	}
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_repos_list(c, &p, req_query(r, "cursor"), limit, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void repos_get(struct req *r)
{
	struct err e = {0};
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_repo_get(c, &p, req_param(r, "name"), &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void repos_patch(struct req *r)
{
	struct err e = {0};
	json_t *body = req_json(r, &e);
	static const char *const fields[] = {"immutable_tags", NULL};
	int on = 0, present = 0;
	if (!body || json_only_fields(body, fields, &e) ||
	    json_opt_bool(body, "immutable_tags", &on, &present, &e)) {
		reply_err(r, &e);
		return;
	}
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	const char *name = req_param(r, "name");
	if ((present && reg_repo_set_immutable(c, &p, name, on, &e)) ||
	    reg_repo_get(c, &p, name, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void rules_get(struct req *r)
{
	project_list(r, reg_rules_list);
}

static void rules_post(struct req *r)
{
	project_add(r, reg_rules_add);
}

static void rules_delete(struct req *r)
{
	project_remove(r, reg_rules_delete, "tag rule");
}

/* ---- tags, garbage collection, retention (/v1) ----------------------------------------------- */

static void tags_get(struct req *r)
{
	struct err e = {0};
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_tags_list(c, &p, req_param(r, "name"), &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

/* Split "<name>:<tag>" or "<name>@sha256:<hex>" into name and ref (tag or
 * digest); 0 when both are well formed. */
static int image_ref_split(const char *s, char name[REG_NAME_MAX + 1],
			   char ref[160])
{
	const char *at = strchr(s, '@');
	const char *slash = strrchr(s, '/');
	const char *sep = at ? at : strrchr(s, ':');
	char hex[65];
	if (!sep || !slash || sep < slash || (size_t)(sep - s) > REG_NAME_MAX ||
	    strlen(sep + 1) >= 160)
		return -1;
	snprintf(name, REG_NAME_MAX + 1, "%.*s", (int)(sep - s), s);
	snprintf(ref, 160, "%s", sep + 1);
	if (!reg_name_valid(name))
		return -1;
	return at ? !reg_digest_parse(ref, hex) : !reg_tag_valid(ref);
}

/* DELETE /v1/registry/images/{ref*}: what DELETE /v2/<name>/manifests/<ref>
 * does, for the portal (the /v2 API does not take a browser session):
 * "<name>:<tag>" removes the tag, "<name>@sha256:<hex>" the image and every
 * tag on it. The same rules: delete permission (maintainers, owners,
 * admins; the owner of a personal namespace), immutable tags refused,
 * audited as registry.delete either way. */
static void image_delete(struct req *r)
{
	const char *arg = req_param(r, "ref");
	char name[REG_NAME_MAX + 1], ref[160];
	if (!arg || image_ref_split(arg, name, ref)) {
		reply_problem(r, 400, "give an image as <project>/<repo>:<tag> or "
				      "<project>/<repo>@sha256:<digest>");
		return;
	}
	struct principal p;
	user_principal(r, &p);
	struct dbconn *c = db_get(r->srv->db);
	struct err e = {0};
	int ns, rc;
	unsigned acts = reg_allowed(c, &p, name, &ns);
	if (!(acts & ACT_PULL))
		rc = err_set(&e, COVE_ENOENT, "no repository %s that you may see", name);
	else if (!(acts & ACT_DELETE))
		rc = err_set(&e, COVE_EPERM, "only maintainers and owners delete images of %s",
			     name);
	else if ((rc = reg_manifest_delete(c, &p.act, name, ref, &e)) == COVE_ENOENT)
		err_set(&e, COVE_ENOENT, "%s has no %s %s", name,
			strchr(arg, '@') ? "image" : "tag", ref);
	auth_audit(c, &p.act, "registry.delete", arg, rc == 0, rc ? e.msg : NULL);
	db_put(r->srv->db, c);
	if (rc)
		reply_err(r, &e);
	else
		reply_empty(r, 204);
}

/* A collection walks every repository of a namespace and waits on the
 * disk: on the I/O workers. */
static void gc_work(struct req *r)
{
	struct err e = {0};
	json_t *body = req_json(r, &e);
	static const char *const fields[] = {"project", "grace", "dry_run", NULL};
	const char *project = NULL, *grace_s = NULL;
	int dry = 0, present = 0;
	int64_t grace = 3600;
	if (!body || json_only_fields(body, fields, &e) ||
	    json_opt_str(body, "project", &project, &e) ||
	    json_opt_bool(body, "dry_run", &dry, &present, &e)) {
		reply_err(r, &e);
		return;
	}
	json_t *g = json_object_get(body, "grace");
	if (json_is_string(g)) {
		grace_s = json_string_value(g);
		if ((grace = duration_parse(grace_s)) < 0) {
			reply_problem(r, 400, "grace must be a duration like 1h, 10m or 0s");
			return;
		}
	} else if (json_is_integer(g) && json_integer_value(g) >= 0) {
		grace = json_integer_value(g);
	} else if (g && !json_is_null(g)) {
		reply_problem(r, 400, "grace must be a duration like 1h, 10m or 0s");
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	json_t *o = NULL;
	if (reg_gc_run(RG(r), c, &r->actor, project, grace, dry, &o, &e))
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
	db_put(r->srv->db, c);
}

static void gc_post(struct req *r)
{
	req_offload(r, gc_work);
}

static void retention_get(struct req *r)
{
	project_list(r, reg_retention_list);
}

static void retention_post(struct req *r)
{
	project_add(r, reg_retention_add);
}

static void retention_delete(struct req *r)
{
	project_remove(r, reg_retention_delete, "retention policy");
}

const struct route registry_routes[] = {
	{"GET", "/v2/{path*}", v2_get, ROUTE_PUBLIC, NULL},
	{"DELETE", "/v2/{path*}", v2_delete, ROUTE_PUBLIC, NULL},
	{"POST", "/v2/{path*}", v2_unused, ROUTE_PUBLIC, &reg_push_ops},
	{"PUT", "/v2/{path*}", v2_unused, ROUTE_PUBLIC, &reg_push_ops},
	{"PATCH", "/v2/{path*}", v2_unused, ROUTE_PUBLIC, &reg_push_ops},
	{"GET", "/v1/registry/token", token_get, ROUTE_PUBLIC, NULL},
	{"GET", "/v1/projects/{name}/robots", robots_get, ROUTE_AUTH, NULL},
	{"POST", "/v1/projects/{name}/robots", robots_post, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/projects/{name}/robots/{robot}", robots_delete, ROUTE_AUTH, NULL},
	{"GET", "/v1/projects/{name}/tag-rules", rules_get, ROUTE_AUTH, NULL},
	{"POST", "/v1/projects/{name}/tag-rules", rules_post, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/projects/{name}/tag-rules/{id}", rules_delete, ROUTE_AUTH, NULL},
	{"GET", "/v1/projects/{name}/retention", retention_get, ROUTE_AUTH, NULL},
	{"POST", "/v1/projects/{name}/retention", retention_post, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/projects/{name}/retention/{id}", retention_delete, ROUTE_AUTH, NULL},
	{"POST", "/v1/registry/gc", gc_post, ROUTE_AUTH, NULL},
	{"GET", "/v1/registry/tags/{name*}", tags_get, ROUTE_AUTH, NULL},
	{"GET", "/v1/registry/repositories", repos_list, ROUTE_AUTH, NULL},
	{"GET", "/v1/registry/repositories/{name*}", repos_get, ROUTE_AUTH, NULL},
	{"PATCH", "/v1/registry/repositories/{name*}", repos_patch, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/registry/images/{ref*}", image_delete, ROUTE_AUTH, NULL},
	{NULL, NULL, NULL, 0, NULL},
};

/* ---- open / close ---------------------------------------------------------------------------- */

int registry_open(struct registry **out, struct db *db, struct files *files,
		  struct auth *auth, const struct config *cfg, struct err *e)
{
	struct registry *rg = xcalloc(1, sizeof(*rg));
	rg->db = db;
	rg->files = files;
	rg->auth = auth;
	rg->cfg = cfg;
	pthread_mutex_init(&rg->slots_mu, NULL);
	char *dir = xasprintf("%s/registry", cfg->data_dir);
	rg->uploads = xasprintf("%s/uploads", dir);
	int ok = (mkdir(dir, 0700) == 0 || errno == EEXIST) &&
		 (mkdir(rg->uploads, 0700) == 0 || errno == EEXIST);
	free(dir);
	if (!ok) {
		int rc = err_set(e, COVE_EIO, "cannot create %s: %s", rg->uploads,
				 strerror(errno));
		registry_close(rg);
		return rc;
	}
	/* parts whose session is gone (a crash between ending a session and
	 * moving its bytes into the store) are never read again */
	DIR *d = opendir(rg->uploads);
	if (d) {
		struct dbconn *c = db_get(db);
		struct dirent *de;
		while ((de = readdir(d))) {
			char *dot = strstr(de->d_name, ".part");
			if (!dot || dot[5] || dot - de->d_name >= 32)
				continue;
			char id[32];
			snprintf(id, sizeof(id), "%.*s", (int)(dot - de->d_name), de->d_name);
			int64_t n = 0;
			if (db_query_int(c, NULL, &n, "SELECT count(*) FROM registry_uploads "
				       "WHERE id = ?", "s", id) == 1 && n == 0) {
				char *path = v2_part_path(rg, id);
				unlink(path);
				free(path);
			}
		}
		db_put(db, c);
		closedir(d);
	}
	if (reg_gc_start(rg)) {
		registry_close(rg);
		return err_set(e, COVE_EINTERNAL, "cannot start the registry collector");
	}
	*out = rg;
	return 0;
}

void registry_close(struct registry *rg)
{
	if (!rg)
		return;
	reg_gc_stop(rg);
	pthread_mutex_destroy(&rg->slots_mu);
	free(rg->uploads);
	free(rg);
}
