/*
 * api.c - HTTP handlers of the auth module: translate requests into calls
 * of users.c, groups.c, projects.c and sessions.c, and results into JSON.
 * Authorization of each route is decided here (beyond the route flags) and
 * every authentication and administrative change is audited.
 */
#include "auth/internal.h"
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#define DB(r) ((r)->srv->db)
#define AUTH(r) ((r)->srv->auth)

static void finish(struct req *r, int status, json_t *o, struct err *e)
{
	if (o)
		reply_json(r, status, o);
	else
		reply_err(r, e);
}

static void finish_rc(struct req *r, int rc, int status, struct err *e)
{
	if (rc < 0)
		reply_err(r, e);
	else
		reply_empty(r, status);
}

/* Audit an operation's outcome from its return code. */
static void audit_rc(struct dbconn *c, struct req *r, const char *action,
		     const char *target, int rc, const struct err *e)
{
	auth_audit(c, &r->actor, action, target, rc >= 0, rc < 0 ? e->msg : NULL);
}

/* ---- public ---------------------------------------------------------------- */

static void get_jwks(struct req *r)
{
	reply_json(r, 200, keyring_jwks(AUTH(r)->keys));
	reply_header(r, "Cache-Control", "public, max-age=60");
}

static void post_register(struct req *r)
{
	static const char *const fields[] = {"username", "email", "password",
					     "full_name", NULL};
	struct err e = {0};
	const char *username, *email, *password, *full_name;
	json_t *b = req_json(r, &e);
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "username", &username, &e) ||
	    json_req_str(b, "email", &email, &e) ||
	    json_req_str(b, "password", &password, &e) ||
	    json_opt_str(b, "full_name", &full_name, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	json_t *o = NULL;
	int64_t uid;
	if (!settings_get_bool(c, "registration", 1)) {
		err_set(&e, COVE_EPERM,
			"self-registration is switched off; ask an administrator");
		auth_audit(c, &r->actor, "auth.register", username, 0, e.msg);
		goto out;
	}
	struct user_spec spec = {.username = username,
				 .email = email,
				 .password = password,
				 .full_name = full_name};
	int rc = users_create(AUTH(r), c, &spec, &uid, &e);
	audit_rc(c, r, "auth.register", username, rc, &e);
	if (rc == 0)
		o = users_json(c, uid, &e);
out:
	db_put(DB(r), c);
	finish(r, 201, o, &e);
}

/* {username, password} of a login (token pair or browser session): 0, or
 * the refusal already answered. Absurd lengths are refused as a wrong
 * password would be, before any hashing. */
static int login_fields(struct req *r, const char **username, const char **password)
{
	static const char *const fields[] = {"username", "password", NULL};
	struct err e = {0};
	json_t *b = req_json(r, &e);
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "username", username, &e) ||
	    json_req_str(b, "password", password, &e)) {
		reply_err(r, &e);
		return -1;
	}
	if (strlen(*username) > 256 || strlen(*password) > 1024) {
		err_set(&e, COVE_EAUTH, "invalid username or password");
		reply_err(r, &e);
		return -1;
	}
	return 0;
}

static void post_login(struct req *r)
{
	struct err e = {0};
	const char *username, *password;
	if (login_fields(r, &username, &password))
		return;
	struct dbconn *c = db_get(DB(r));
	json_t *pair = NULL;
	sessions_login(AUTH(r), c, &r->actor, username, password, &pair, &e);
	db_put(DB(r), c);
	finish(r, 200, pair, &e);
}

static void post_refresh(struct req *r)
{
	static const char *const fields[] = {"refresh_token", NULL};
	struct err e = {0};
	const char *token;
	json_t *b = req_json(r, &e);
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "refresh_token", &token, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	json_t *pair = NULL;
	int rc = sessions_refresh(AUTH(r), c, &r->actor, token, &pair, &e);
	if (rc)
		auth_audit(c, &r->actor, "auth.refresh", r->actor.username, 0, e.msg);
	db_put(DB(r), c);
	finish(r, 200, pair, &e);
}

/* ---- the caller ------------------------------------------------------------ */

static void post_logout(struct req *r)
{
	static const char *const fields[] = {"refresh_token", NULL};
	struct err e = {0};
	const char *token;
	json_t *b = req_json(r, &e);
	if (!b || json_only_fields(b, fields, &e) ||
	    json_opt_str(b, "refresh_token", &token, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = sessions_logout(c, &r->actor, token, &e);
	audit_rc(c, r, "auth.logout", r->actor.username, rc, &e);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

/* ---- browser sessions (the portal) ---------------------------------------- */

/* What the portal's login page needs to know before anyone logs in. */
static void get_auth_options(struct req *r)
{
	struct dbconn *c = db_get(DB(r));
	int reg = settings_get_bool(c, "registration", 1);
	int pw = settings_get_bool(c, "password_login", 1);
	db_put(DB(r), c);
	/* password_login false: the portal hides the form (the break-glass
	 * admin still logs in with a password through the API or CLI) */
	reply_json(r, 200, json_pack("{s:b,s:b,s:o}", "registration", reg,
				     "password_login", pw, "providers",
				     sso_options(AUTH(r))));
	reply_header(r, "Cache-Control", "no-cache");
}

/* Set-Cookie for the session cookie: value NULL clears it. Secure when
 * clients reach us over https, ours or a proxy's (then the browser sends it
 * only so). */
static void session_cookie(struct req *r, const char *value, int64_t max_age)
{
	const char *pub = r->srv->cfg->public_url;
	int secure = r->srv->tls || str_has_prefix(pub, "https://");
	char *h = xasprintf("%s=%s; Path=/v1/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
			    AUTH_COOKIE, value ? value : "", (long long)(value ? max_age : 0),
			    secure ? "; Secure" : "");
	reply_header(r, "Set-Cookie", h);
	free(h);
}

static json_t *session_answer(struct dbconn *c, struct req *r, const char *cookie,
			      struct err *e)
{
	json_t *user = users_json(c, r->actor.uid, e);
	if (!user)
		return NULL;
	json_object_set_new(user, "projects", projects_of_user(c, r->actor.uid));
	char csrf[65];
	auth_csrf_token(cookie, csrf);
	return json_pack("{s:o,s:s,s:s,s:I}", "user", user, "csrf_token", csrf,
			 "session_id", r->actor.session_id, "idle_timeout",
			 (json_int_t)r->srv->cfg->session_idle);
}

/* Log in from a browser: a server-side session named by an HttpOnly,
 * SameSite=Strict cookie; the answer carries the CSRF token the portal
 * sends back with every change. A login form posted from another site is
 * refused (login CSRF), and a JSON body is required anyway. */
static void post_auth_session(struct req *r)
{
	struct err e = {0};
	const char *username, *password;
	if (!req_same_origin(r)) {
		reply_problem(r, 403, "cross-site login refused: log in from cove's own pages");
		return;
	}
	if (login_fields(r, &username, &password))
		return;
	struct dbconn *c = db_get(DB(r));
	char *cookie = NULL;
	json_t *o = NULL;
	if (sessions_browser_login(AUTH(r), c, &r->actor, username, password,
				   req_header(r, "User-Agent"), &cookie, &e) == 0)
		o = session_answer(c, r, cookie, &e);
	db_put(DB(r), c);
	finish(r, 201, o, &e);
	if (o)
		session_cookie(r, cookie, r->srv->cfg->session_ttl);
	free(cookie);
}

/* The browser session this request came with: who, and its CSRF token
 * (the portal asks at load, since it cannot read the cookie). */
static void get_auth_session(struct req *r)
{
	if (!r->actor.via_cookie) {
		reply_problem(r, 404, "this request carries no browser session (it was "
				      "authenticated by a token)");
		return;
	}
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	json_t *o = session_answer(c, r, req_cookie(r, AUTH_COOKIE), &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

/* Log out of the browser: the session ends on the server and the cookie
 * is cleared. */
static void delete_auth_session(struct req *r)
{
	struct err e = {0};
	int rc = 0;
	char *logout_url = NULL;
	if (r->actor.via_cookie) {
		struct dbconn *c = db_get(DB(r));
		struct stmt *st;
		char provider[64] = "";
		if (db_query(c, &st, NULL, "SELECT sso_provider FROM sessions WHERE id = ?",
			     "s", r->actor.session_id) == 0) {
			if (db_step(st, NULL) == 1 && db_text(st, 0))
				snprintf(provider, sizeof(provider), "%s", db_text(st, 0));
			db_done(st);
		}
		rc = sessions_revoke_own(c, &r->actor, r->actor.session_id, &e);
		audit_rc(c, r, "auth.logout", r->actor.username, rc, &e);
		db_put(DB(r), c);
		if (rc == 0 && provider[0]) {
			char self[512];
			sso_self_url(r->srv->cfg, self, sizeof(self));
			logout_url = sso_logout_url(AUTH(r), provider, self);
		}
	}
	/* a session of single sign-on ends at the provider too: the portal
	 * goes to logout_url */
	if (rc == 0 && logout_url)
		reply_json(r, 200, json_pack("{s:s}", "logout_url", logout_url));
	else
		finish_rc(r, rc, 204, &e);
	free(logout_url);
	session_cookie(r, NULL, 0);
}

static void get_sessions(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	json_t *o = NULL;
	sessions_list(AUTH(r), c, &r->actor, &o, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void delete_session(struct req *r)
{
	struct err e = {0};
	const char *id = req_param(r, "id");
	struct dbconn *c = db_get(DB(r));
	int rc = sessions_revoke_own(c, &r->actor, id, &e);
	audit_rc(c, r, "auth.session_end", id, rc, &e);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
	if (rc == 0 && r->actor.via_cookie && !strcmp(id, r->actor.session_id))
		session_cookie(r, NULL, 0);
}

/* "Log out everywhere else": every session of the caller but this one. */
static void delete_sessions(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	int rc = sessions_revoke_user(c, r->actor.uid, r->actor.session_id,
				      "logged out by the user elsewhere", &e);
	audit_rc(c, r, "auth.sessions_end_others", r->actor.username, rc, &e);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

static void get_me(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	json_t *o = users_json(c, r->actor.uid, &e);
	if (o)
		json_object_set_new(o, "projects", projects_of_user(c, r->actor.uid));
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void patch_me(struct req *r)
{
	struct err e = {0};
	json_t *b = req_json(r, &e);
	if (!b) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	json_t *o = NULL;
	int rc = users_update(AUTH(r), c, &r->actor, r->actor.uid, b, 0, &e);
	audit_rc(c, r, "user.update_self", r->actor.username, rc, &e);
	if (rc == 0)
		o = users_json(c, r->actor.uid, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void post_me_password(struct req *r)
{
	static const char *const fields[] = {"current_password", "new_password",
					     NULL};
	struct err e = {0};
	const char *cur, *new;
	json_t *b = req_json(r, &e);
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "current_password", &cur, &e) ||
	    json_req_str(b, "new_password", &new, &e)) {
		reply_err(r, &e);
		return;
	}
	struct auth *a = AUTH(r);
	struct dbconn *c = db_get(DB(r));
	char *hash = NULL, *fresh = NULL;
	int rc;
	struct stmt *st;
	if ((rc = db_query(c, &st, &e, "SELECT password_hash FROM users WHERE uid = ?",
			   "i", r->actor.uid)))
		goto out;
	if (db_step(st, &e) == 1 && db_text(st, 0))
		hash = xstrdup(db_text(st, 0));
	db_done(st);
	if (auth_password_verify(hash, cur, NULL, NULL) != 1) {
		rc = err_set(&e, COVE_EPERM, "current password is wrong");
		goto out;
	}
	if (!strcmp(cur, new)) {
		rc = err_set(&e, COVE_EINVAL, "new password must differ from the current one");
		goto out;
	}
	if ((rc = auth_password_check(r->actor.username, new, &e)) ||
	    (rc = auth_password_hash(&a->pw, new, &fresh, &e)))
		goto out;
	if ((rc = db_begin(c, &e)))
		goto out;
	if ((rc = db_exec(c, &e, "UPDATE users SET password_hash = ?, updated_at = ? "
				 "WHERE uid = ?",
			  "sii", fresh, time_now(), r->actor.uid)) < 0 ||
	    (rc = sessions_revoke_user(c, r->actor.uid, r->actor.session_id,
				       "password changed", &e)) < 0) {
		db_rollback(c);
		goto out;
	}
	rc = db_commit(c, &e);
out:
	audit_rc(c, r, "auth.password_change", r->actor.username, rc, &e);
	db_put(DB(r), c);
	free(hash);
	free(fresh);
	finish_rc(r, rc, 204, &e);
}

/* ---- personal API tokens ------------------------------------------------------ */

static void get_tokens(struct req *r)
{
	struct err e = {0};
	json_t *o = NULL;
	struct dbconn *c = db_get(DB(r));
	tokens_list(c, &r->actor, &o, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void post_tokens(struct req *r)
{
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = tokens_create(c, &r->actor, b, &o, &e);
	const char *name = json_string_value(json_object_get(b, "name"));
	audit_rc(c, r, "token.create", name ? name : "", rc, &e);
	db_put(DB(r), c);
	finish(r, 201, o, &e);
}

static void delete_token(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	int rc = tokens_revoke(c, &r->actor, req_param(r, "id"), &e);
	audit_rc(c, r, "token.revoke", req_param(r, "id"), rc, &e);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

/* ---- users (admin) ------------------------------------------------------------ */

static int find_user(struct dbconn *c, const char *name, int64_t *uid,
		     struct err *e)
{
	int rc = users_find(c, name, uid, e);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such user '%.64s'", name);
	return rc < 0 ? rc : 0;
}

static void get_users(struct req *r)
{
	struct err e = {0};
	int limit;
	const char *format = req_query(r, "format");
	if (req_limit(r, &limit, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	json_t *o = NULL;
	if (format && !strcmp(format, "passwd")) {
		struct buf b = {0};
		int rc = req_query(r, "q") || req_query(r, "state")
				 ? err_set(&e, COVE_EINVAL,
					   "q and state filter the JSON list, not the passwd export")
				 : users_export_passwd(c, &b, &e);
		db_put(DB(r), c);
		if (rc)
			reply_err(r, &e);
		else
			reply_text(r, 200, "text/plain; charset=utf-8", buf_str(&b), b.len);
		buf_free(&b);
		return;
	}
	struct user_filter f = {.cursor = req_query(r, "cursor"),
				.q = req_query(r, "q"),
				.state = req_query(r, "state"),
				.limit = limit};
	if (format && strcmp(format, "json"))
		err_set(&e, COVE_EINVAL, "format must be json or passwd");
	else
		users_list(c, &f, &o, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void post_users(struct req *r)
{
	static const char *const fields[] = {"username",  "email", "password",
					     "full_name", "admin", "state", NULL};
	struct err e = {0};
	const char *username, *email, *password, *full_name, *state;
	int admin = 0;
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "username", &username, &e) ||
	    json_opt_str(b, "email", &email, &e) ||
	    json_opt_str(b, "password", &password, &e) ||
	    json_opt_str(b, "full_name", &full_name, &e) ||
	    json_opt_str(b, "state", &state, &e) ||
	    json_opt_bool(b, "admin", &admin, NULL, &e)) {
		reply_err(r, &e);
		return;
	}
	struct user_spec spec = {.username = username,
				 .email = email,
				 .password = password,
				 .full_name = full_name,
				 .state = state,
				 .admin = admin};
	struct dbconn *c = db_get(DB(r));
	int64_t uid;
	int rc = users_create(AUTH(r), c, &spec, &uid, &e);
	audit_rc(c, r, "user.create", username, rc, &e);
	if (rc == 0)
		o = users_json(c, uid, &e);
	db_put(DB(r), c);
	finish(r, 201, o, &e);
}

static int text_body(struct req *r, struct err *e)
{
	if (!utf8_valid(buf_str(&r->body), r->body.len) ||
	    strlen(buf_str(&r->body)) != r->body.len)
		return err_set(e, COVE_EINVAL, "body must be UTF-8 text without NUL bytes");
	return 0;
}

static void post_users_import(struct req *r)
{
	struct err e = {0};
	json_t *o = NULL;
	if (text_body(r, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = users_import_passwd(AUTH(r), c, buf_str(&r->body), &o, &e);
	char detail[64];
	snprintf(detail, sizeof(detail), "%zu created, %zu skipped",
		 json_array_size(json_object_get(o, "created")),
		 json_array_size(json_object_get(o, "skipped")));
	auth_audit(c, &r->actor, "user.import", "", rc == 0, detail);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void get_user(struct req *r)
{
	struct err e = {0};
	const char *name = req_param(r, "name");
	if (!r->actor.admin && strcmp(name, r->actor.username)) {
		reply_problem(r, 403, "permission denied: you may only see your own account");
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int64_t uid;
	json_t *o = NULL;
	if (find_user(c, name, &uid, &e) == 0)
		o = users_json(c, uid, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void patch_user(struct req *r)
{
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b) {
		reply_err(r, &e);
		return;
	}
	const char *name = req_param(r, "name");
	struct dbconn *c = db_get(DB(r));
	int64_t uid;
	int rc = find_user(c, name, &uid, &e);
	if (rc == 0)
		rc = users_update(AUTH(r), c, &r->actor, uid, b, 1, &e);
	audit_rc(c, r, "user.update", name, rc, &e);
	if (rc == 0)
		o = users_json(c, uid, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void delete_user(struct req *r)
{
	struct err e = {0};
	const char *name = req_param(r, "name");
	struct dbconn *c = db_get(DB(r));
	int64_t uid;
	int rc = find_user(c, name, &uid, &e);
	if (rc == 0)
		rc = users_delete(AUTH(r), c, &r->actor, uid, &e);
	audit_rc(c, r, "user.delete", name, rc, &e);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

/* ---- groups ---------------------------------------------------------------- */

static int find_group(struct dbconn *c, const char *name, int64_t *gid,
		      struct err *e)
{
	int rc = groups_find(c, name, gid, NULL, e);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such group '%.64s'", name);
	return rc < 0 ? rc : 0;
}

static void get_groups(struct req *r)
{
	struct err e = {0};
	int limit;
	const char *format = req_query(r, "format");
	if (req_limit(r, &limit, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	json_t *o = NULL;
	if (format && !strcmp(format, "group")) {
		struct buf b = {0};
		int rc = groups_export(c, &b, &e);
		db_put(DB(r), c);
		if (rc)
			reply_err(r, &e);
		else
			reply_text(r, 200, "text/plain; charset=utf-8", buf_str(&b), b.len);
		buf_free(&b);
		return;
	}
	if (format && strcmp(format, "json"))
		err_set(&e, COVE_EINVAL, "format must be json or group");
	else
		groups_list(c, req_query(r, "cursor"), limit, &o, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void post_groups(struct req *r)
{
	static const char *const fields[] = {"name", "members", NULL};
	struct err e = {0};
	const char *name;
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "name", &name, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int64_t gid;
	int rc = groups_create(c, name, 0, json_object_get(b, "members"), &gid, &e);
	audit_rc(c, r, "group.create", name, rc, &e);
	if (rc == 0)
		o = groups_json(c, gid, &e);
	db_put(DB(r), c);
	finish(r, 201, o, &e);
}

static void post_groups_import(struct req *r)
{
	struct err e = {0};
	json_t *o = NULL;
	if (text_body(r, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = groups_import(c, buf_str(&r->body), &o, &e);
	char detail[64];
	snprintf(detail, sizeof(detail), "%zu created, %zu skipped",
		 json_array_size(json_object_get(o, "created")),
		 json_array_size(json_object_get(o, "skipped")));
	auth_audit(c, &r->actor, "group.import", "", rc == 0, detail);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void get_group(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	int64_t gid;
	json_t *o = NULL;
	if (find_group(c, req_param(r, "name"), &gid, &e) == 0)
		o = groups_json(c, gid, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void patch_group(struct req *r)
{
	static const char *const fields[] = {"name", NULL};
	struct err e = {0};
	const char *name = req_param(r, "name"), *newname;
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "name", &newname, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int64_t gid;
	int rc = find_group(c, name, &gid, &e);
	if (rc == 0)
		rc = groups_rename(c, gid, newname, &e);
	audit_rc(c, r, "group.rename", name, rc, &e);
	if (rc == 0)
		o = groups_json(c, gid, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void delete_group(struct req *r)
{
	struct err e = {0};
	const char *name = req_param(r, "name");
	struct dbconn *c = db_get(DB(r));
	int64_t gid;
	int rc = find_group(c, name, &gid, &e);
	if (rc == 0)
		rc = groups_delete(c, gid, &e);
	audit_rc(c, r, "group.delete", name, rc, &e);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

static void group_member(struct req *r, int add)
{
	struct err e = {0};
	const char *name = req_param(r, "name"), *user = req_param(r, "user");
	struct dbconn *c = db_get(DB(r));
	int64_t gid, uid;
	int rc = find_group(c, name, &gid, &e);
	if (rc == 0)
		rc = find_user(c, user, &uid, &e);
	if (rc == 0)
		rc = groups_member(c, gid, uid, add, &e);
	char *target = xasprintf("%s/%s", name, user);
	audit_rc(c, r, add ? "group.add_member" : "group.remove_member", target, rc, &e);
	free(target);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

static void put_group_member(struct req *r)
{
	group_member(r, 1);
}

static void delete_group_member(struct req *r)
{
	group_member(r, 0);
}

/* ---- projects ---------------------------------------------------------------- */

/* Load the caller's role; admins pass as owners. Denies (403) non-members
 * and (404) unknown projects. */
static int project_access(struct dbconn *c, struct req *r, const char *name,
			  char role[16], struct err *e)
{
	int rc = projects_role(c, name, r->actor.uid, role, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such project '%.64s'", name);
	if (r->actor.admin && !role[0])
		snprintf(role, 16, "admin");
	if (!role[0])
		return err_set(e, COVE_EPERM,
			       "permission denied: you are not a member of project '%.64s'",
			       name);
	return 0;
}

static int role_is(const char *role, const char *a, const char *b)
{
	return !strcmp(role, "admin") || !strcmp(role, a) || (b && !strcmp(role, b));
}

static void get_projects(struct req *r)
{
	struct err e = {0};
	int limit;
	json_t *o = NULL;
	if (req_limit(r, &limit, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	projects_list(c, &r->actor, req_query(r, "cursor"), limit, &o, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void post_projects(struct req *r)
{
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = projects_create(AUTH(r), c, &r->actor, b, &o, &e);
	const char *name = json_string_value(json_object_get(b, "name"));
	audit_rc(c, r, "project.create", name ? name : "", rc, &e);
	db_put(DB(r), c);
	finish(r, 201, o, &e);
}

static void get_project(struct req *r)
{
	struct err e = {0};
	char role[16];
	const char *name = req_param(r, "name");
	json_t *o = NULL;
	struct dbconn *c = db_get(DB(r));
	if (project_access(c, r, name, role, &e) == 0)
		o = projects_json(c, name, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void patch_project(struct req *r)
{
	struct err e = {0};
	char role[16];
	const char *name = req_param(r, "name");
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = project_access(c, r, name, role, &e);
	if (rc == 0 && !role_is(role, "owner", "maintainer"))
		rc = err_set(&e, COVE_EPERM,
			     "permission denied: owners and maintainers change a project");
	if (rc == 0)
		rc = projects_update(c, &r->actor, name, b, &e);
	audit_rc(c, r, "project.update", name, rc, &e);
	if (rc == 0)
		o = projects_json(c, name, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void delete_project(struct req *r)
{
	struct err e = {0};
	char role[16];
	const char *name = req_param(r, "name");
	struct dbconn *c = db_get(DB(r));
	int rc = project_access(c, r, name, role, &e);
	if (rc == 0 && !role_is(role, "owner", NULL))
		rc = err_set(&e, COVE_EPERM,
			     "permission denied: only owners delete a project");
	if (rc == 0)
		rc = projects_delete(AUTH(r), c, name, &e);
	audit_rc(c, r, "project.delete", name, rc, &e);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

static void get_project_members(struct req *r)
{
	struct err e = {0};
	char role[16];
	const char *name = req_param(r, "name");
	json_t *o = NULL;
	struct dbconn *c = db_get(DB(r));
	if (project_access(c, r, name, role, &e) == 0) {
		json_t *m = projects_members(c, name, &e);
		if (m)
			o = json_pack("{s:o,s:n}", "items", m, "next_cursor");
	}
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void put_project_member(struct req *r)
{
	static const char *const fields[] = {"role", NULL};
	struct err e = {0};
	char role[16];
	const char *name = req_param(r, "name"), *user = req_param(r, "user"), *newrole;
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b || json_only_fields(b, fields, &e) ||
	    json_req_str(b, "role", &newrole, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int64_t uid;
	int rc = project_access(c, r, name, role, &e);
	if (rc == 0 && !role_is(role, "owner", NULL))
		rc = err_set(&e, COVE_EPERM,
			     "permission denied: only owners manage project members");
	if (rc == 0)
		rc = find_user(c, user, &uid, &e);
	if (rc == 0)
		rc = projects_set_member(c, name, uid, newrole, &e);
	char *target = xasprintf("%s/%s", name, user);
	char detail[48];
	snprintf(detail, sizeof(detail), "role %.16s", newrole);
	auth_audit(c, &r->actor, "project.set_member", target, rc == 0,
		   rc == 0 ? detail : e.msg);
	free(target);
	if (rc == 0)
		o = json_pack("{s:s,s:s}", "username", user, "role", newrole);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void delete_project_member(struct req *r)
{
	struct err e = {0};
	char role[16];
	const char *name = req_param(r, "name"), *user = req_param(r, "user");
	struct dbconn *c = db_get(DB(r));
	int64_t uid;
	int rc = project_access(c, r, name, role, &e);
	if (rc == 0 && !role_is(role, "owner", NULL) &&
	    strcmp(user, r->actor.username))
		rc = err_set(&e, COVE_EPERM,
			     "permission denied: only owners remove other members");
	if (rc == 0)
		rc = find_user(c, user, &uid, &e);
	if (rc == 0)
		rc = projects_remove_member(c, name, uid, &e);
	char *target = xasprintf("%s/%s", name, user);
	audit_rc(c, r, "project.remove_member", target, rc, &e);
	free(target);
	db_put(DB(r), c);
	finish_rc(r, rc, 204, &e);
}

/* ---- settings, keys, audit (admin) ------------------------------------------- */

static json_t *settings_json(struct dbconn *c)
{
	return json_pack("{s:b,s:b}", "registration",
			 settings_get_bool(c, "registration", 1), "password_login",
			 settings_get_bool(c, "password_login", 1));
}

static void get_settings(struct req *r)
{
	struct dbconn *c = db_get(DB(r));
	json_t *o = settings_json(c);
	db_put(DB(r), c);
	reply_json(r, 200, o);
}

static void patch_settings(struct req *r)
{
	static const char *const fields[] = {"registration", "password_login", NULL};
	static const char *const keys[] = {"registration", "password_login"};
	struct err e = {0};
	int val[2] = {0, 0}, set[2] = {0, 0};
	json_t *b = req_json(r, &e), *o = NULL;
	if (!b || json_only_fields(b, fields, &e) ||
	    json_opt_bool(b, keys[0], &val[0], &set[0], &e) ||
	    json_opt_bool(b, keys[1], &val[1], &set[1], &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (!set[i])
			continue;
		rc = settings_set(c, keys[i], val[i] ? "true" : "false", &e);
		auth_audit(c, &r->actor, "settings.update", keys[i], rc == 0,
			   val[i] ? "on" : "off");
	}
	if (!set[0] && !set[1])
		auth_audit(c, &r->actor, "settings.update", "registration", 1, "unchanged");
	if (rc == 0)
		o = settings_json(c);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

static void post_rotate_key(struct req *r)
{
	struct err e = {0};
	char kid[32] = "";
	int rc = keyring_rotate(AUTH(r)->keys, kid, &e);
	struct dbconn *c = db_get(DB(r));
	audit_rc(c, r, "keys.rotate", kid, rc, &e);
	db_put(DB(r), c);
	finish(r, 200, rc == 0 ? json_pack("{s:s}", "kid", kid) : NULL, &e);
}

static void get_audit(struct req *r)
{
	struct err e = {0};
	struct audit_filter f = {
		.cursor = req_query(r, "cursor"),
		.actor = req_query(r, "actor"),
		.action = req_query(r, "action"),
		.outcome = req_query(r, "outcome"),
		.target = req_query(r, "target"),
		.since = req_query(r, "since"),
		.until = req_query(r, "until"),
	};
	json_t *o = NULL;
	if (req_limit(r, &f.limit, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	audit_list(c, &f, &o, &e);
	db_put(DB(r), c);
	finish(r, 200, o, &e);
}

const struct route auth_routes[] = {
	{"GET", "/.well-known/jwks.json", get_jwks, ROUTE_PUBLIC},
	{"POST", "/v1/auth/register", post_register, ROUTE_PUBLIC},
	{"POST", "/v1/auth/login", post_login, ROUTE_PUBLIC},
	{"POST", "/v1/auth/refresh", post_refresh, ROUTE_PUBLIC},
	{"POST", "/v1/auth/logout", post_logout, ROUTE_AUTH},
	{"GET", "/v1/auth/options", get_auth_options, ROUTE_PUBLIC},
	{"POST", "/v1/auth/session", post_auth_session, ROUTE_PUBLIC},
	{"GET", "/v1/auth/session", get_auth_session, ROUTE_AUTH},
	{"DELETE", "/v1/auth/session", delete_auth_session, ROUTE_AUTH},
	{"GET", "/v1/sessions", get_sessions, ROUTE_AUTH},
	{"DELETE", "/v1/sessions", delete_sessions, ROUTE_AUTH},
	{"DELETE", "/v1/sessions/{id}", delete_session, ROUTE_AUTH},
	{"GET", "/v1/me", get_me, ROUTE_AUTH},
	{"PATCH", "/v1/me", patch_me, ROUTE_AUTH},
	{"POST", "/v1/me/password", post_me_password, ROUTE_AUTH},
	{"GET", "/v1/tokens", get_tokens, ROUTE_AUTH},
	{"POST", "/v1/tokens", post_tokens, ROUTE_AUTH},
	{"DELETE", "/v1/tokens/{id}", delete_token, ROUTE_AUTH},
	{"GET", "/v1/users", get_users, ROUTE_ADMIN},
	{"POST", "/v1/users", post_users, ROUTE_ADMIN},
	{"POST", "/v1/users/import", post_users_import, ROUTE_ADMIN | ROUTE_TEXT},
	{"GET", "/v1/users/{name}", get_user, ROUTE_AUTH},
	{"PATCH", "/v1/users/{name}", patch_user, ROUTE_ADMIN},
	{"DELETE", "/v1/users/{name}", delete_user, ROUTE_ADMIN},
	{"GET", "/v1/groups", get_groups, ROUTE_AUTH},
	{"POST", "/v1/groups", post_groups, ROUTE_ADMIN},
	{"POST", "/v1/groups/import", post_groups_import, ROUTE_ADMIN | ROUTE_TEXT},
	{"GET", "/v1/groups/{name}", get_group, ROUTE_AUTH},
	{"PATCH", "/v1/groups/{name}", patch_group, ROUTE_ADMIN},
	{"DELETE", "/v1/groups/{name}", delete_group, ROUTE_ADMIN},
	{"PUT", "/v1/groups/{name}/members/{user}", put_group_member, ROUTE_ADMIN},
	{"DELETE", "/v1/groups/{name}/members/{user}", delete_group_member,
	 ROUTE_ADMIN},
	{"GET", "/v1/projects", get_projects, ROUTE_AUTH},
	{"POST", "/v1/projects", post_projects, ROUTE_AUTH},
	{"GET", "/v1/projects/{name}", get_project, ROUTE_AUTH},
	{"PATCH", "/v1/projects/{name}", patch_project, ROUTE_AUTH},
	{"DELETE", "/v1/projects/{name}", delete_project, ROUTE_AUTH},
	{"GET", "/v1/projects/{name}/members", get_project_members, ROUTE_AUTH},
	{"PUT", "/v1/projects/{name}/members/{user}", put_project_member, ROUTE_AUTH},
	{"DELETE", "/v1/projects/{name}/members/{user}", delete_project_member,
	 ROUTE_AUTH},
	{"GET", "/v1/settings", get_settings, ROUTE_ADMIN},
	{"PATCH", "/v1/settings", patch_settings, ROUTE_ADMIN},
	{"POST", "/v1/admin/keys/rotate", post_rotate_key, ROUTE_ADMIN},
	{"GET", "/v1/audit", get_audit, ROUTE_ADMIN},
	{NULL, NULL, NULL, 0},
};
