/*
 * gc.c - garbage collection of the registry and retention policies.
 *
 * A run goes repository by repository, each in one write transaction
 * (BEGIN IMMEDIATE: pushes wait for it, it waits for them), so that
 * deciding that something is unused and removing it are one atomic step:
 * a manifest put either committed before (its tag or its references keep
 * what it needs) or comes after and finds what it needs gone (and fails
 * with MANIFEST_BLOB_UNKNOWN: nothing acknowledged is lost).
 *
 * In each repository, in this order:
 *   1. retention policies of its project untag old tags (never immutable
 *      ones);
 *   2. manifests that no tag names, that no remaining manifest lists (an
 *      index's children) and whose subject (for a referrer) is not in the
 *      repository go, when pushed longer ago than the grace period; until
 *      nothing more goes (removing an index frees its children);
 *   3. blob links that no remaining manifest references go, when linked
 *      longer ago than the grace period (a push's layers wait for their
 *      manifest that long).
 * Every removal drops one reference in the store's counts (files.h);
 * files_gc frees the bytes nobody references. Upload sessions are never
 * touched. A dry run does the same and rolls each transaction back.
 * No HTTP here.
 */
#include "registry/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GC_ITEMS_MAX 1000

struct gc_run {
	struct registry *rg;
	struct dbconn *c;
	int64_t cutoff; /* seconds: created before or at this go */
	int dry_run;
	int64_t repos, manifests, blobs, tags, bytes;
	json_t *items;
};

static void gc_item(struct gc_run *g, const char *repo, const char *kind,
		    const char *hex, const char *tag, int64_t size)
{
	if (json_array_size(g->items) >= GC_ITEMS_MAX)
		return;
	json_t *o = json_pack("{s:s,s:s}", "repository", repo, "kind", kind);
	if (hex)
		json_object_set_new(o, "digest", json_sprintf("sha256:%s", hex));
	if (tag)
		json_object_set_new(o, "tag", json_string(tag));
	if (size >= 0)
		json_object_set_new(o, "size", json_integer(size));
	json_array_append_new(g->items, o);
}

/* ---- retention (pure selection, then its application) ------------------ */

int reg_retention_select(const struct reg_tag_info *tags, int ntags,
			 const struct reg_retention_rule *rules, int nrules,
			 int64_t now_ms, int *remove)
{
	/* keep[i]: some rule that matches tag i keeps it; hit[i]: some rule
	 * matches it at all (tags no rule matches are left alone) */
	int n = 0;
	char *keep = xcalloc((size_t)ntags + 1, 1), *hit = xcalloc((size_t)ntags + 1, 1);
	int *order = xcalloc((size_t)ntags + 1, sizeof(int));
	for (int r = 0; r < nrules; r++) {
		int m = 0;
		for (int i = 0; i < ntags; i++)
			if (reg_glob(rules[r].tag_pattern, tags[i].name))
				order[m++] = i;
		/* newest first (insertion sort: a repository's tags are few) */
		for (int a = 1; a < m; a++) {
			int v = order[a], b = a;
			while (b > 0 && (tags[order[b - 1]].pushed_ms < tags[v].pushed_ms ||
					 (tags[order[b - 1]].pushed_ms == tags[v].pushed_ms &&
					  strcmp(tags[order[b - 1]].name, tags[v].name) < 0))) {
				order[b] = order[b - 1];
				b--;
			}
			order[b] = v;
		}
		for (int k = 0; k < m; k++) {
			int i = order[k];
			hit[i] = 1;
			int young = rules[r].older_than > 0 &&
				    tags[i].pushed_ms > now_ms - rules[r].older_than * 1000;
			if (k < rules[r].keep || young)
				keep[i] = 1;
		}
	}
	for (int i = 0; i < ntags; i++) {
		remove[i] = hit[i] && !keep[i] && !tags[i].immutable;
		n += remove[i];
	}
	free(keep);
	free(hit);
	free(order);
	return n;
}

/* Apply the project's policies that match repository name. Caller holds
 * the transaction. */
static int gc_retention(struct gc_run *g, int64_t repo, const char *name,
			struct err *e)
{
	const char *slash = strchr(name, '/');
	char *project = xstrndup(name, (size_t)(slash - name));
	struct reg_retention_rule *rules = NULL;
	struct reg_tag_info *tags = NULL;
	int nrules = 0, ntags = 0, *remove = NULL;
	struct stmt *st;
	int rc = db_query(g->c, &st, e,
			  "SELECT repo_pattern, tag_pattern, keep, older_than FROM "
			  "retention_policies WHERE project = ? ORDER BY id",
			  "s", project);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == 1) {
		if (!reg_glob(db_text(st, 0), slash + 1))
			continue;
		rules = xrealloc(rules, sizeof(*rules) * (size_t)(nrules + 1));
		rules[nrules].tag_pattern = xstrdup(db_text(st, 1));
		rules[nrules].keep = db_int(st, 2);
		rules[nrules].older_than = db_int(st, 3);
		nrules++;
	}
	db_done(st);
	if (rc < 0 || nrules == 0)
		goto out;
	if ((rc = db_query(g->c, &st, e,
			   "SELECT name, sha256, updated_at FROM tags WHERE repo = ?", "i",
			   repo)))
		goto out;
	while ((rc = db_step(st, e)) == 1) {
		tags = xrealloc(tags, sizeof(*tags) * (size_t)(ntags + 1));
		struct reg_tag_info *t = &tags[ntags++];
		t->name = xstrdup(db_text(st, 0));
		snprintf(t->hex, sizeof(t->hex), "%s", db_text(st, 1));
		t->pushed_ms = db_int(st, 2);
		t->immutable = 0;
	}
	db_done(st);
	if (rc < 0)
		goto out;
	for (int i = 0; i < ntags; i++)
		tags[i].immutable = reg_tag_immutable(g->c, name, repo, tags[i].name);
	remove = xcalloc((size_t)ntags + 1, sizeof(int));
	reg_retention_select(tags, ntags, rules, nrules, time_now_ms(), remove);
	for (int i = 0; i < ntags; i++) {
		if (!remove[i])
			continue;
		if ((rc = db_exec(g->c, e, "DELETE FROM tags WHERE repo = ? AND name = ?", "is",
				  repo, tags[i].name)) < 0)
			goto out;
		g->tags++;
		gc_item(g, name, "tag", tags[i].hex, tags[i].name, -1);
	}
	rc = 0;
out:
	for (int i = 0; i < nrules; i++)
		free((char *)rules[i].tag_pattern);
	for (int i = 0; i < ntags; i++)
		free((char *)tags[i].name);
	free(rules);
	free(tags);
	free(remove);
	free(project);
	return rc < 0 ? rc : 0;
}

/* ---- manifests and blobs ------------------------------------------------ */

/* The rows (sha256, size) of a candidate query over repo's entries older
 * than the cutoff (parameters ?1 repo, ?2 cutoff), as [[sha, size], ...],
 * read whole before anything is removed. 0 or a negative code. */
static int gc_candidates(struct gc_run *g, const char *sql, int64_t repo,
			 json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(g->c, &st, e, sql, "ii", repo, g->cutoff);
	if (rc)
		return rc;
	json_t *cand = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(cand, json_pack("[s,I]", db_text(st, 0),
						      (json_int_t)db_int(st, 1)));
	db_done(st);
	if (rc < 0) {
		json_decref(cand);
		return rc;
	}
	*out = cand;
	return 0;
}

/* Remove unreferenced, untagged manifests older than the cutoff; returns
 * how many went, or a negative code. */
static int gc_manifests_pass(struct gc_run *g, int64_t repo, const char *name,
			     struct err *e)
{
	json_t *cand;
	int rc = gc_candidates(g,
			  "SELECT m.sha256, m.size FROM manifests m WHERE m.repo = ?1 "
			  "AND m.created_at <= ?2 "
			  "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo "
			  "  AND t.sha256 = m.sha256) "
			  "AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN manifests p "
			  "  ON p.repo = r.repo AND p.sha256 = r.parent WHERE r.repo = m.repo "
			  "  AND r.child = m.sha256 AND r.parent != m.sha256) "
			  "AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s "
			  "  WHERE s.repo = m.repo AND s.sha256 = m.subject "
			  "  AND s.sha256 != m.sha256))",
			  repo, &cand, e);
	if (rc)
		return rc;
	size_t i;
	json_t *v;
	int n = 0;
	json_array_foreach(cand, i, v) {
		if (rc < 0)
			break;
		const char *hex = json_string_value(json_array_get(v, 0));
		int64_t size = json_integer_value(json_array_get(v, 1));
		if ((rc = db_exec(g->c, e,
				  "DELETE FROM manifest_refs WHERE repo = ? AND parent = ?",
				  "is", repo, hex)) < 0 ||
		    (rc = db_exec(g->c, e,
				  "DELETE FROM manifests WHERE repo = ? AND sha256 = ?", "is",
				  repo, hex)) < 0 ||
		    (rc = files_blob_ref(g->c, hex, size, -1, e)) < 0)
			break;
		n++;
		g->manifests++;
		g->bytes += size;
		gc_item(g, name, "manifest", hex, NULL, size);
	}
	json_decref(cand);
	return rc < 0 ? rc : n;
}

static int gc_blobs(struct gc_run *g, int64_t repo, const char *name,
		    struct err *e)
{
	json_t *cand;
	int rc = gc_candidates(g,
			  "SELECT b.sha256, b.size FROM registry_blobs b WHERE b.repo = ?1 "
			  "AND b.created_at <= ?2 "
			  "AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN manifests p "
			  "  ON p.repo = r.repo AND p.sha256 = r.parent WHERE r.repo = b.repo "
			  "  AND r.child = b.sha256)",
			  repo, &cand, e);
	if (rc)
		return rc;
	size_t i;
	json_t *v;
	json_array_foreach(cand, i, v) {
		if (rc < 0)
			break;
		const char *hex = json_string_value(json_array_get(v, 0));
		int64_t size = json_integer_value(json_array_get(v, 1));
		if ((rc = db_exec(g->c, e,
				  "DELETE FROM registry_blobs WHERE repo = ? AND sha256 = ?",
				  "is", repo, hex)) < 0 ||
		    (rc = files_blob_ref(g->c, hex, size, -1, e)) < 0)
			break;
		g->blobs++;
		g->bytes += size;
		gc_item(g, name, "blob", hex, NULL, size);
	}
	json_decref(cand);
	return rc < 0 ? rc : 0;
}

/* One repository in one transaction. */
static int gc_repo(struct gc_run *g, int64_t repo, const char *name, struct err *e)
{
	int rc = db_begin(g->c, e);
	if (rc)
		return rc;
	if ((rc = gc_retention(g, repo, name, e)))
		goto fail;
	/* removing an index or a subject can free more: until none goes */
	for (int round = 0; round < 64; round++) {
		rc = gc_manifests_pass(g, repo, name, e);
		if (rc < 0)
			goto fail;
		if (rc == 0)
			break;
	}
	if ((rc = gc_blobs(g, repo, name, e)))
		goto fail;
	if (g->dry_run) {
		db_rollback(g->c);
		return 0;
	}
	return db_commit(g->c, e);
fail:
	db_rollback(g->c);
	return rc;
}

/* May act collect namespace ns (NULL: every repository)? */
static int gc_access(struct dbconn *c, const struct actor *act, const char *ns,
		     struct err *e)
{
	if (!act || act->admin)
		return 0;
	if (!ns)
		return err_set(e, COVE_EPERM,
			       "permission denied: only administrators collect every "
			       "repository (name a project)");
	char role[16] = "";
	int rc = auth_project_role(c, ns, act->uid, role, e);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		if (!role[0])
			return err_set(e, COVE_ENOENT, "no such project: %s", ns);
		if (strcmp(role, "owner") && strcmp(role, "maintainer"))
			return err_set(e, COVE_EPERM,
				       "permission denied: only owners and maintainers of %s "
				       "collect its images",
				       ns);
		return 0;
	}
	if (!strcmp(ns, act->username))
		return 0;
	return err_set(e, COVE_ENOENT, "no such project: %s", ns);
}

int reg_gc_run(struct registry *rg, struct dbconn *c, const struct actor *act,
	       const char *ns, int64_t grace, int dry_run, json_t **out,
	       struct err *e)
{
	int rc = gc_access(c, act, ns, e);
	if (rc)
		return rc;
	struct gc_run g = {.rg = rg, .c = c, .cutoff = time_now() - grace,
			   .dry_run = dry_run, .items = json_array()};
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT id, name FROM repositories WHERE ?1 IS NULL OR "
			   "substr(name, 1, length(?1) + 1) = ?1 || '/' ORDER BY name",
			   "s", ns)))
		goto out;
	json_t *repos = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(repos, json_pack("[I,s]", (json_int_t)db_int(st, 0),
						       db_text(st, 1)));
	db_done(st);
	size_t i;
	json_t *v;
	json_array_foreach(repos, i, v) {
		if (rc < 0)
			break;
		rc = gc_repo(&g, json_integer_value(json_array_get(v, 0)),
			     json_string_value(json_array_get(v, 1)), e);
		g.repos++;
	}
	json_decref(repos);
	if (rc < 0)
		goto out;
	rc = 0;
	*out = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:O}", "dry_run", dry_run,
			 "grace", (json_int_t)grace, "repositories", (json_int_t)g.repos,
			 "tags_removed", (json_int_t)g.tags, "manifests_removed",
			 (json_int_t)g.manifests, "blobs_removed", (json_int_t)g.blobs,
			 "bytes", (json_int_t)g.bytes, "items", g.items);
	if (ns)
		json_object_set_new(*out, "project", json_string(ns));
	if (!dry_run) {
		char detail[160];
		snprintf(detail, sizeof(detail),
			 "tags %lld, manifests %lld, blobs %lld, bytes %lld",
			 (long long)g.tags, (long long)g.manifests, (long long)g.blobs,
			 (long long)g.bytes);
		auth_audit(c, act, "registry.gc", ns ? ns : "*", 1, detail);
	}
out:
	json_decref(g.items);
	return rc;
}

/* ---- the periodic run ------------------------------------------------------ */

/* $DATA/registry/gc.stamp: its mtime is when the last periodic run
 * ended, so that a server restarted more often than the interval still
 * collects on schedule. */
static char *gc_stamp_path(struct registry *rg)
{
	return xasprintf("%s/registry/gc.stamp", rg->cfg->data_dir);
}

/* Seconds until the next periodic run is due. */
static int64_t gc_due_in(struct registry *rg)
{
	char *path = gc_stamp_path(rg);
	struct stat st;
	int64_t last = 0, now = time_now();
	if (stat(path, &st) == 0) {
		last = (int64_t)st.st_mtime;
	} else {
		/* first start: one interval from now */
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		last = now;
	}
	free(path);
	int64_t due = last + rg->cfg->registry_gc_interval - now;
	return due < 0 ? 0 : due > rg->cfg->registry_gc_interval ? rg->cfg->registry_gc_interval : due;
}

static void *gc_main(void *arg)
{
	struct registry *rg = arg;
	pthread_mutex_lock(&rg->gc_mu);
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)gc_due_in(rg);
		while (!rg->gc_stop) {
			if (pthread_cond_timedwait(&rg->gc_cv, &rg->gc_mu, &ts) == ETIMEDOUT)
				break;
		}
		if (rg->gc_stop)
			break;
		pthread_mutex_unlock(&rg->gc_mu);
		registry_gc_periodic(rg);
		char *path = gc_stamp_path(rg);
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			futimens(fd, NULL);
			close(fd);
		}
		free(path);
		pthread_mutex_lock(&rg->gc_mu);
	}
	pthread_mutex_unlock(&rg->gc_mu);
	return NULL;
}

void registry_gc_periodic(struct registry *rg)
{
	struct dbconn *c = db_get(rg->db);
	struct err e = {0};
	json_t *o = NULL, *f = NULL;
	int64_t grace = rg->cfg->registry_gc_grace;
	/* the audit log names the server itself */
	struct actor sys = {.authenticated = 1, .admin = 1};
	snprintf(sys.username, sizeof(sys.username), "system");
	if (reg_gc_run(rg, c, &sys, NULL, grace, 0, &o, &e))
		log_event(LOG_WARN, "registry gc", "{s:s}", "error", e.msg);
	else if (files_gc(rg->files, c, grace, &f, &e))
		log_event(LOG_WARN, "registry gc: files gc", "{s:s}", "error", e.msg);
	else
		log_event(LOG_INFO, "registry gc", "{s:O,s:O,s:O,s:O,s:O,s:O}", "tags",
			  json_object_get(o, "tags_removed"), "manifests",
			  json_object_get(o, "manifests_removed"), "blobs",
			  json_object_get(o, "blobs_removed"), "bytes",
			  json_object_get(o, "bytes"), "store_removed",
			  json_object_get(f, "removed"), "store_bytes",
			  json_object_get(f, "bytes"));
	json_decref(o);
	json_decref(f);
	db_put(rg->db, c);
}

int reg_gc_start(struct registry *rg)
{
	pthread_mutex_init(&rg->gc_mu, NULL);
	pthread_cond_init(&rg->gc_cv, NULL);
	rg->gc_inited = 1;
	if (rg->cfg->registry_gc_interval <= 0)
		return 0;
	if (pthread_create(&rg->gc_thread, NULL, gc_main, rg))
		return COVE_EINTERNAL;
	rg->gc_running = 1;
	return 0;
}

void reg_gc_stop(struct registry *rg)
{
	if (!rg->gc_inited)
		return;
	if (rg->gc_running) {
		pthread_mutex_lock(&rg->gc_mu);
		rg->gc_stop = 1;
		pthread_cond_signal(&rg->gc_cv);
		pthread_mutex_unlock(&rg->gc_mu);
		pthread_join(rg->gc_thread, NULL);
	}
	pthread_cond_destroy(&rg->gc_cv);
	pthread_mutex_destroy(&rg->gc_mu);
}

/* ---- retention policies ------------------------------------------------------ */

static json_t *retention_json(int64_t id, const char *repo, const char *tag,
			      int64_t keep, int64_t older_than, int64_t created)
{
	json_t *o = json_pack("{s:I,s:s,s:s,s:I,s:I}", "id", (json_int_t)id, "repository",
			      repo, "tag", tag, "keep", (json_int_t)keep, "older_than",
			      (json_int_t)older_than);
	json_set_time(o, "created_at", created);
	return o;
}

int reg_retention_list(struct dbconn *c, const struct actor *act,
		       const char *project, json_t **out, struct err *e)
{
	int rc = reg_project_access(c, act, project, 0, "retention policies", e);
	if (rc)
		return rc;
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT id, repo_pattern, tag_pattern, keep, older_than, "
			   "created_at FROM retention_policies WHERE project = ? ORDER BY id",
			   "s", project)))
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(items, retention_json(db_int(st, 0), db_text(st, 1),
							    db_text(st, 2), db_int(st, 3),
							    db_int(st, 4), db_int(st, 5)));
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", items);
	return 0;
}


int reg_retention_add(struct dbconn *c, const struct actor *act,
		      const char *project, json_t *body, json_t **out,
		      struct err *e)
{
	static const char *const fields[] = {"repository", "tag", "keep", "older_than",
					     NULL};
	const char *repo = NULL, *tag = NULL, *older = NULL;
	int rc;
	if ((rc = json_only_fields(body, fields, e)) ||
	    (rc = json_opt_str(body, "repository", &repo, e)) ||
	    (rc = json_opt_str(body, "tag", &tag, e)))
		return rc;
	json_t *k = json_object_get(body, "keep");
	if (!json_is_integer(k) || json_integer_value(k) < 0 ||
	    json_integer_value(k) > 1000000)
		return err_set(e, COVE_EINVAL, "keep must be a whole number of tags (0 or more)");
	int64_t older_than = 0;
	json_t *ot = json_object_get(body, "older_than");
	if (json_is_string(ot)) {
		older = json_string_value(ot);
		if ((older_than = duration_parse(older)) < 0)
			return err_set(e, COVE_EINVAL,
				       "older_than must be a duration like 7d, 12h or 30m");
	} else if (json_is_integer(ot) && json_integer_value(ot) >= 0) {
		older_than = json_integer_value(ot);
	} else if (ot && !json_is_null(ot)) {
		return err_set(e, COVE_EINVAL,
			       "older_than must be a duration like 7d, 12h or 30m");
	}
	if (!repo)
		repo = "**";
	if (!tag)
		tag = "*";
	if (!reg_glob_ok(repo) || !reg_glob_ok(tag))
		return err_set(e, COVE_EINVAL,
			       "patterns are globs of letters, digits, . _ - / * ?");
	if ((rc = reg_project_access(c, act, project, 1, "retention policies", e)))
		return rc;
	int64_t now = time_now(), keep = json_integer_value(k);
	if ((rc = db_exec(c, e,
			  "INSERT INTO retention_policies(project, repo_pattern, tag_pattern, "
			  "keep, older_than, created_at, updated_at) VALUES (?, ?, ?, ?, ?, "
			  "?, ?)",
			  "sssiiii", project, repo, tag, keep, older_than, now, now)) < 0)
		return rc;
	int64_t id = db_last_id(c);
	char *target = xasprintf("%s %s:%s keep %lld", project, repo, tag, (long long)keep);
	auth_audit(c, act, "registry.retention.create", target, 1, NULL);
	free(target);
	*out = retention_json(id, repo, tag, keep, older_than, now);
	return 0;
}

int reg_retention_delete(struct dbconn *c, const struct actor *act,
			 const char *project, int64_t id, struct err *e)
{
	int rc = reg_project_access(c, act, project, 1, "retention policies", e);
	return rc ? rc
		  : reg_project_row_delete(c, act, project, "retention_policies",
					   "retention policy", id,
					   "registry.retention.delete", e);
}
