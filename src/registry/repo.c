/*
 * repo.c - the registry's metadata: repositories, which blobs each may use
 * (one reference in the blob store's counts per link), manifests (bytes in
 * the store, one reference each), what manifests point to, tags and their
 * immutability, and storage quotas. Bytes are always durable before a
 * transaction here records them; a failed transaction leaves only
 * unreferenced bytes, which files_gc removes after its grace period.
 * No HTTP here.
 */
#include "registry/internal.h"

#include <stdlib.h>
#include <string.h>

/* The namespace behind name: a project, or a user (then *uid). */
struct ns {
	char name[AUTH_NAME_MAX + 1];
	int is_project;
	int64_t uid;
	int64_t limit; /* 0: unlimited */
	char usage_key[80];
};

static int ns_load(struct dbconn *c, const char *repo, struct ns *ns,
		   struct err *e)
{
	const char *slash = strchr(repo, '/');
	size_t n = slash ? (size_t)(slash - repo) : 0;
	if (n == 0 || n > AUTH_NAME_MAX)
		return err_set(e, COVE_ENOENT, "no such namespace");
	memcpy(ns->name, repo, n);
	ns->name[n] = '\0';
	ns->limit = 0;
	if (db_query_int(c, NULL, &ns->limit,
			 "SELECT quota_storage_bytes FROM projects WHERE name = ?", "s",
			 ns->name) == 1) {
		ns->is_project = 1;
		ns->uid = 0;
		snprintf(ns->usage_key, sizeof(ns->usage_key), "project:%s", ns->name);
		return 0;
	}
	ns->is_project = 0;
	if (db_query_int(c, NULL, &ns->uid, "SELECT uid FROM users WHERE username = ?",
			 "s", ns->name) != 1)
		return err_set(e, COVE_ENOENT, "no project or user named %s", ns->name);
	db_query_int(c, NULL, &ns->limit,
		     "SELECT quota_storage_bytes FROM users WHERE uid = ?", "i", ns->uid);
	snprintf(ns->usage_key, sizeof(ns->usage_key), "user:%lld", (long long)ns->uid);
	return 0;
}

int reg_repo_find(struct dbconn *c, const char *name, int64_t *id)
{
	return db_query_int(c, NULL, id, "SELECT id FROM repositories WHERE name = ?",
			    "s", name) == 1;
}

/* Caller holds a transaction. */
static int repo_ensure(struct dbconn *c, const char *name, const struct ns *ns,
		       int64_t *id, struct err *e)
{
	if (reg_repo_find(c, name, id))
		return 0;
	int64_t now = time_now();
	int rc;
	if (ns->is_project)
		rc = db_exec(c, e,
			     "INSERT INTO repositories(name, project, created_at, updated_at) "
			     "VALUES (?, ?, ?, ?)",
			     "ssii", name, ns->name, now, now);
	else
		rc = db_exec(c, e,
			     "INSERT INTO repositories(name, owner_uid, created_at, updated_at) "
			     "VALUES (?, ?, ?, ?)",
			     "siii", name, ns->uid, now, now);
	if (rc < 0)
		return rc;
	if (!reg_repo_find(c, name, id))
		return err_set(e, COVE_EINTERNAL, "cannot create repository %s", name);
	return 0;
}

int reg_blob_linked(struct dbconn *c, int64_t repo, const char *hex,
		    int64_t *size)
{
	return db_query_int(c, NULL, size,
			    "SELECT size FROM registry_blobs WHERE repo = ? AND sha256 = ?",
			    "is", repo, hex) == 1;
}

/* Bytes the namespace holds in the registry, each digest once. */
static int64_t ns_registry_bytes(struct dbconn *c, const struct ns *ns)
{
	int64_t v = 0;
	const char *where = "r.project IS ?1 AND coalesce(r.owner_uid, 0) = ?2";
	char *sql = xasprintf(
		"SELECT coalesce(sum(size), 0) FROM (SELECT sha256, max(size) AS size FROM "
		"(SELECT b.sha256, b.size FROM registry_blobs b JOIN repositories r ON "
		"r.id = b.repo WHERE %s UNION ALL SELECT m.sha256, m.size FROM manifests m "
		"JOIN repositories r ON r.id = m.repo WHERE %s) GROUP BY sha256)",
		where, where);
	db_query_int(c, NULL, &v, sql, "si", ns->is_project ? ns->name : NULL,
		     ns->is_project ? (int64_t)0 : ns->uid);
	free(sql);
	return v;
}

/* 1 when the namespace already holds hex somewhere. */
static int ns_has(struct dbconn *c, const struct ns *ns, const char *hex)
{
	int64_t v = 0;
	const char *where = "r.project IS ?1 AND coalesce(r.owner_uid, 0) = ?2";
	char *sql = xasprintf(
		"SELECT EXISTS (SELECT 1 FROM registry_blobs b JOIN repositories r ON "
		"r.id = b.repo WHERE %s AND b.sha256 = ?3) OR EXISTS (SELECT 1 FROM "
		"manifests m JOIN repositories r ON r.id = m.repo WHERE %s AND "
		"m.sha256 = ?3)",
		where, where);
	db_query_int(c, NULL, &v, sql, "sis", ns->is_project ? ns->name : NULL,
		     ns->is_project ? (int64_t)0 : ns->uid, hex);
	free(sql);
	return v == 1;
}

/* Refuse when adding size bytes of hex would exceed the namespace's
 * quota (files and images together). Caller holds a transaction. */
static int quota_check(struct dbconn *c, const struct ns *ns, const char *hex,
		       int64_t size, struct err *e)
{
	if (ns->limit <= 0 || ns_has(c, ns, hex))
		return 0;
	int64_t files = 0;
	db_query_int(c, NULL, &files, "SELECT bytes FROM usage WHERE scope = ?", "s",
		     ns->usage_key);
	int64_t used = files + ns_registry_bytes(c, ns);
	if (used + size > ns->limit)
		return err_set(e, COVE_ETOOBIG,
			       "storage quota exceeded: %s allows %lld bytes, %lld are in "
			       "use and this needs %lld more",
			       ns->name, (long long)ns->limit, (long long)used,
			       (long long)size);
	return 0;
}

int64_t reg_quota_limit(struct dbconn *c, const char *name)
{
	struct ns ns;
	if (ns_load(c, name, &ns, NULL) || ns.limit <= 0)
		return INT64_MAX;
	return ns.limit;
}

int reg_blob_link(struct registry *rg, struct dbconn *c, const char *name,
		  const char *hex, int64_t size, struct err *e)
{
	struct ns ns;
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	int64_t repo, have;
	if ((rc = ns_load(c, name, &ns, e)) || (rc = repo_ensure(c, name, &ns, &repo, e)))
		goto fail;
	if (reg_blob_linked(c, repo, hex, &have)) {
		/* pushed again: the collector's grace period starts anew */
		db_exec(c, NULL,
			"UPDATE registry_blobs SET created_at = ? WHERE repo = ? AND sha256 = ?",
			"iis", time_now(), repo, hex);
		return db_commit(c, e);
	}
	if ((rc = quota_check(c, &ns, hex, size, e)))
		goto fail;
	if ((rc = db_exec(c, e,
			  "INSERT INTO registry_blobs(repo, sha256, size, created_at) "
			  "VALUES (?, ?, ?, ?)",
			  "isii", repo, hex, size, time_now())) < 0 ||
	    (rc = files_blob_ref(c, hex, size, 1, e)) < 0)
		goto fail;
	if ((rc = db_commit(c, e)))
		return rc;
	if (!files_blob_present(rg->files, hex, NULL)) {
		/* a collection took the bytes between their store and this
		 * commit (possible only with a grace period of 0): undo */
		reg_blob_unlink(c, name, hex, NULL);
		return err_set(e, COVE_ECONFLICT,
			       "the bytes were collected while the upload finished; push again");
	}
	return 0;
fail:
	db_rollback(c);
	return rc;
}

int reg_blob_unlink(struct dbconn *c, const char *name, const char *hex,
		    struct err *e)
{
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	int64_t repo, size;
	if (!reg_repo_find(c, name, &repo) || !reg_blob_linked(c, repo, hex, &size)) {
		db_rollback(c);
		return err_set(e, COVE_ENOENT, "blob unknown to repository");
	}
	if ((rc = db_exec(c, e, "DELETE FROM registry_blobs WHERE repo = ? AND sha256 = ?",
			  "is", repo, hex)) < 0 ||
	    (rc = files_blob_ref(c, hex, size, -1, e)) < 0) {
		db_rollback(c);
		return rc;
	}
	return db_commit(c, e);
}

static int manifest_exists(struct dbconn *c, int64_t repo, const char *hex,
			   int64_t *size)
{
	return db_query_int(c, NULL, size,
			    "SELECT size FROM manifests WHERE repo = ? AND sha256 = ?",
			    "is", repo, hex) == 1;
}

int reg_tag_immutable(struct dbconn *c, const char *name, int64_t repo,
		      const char *tag)
{
	int64_t flag = 0;
	db_query_int(c, NULL, &flag, "SELECT immutable_tags FROM repositories WHERE id = ?",
		     "i", repo);
	if (flag)
		return 1;
	const char *slash = strchr(name, '/');
	if (!slash)
		return 0;
	char *project = xstrndup(name, (size_t)(slash - name));
	struct stmt *st;
	int hit = 0;
	if (db_query(c, &st, NULL,
		     "SELECT repo_pattern, tag_pattern FROM registry_tag_rules WHERE "
		     "project = ?",
		     "s", project) == 0) {
		while (!hit && db_step(st, NULL) == 1)
			hit = reg_glob(db_text(st, 0), slash + 1) &&
			      reg_glob(db_text(st, 1), tag);
		db_done(st);
	}
	free(project);
	return hit;
}

int reg_manifest_put(struct registry *rg, struct dbconn *c, const char *name,
		     const struct reg_manifest *m, const char *tag,
		     const char *pushed_by, char missing[72], struct err *e)
{
	struct ns ns;
	missing[0] = '\0';
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	int64_t repo, sz;
	if ((rc = ns_load(c, name, &ns, e)) || (rc = repo_ensure(c, name, &ns, &repo, e)))
		goto fail;
	for (int i = 0; i < m->nrefs; i++) {
		int ok = m->ref_is_manifest[i] ? manifest_exists(c, repo, m->refs[i], &sz)
					       : reg_blob_linked(c, repo, m->refs[i], &sz);
		if (!ok && !m->ref_is_manifest[i] && manifest_exists(c, repo, m->refs[i], &sz))
			ok = 1;
		if (!ok || (m->ref_sizes[i] >= 0 && sz != m->ref_sizes[i])) {
			snprintf(missing, 72, "sha256:%s", m->refs[i]);
			if (ok)
				rc = err_set(e, COVE_ECONFLICT,
					     "the manifest gives %s a size of %lld; it has %lld bytes",
					     missing, (long long)m->ref_sizes[i], (long long)sz);
			else
				rc = err_set(e, COVE_ENOENT, "%s is not in the repository", missing);
			goto fail;
		}
	}
	if (manifest_exists(c, repo, m->hex, &sz)) {
		/* pushed again: the collector's grace period starts anew */
		db_exec(c, NULL,
			"UPDATE manifests SET created_at = ? WHERE repo = ? AND sha256 = ?",
			"iis", time_now(), repo, m->hex);
	} else {
		if ((rc = quota_check(c, &ns, m->hex, m->size, e)))
			goto fail;
		if ((rc = db_exec(c, e,
				  "INSERT INTO manifests(repo, sha256, media_type, size, "
				  "subject, artifact_type, annotations, created_at) VALUES "
				  "(?, ?, ?, ?, ?, ?, ?, ?)",
				  "ississsi", repo, m->hex, m->media_type, m->size,
				  m->subject[0] ? m->subject : NULL, m->artifact_type,
				  m->annotations, time_now())) < 0 ||
		    (rc = files_blob_ref(c, m->hex, m->size, 1, e)) < 0)
			goto fail;
		for (int i = 0; i < m->nrefs; i++)
			if ((rc = db_exec(c, e,
					  "INSERT OR IGNORE INTO manifest_refs(repo, parent, "
					  "child, is_manifest) VALUES (?, ?, ?, ?)",
					  "issi", repo, m->hex, m->refs[i],
					  (int64_t)m->ref_is_manifest[i])) < 0)
				goto fail;
	}
	if (tag) {
		char old[65] = "";
		struct stmt *st;
		if ((rc = db_query(c, &st, e,
				   "SELECT sha256 FROM tags WHERE repo = ? AND name = ?", "is",
				   repo, tag)))
			goto fail;
		if (db_step(st, NULL) == 1)
			snprintf(old, sizeof(old), "%s", db_text(st, 0));
		db_done(st);
		if (old[0] && strcmp(old, m->hex) && reg_tag_immutable(c, name, repo, tag)) {
			rc = err_set(e, COVE_EPERM, "tag %s of %s is immutable", tag, name);
			goto fail;
		}
		if ((rc = db_exec(c, e,
				  "INSERT INTO tags(repo, name, sha256, updated_at, pushed_by) "
				  "VALUES (?, ?, ?, ?, ?) ON CONFLICT(repo, name) DO UPDATE SET "
				  "sha256 = excluded.sha256, updated_at = excluded.updated_at, "
				  "pushed_by = excluded.pushed_by",
				  "issis", repo, tag, m->hex, time_now_ms(), pushed_by)) < 0)
			goto fail;
	}
	db_exec(c, NULL, "UPDATE repositories SET updated_at = ? WHERE id = ?", "ii",
		time_now(), repo);
	if ((rc = db_commit(c, e)))
		return rc;
	if (!files_blob_present(rg->files, m->hex, NULL)) {
		/* collected between store and commit (grace period 0): undo */
		char dig[72];
		snprintf(dig, sizeof(dig), "sha256:%s", m->hex);
		reg_manifest_delete(c, NULL, name, dig, NULL);
		return err_set(e, COVE_ECONFLICT,
			       "the manifest was collected while it was stored; push again");
	}
	return 0;
fail:
	db_rollback(c);
	return rc;
}

int reg_manifest_find(struct dbconn *c, int64_t repo, const char *ref,
		      char hex[65], char **media_type, int64_t *size)
{
	struct stmt *st;
	int found = 0;
	char want[65];
	int rc;
	if (reg_digest_parse(ref, want))
		rc = db_query(c, &st, NULL,
			      "SELECT sha256, media_type, size FROM manifests WHERE repo = ? "
			      "AND sha256 = ?",
			      "is", repo, want);
	else
		rc = db_query(c, &st, NULL,
			      "SELECT m.sha256, m.media_type, m.size FROM tags t JOIN "
			      "manifests m ON m.repo = t.repo AND m.sha256 = t.sha256 "
			      "WHERE t.repo = ? AND t.name = ?",
			      "is", repo, ref);
	if (rc)
		return 0;
	if (db_step(st, NULL) == 1) {
		snprintf(hex, 65, "%s", db_text(st, 0));
		*media_type = xstrdup(db_text(st, 1));
		*size = db_int(st, 2);
		found = 1;
	}
	db_done(st);
	return found;
}

int reg_manifest_delete(struct dbconn *c, const struct actor *act,
			const char *name, const char *ref, struct err *e)
{
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	int64_t repo, size;
	char hex[65];
	if (!reg_repo_find(c, name, &repo)) {
		rc = err_set(e, COVE_ENOENT, "manifest unknown");
		goto fail;
	}
	if (!reg_digest_parse(ref, hex)) {
		/* a tag: remove the tag only */
		if (reg_tag_immutable(c, name, repo, ref)) {
			rc = err_set(e, COVE_EPERM, "tag %s of %s is immutable", ref, name);
			goto fail;
		}
		rc = db_exec(c, e, "DELETE FROM tags WHERE repo = ? AND name = ?", "is", repo,
			     ref);
		if (rc == 0)
			rc = err_set(e, COVE_ENOENT, "manifest unknown");
		if (rc < 0)
			goto fail;
		return db_commit(c, e);
	}
	if (!manifest_exists(c, repo, hex, &size)) {
		rc = err_set(e, COVE_ENOENT, "manifest unknown");
		goto fail;
	}
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT name FROM tags WHERE repo = ? AND sha256 = ?",
			   "is", repo, hex)))
		goto fail;
	while (db_step(st, NULL) == 1)
		if (reg_tag_immutable(c, name, repo, db_text(st, 0))) {
			rc = err_set(e, COVE_EPERM, "manifest is tagged %s, an immutable tag",
				     db_text(st, 0));
			break;
		}
	db_done(st);
	if (rc)
		goto fail;
	if ((rc = db_exec(c, e, "DELETE FROM tags WHERE repo = ? AND sha256 = ?", "is",
			  repo, hex)) < 0 ||
	    (rc = db_exec(c, e, "DELETE FROM manifest_refs WHERE repo = ? AND parent = ?",
			  "is", repo, hex)) < 0 ||
	    (rc = db_exec(c, e, "DELETE FROM manifests WHERE repo = ? AND sha256 = ?", "is",
			  repo, hex)) < 0 ||
	    (rc = files_blob_ref(c, hex, size, -1, e)) < 0)
		goto fail;
	return db_commit(c, e);
fail:
	db_rollback(c);
	return rc;
}

/* ---- repositories and tag rules for the /v1 API ---------------------------- */

static json_t *repo_json(struct stmt *st)
{
	/* columns: name, immutable_tags, created_at, updated_at, tags, manifests,
	 * size */
	const char *name = db_text(st, 0);
	const char *slash = strchr(name, '/');
	json_t *o = json_pack("{s:s,s:s%,s:b,s:I,s:I,s:I}", "name", name, "namespace", name,
			      slash ? (size_t)(slash - name) : strlen(name),
			      "immutable_tags", (int)db_int(st, 1), "tags",
			      (json_int_t)db_int(st, 4), "manifests", (json_int_t)db_int(st, 5),
			      "size", (json_int_t)db_int(st, 6));
	json_set_time(o, "created_at", db_int(st, 2));
	json_set_time(o, "updated_at", db_int(st, 3));
	return o;
}

#define REPO_COLS                                                               \
	"r.name, r.immutable_tags, r.created_at, r.updated_at, "                \
	"(SELECT count(*) FROM tags t WHERE t.repo = r.id), "                   \
	"(SELECT count(*) FROM manifests m WHERE m.repo = r.id), "              \
	"(SELECT coalesce(sum(size), 0) FROM (SELECT sha256, max(size) AS size " \
	"FROM (SELECT sha256, size FROM registry_blobs b WHERE b.repo = r.id "   \
	"UNION ALL SELECT sha256, size FROM manifests m WHERE m.repo = r.id) "   \
	"GROUP BY sha256))"

int reg_repos_list(struct dbconn *c, const struct principal *p,
		   const char *cursor, int limit, json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT " REPO_COLS " FROM repositories r WHERE r.name > ? "
			  "ORDER BY r.name",
			  "s", cursor ? cursor : "");
	if (rc)
		return rc;
	json_t *items = json_array();
	json_t *next = json_null();
	while ((rc = db_step(st, e)) == 1) {
		int ns;
		if (!(reg_allowed(c, p, db_text(st, 0), &ns) & ACT_PULL))
			continue;
		if ((int)json_array_size(items) >= limit) {
			json_decref(next);
			next = json_object_get(json_array_get(items, json_array_size(items) - 1),
					       "name");
			json_incref(next);
			break;
		}
		json_array_append_new(items, repo_json(st));
	}
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		json_decref(next);
		return rc;
	}
	*out = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
	return 0;
}

int reg_repo_get(struct dbconn *c, const struct principal *p, const char *name,
		 json_t **out, struct err *e)
{
	int ns;
	if (!reg_name_valid(name) || !(reg_allowed(c, p, name, &ns) & ACT_PULL))
		return err_set(e, COVE_ENOENT, "no repository %s that you may see", name);
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT " REPO_COLS " FROM repositories r WHERE r.name = ?", "s", name);
	if (rc)
		return rc;
	if ((rc = db_step(st, e)) == 1)
		*out = repo_json(st);
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no repository %s that you may see", name);
	return rc < 0 ? rc : 0;
}

int reg_repo_set_immutable(struct dbconn *c, const struct principal *p,
			   const char *name, int on, struct err *e)
{
	int ns;
	unsigned acts = reg_name_valid(name) ? reg_allowed(c, p, name, &ns) : 0;
	if (!(acts & ACT_PULL))
		return err_set(e, COVE_ENOENT, "no repository %s that you may see", name);
	if (!(acts & ACT_DELETE))
		return err_set(e, COVE_EPERM, "only maintainers change tag immutability");
	int rc = db_exec(c, e, "UPDATE repositories SET immutable_tags = ? WHERE name = ?",
			 "is", (int64_t)(on != 0), name);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no repository %s", name);
	auth_audit(c, &p->act, "registry.immutable", name, 1, on ? "on" : "off");
	return 0;
}

/* Members read a project's rules; owners, maintainers and admins change
 * them (reg_project_access). */
int reg_rules_list(struct dbconn *c, const struct actor *act, const char *project,
		   json_t **out, struct err *e)
{
	int rc = reg_project_access(c, act, project, 0, "tag rules", e);
	if (rc)
		return rc;
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT id, repo_pattern, tag_pattern, created_at FROM "
			   "registry_tag_rules WHERE project = ? ORDER BY id",
			   "s", project)))
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1) {
		json_t *o = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)db_int(st, 0),
				      "repository", db_text(st, 1), "tag", db_text(st, 2));
		json_set_time(o, "created_at", db_int(st, 3));
		json_array_append_new(items, o);
	}
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int reg_rules_add(struct dbconn *c, const struct actor *act, const char *project,
		  json_t *body, json_t **out, struct err *e)
{
	static const char *const fields[] = {"repository", "tag", NULL};
	const char *repo = "**", *tag = NULL;
	int rc;
	if ((rc = json_only_fields(body, fields, e)) ||
	    (rc = json_opt_str(body, "repository", &repo, e)) ||
	    (rc = json_req_str(body, "tag", &tag, e)))
		return rc;
	if (!repo)
		repo = "**";
	if (!reg_glob_ok(repo) || !reg_glob_ok(tag))
		return err_set(e, COVE_EINVAL,
			       "patterns are globs of letters, digits, . _ - / * ?");
	if ((rc = reg_project_access(c, act, project, 1, "tag rules", e)))
		return rc;
	int64_t now = time_now();
	if ((rc = db_exec(c, e,
			  "INSERT INTO registry_tag_rules(project, repo_pattern, tag_pattern, "
			  "created_at) VALUES (?, ?, ?, ?)",
			  "sssi", project, repo, tag, now)) < 0)
		return rc;
	int64_t id = db_last_id(c);
	char *target = xasprintf("%s %s:%s", project, repo, tag);
	auth_audit(c, act, "registry.tag_rule.create", target, 1, NULL);
	free(target);
	*out = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "repository", repo, "tag", tag);
	json_set_time(*out, "created_at", now);
	return 0;
}

int reg_rules_delete(struct dbconn *c, const struct actor *act,
		     const char *project, int64_t id, struct err *e)
{
	int rc = reg_project_access(c, act, project, 1, "tag rules", e);
	return rc ? rc
		  : reg_project_row_delete(c, act, project, "registry_tag_rules",
					   "tag rule", id, "registry.tag_rule.delete", e);
}

int registry_namespace_release(struct dbconn *c, const char *ns, struct err *e)
{
	static const char *const owned =
		"(project = ?1 OR owner_uid = (SELECT uid FROM users WHERE username = ?1))";
	char *sql = xasprintf(
		"SELECT name, (SELECT count(*) FROM manifests m WHERE m.repo = r.id) + "
		"(SELECT count(*) FROM registry_blobs b WHERE b.repo = r.id) FROM "
		"repositories r WHERE %s ORDER BY 2 DESC, name LIMIT 1",
		owned);
	struct stmt *st;
	int rc = db_query(c, &st, e, sql, "s", ns);
	free(sql);
	if (rc)
		return rc;
	char busy[REG_NAME_MAX + 1] = "";
	int64_t n = 0;
	if (db_step(st, NULL) == 1) {
		n = db_int(st, 1);
		snprintf(busy, sizeof(busy), "%s", db_text(st, 0));
	}
	db_done(st);
	if (n > 0)
		return err_set(e, COVE_ECONFLICT,
			       "%s still holds images (%s): delete them first", ns, busy);
	sql = xasprintf("DELETE FROM manifest_refs WHERE repo IN (SELECT id FROM "
			"repositories WHERE %s)", owned);
	rc = db_exec(c, e, sql, "s", ns);
	free(sql);
	if (rc < 0)
		return rc;
	sql = xasprintf("DELETE FROM repositories WHERE %s", owned);
	rc = db_exec(c, e, sql, "s", ns);
	free(sql);
	if (rc < 0)
		return rc;
	db_exec(c, NULL, "DELETE FROM registry_uploads WHERE repo_name LIKE ? || '/%'", "s", ns);
	return 0;
}

int reg_tags_list(struct dbconn *c, const struct principal *p, const char *name,
		  json_t **out, struct err *e)
{
	int ns;
	int64_t repo = 0;
	if (!reg_name_valid(name) || !(reg_allowed(c, p, name, &ns) & ACT_PULL) ||
	    !reg_repo_find(c, name, &repo))
		return err_set(e, COVE_ENOENT, "no repository %s that you may see", name);
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT t.name, t.sha256, t.updated_at, m.media_type, m.size + "
			  "coalesce((SELECT sum(b.size) FROM manifest_refs r JOIN "
			  "registry_blobs b ON b.repo = r.repo AND b.sha256 = r.child WHERE "
			  "r.repo = t.repo AND r.parent = t.sha256), 0), t.pushed_by FROM tags t JOIN "
			  "manifests m ON m.repo = t.repo AND m.sha256 = t.sha256 WHERE "
			  "t.repo = ? ORDER BY t.updated_at DESC, t.name DESC",
			  "i", repo);
	if (rc)
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1) {
		json_t *o = json_pack("{s:s,s:s+,s:s,s:I,s:b}", "tag", db_text(st, 0),
				      "digest", "sha256:", db_text(st, 1), "media_type",
				      db_text(st, 3), "size", (json_int_t)db_int(st, 4),
				      "immutable",
				      reg_tag_immutable(c, name, repo, db_text(st, 0)));
		json_set_time_ms(o, "pushed_at", db_int(st, 2));
		json_object_set_new(o, "pushed_by",
				    db_text(st, 5) ? json_string(db_text(st, 5)) : json_null());
		json_array_append_new(items, o);
	}
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:s,s:o}", "repository", name, "items", items);
	return 0;
}

int registry_overview(struct dbconn *c, json_t *out, struct err *e)
{
	int64_t repos = 0, bytes = 0;
	int rc;
	if ((rc = db_query_int(c, e, &repos, "SELECT count(*) FROM repositories", NULL)) < 0 ||
	    (rc = db_query_int(c, e, &bytes,
			       "SELECT value FROM counters WHERE name = 'registry_bytes'",
			       NULL)) < 0)
		return rc;
	json_object_set_new(out, "registry",
			    json_pack("{s:I,s:I}", "repositories", (json_int_t)repos, "bytes",
				      (json_int_t)bytes));
	return 0;
}
