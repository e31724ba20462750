/*
 * sso.c - cove accounts of single sign-on: the identities table linking a
 * cove user to (issuer, sub) at an OpenID provider (never to an email),
 * the one provisioning function every SSO login calls, and the pure
 * helpers it needs (username derivation, entitlement parsing, return
 * paths). SQL lives here; no HTTP, no calls to providers.
 *
 * Provisioning runs in one transaction: the identity is looked up, the
 * user created (with private group, home and defaults, by users.c's own
 * code) when it is new, and the groups claim projected onto projects and
 * the admin group. What a claim granted is recorded in sso_grants, so the
 * next login takes back exactly what a vanished group gave; memberships
 * added by hand are never touched. Writers are serialised by db_begin and
 * (issuer, sub) is the primary key, so simultaneous first logins of one
 * person make one user (a lost race is retried and finds the winner's).
 */
#include "auth/internal.h"

#include <stdlib.h>
#include <string.h>

#define GROUPS_MAX 256
#define PROVISION_TRIES 5

/* ---- pure helpers ------------------------------------------------------------ */

void sso_username_derive(const char *preferred, const char *email,
			 const char *issuer, const char *sub, int suffix,
			 char out[AUTH_NAME_MAX + 1])
{
	const char *src = preferred && *preferred ? preferred : NULL;
	size_t len = src ? strlen(src) : 0;
	if (!src && email && strchr(email, '@') && email[0] != '@') {
		src = email;
		len = (size_t)(strchr(email, '@') - email);
	}
	size_t j = 0;
	for (size_t i = 0; src && i < len && j < 24; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			ch = '_';
		if (ch == '_' && j && out[j - 1] == '_')
			continue;
		if (ch >= 0x80)
			continue;
		out[j++] = (char)ch;
	}
	while (j && (out[j - 1] == '_' || out[j - 1] == '-'))
		j--;
	out[j] = '\0';
	if (j && !((out[0] >= 'a' && out[0] <= 'z') || out[0] == '_')) {
		/* names start with a letter or '_' */
		memmove(out + 1, out, j + 1);
		out[0] = 'u';
		j++;
		if (j > 24)
			out[--j] = '\0';
	}
	if (!j) {
		snprintf(out, AUTH_NAME_MAX + 1, "user");
		suffix = 1; /* "user" alone says nothing: always suffixed */
		j = 4;
	}
	if (suffix) {
		struct buf b = {0};
		buf_addf(&b, "%s\n%s", issuer ? issuer : "", sub ? sub : "");
		char h[65];
		sha256_hex(b.data, b.len, h);
		buf_free(&b);
		snprintf(out + j, AUTH_NAME_MAX + 1 - j, "-%.8s", h);
	}
}

int sso_group_parse(const char *v, char *out, size_t n)
{
	if (!v || !*v || strlen(v) >= n || !utf8_valid(v, strlen(v)))
		return 0;
	if (!str_has_prefix(v, "urn:mace:")) {
		snprintf(out, n, "%s", v);
		return 1;
	}
	const char *g = strstr(v, ":group:");
	if (!g)
		return 0;
	g += strlen(":group:");
	const char *end = strchr(g, '#');
	size_t len = end ? (size_t)(end - g) : strlen(g);
	const char *role = NULL;
	for (const char *s = g; s < g + len; s++)
		if (!strncmp(s, ":role=", 6)) {
			role = s + 6;
			len = (size_t)(s - g);
			break;
		}
	if (role) {
		size_t rl = (size_t)((end ? end : role + strlen(role)) - role);
		if (rl != 6 || strncmp(role, "member", 6))
			return 0;
	}
	if (!len)
		return 0;
	snprintf(out, n, "%.*s", (int)len, g);
	return 1;
}

int sso_return_ok(const char *ret)
{
	if (!ret || ret[0] != '/' || ret[1] == '/' || ret[1] == '\\')
		return 0;
	size_t n = strlen(ret);
	if (n > 1024)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)ret[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
			return 0;
	}
	/* the API is not a page to land on */
	if (str_has_prefix(ret, "/v1/") || !strcmp(ret, "/v1"))
		return 0;
	return 1;
}

/* ---- the groups claim ---------------------------------------------------------- */

struct groups {
	char *v[GROUPS_MAX];
	size_t n;
};

static void groups_free(struct groups *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i]);
	g->n = 0;
}

static int groups_has(const struct groups *g, const char *name)
{
	for (size_t i = 0; name && i < g->n; i++)
		if (!strcmp(g->v[i], name))
			return 1;
	return 0;
}

static void groups_add(struct groups *g, const char *value)
{
	char name[256];
	if (g->n < GROUPS_MAX && sso_group_parse(value, name, sizeof(name)) &&
	    !groups_has(g, name))
		g->v[g->n++] = xstrdup(name);
}

static void groups_read(json_t *claims, const char *claim, struct groups *g)
{
	json_t *v = json_object_get(claims, claim);
	if (json_is_string(v))
		groups_add(g, json_string_value(v));
	else if (json_is_array(v)) {
		size_t i;
		json_t *it;
		json_array_foreach(v, i, it) if (json_is_string(it))
			groups_add(g, json_string_value(it));
	}
}

/* ---- provisioning ---------------------------------------------------------------- */

static int name_taken(struct dbconn *c, const char *name, struct err *e)
{
	int64_t x;
	return db_query_int(c, e, &x,
			    "SELECT 1 FROM users WHERE username = ? UNION ALL "
			    "SELECT 1 FROM groups WHERE name = ?",
			    "ss", name, name);
}

/* Create the user for a new identity. Caller holds a transaction. */
static int user_new(struct auth *a, struct dbconn *c, struct oidc_provider *p,
		    json_t *claims, const char *sub, int64_t *uid, struct err *e)
{
	const char *pref = json_string_value(json_object_get(claims, "preferred_username"));
	const char *email = json_string_value(json_object_get(claims, "email"));
	const char *full = json_string_value(json_object_get(claims, "name"));
	char name[AUTH_NAME_MAX + 1];
	int rc;
	sso_username_derive(pref, email, p->issuer, sub, 0, name);
	if (auth_username_check(name, 0, NULL) || (rc = name_taken(c, name, e)) != 0) {
		/* taken (or reserved): never someone else's account */
		sso_username_derive(pref, email, p->issuer, sub, 1, name);
		if ((rc = name_taken(c, name, e)) != 0)
			return rc < 0 ? rc
				      : err_set(e, COVE_ECONFLICT,
						"no free username for this identity");
	}
	int64_t x;
	/* an email already on another account stays theirs: it links nothing */
	if (email && (email_check(email, NULL) ||
		      db_query_int(c, NULL, &x, "SELECT 1 FROM users WHERE email = ?",
				   "s", email) != 0))
		email = NULL;
	if (full && (strlen(full) > 200 || !utf8_valid(full, strlen(full))))
		full = NULL;
	struct user_spec spec = {.username = name, .email = email, .full_name = full};
	if ((rc = users_create_tx(a, c, &spec, uid, e)))
		return rc;
	return db_exec(c, e,
		       "INSERT INTO identities(issuer, sub, uid, provider, created_at) "
		       "VALUES (?, ?, ?, ?, ?)",
		       "ssisi", p->issuer, sub, *uid, p->id, time_now());
}

static const char *project_role(struct oidc_provider *p, const char *group)
{
	const char *r = json_string_value(json_object_get(p->project_roles, group));
	return r ? r : "developer";
}

/* Create project name (its group, shared directory and registry
 * namespace through the hook) when it does not exist. Caller holds a
 * transaction. 1 created, 0 existed, < 0 error. */
static int project_ensure(struct auth *a, struct dbconn *c, const char *name,
			  struct err *e)
{
	int64_t gid = 0;
	int rc = db_query_int(c, e, &gid, "SELECT gid FROM projects WHERE name = ?", "s",
			      name);
	if (rc)
		return rc < 0 ? rc : 0;
	if (auth_username_check(name, 0, NULL) || name_taken(c, name, NULL))
		return err_set(e, COVE_ECONFLICT, "group '%s' cannot become a project", name);
	static const int64_t no_quota[4] = {0, 0, 0, 0};
	gid = projects_insert(a, c, name, "created by single sign-on", no_quota, e);
	if (gid < 0)
		return (int)gid;
	return 1;
}

/* Project the groups onto projects and admin; take back vanished grants.
 * Caller holds a transaction. */
static int grants_sync(struct auth *a, struct dbconn *c, struct oidc_provider *p,
		       int64_t uid, const struct groups *g, json_t *report, struct err *e)
{
	int rc;
	int64_t now = time_now();
	for (size_t i = 0; p->has_re && i < g->n; i++) {
		if (regexec(&p->project_re, g->v[i], 0, NULL, 0))
			continue;
		if (auth_username_check(g->v[i], 0, NULL))
			continue; /* not a possible project name: skipped */
		if ((rc = project_ensure(a, c, g->v[i], e)) < 0)
			return rc;
		if (rc == 1)
			json_array_append_new(json_object_get(report, "projects_created"),
					      json_string(g->v[i]));
		const char *role = project_role(p, g->v[i]);
		int64_t granted = 0, member = 0;
		db_query_int(c, NULL, &granted,
			     "SELECT 1 FROM sso_grants WHERE uid = ? AND issuer = ? AND "
			     "kind = 'project' AND name = ?",
			     "iss", uid, p->issuer, g->v[i]);
		if ((rc = db_query_int(c, e, &member,
				       "SELECT 1 FROM project_members WHERE project = ? AND "
				       "uid = ?",
				       "si", g->v[i], uid)) < 0)
			return rc;
		if (member && !granted)
			continue; /* added by hand: theirs to change */
		if ((rc = db_exec(c, e,
				  "INSERT INTO project_members(project, uid, role, added_at) "
				  "VALUES (?, ?, ?, ?) ON CONFLICT(project, uid) DO UPDATE "
				  "SET role = excluded.role",
				  "sisi", g->v[i], uid, role, now)) < 0 ||
		    (rc = db_exec(c, e,
				  "INSERT OR IGNORE INTO group_members(gid, uid) SELECT gid, ? "
				  "FROM projects WHERE name = ?",
				  "is", uid, g->v[i])) < 0 ||
		    (rc = db_exec(c, e,
				  "INSERT OR IGNORE INTO sso_grants(uid, issuer, kind, name) "
				  "VALUES (?, ?, 'project', ?)",
				  "iss", uid, p->issuer, g->v[i])) < 0)
			return rc;
		if (!member)
			json_array_append_new(json_object_get(report, "joined"),
					      json_string(g->v[i]));
	}
	/* what earlier logins granted and the claims no longer say */
	struct stmt *st;
	json_t *gone = json_array();
	if ((rc = db_query(c, &st, e,
			   "SELECT kind, name FROM sso_grants WHERE uid = ? AND issuer = ?",
			   "is", uid, p->issuer)))
		goto out;
	while (db_step(st, NULL) == 1) {
		const char *kind = db_text(st, 0), *name = db_text(st, 1);
		int keep = !strcmp(kind, "project")
				   ? groups_has(g, name) && p->has_re &&
					     !regexec(&p->project_re, name, 0, NULL, 0)
				   : p->admin_group && groups_has(g, p->admin_group);
		if (!keep)
			json_array_append_new(gone, json_pack("{s:s,s:s}", "kind", kind,
							      "name", name));
	}
	db_done(st);
	size_t i;
	json_t *it;
	json_array_foreach(gone, i, it)
	{
		const char *kind = json_string_value(json_object_get(it, "kind"));
		const char *name = json_string_value(json_object_get(it, "name"));
		if (!strcmp(kind, "project")) {
			if ((rc = db_exec(c, e,
					  "DELETE FROM project_members WHERE project = ? AND "
					  "uid = ? AND role != 'owner'",
					  "si", name, uid)) < 0 ||
			    (rc = db_exec(c, e,
					  "DELETE FROM group_members WHERE uid = ? AND gid = "
					  "(SELECT gid FROM projects WHERE name = ?) AND NOT "
					  "EXISTS (SELECT 1 FROM project_members WHERE "
					  "project = ? AND uid = ?)",
					  "issi", uid, name, name, uid)) < 0)
				goto out;
			json_array_append_new(json_object_get(report, "left"),
					      json_string(name));
		} else if ((rc = db_exec(c, e,
					 "DELETE FROM group_members WHERE uid = ? AND gid = "
					 "(SELECT gid FROM groups WHERE name = 'admin')",
					 "i", uid)) < 0)
			goto out;
		if ((rc = db_exec(c, e,
				  "DELETE FROM sso_grants WHERE uid = ? AND issuer = ? AND "
				  "kind = ? AND name = ?",
				  "isss", uid, p->issuer, kind, name)) < 0)
			goto out;
	}
	rc = 0;
	if (p->admin_group && groups_has(g, p->admin_group) &&
	    !users_is_admin(c, uid)) {
		if ((rc = db_exec(c, e,
				  "INSERT OR IGNORE INTO group_members(gid, uid) SELECT gid, ? "
				  "FROM groups WHERE name = 'admin'",
				  "i", uid)) < 0 ||
		    (rc = db_exec(c, e,
				  "INSERT OR IGNORE INTO sso_grants(uid, issuer, kind, name) "
				  "VALUES (?, ?, 'admin', 'admin')",
				  "is", uid, p->issuer)) < 0)
			goto out;
		json_object_set_new(report, "admin", json_true());
		rc = 0;
	}
out:
	json_decref(gone);
	return rc < 0 ? rc : 0;
}

int sso_provision(struct auth *a, struct dbconn *c, struct oidc_provider *p,
		  json_t *claims, struct actor *act, int64_t *uid_out, int64_t *gid_out,
		  char username[AUTH_NAME_MAX + 1], struct err *e)
{
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	struct groups g = {0};
	json_t *report = NULL;
	char target[300];
	int rc;
	snprintf(target, sizeof(target), "%s#%.200s", p->id, sub ? sub : "");
	if (!sub)
		return err_set(e, COVE_EAUTH, "ID token refused: no sub");
	groups_read(claims, p->groups_claim, &g);
	if (p->required_group && !groups_has(&g, p->required_group)) {
		rc = err_set(e, COVE_EPERM,
			     "your account at %s is not in the group '%s' this server "
			     "requires; ask your group's manager",
			     p->name, p->required_group);
		auth_audit(c, act, "sso.refused", target, 0, e->msg);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		json_decref(report);
		report = json_pack("{s:s,s:s,s:b,s:[],s:[],s:[]}", "provider", p->id, "sub",
				   sub, "created", 0, "projects_created", "joined", "left");
		if ((rc = db_begin(c, e)))
			goto out;
		int64_t uid = 0;
		rc = db_query_int(c, e, &uid,
				  "SELECT uid FROM identities WHERE issuer = ? AND sub = ?",
				  "ss", p->issuer, sub);
		if (rc == 0) {
			rc = user_new(a, c, p, claims, sub, &uid, e);
			json_object_set_new(report, "created", json_true());
		}
		if (rc >= 0)
			rc = grants_sync(a, c, p, uid, &g, report, e);
		if (rc >= 0)
			rc = db_exec(c, e,
				     "UPDATE identities SET last_login_at = ? WHERE issuer = ? "
				     "AND sub = ?",
				     "iss", time_now(), p->issuer, sub);
		if (rc >= 0)
			rc = db_commit(c, e);
		else
			db_rollback(c);
		if (rc == COVE_EEXIST && attempt + 1 < PROVISION_TRIES)
			continue; /* lost a race to another first login: look again */
		if (rc < 0)
			goto out;
		struct stmt *st;
		if ((rc = db_query(c, &st, e,
				   "SELECT username, gid, state FROM users WHERE uid = ?", "i",
				   uid)))
			goto out;
		char state[16] = "";
		if (db_step(st, e) == 1) {
			snprintf(username, AUTH_NAME_MAX + 1, "%s", db_text(st, 0));
			*gid_out = db_int(st, 1);
			snprintf(state, sizeof(state), "%s", db_text(st, 2));
		}
		db_done(st);
		*uid_out = uid;
		if (strcmp(state, "active")) {
			rc = err_set(e, COVE_EPERM, "account %s is %s; ask an administrator",
				     username, state[0] ? state : "gone");
			auth_audit(c, act, "sso.refused", target, 0, e->msg);
			goto out;
		}
		break;
	}
	json_object_set_new(report, "username", json_string(username));
	char *detail = json_dumps(report, JSON_COMPACT);
	auth_audit(c, act, "sso.provision", target, 1, detail);
	free(detail);
	rc = 0;
out:
	if (rc < 0 && rc != COVE_EPERM)
		auth_audit(c, act, "sso.provision", target, 0, e->msg);
	json_decref(report);
	groups_free(&g);
	return rc;
}

/* ---- linking by an administrator -------------------------------------------------- */

int sso_link(struct dbconn *c, struct oidc *o, const char *username, const char *issuer,
	     const char *sub, struct err *e)
{
	struct oidc_provider *p = NULL;
	for (size_t i = 0; o && i < o->n; i++)
		if (!strcmp(o->p[i].issuer, issuer) || !strcmp(o->p[i].id, issuer))
			p = &o->p[i];
	if (!p)
		return err_set(e, COVE_EINVAL, "no configured provider has the issuer %s",
			       issuer);
	if (!*sub || strlen(sub) > 255 || !utf8_valid(sub, strlen(sub)))
		return err_set(e, COVE_EINVAL, "sub must be 1 to 255 bytes of UTF-8");
	int64_t uid = 0;
	int rc = users_find(c, username, &uid, e);
	if (rc <= 0)
		return rc < 0 ? rc : err_set(e, COVE_ENOENT, "no such user");
	rc = db_exec(c, e,
		     "INSERT INTO identities(issuer, sub, uid, provider, created_at) "
		     "VALUES (?, ?, ?, ?, ?)",
		     "ssisi", p->issuer, sub, uid, p->id, time_now());
	if (rc == COVE_EEXIST)
		return err_set(e, COVE_EEXIST,
			       "this identity is already linked to an account: unlink it first");
	return rc < 0 ? rc : 0;
}

int sso_unlink(struct dbconn *c, const char *username, const char *issuer,
	       const char *sub, struct err *e)
{
	int rc = db_exec(c, e,
			 "DELETE FROM identities WHERE (issuer = ? OR provider = ?) AND "
			 "sub = ? AND uid = (SELECT uid FROM users WHERE username = ?)",
			 "ssss", issuer, issuer, sub, username);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such identity linked to %s", username);
	return rc < 0 ? rc : 0;
}

int sso_identities(struct dbconn *c, const char *username, json_t **out, struct err *e)
{
	int64_t uid = 0;
	int rc = users_find(c, username, &uid, e);
	if (rc <= 0)
		return rc < 0 ? rc : err_set(e, COVE_ENOENT, "no such user");
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT issuer, sub, provider, created_at, last_login_at FROM "
			   "identities WHERE uid = ? ORDER BY issuer, sub",
			   "i", uid)))
		return rc;
	json_t *items = json_array();
	while (db_step(st, e) == 1) {
		json_t *it = json_pack("{s:s,s:s,s:s}", "issuer", db_text(st, 0), "sub",
				       db_text(st, 1), "provider", db_text(st, 2));
		json_set_time(it, "created_at", db_int(st, 3));
		json_set_time(it, "last_login_at", db_is_null(st, 4) ? 0 : db_int(st, 4));
		json_array_append_new(items, it);
	}
	db_done(st);
	*out = json_pack("{s:o}", "items", items);
	return 0;
}
