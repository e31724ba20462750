/*
 * projects.c - projects (tenants): a group of the same name whose members
 * are the project's members, roles owner/maintainer/developer/guest, and
 * quotas (stored here, enforced by the capabilities that consume them).
 * A project always keeps at least one owner. SQL lives here; no HTTP.
 */
#include "auth/internal.h"

#include <stdlib.h>
#include <string.h>

static int role_valid(const char *r)
{
	return r && (!strcmp(r, "owner") || !strcmp(r, "maintainer") ||
		     !strcmp(r, "developer") || !strcmp(r, "guest"));
}

static int quota_parse(json_t *q, int64_t v[4], int set[4], struct err *e)
{
	static const char *const keys[] = {"storage_bytes", "jobs", "cpu",
					   "memory_bytes", NULL};
	int rc = json_only_fields(q, keys, e);
	if (rc)
		return err_set(e, COVE_EINVAL, "quota: %s", e->msg);
	for (int i = 0; i < 4; i++) {
		if ((rc = json_opt_int(q, keys[i], &v[i], &set[i], e)))
			return rc;
		if (set[i] && v[i] < 0)
			return err_set(e, COVE_EINVAL, "quota %s must not be negative",
				       keys[i]);
	}
	return 0;
}

int projects_role(struct dbconn *c, const char *name, int64_t uid,
		  char role[16], struct err *e)
{
	struct stmt *st;
	role[0] = '\0';
	int rc = db_query(c, &st, e,
			  "SELECT (SELECT role FROM project_members WHERE project = "
			  "p.name AND uid = ?) FROM projects p WHERE p.name = ?",
			  "is", uid, name);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1 && db_text(st, 0))
		snprintf(role, 16, "%s", db_text(st, 0));
	db_done(st);
	return rc;
}

json_t *projects_members(struct dbconn *c, const char *name, struct err *e)
{
	struct stmt *st;
	if (db_query(c, &st, e,
		     "SELECT u.username, m.role FROM project_members m JOIN users u "
		     "ON u.uid = m.uid WHERE m.project = ? ORDER BY "
		     "CASE m.role WHEN 'owner' THEN 0 WHEN 'maintainer' THEN 1 "
		     "WHEN 'developer' THEN 2 ELSE 3 END, u.username",
		     "s", name))
		return NULL;
	json_t *a = json_array();
	while (db_step(st, e) == 1)
		json_array_append_new(a, json_pack("{s:s,s:s}", "username",
						   db_text(st, 0), "role",
						   db_text(st, 1)));
	db_done(st);
	return a;
}

json_t *projects_json(struct dbconn *c, const char *name, struct err *e)
{
	struct stmt *st;
	if (db_query(c, &st, e,
		     "SELECT name, gid, description, created_at, quota_storage_bytes, "
		     "quota_jobs, quota_cpu, quota_memory_bytes FROM projects "
		     "WHERE name = ?",
		     "s", name))
		return NULL;
	int rc = db_step(st, e);
	if (rc <= 0) {
		db_done(st);
		if (rc == 0)
			err_set(e, COVE_ENOENT, "no such project");
		return NULL;
	}
	json_t *o = json_pack(
		"{s:s,s:I,s:s,s:{s:I,s:I,s:I,s:I}}", "name", db_text(st, 0), "gid",
		(json_int_t)db_int(st, 1), "description", db_text(st, 2), "quota",
		"storage_bytes", (json_int_t)db_int(st, 4), "jobs",
		(json_int_t)db_int(st, 5), "cpu", (json_int_t)db_int(st, 6),
		"memory_bytes", (json_int_t)db_int(st, 7));
	json_set_time(o, "created_at", db_int(st, 3));
	db_done(st);
	json_t *m = projects_members(c, name, e);
	json_object_set_new(o, "members", m ? m : json_array());
	return o;
}

json_t *projects_of_user(struct dbconn *c, int64_t uid)
{
	struct stmt *st;
	json_t *a = json_array();
	if (db_query(c, &st, NULL,
		     "SELECT project, role FROM project_members WHERE uid = ? "
		     "ORDER BY project",
		     "i", uid))
		return a;
	while (db_step(st, NULL) == 1)
		json_array_append_new(a, json_pack("{s:s,s:s}", "name", db_text(st, 0),
						   "role", db_text(st, 1)));
	db_done(st);
	return a;
}

static int description_check(const char *d, struct err *e)
{
	if (strlen(d) > 1024 || !utf8_valid(d, strlen(d)))
		return err_set(e, COVE_EINVAL,
			       "description must be valid UTF-8 of at most 1024 bytes");
	return 0;
}

int64_t projects_insert(struct auth *a, struct dbconn *c, const char *name,
			const char *desc, const int64_t quota[4], struct err *e)
{
	int64_t gid = ids_next(c, e);
	if (gid < 0)
		return gid;
	int64_t now = time_now();
	int rc;
	if ((rc = db_exec(c, e, "INSERT INTO groups(gid, name, kind, created_at) "
				"VALUES (?, ?, 'project', ?)",
			  "isi", gid, name, now)) < 0 ||
	    (rc = db_exec(c, e,
			  "INSERT INTO projects(name, gid, description, created_at, "
			  "quota_storage_bytes, quota_jobs, quota_cpu, "
			  "quota_memory_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			  "sisiiiii", name, gid, desc, now, quota[0], quota[1], quota[2],
			  quota[3])) < 0)
		return rc;
	if (a->hooks.project_created &&
	    (rc = a->hooks.project_created(a->hooks.ctx, c, name, gid, e)))
		return rc;
	return gid;
}

int projects_create(struct auth *a, struct dbconn *c, const struct actor *act,
		    json_t *body, json_t **out, struct err *e)
{
	static const char *const fields[] = {"name", "description", "quota", NULL};
	const char *name, *desc;
	int64_t q[4] = {0, 0, 0, 0};
	int qset[4] = {0, 0, 0, 0};
	int rc;
	if ((rc = json_only_fields(body, fields, e)) ||
	    (rc = json_req_str(body, "name", &name, e)) ||
	    (rc = json_opt_str(body, "description", &desc, e)))
		return rc;
	if ((rc = auth_username_check(name, 0, e)))
		return err_set(e, COVE_EINVAL, "project %s", e->msg);
	if (desc && (rc = description_check(desc, e)))
		return rc;
	json_t *quota = json_object_get(body, "quota");
	if (quota && !json_is_null(quota)) {
		if (!act->admin)
			return err_set(e, COVE_EPERM,
				       "permission denied: only administrators set quotas");
		if ((rc = quota_parse(quota, q, qset, e)))
			return rc;
	}
	if ((rc = db_begin(c, e)))
		return rc;
	int64_t found;
	if ((rc = db_query_int(c, e, &found,
			       "SELECT 1 FROM groups WHERE name = ? UNION ALL "
			       "SELECT 1 FROM users WHERE username = ?",
			       "ss", name, name)) != 0) {
		if (rc > 0)
			rc = err_set(e, COVE_EEXIST, "the name '%s' is already taken", name);
		goto rollback;
	}
	int64_t gid;
	if ((gid = projects_insert(a, c, name, desc ? desc : "", q, e)) < 0) {
		rc = (int)gid;
		goto rollback;
	}
	int64_t now = time_now();
	if ((rc = db_exec(c, e,
			  "INSERT INTO project_members(project, uid, role, added_at) "
			  "VALUES (?, ?, 'owner', ?)",
			  "sii", name, act->uid, now)) < 0 ||
	    (rc = db_exec(c, e, "INSERT INTO group_members(gid, uid) VALUES (?, ?)",
			  "ii", gid, act->uid)) < 0)
		goto rollback;
	if ((rc = db_commit(c, e)))
		return rc;
	*out = projects_json(c, name, e);
	return *out ? 0 : e->code;
rollback:
	db_rollback(c);
	return rc;
}

int projects_update(struct dbconn *c, const struct actor *act,
		    const char *name, json_t *body, struct err *e)
{
	static const char *const fields[] = {"description", "quota", NULL};
	const char *desc;
	int64_t q[4] = {0, 0, 0, 0};
	int qset[4] = {0, 0, 0, 0};
	int rc;
	if ((rc = json_only_fields(body, fields, e)) ||
	    (rc = json_opt_str(body, "description", &desc, e)))
		return rc;
	if (desc && (rc = description_check(desc, e)))
		return rc;
	json_t *quota = json_object_get(body, "quota");
	if (quota && !json_is_null(quota)) {
		if (!act->admin)
			return err_set(e, COVE_EPERM,
				       "permission denied: only administrators change quotas");
		if ((rc = quota_parse(quota, q, qset, e)))
			return rc;
	}
	if ((rc = db_begin(c, e)))
		return rc;
	if (desc && (rc = db_exec(c, e, "UPDATE projects SET description = ? WHERE name = ?",
				  "ss", desc, name)) < 0)
		goto rollback;
	static const char *const sql[] = {
		"UPDATE projects SET quota_storage_bytes = ? WHERE name = ?",
		"UPDATE projects SET quota_jobs = ? WHERE name = ?",
		"UPDATE projects SET quota_cpu = ? WHERE name = ?",
		"UPDATE projects SET quota_memory_bytes = ? WHERE name = ?",
	};
	for (int i = 0; i < 4; i++)
		if (qset[i] && (rc = db_exec(c, e, sql[i], "is", q[i], name)) < 0)
			goto rollback;
	return db_commit(c, e);
rollback:
	db_rollback(c);
	return rc;
}

int projects_delete(struct auth *a, struct dbconn *c, const char *name,
		    struct err *e)
{
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	int64_t gid = 0;
	if ((rc = db_query_int(c, e, &gid, "SELECT gid FROM projects WHERE name = ?",
			       "s", name)) <= 0) {
		if (rc == 0)
			rc = err_set(e, COVE_ENOENT, "no such project");
		goto rollback;
	}
	if (a->hooks.project_deleted &&
	    (rc = a->hooks.project_deleted(a->hooks.ctx, c, name, e)))
		goto rollback;
	if ((rc = db_exec(c, e, "DELETE FROM projects WHERE name = ?", "s", name)) < 0 ||
	    (rc = db_exec(c, e, "DELETE FROM groups WHERE gid = ?", "i", gid)) < 0)
		goto rollback;
	return db_commit(c, e);
rollback:
	db_rollback(c);
	return rc;
}

int projects_list(struct dbconn *c, const struct actor *act, const char *cursor,
		  int limit, json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT p.name FROM projects p WHERE p.name > ? AND "
			  "(? OR EXISTS (SELECT 1 FROM project_members m WHERE "
			  "m.project = p.name AND m.uid = ?)) ORDER BY p.name LIMIT ?",
			  "siii", cursor ? cursor : "", (int64_t)act->admin, act->uid,
			  (int64_t)limit + 1);
	if (rc)
		return rc;
	json_t *names = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(names, json_string(db_text(st, 0)));
	db_done(st);
	if (rc < 0) {
		json_decref(names);
		return rc;
	}
	json_t *items = json_array();
	json_t *next = json_null();
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n)
	{
		if ((int)i == limit) {
			next = json_string(json_string_value(
				json_array_get(names, (size_t)limit - 1)));
			break;
		}
		json_t *p = projects_json(c, json_string_value(n), NULL);
		if (p)
			json_array_append_new(items, p);
	}
	json_decref(names);
	*out = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
	return 0;
}

int projects_set_member(struct dbconn *c, const char *name, int64_t uid,
			const char *role, struct err *e)
{
	if (!role_valid(role))
		return err_set(e, COVE_EINVAL,
			       "role must be owner, maintainer, developer or guest");
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	int64_t gid = 0;
	if ((rc = db_query_int(c, e, &gid, "SELECT gid FROM projects WHERE name = ?",
			       "s", name)) <= 0) {
		if (rc == 0)
			rc = err_set(e, COVE_ENOENT, "no such project");
		goto rollback;
	}
	int64_t owners = 0, is_owner = 0;
	db_query_int(c, e, &owners,
		     "SELECT count(*) FROM project_members WHERE project = ? AND "
		     "role = 'owner'",
		     "s", name);
	db_query_int(c, e, &is_owner,
		     "SELECT count(*) FROM project_members WHERE project = ? AND "
		     "uid = ? AND role = 'owner'",
		     "si", name, uid);
	if (is_owner && owners == 1 && strcmp(role, "owner")) {
		rc = err_set(e, COVE_ECONFLICT,
			     "a project needs an owner: make someone else owner first");
		goto rollback;
	}
	if ((rc = db_exec(c, e,
			  "INSERT INTO project_members(project, uid, role, added_at) "
			  "VALUES (?, ?, ?, ?) ON CONFLICT(project, uid) DO UPDATE "
			  "SET role = excluded.role",
			  "sisi", name, uid, role, time_now())) < 0 ||
	    (rc = db_exec(c, e,
			  "INSERT OR IGNORE INTO group_members(gid, uid) VALUES (?, ?)",
			  "ii", gid, uid)) < 0)
		goto rollback;
	return db_commit(c, e);
rollback:
	db_rollback(c);
	return rc;
}

int projects_remove_member(struct dbconn *c, const char *name, int64_t uid,
			   struct err *e)
{
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	char role[16] = "";
	if ((rc = projects_role(c, name, uid, role, e)) <= 0) {
		if (rc == 0)
			rc = err_set(e, COVE_ENOENT, "no such project");
		goto rollback;
	}
	if (!role[0]) {
		rc = err_set(e, COVE_ENOENT, "user is not a member of the project");
		goto rollback;
	}
	int64_t owners = 0;
	db_query_int(c, e, &owners,
		     "SELECT count(*) FROM project_members WHERE project = ? AND "
		     "role = 'owner'",
		     "s", name);
	if (!strcmp(role, "owner") && owners == 1) {
		rc = err_set(e, COVE_ECONFLICT,
			     "cannot remove the last owner of a project");
		goto rollback;
	}
	if ((rc = db_exec(c, e,
			  "DELETE FROM project_members WHERE project = ? AND uid = ?",
			  "si", name, uid)) < 0 ||
	    (rc = db_exec(c, e,
			  "DELETE FROM group_members WHERE uid = ? AND gid = "
			  "(SELECT gid FROM projects WHERE name = ?)",
			  "is", uid, name)) < 0)
		goto rollback;
	return db_commit(c, e);
rollback:
	db_rollback(c);
	return rc;
}
