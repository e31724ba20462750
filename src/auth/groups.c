/*
 * groups.c - Unix groups: user-private groups (made with their user),
 * project groups (made with their project) and plain groups the admin
 * manages; membership, rename, deletion, listing and group-format import
 * and export. SQL lives here; no HTTP.
 */
#include "auth/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int groups_find(struct dbconn *c, const char *name, int64_t *gid,
		char kind[16], struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT gid, kind FROM groups WHERE name = ?",
			  "s", name);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1) {
		*gid = db_int(st, 0);
		if (kind)
			snprintf(kind, 16, "%s", db_text(st, 1));
	}
	db_done(st);
	return rc;
}

json_t *groups_json(struct dbconn *c, int64_t gid, struct err *e)
{
	struct stmt *st;
	if (db_query(c, &st, e, "SELECT gid, name, kind FROM groups WHERE gid = ?",
		     "i", gid))
		return NULL;
	int rc = db_step(st, e);
	if (rc <= 0) {
		db_done(st);
		if (rc == 0)
			err_set(e, COVE_ENOENT, "no such group");
		return NULL;
	}
	json_t *o = json_pack("{s:I,s:s,s:s}", "gid", (json_int_t)db_int(st, 0),
			      "name", db_text(st, 1), "kind", db_text(st, 2));
	db_done(st);
	json_t *members = json_array();
	if (db_query(c, &st, e,
		     "SELECT u.username FROM group_members m JOIN users u ON "
		     "u.uid = m.uid WHERE m.gid = ? ORDER BY u.username",
		     "i", gid) == 0) {
		while (db_step(st, e) == 1)
			json_array_append_new(members, json_string(db_text(st, 0)));
		db_done(st);
	}
	json_object_set_new(o, "members", members);
	return o;
}

/* Caller holds a transaction. */
static int add_members(struct dbconn *c, int64_t gid, json_t *members,
		       struct err *e)
{
	size_t i;
	json_t *m;
	json_array_foreach(members, i, m)
	{
		if (!json_is_string(m))
			return err_set(e, COVE_EINVAL, "members must be usernames");
		int64_t uid;
		int rc = users_find(c, json_string_value(m), &uid, e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return err_set(e, COVE_ENOENT, "no such user '%.64s'",
				       json_string_value(m));
		if ((rc = db_exec(c, e,
				  "INSERT OR IGNORE INTO group_members(gid, uid) "
				  "VALUES (?, ?)",
				  "ii", gid, uid)) < 0)
			return rc;
	}
	return 0;
}

int groups_create(struct dbconn *c, const char *name, int64_t gid,
		  json_t *members, int64_t *out_gid, struct err *e)
{
	int rc = auth_username_check(name, 0, e);
	if (rc)
		return rc;
	if (members && !json_is_array(members))
		return err_set(e, COVE_EINVAL, "members must be a list of usernames");
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
	if (!gid && (gid = ids_next(c, e)) < 0) {
		rc = (int)gid;
		goto rollback;
	}
	rc = db_exec(c, e, "INSERT INTO groups(gid, name, kind, created_at) "
			   "VALUES (?, ?, 'group', ?)",
		     "isi", gid, name, time_now());
	if (rc < 0) {
		if (rc == COVE_EEXIST)
			err_set(e, COVE_EEXIST, "gid %lld is already in use", (long long)gid);
		goto rollback;
	}
	if (members && (rc = add_members(c, gid, members, e)))
		goto rollback;
	if ((rc = db_commit(c, e)))
		return rc;
	*out_gid = gid;
	return 0;
rollback:
	db_rollback(c);
	return rc;
}

int groups_rename(struct dbconn *c, int64_t gid, const char *name,
		  struct err *e)
{
	int rc = auth_username_check(name, 0, e);
	if (rc)
		return rc;
	if ((rc = db_begin(c, e)))
		return rc;
	char kind[16] = "";
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT kind FROM groups WHERE gid = ?", "i",
			   gid)))
		goto rollback;
	if (db_step(st, e) == 1)
		snprintf(kind, sizeof(kind), "%s", db_text(st, 0));
	db_done(st);
	if (!kind[0]) {
		rc = err_set(e, COVE_ENOENT, "no such group");
		goto rollback;
	}
	if (strcmp(kind, "group")) {
		rc = err_set(e, COVE_ECONFLICT, "a %s group is renamed with its %s",
			     kind, kind);
		goto rollback;
	}
	int64_t found;
	if ((rc = db_query_int(c, e, &found, "SELECT 1 FROM users WHERE username = ?",
			       "s", name)) != 0) {
		if (rc > 0)
			rc = err_set(e, COVE_EEXIST, "the name '%s' is already taken", name);
		goto rollback;
	}
	rc = db_exec(c, e, "UPDATE groups SET name = ? WHERE gid = ?", "si", name, gid);
	if (rc < 0) {
		if (rc == COVE_EEXIST)
			err_set(e, COVE_EEXIST, "the name '%s' is already taken", name);
		goto rollback;
	}
	return db_commit(c, e);
rollback:
	db_rollback(c);
	return rc;
}

int groups_delete(struct dbconn *c, int64_t gid, struct err *e)
{
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	char kind[16] = "";
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT kind FROM groups WHERE gid = ?", "i",
			   gid)))
		goto rollback;
	if (db_step(st, e) == 1)
		snprintf(kind, sizeof(kind), "%s", db_text(st, 0));
	db_done(st);
	if (!kind[0]) {
		rc = err_set(e, COVE_ENOENT, "no such group");
		goto rollback;
	}
	if (strcmp(kind, "group")) {
		rc = err_set(e, COVE_ECONFLICT,
			     "a %s group goes away with its %s, not on its own", kind,
			     kind);
		goto rollback;
	}
	int64_t n = 0;
	if ((rc = db_query_int(c, e, &n, "SELECT count(*) FROM users WHERE gid = ?",
			       "i", gid)) < 0)
		goto rollback;
	if (n > 0) {
		rc = err_set(e, COVE_ECONFLICT, "group is the primary group of %lld users",
			     (long long)n);
		goto rollback;
	}
	if ((rc = db_exec(c, e, "DELETE FROM groups WHERE gid = ?", "i", gid)) < 0)
		goto rollback;
	return db_commit(c, e);
rollback:
	db_rollback(c);
	return rc;
}

int groups_member(struct dbconn *c, int64_t gid, int64_t uid, int add,
		  struct err *e)
{
	char kind[16] = "";
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT kind FROM groups WHERE gid = ?", "i", gid);
	if (rc)
		return rc;
	if (db_step(st, e) == 1)
		snprintf(kind, sizeof(kind), "%s", db_text(st, 0));
	db_done(st);
	if (!strcmp(kind, "project"))
		return err_set(e, COVE_ECONFLICT,
			       "members of a project group are managed through the project");
	if (add)
		rc = db_exec(c, e,
			     "INSERT OR IGNORE INTO group_members(gid, uid) VALUES (?, ?)",
			     "ii", gid, uid);
	else
		rc = db_exec(c, e, "DELETE FROM group_members WHERE gid = ? AND uid = ?",
			     "ii", gid, uid);
	if (rc == 0 && !add)
		return err_set(e, COVE_ENOENT, "user is not a member of the group");
	return rc < 0 ? rc : 0;
}

int groups_list(struct dbconn *c, const char *cursor, int limit, json_t **out,
		struct err *e)
{
	int64_t after = 0;
	if (cursor) {
		char *end;
		after = strtoll(cursor, &end, 10);
		if (!*cursor || *end)
			return err_set(e, COVE_EINVAL, "invalid cursor");
	}
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT gid FROM groups WHERE gid > ? ORDER BY gid LIMIT ?",
			  "ii", after, (int64_t)limit + 1);
	if (rc)
		return rc;
	int64_t *gids = xmalloc(sizeof(int64_t) * ((size_t)limit + 1));
	int n = 0;
	while ((rc = db_step(st, e)) == 1)
		gids[n++] = db_int(st, 0);
	db_done(st);
	if (rc < 0) {
		free(gids);
		return rc;
	}
	json_t *items = json_array();
	for (int i = 0; i < n && i < limit; i++) {
		json_t *g = groups_json(c, gids[i], NULL);
		if (g)
			json_array_append_new(items, g);
	}
	json_t *next = json_null();
	if (n > limit) {
		char cur[32];
		snprintf(cur, sizeof(cur), "%lld", (long long)gids[limit - 1]);
		next = json_string(cur);
	}
	free(gids);
	*out = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
	return 0;
}

int groups_export(struct dbconn *c, struct buf *out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT g.name, g.gid, coalesce((SELECT group_concat(name, ',') "
			  "FROM (SELECT u.username AS name FROM group_members m JOIN "
			  "users u ON u.uid = m.uid WHERE m.gid = g.gid ORDER BY "
			  "u.username)), '') FROM groups g ORDER BY g.gid",
			  NULL);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == 1)
		buf_addf(out, "%s:x:%lld:%s\n", db_text(st, 0), (long long)db_int(st, 1),
			 db_text(st, 2));
	db_done(st);
	return rc < 0 ? rc : 0;
}

int groups_import(struct dbconn *c, const char *text, json_t **report,
		  struct err *e)
{
	json_t *created = json_array(), *skipped = json_array();
	char *copy = xstrdup(text);
	char *save = NULL;
	int lineno = 0;
	for (char *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		char *orig = xstrdup(line);
		char *f[4] = {0};
		int nf = 0;
		f[nf++] = line;
		for (char *p = line; *p && nf < 4; p++)
			if (*p == ':') {
				*p = '\0';
				f[nf++] = p + 1;
			}
		struct err le = {0};
		const char *reason = NULL;
		char *end = NULL;
		long long gid = nf == 4 ? strtoll(f[2], &end, 10) : -1;
		if (nf != 4 || !*f[2] || *end || gid < 0) {
			reason = "not a group line (name:x:gid:members)";
		} else if (gid < AUTH_UID_MIN) {
			reason = "system group (gid below 1000)";
		} else {
			json_t *members = json_array();
			char *msave = NULL;
			for (char *m = strtok_r(f[3], ",", &msave); m;
			     m = strtok_r(NULL, ",", &msave))
				json_array_append_new(members, json_string(m));
			int64_t got;
			if (groups_create(c, f[0], gid, members, &got, &le) == 0)
				json_array_append_new(created, json_string(f[0]));
			else
				reason = le.msg;
			json_decref(members);
		}
		if (reason)
			json_array_append_new(skipped,
					      json_pack("{s:i,s:s,s:s}", "line", lineno,
							"text", orig, "reason", reason));
		free(orig);
	}
	free(copy);
	*report = json_pack("{s:o,s:o}", "created", created, "skipped", skipped);
	(void)e;
	return 0;
}
