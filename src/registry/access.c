/*
 * access.c - who may do what in the registry: actions by project role and
 * personal namespace, registry tokens (scoped JWTs signed by the server's
 * keyring, audience "cove-registry", granted = asked ∩ allowed) and robot
 * accounts (per project, secret stored as a SHA-256 hash, shown once).
 * Every decision is made again from the database on each request; a
 * token only narrows it.
 */
#include "registry/internal.h"

#include <stdlib.h>
#include <string.h>

unsigned reg_role_actions(const char *role)
{
	if (!strcmp(role, "owner") || !strcmp(role, "maintainer"))
		return ACT_PULL | ACT_PUSH | ACT_DELETE;
	if (!strcmp(role, "developer"))
		return ACT_PULL | ACT_PUSH;
	if (!strcmp(role, "guest"))
		return ACT_PULL;
	return 0;
}

/* The namespace of name: its first component. */
static void ns_of(const char *name, char out[AUTH_NAME_MAX + 1])
{
	const char *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : strlen(name);
	if (n > AUTH_NAME_MAX)
		n = 0; /* no such namespace can exist */
	memcpy(out, name, n);
	out[n] = '\0';
}

unsigned reg_allowed(struct dbconn *c, const struct principal *p,
		     const char *name, int *ns)
{
	char nsname[AUTH_NAME_MAX + 1];
	ns_of(name, nsname);
	*ns = 0;
	if (!nsname[0])
		return 0;
	char role[16] = "";
	int is_project = auth_project_role(c, nsname, p->kind == PR_USER ? p->uid : -1,
					   role, NULL) == 1;
	unsigned acts = 0;
	if (is_project) {
		*ns = 1;
		if (p->kind == PR_USER)
			acts = p->admin ? ACT_PULL | ACT_PUSH | ACT_DELETE
					: reg_role_actions(role);
		else if (p->kind == PR_ROBOT && !strcmp(p->project, nsname))
			acts = p->robot_actions;
	} else {
		int64_t uid = 0;
		if (db_query_int(c, NULL, &uid, "SELECT uid FROM users WHERE username = ?",
				 "s", nsname) == 1) {
			*ns = 1;
			if (p->kind == PR_USER && (p->admin || p->uid == uid))
				acts = ACT_PULL | ACT_PUSH | ACT_DELETE;
		}
	}
	if (p->kind == PR_USER) {
		if (!(p->scopes & SCOPE_WRITE))
			acts &= ACT_PULL;
		if (!(p->scopes & SCOPE_READ))
			acts = 0;
	}
	return acts;
}

static unsigned actions_parse(const char *s)
{
	unsigned v = 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "pull"))
			v |= ACT_PULL;
		else if (!strcmp(t, "push"))
			v |= ACT_PUSH;
		else if (!strcmp(t, "delete"))
			v |= ACT_DELETE;
		else if (!strcmp(t, "*"))
			v |= ACT_PULL | ACT_PUSH | ACT_DELETE;
	}
	return v;
}

static json_t *actions_json(unsigned a)
{
	json_t *arr = json_array();
	if (a & ACT_PULL)
		json_array_append_new(arr, json_string("pull"));
	if (a & ACT_PUSH)
		json_array_append_new(arr, json_string("push"));
	if (a & ACT_DELETE)
		json_array_append_new(arr, json_string("delete"));
	return arr;
}

unsigned reg_token_grants(const struct principal *p, const char *type,
			  const char *name)
{
	if (!p->access)
		return ACT_PULL | ACT_PUSH | ACT_DELETE;
	size_t i;
	json_t *v;
	unsigned acts = 0;
	json_array_foreach(p->access, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		const char *n = json_string_value(json_object_get(v, "name"));
		json_t *a = json_object_get(v, "actions");
		if (!t || !n || strcmp(t, type) || strcmp(n, name) || !json_is_array(a))
			continue;
		size_t j;
		json_t *x;
		json_array_foreach(a, j, x) {
			const char *s = json_string_value(x);
			if (s)
				acts |= actions_parse(s);
		}
	}
	return acts;
}

void reg_principal_key(const struct principal *p, char out[40])
{
	if (p->kind == PR_ROBOT)
		snprintf(out, 40, "r:%lld", (long long)p->robot_id);
	else
		snprintf(out, 40, "u:%lld", (long long)p->uid);
}

/* ---- robots ---------------------------------------------------------------- */

int reg_robot_login(struct dbconn *c, const char *login, const char *secret,
		    struct principal *p, struct err *e)
{
	const char *plus = strchr(login, '+');
	if (!plus || !str_has_prefix(secret, ROBOT_PREFIX) || strlen(secret) > 256)
		return err_set(e, COVE_EAUTH, "invalid robot name or secret");
	char hash[65];
	sha256_hex(secret, strlen(secret), hash);
	size_t plen = (size_t)(plus - login);
	char project[AUTH_NAME_MAX + 1];
	if (plen == 0 || plen > AUTH_NAME_MAX)
		return err_set(e, COVE_EAUTH, "invalid robot name or secret");
	memcpy(project, login, plen);
	project[plen] = '\0';
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT id, role, expires_at, last_used_at FROM robots WHERE "
			  "project = ? AND name = ? AND secret_hash = ?",
			  "sss", project, plus + 1, hash);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc != 1) {
		db_done(st);
		return rc < 0 ? rc : err_set(e, COVE_EAUTH, "invalid robot name or secret");
	}
	int64_t exp = db_int(st, 2), last = db_int(st, 3), now = time_now();
	p->kind = PR_ROBOT;
	p->robot_id = db_int(st, 0);
	p->robot_actions = reg_role_actions(db_text(st, 1));
	db_done(st);
	if (exp && exp <= now)
		return err_set(e, COVE_EAUTH, "robot account has expired");
	snprintf(p->project, sizeof(p->project), "%s", project);
	snprintf(p->name, sizeof(p->name), "%s", login);
	snprintf(p->act.username, sizeof(p->act.username), "%.32s", login);
	p->act.authenticated = 1;
	if (now - last >= 60)
		db_exec(c, NULL, "UPDATE robots SET last_used_at = ? WHERE id = ?", "ii",
			now, p->robot_id);
	return 0;
}

int reg_principal_from_claims(struct dbconn *c, json_t *claims,
			      struct principal *p, struct err *e)
{
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	json_int_t uid = json_integer_value(json_object_get(claims, "uid"));
	json_int_t rid = json_integer_value(json_object_get(claims, "robot"));
	json_t *access = json_object_get(claims, "access");
	if (!sub || !json_is_array(access))
		return err_set(e, COVE_EAUTH, "invalid registry token");
	if (rid) {
		struct stmt *st;
		int rc = db_query(c, &st, e,
				  "SELECT project, role, expires_at FROM robots WHERE id = ?",
				  "i", (int64_t)rid);
		if (rc)
			return rc;
		if ((rc = db_step(st, e)) != 1) {
			db_done(st);
			return rc < 0 ? rc : err_set(e, COVE_EAUTH, "robot account was deleted");
		}
		p->kind = PR_ROBOT;
		p->robot_id = rid;
		snprintf(p->project, sizeof(p->project), "%s", db_text(st, 0));
		p->robot_actions = reg_role_actions(db_text(st, 1));
		db_done(st);
	} else if (uid) {
		char state[16] = "";
		struct stmt *st;
		int rc = db_query(c, &st, e, "SELECT state FROM users WHERE uid = ?", "i",
				  (int64_t)uid);
		if (rc)
			return rc;
		if (db_step(st, NULL) == 1)
			snprintf(state, sizeof(state), "%s", db_text(st, 0));
		db_done(st);
		if (strcmp(state, "active"))
			return err_set(e, COVE_EAUTH, "account is not active");
		p->kind = PR_USER;
		p->uid = uid;
		p->admin = auth_user_is_admin(c, uid);
		p->scopes = (unsigned)json_integer_value(json_object_get(claims, "scopes"));
	} else {
		p->kind = PR_ANON;
	}
	snprintf(p->name, sizeof(p->name), "%s", sub);
	snprintf(p->act.username, sizeof(p->act.username), "%.32s", sub);
	p->act.authenticated = p->kind != PR_ANON;
	p->act.uid = p->uid;
	p->access = json_incref(access);
	return 0;
}

int reg_token_issue(struct registry *rg, struct dbconn *c,
		    const struct principal *p, json_t *scopes, json_t **out,
		    struct err *e)
{
	json_t *access = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(scopes, i, v) {
		const char *s = json_string_value(v);
		if (!s)
			continue;
		/* type:name:actions, where name may hold ':' only in a port */
		const char *c1 = strchr(s, ':');
		const char *c2 = strrchr(s, ':');
		if (!c1 || c1 == c2)
			continue;
		char *type = xstrndup(s, (size_t)(c1 - s));
		char *name = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
		unsigned want = actions_parse(c2 + 1);
		if (!strcmp(type, "repository") && reg_name_valid(name)) {
			int ns;
			unsigned got = want & reg_allowed(c, p, name, &ns);
			json_array_append_new(access,
					      json_pack("{s:s,s:s,s:o}", "type", type, "name",
							name, "actions", actions_json(got)));
		} else if (!strcmp(type, "registry") && !strcmp(name, "catalog") &&
			   p->kind != PR_ANON) {
			json_array_append_new(access,
					      json_pack("{s:s,s:s,s:[s]}", "type", type, "name",
							name, "actions", "*"));
		}
		free(type);
		free(name);
	}
	int64_t now = time_now(), ttl = auth_token_ttl(rg->auth);
	char jti[27];
	id_new(jti);
	json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:O}", "aud", REG_AUDIENCE,
				   "sub", p->kind == PR_ANON ? "anonymous" : p->name,
				   "jti", jti, "iat", (json_int_t)now, "nbf",
				   (json_int_t)now, "exp", (json_int_t)(now + ttl),
				   "access", access);
	if (p->kind == PR_USER) {
		json_object_set_new(claims, "uid", json_integer(p->uid));
		json_object_set_new(claims, "scopes", json_integer(p->scopes));
	} else if (p->kind == PR_ROBOT) {
		json_object_set_new(claims, "robot", json_integer(p->robot_id));
	}
	char *jwt = NULL;
	int rc = auth_sign(rg->auth, claims, &jwt, e);
	json_decref(claims);
	if (rc) {
		json_decref(access);
		return rc;
	}
	char issued[32];
	time_format(now, issued);
	*out = json_pack("{s:s,s:s,s:I,s:s}", "token", jwt, "access_token", jwt,
			 "expires_in", (json_int_t)ttl, "issued_at", issued);
	if (p->kind != PR_ANON) { /* anonymous callers do not write the log */
		char *granted = json_dumps(access, JSON_COMPACT);
		auth_audit(c, &p->act, "registry.token", p->name, 1, granted);
		free(granted);
	}
	json_decref(access);
	free(jwt);
	return 0;
}

int reg_project_access(struct dbconn *c, const struct actor *act,
		       const char *project, int manage, const char *what,
		       struct err *e)
{
	char role[16] = "";
	int rc = auth_project_role(c, project, act->uid, role, e);
	if (rc < 0)
		return rc;
	if (rc == 0 || (!role[0] && !act->admin))
		return err_set(e, COVE_ENOENT, "no such project: %s", project);
	if (manage && !act->admin && strcmp(role, "owner") && strcmp(role, "maintainer"))
		return err_set(e, COVE_EPERM,
			       "permission denied: only owners and maintainers of %s "
			       "manage its %s",
			       project, what);
	return 0;
}

int reg_glob_ok(const char *g)
{
	if (!g || !*g || strlen(g) > 255)
		return 0;
	for (const char *p = g; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-/*?", *p)))
			return 0;
	return 1;
}

int reg_project_row_delete(struct dbconn *c, const struct actor *act,
			   const char *project, const char *table, const char *noun,
			   int64_t id, const char *action, struct err *e)
{
	char *sql = xasprintf("DELETE FROM %s WHERE project = ? AND id = ?", table);
	int rc = db_exec(c, e, sql, "si", project, id);
	free(sql);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such %s", noun);
	char target[96];
	snprintf(target, sizeof(target), "%s #%lld", project, (long long)id);
	auth_audit(c, act, action, target, 1, NULL);
	return 0;
}

static json_t *robot_json(struct stmt *st, const char *project)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", db_text(st, 0),
			      "login", "", "role", db_text(st, 1), "description",
			      db_text(st, 2), "created_by", db_text(st, 3));
	char *login = xasprintf("%s+%s", project, db_text(st, 0));
	json_object_set_new(o, "login", json_string(login));
	free(login);
	json_set_time(o, "created_at", db_int(st, 4));
	json_set_time(o, "expires_at", db_int(st, 5));
	json_set_time(o, "last_used_at", db_int(st, 6));
	return o;
}

#define ROBOT_COLS "name, role, description, created_by, created_at, expires_at, last_used_at"

int reg_robots_create(struct dbconn *c, const struct actor *act,
		      const char *project, json_t *body, json_t **out,
		      struct err *e)
{
	static const char *const fields[] = {"name", "role", "description",
					     "expires_in", NULL};
	const char *name, *role = "guest", *desc = "";
	int64_t expires_in = 0;
	int present;
	int rc;
	if ((rc = json_only_fields(body, fields, e)) ||
	    (rc = json_req_str(body, "name", &name, e)) ||
	    (rc = json_opt_str(body, "role", &role, e)) ||
	    (rc = json_opt_str(body, "description", &desc, e)) ||
	    (rc = json_opt_int(body, "expires_in", &expires_in, &present, e)))
		return rc;
	if (!role)
		role = "guest";
	if (!desc)
		desc = "";
	if (auth_username_check(name, 1, NULL))
		return err_set(e, COVE_EINVAL,
			       "robot name must match [a-z_][a-z0-9_-]{0,31}");
	if (strcmp(role, "guest") && strcmp(role, "developer"))
		return err_set(e, COVE_EINVAL, "robot role must be guest or developer");
	if (strlen(desc) > 512)
		return err_set(e, COVE_EINVAL, "description is longer than 512 bytes");
	if (expires_in < 0)
		return err_set(e, COVE_EINVAL, "expires_in must not be negative");
	if ((rc = reg_project_access(c, act, project, 1, "robots", e)))
		return rc;
	char *secret = token_new(ROBOT_PREFIX, 32);
	if (!secret)
		return err_set(e, COVE_EIO, "no randomness available");
	char hash[65];
	sha256_hex(secret, strlen(secret), hash);
	int64_t now = time_now();
	rc = db_exec(c, e,
		     "INSERT INTO robots(project, name, role, secret_hash, description, "
		     "created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		     "ssssssis", project, name, role, hash, desc, act->username, now,
		     NULL);
	if (rc >= 0 && expires_in > 0)
		db_exec(c, NULL, "UPDATE robots SET expires_at = ? WHERE project = ? AND name = ?",
			"iss", now + expires_in, project, name);
	if (rc == COVE_EEXIST) {
		free(secret);
		return err_set(e, COVE_EEXIST, "robot %s already exists in %s", name, project);
	}
	if (rc < 0) {
		free(secret);
		return rc;
	}
	char *target = xasprintf("%s+%s", project, name);
	auth_audit(c, act, "registry.robot.create", target, 1, role);
	free(target);
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT " ROBOT_COLS " FROM robots WHERE project = ? AND name = ?",
			   "ss", project, name))) {
		free(secret);
		return rc;
	}
	if (db_step(st, e) == 1) {
		*out = robot_json(st, project);
		json_object_set_new(*out, "secret", json_string(secret));
	} else {
		rc = err_set(e, COVE_EINTERNAL, "robot vanished");
	}
	db_done(st);
	free(secret);
	return rc;
}

int reg_robots_list(struct dbconn *c, const struct actor *act,
		    const char *project, json_t **out, struct err *e)
{
	int rc = reg_project_access(c, act, project, 1, "robots", e);
	if (rc)
		return rc;
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT " ROBOT_COLS " FROM robots WHERE project = ? ORDER BY name",
			   "s", project)))
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(items, robot_json(st, project));
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int reg_robots_delete(struct dbconn *c, const struct actor *act,
		      const char *project, const char *robot, struct err *e)
{
	int rc = reg_project_access(c, act, project, 1, "robots", e);
	if (rc)
		return rc;
	rc = db_exec(c, e, "DELETE FROM robots WHERE project = ? AND name = ?", "ss",
		     project, robot);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no robot %s in %s", robot, project);
	char *target = xasprintf("%s+%s", project, robot);
	auth_audit(c, act, "registry.robot.delete", target, 1, NULL);
	free(target);
	return 0;
}
