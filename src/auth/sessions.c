/*
 * sessions.c - logging in and staying logged in: login throttling and
 * lockout, sessions (one per login), rotating refresh tokens with reuse
 * detection, access tokens, logout, and personal API tokens.
 *
 * A session is a refresh-token family. Each refresh token is used once:
 * using it marks it used and issues the next one in the same session.
 * Presenting a used one again means it was stolen (or replayed), so the
 * whole session is revoked. Tokens are stored as SHA-256 hashes only.
 */
#include "auth/internal.h"

#include <stdlib.h>
#include <string.h>

#define LOCKOUT_MAX 86400

/* ---- throttling ---------------------------------------------------------- */

/* COVE_ETOOMANY (with retry_after) when key is locked out. */
static int throttle_check(struct dbconn *c, const char *key, struct err *e)
{
	int64_t until = 0;
	int rc = db_query_int(c, e, &until,
			      "SELECT locked_until FROM throttle WHERE key = ?", "s",
			      key);
	if (rc < 0)
		return rc;
	int64_t now = time_now();
	if (rc == 1 && until > now) {
		err_set(e, COVE_ETOOMANY,
			"too many failed logins; try again in %lld seconds",
			(long long)(until - now));
		e->retry_after = (int)(until - now);
		return COVE_ETOOMANY;
	}
	return 0;
}

static void throttle_fail(struct auth *a, struct dbconn *c, const char *key,
			  int64_t max)
{
	int64_t now = time_now();
	int64_t window = a->cfg->login_window;
	if (db_begin(c, NULL))
		return;
	struct stmt *st;
	int64_t failures = 0, start = now, lockouts = 0;
	if (db_query(c, &st, NULL,
		     "SELECT failures, window_start, lockouts FROM throttle "
		     "WHERE key = ?",
		     "s", key) == 0) {
		if (db_step(st, NULL) == 1) {
			failures = db_int(st, 0);
			start = db_int(st, 1);
			lockouts = db_int(st, 2);
		}
		db_done(st);
	}
	if (now - start > window) {
		failures = 0;
		start = now;
	}
	failures++;
	int64_t locked_until = 0;
	if (failures >= max) {
		int64_t d = a->cfg->lockout_seconds;
		for (int64_t i = 0; i < lockouts && d < LOCKOUT_MAX; i++)
			d *= 2;
		if (d > LOCKOUT_MAX)
			d = LOCKOUT_MAX;
		locked_until = now + d;
		lockouts++;
		failures = 0;
		start = now;
	}
	db_exec(c, NULL,
		"INSERT INTO throttle(key, failures, window_start, locked_until, "
		"lockouts) VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
		"failures = excluded.failures, window_start = excluded.window_start, "
		"locked_until = max(throttle.locked_until, excluded.locked_until), "
		"lockouts = excluded.lockouts",
		"siiii", key, failures, start, locked_until, lockouts);
	db_commit(c, NULL);
}

/* ---- token pairs ---------------------------------------------------------- */

static int access_token(struct auth *a, int64_t uid, const char *username,
			const char *sid, char **out, struct err *e)
{
	int64_t now = time_now();
	char jti[27];
	id_new(jti);
	json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:I,s:I}", "iss",
				   a->issuer, "aud", AUDIENCE, "sub", username, "uid",
				   (json_int_t)uid, "sid", sid, "jti", jti, "iat",
				   (json_int_t)now, "nbf", (json_int_t)now, "exp",
				   (json_int_t)(now + a->cfg->access_ttl));
	int rc = keyring_sign(a->keys, claims, out, e);
	json_decref(claims);
	return rc;
}

/* Insert a fresh refresh token for session sid. Caller holds a
 * transaction. *token is the secret (caller frees). */
static int refresh_issue(struct dbconn *c, const char *sid, int64_t expires,
			 char **token, struct err *e)
{
	char *t = token_new("cove_rt_", 32);
	if (!t)
		return err_set(e, COVE_EIO, "no randomness available");
	char hash[65];
	sha256_hex(t, strlen(t), hash);
	int rc = db_exec(c, e,
			 "INSERT INTO refresh_tokens(hash, session_id, created_at, "
			 "expires_at) VALUES (?, ?, ?, ?)",
			 "ssii", hash, sid, time_now(), expires);
	if (rc < 0) {
		free(t);
		return rc;
	}
	*token = t;
	return 0;
}

static json_t *pair_json(struct auth *a, char *access, char *refresh,
			 int64_t session_expires)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I}", "access_token", access,
			      "refresh_token", refresh, "token_type", "Bearer",
			      "expires_in", (json_int_t)a->cfg->access_ttl,
			      "refresh_expires_in",
			      (json_int_t)(session_expires - time_now()));
	free(access);
	free(refresh);
	return o;
}

/*
 * Check username + password with throttling, lockout and audit, as a
 * login does, without starting a session: 0 and *uid, *gid when they
 * match an active account. action names the audit event.
 */
static int password_check(struct auth *a, struct dbconn *c, struct actor *act,
			  const char *username, const char *password,
			  const char *action, int64_t *uid_out, int64_t *gid_out,
			  struct err *e)
{
	if (!settings_get_bool(c, "password_login", 1) &&
	    strcmp(username, a->cfg->break_glass_admin)) {
		auth_audit(c, act, action, username, 0, "password login is switched off");
		return err_set(e, COVE_EPERM, "password login is switched off on this "
					      "server: log in with single sign-on");
	}
	char *ukey = xasprintf("user:%.64s", username);
	char *ikey = xasprintf("ip:%s", act->ip);
	char *hash = NULL;
	int rc;
	if ((rc = throttle_check(c, ikey, e)) || (rc = throttle_check(c, ukey, e))) {
		auth_audit(c, act, action, username, 0, "throttled");
		goto out;
	}
	int64_t uid = 0, gid = 0;
	char state[16] = "";
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT uid, gid, state, password_hash FROM users "
			   "WHERE username = ?",
			   "s", username)))
		goto out;
	if (db_step(st, e) == 1) {
		uid = db_int(st, 0);
		gid = db_int(st, 1);
		snprintf(state, sizeof(state), "%s", db_text(st, 2));
		hash = db_text(st, 3) ? xstrdup(db_text(st, 3)) : NULL;
	}
	db_done(st);
	int rehash = 0;
	/* Always spend one Argon2 verification, so that timing does not tell
	 * whether the account exists. */
	int ok = auth_password_verify(hash ? hash : a->dummy_hash, password, &a->pw,
				      &rehash);
	if (ok != 1 || !uid || !hash) {
		throttle_fail(a, c, ukey, a->cfg->login_max_failures);
		throttle_fail(a, c, ikey, a->cfg->ip_max_failures);
		auth_audit(c, act, action, username, 0, "bad credentials");
		rc = err_set(e, COVE_EAUTH, "invalid username or password");
		goto out;
	}
	if (strcmp(state, "active")) {
		auth_audit(c, act, action, username, 0, state);
		rc = err_set(e, COVE_EPERM, "account is %s; ask an administrator",
			     state);
		goto out;
	}
	db_exec(c, NULL, "DELETE FROM throttle WHERE key = ?", "s", ukey);
	if (rehash) {
		char *fresh = NULL;
		if (auth_password_hash(&a->pw, password, &fresh, NULL) == 0)
			db_exec(c, NULL,
				"UPDATE users SET password_hash = ? WHERE uid = ? AND "
				"password_hash = ?",
				"sis", fresh, uid, hash);
		free(fresh);
	}
	*uid_out = uid;
	*gid_out = gid;
out:
	free(hash);
	free(ukey);
	free(ikey);
	return rc;
}

int sessions_password(struct auth *a, struct dbconn *c, struct actor *act,
		      const char *username, const char *password, struct err *e)
{
	int64_t uid = 0, gid = 0;
	int rc = password_check(a, c, act, username, password, "registry.login",
				&uid, &gid, e);
	if (rc)
		return rc;
	act->uid = uid;
	act->gid = gid;
	act->authenticated = 1;
	act->scopes = SCOPE_ALL;
	act->admin = users_is_admin(c, uid);
	snprintf(act->username, sizeof(act->username), "%s", username);
	return 0;
}

int sessions_token_start(struct auth *a, struct dbconn *c, struct actor *act,
			 int64_t uid, int64_t gid, const char *username,
			 const char *detail, json_t **pair, struct err *e)
{
	char *access = NULL, *refresh = NULL;
	char sid[27];
	id_new(sid);
	int64_t now = time_now();
	int64_t expires = now + a->cfg->refresh_ttl;
	int rc;
	if ((rc = db_begin(c, e)))
		goto out;
	if ((rc = db_exec(c, e,
			  "INSERT INTO sessions(id, uid, created_at, expires_at, ip, "
			  "last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
			  "siiisi", sid, uid, now, expires, act->ip, now)) < 0 ||
	    (rc = refresh_issue(c, sid, expires, &refresh, e)) < 0) {
		db_rollback(c);
		goto out;
	}
	if ((rc = db_commit(c, e)))
		goto out;
	if ((rc = access_token(a, uid, username, sid, &access, e)))
		goto out;
	act->uid = uid;
	act->gid = gid;
	snprintf(act->username, sizeof(act->username), "%s", username);
	auth_audit(c, act, "auth.login", username, 1, detail);
	*pair = pair_json(a, access, refresh, expires);
	access = refresh = NULL;
out:
	free(access);
	free(refresh);
	return rc;
}

int sessions_login(struct auth *a, struct dbconn *c, struct actor *act,
		   const char *username, const char *password, json_t **pair,
		   struct err *e)
{
	int64_t uid = 0, gid = 0;
	int rc = password_check(a, c, act, username, password, "auth.login", &uid,
				&gid, e);
	if (rc)
		return rc;
	return sessions_token_start(a, c, act, uid, gid, username, NULL, pair, e);
}

int sessions_browser_start(struct auth *a, struct dbconn *c, struct actor *act,
			   int64_t uid, int64_t gid, const char *username,
			   const char *user_agent, const char *detail,
			   const char *sso_provider, char **cookie, struct err *e)
{
	char *secret = token_new(AUTH_COOKIE_PREFIX, 32);
	if (!secret)
		return err_set(e, COVE_EIO, "no randomness available");
	char hash[65], sid[27];
	sha256_hex(secret, strlen(secret), hash);
	id_new(sid);
	int64_t now = time_now();
	char ua[256];
	snprintf(ua, sizeof(ua), "%s", user_agent ? user_agent : "");
	size_t ul = strlen(ua);
	if (ul == sizeof(ua) - 1) /* cut short: not inside a character */
		while (ul && ((unsigned char)ua[ul] & 0xc0) == 0x80)
			ua[--ul] = '\0';
	if (!utf8_valid(ua, ul))
		ua[0] = '\0';
	int rc = db_exec(c, e,
			 "INSERT INTO sessions(id, uid, created_at, expires_at, ip, kind, "
			 "cookie_hash, last_seen_at, user_agent, sso_provider) VALUES (?, ?, "
			 "?, ?, ?, 'browser', ?, ?, ?, ?)",
			 "siiississ", sid, uid, now, now + a->cfg->session_ttl, act->ip,
			 hash, now, ua, sso_provider);
	if (rc < 0) {
		free(secret);
		return rc;
	}
	act->uid = uid;
	act->gid = gid;
	act->authenticated = 1;
	act->via_cookie = 1;
	act->scopes = SCOPE_ALL;
	act->admin = users_is_admin(c, uid);
	snprintf(act->username, sizeof(act->username), "%s", username);
	snprintf(act->session_id, sizeof(act->session_id), "%s", sid);
	auth_audit(c, act, "auth.login", username, 1, detail);
	*cookie = secret;
	return 0;
}

int sessions_browser_login(struct auth *a, struct dbconn *c, struct actor *act,
			   const char *username, const char *password,
			   const char *user_agent, char **cookie, struct err *e)
{
	int64_t uid = 0, gid = 0;
	int rc = password_check(a, c, act, username, password, "auth.login", &uid,
				&gid, e);
	if (rc)
		return rc;
	return sessions_browser_start(a, c, act, uid, gid, username, user_agent,
				      "browser session", NULL, cookie, e);
}

int sessions_list(struct auth *a, struct dbconn *c, const struct actor *act,
		  json_t **out, struct err *e)
{
	int64_t now = time_now();
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT id, kind, created_at, last_seen_at, expires_at, ip, "
			  "user_agent FROM sessions WHERE uid = ? AND revoked_at IS NULL "
			  "AND expires_at > ? AND (kind != 'browser' OR last_seen_at > ?) "
			  "ORDER BY created_at DESC, id DESC LIMIT 1000",
			  "iii", act->uid, now, now - a->cfg->session_idle);
	if (rc)
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1) {
		const char *id = db_text(st, 0);
		json_t *o = json_pack("{s:s,s:s,s:s?,s:s?,s:b}", "id", id, "kind",
				      !strcmp(db_text(st, 1), "browser") ? "browser" : "cli",
				      "ip", db_text(st, 5), "user_agent", db_text(st, 6),
				      "current", !strcmp(id, act->session_id));
		json_set_time(o, "created_at", db_int(st, 2));
		json_set_time(o, "last_seen_at", db_is_null(st, 3) ? 0 : db_int(st, 3));
		json_set_time(o, "expires_at", db_int(st, 4));
		json_array_append_new(items, o);
	}
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o,s:n}", "items", items, "next_cursor");
	return 0;
}

int sessions_revoke_own(struct dbconn *c, const struct actor *act, const char *id,
			struct err *e)
{
	int rc = db_exec(c, e,
			 "UPDATE sessions SET revoked_at = ?, revoked_reason = 'logged out' "
			 "WHERE id = ? AND uid = ? AND revoked_at IS NULL",
			 "isi", time_now(), id, act->uid);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such session");
	return 0;
}

int sessions_refresh(struct auth *a, struct dbconn *c, struct actor *act,
		     const char *token, json_t **pair, struct err *e)
{
	char hash[65];
	sha256_hex(token, strlen(token), hash);
	char sid[32] = "", username[AUTH_NAME_MAX + 1] = "";
	char *access = NULL, *refresh = NULL;
	int64_t uid = 0, used = 0, rt_exp = 0, s_exp = 0, revoked = 0;
	char state[16] = "";
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT r.session_id, r.used_at, r.expires_at, s.revoked_at, "
			   "s.expires_at, u.uid, u.username, u.state FROM "
			   "refresh_tokens r JOIN sessions s ON s.id = r.session_id "
			   "JOIN users u ON u.uid = s.uid WHERE r.hash = ?",
			   "s", hash)))
		goto rollback;
	if ((rc = db_step(st, e)) == 1) {
		snprintf(sid, sizeof(sid), "%s", db_text(st, 0));
		used = db_int(st, 1);
		rt_exp = db_int(st, 2);
		revoked = db_int(st, 3);
		s_exp = db_int(st, 4);
		uid = db_int(st, 5);
		snprintf(username, sizeof(username), "%s", db_text(st, 6));
		snprintf(state, sizeof(state), "%s", db_text(st, 7));
	}
	db_done(st);
	if (rc < 0)
		goto rollback;
	snprintf(act->username, sizeof(act->username), "%s", username);
	int64_t now = time_now();
	if (!sid[0]) {
		rc = err_set(e, COVE_EAUTH, "invalid refresh token");
		goto rollback;
	}
	if (used) {
		/* Reuse: whoever holds this family is not to be trusted. */
		db_exec(c, NULL,
			"UPDATE sessions SET revoked_at = ?, revoked_reason = "
			"'refresh token reuse' WHERE id = ? AND revoked_at IS NULL",
			"is", now, sid);
		db_commit(c, NULL);
		auth_audit(c, act, "auth.refresh_reuse", username, 0,
			   "a used refresh token was presented; session revoked");
		return err_set(e, COVE_EAUTH,
			       "refresh token was already used; the session has been "
			       "revoked, log in again");
	}
	if (revoked || rt_exp <= now || s_exp <= now) {
		rc = err_set(e, COVE_EAUTH, "session has ended; log in again");
		goto rollback;
	}
	if (strcmp(state, "active")) {
		rc = err_set(e, COVE_EAUTH, "account is %s", state);
		goto rollback;
	}
	if ((rc = db_exec(c, e, "UPDATE refresh_tokens SET used_at = ? WHERE hash = ?",
			  "is", now, hash)) < 0 ||
	    (rc = db_exec(c, e, "UPDATE sessions SET last_seen_at = ? WHERE id = ?",
			  "is", now, sid)) < 0 ||
	    (rc = refresh_issue(c, sid, s_exp, &refresh, e)) < 0)
		goto rollback;
	if ((rc = db_commit(c, e)))
		goto out;
	if ((rc = access_token(a, uid, username, sid, &access, e)))
		goto out;
	*pair = pair_json(a, access, refresh, s_exp);
	access = refresh = NULL;
	goto out;
rollback:
	db_rollback(c);
out:
	free(access);
	free(refresh);
	return rc;
}

int sessions_logout(struct dbconn *c, const struct actor *act,
		    const char *refresh_token, struct err *e)
{
	char sid[32] = "";
	if (refresh_token) {
		char hash[65];
		sha256_hex(refresh_token, strlen(refresh_token), hash);
		struct stmt *st;
		int rc = db_query(c, &st, e,
				  "SELECT s.id FROM refresh_tokens r JOIN sessions s ON "
				  "s.id = r.session_id WHERE r.hash = ? AND s.uid = ?",
				  "si", hash, act->uid);
		if (rc)
			return rc;
		if (db_step(st, e) == 1)
			snprintf(sid, sizeof(sid), "%s", db_text(st, 0));
		db_done(st);
		if (!sid[0])
			return err_set(e, COVE_EINVAL,
				       "refresh token does not belong to a session of yours");
	} else {
		snprintf(sid, sizeof(sid), "%s", act->session_id);
	}
	if (!sid[0])
		return 0; /* API token: nothing to end */
	int rc = db_exec(c, e,
			 "UPDATE sessions SET revoked_at = ?, revoked_reason = 'logout' "
			 "WHERE id = ? AND revoked_at IS NULL",
			 "is", time_now(), sid);
	return rc < 0 ? rc : 0;
}

int sessions_revoke_user(struct dbconn *c, int64_t uid, const char *keep,
			 const char *reason, struct err *e)
{
	int rc = db_exec(c, e,
			 "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE "
			 "uid = ? AND revoked_at IS NULL AND id != ?",
			 "isis", time_now(), reason, uid, keep ? keep : "");
	return rc < 0 ? rc : 0;
}

/* ---- personal API tokens ---------------------------------------------------- */

static json_t *token_json(struct stmt *st)
{
	/* columns: id, name, scopes, created_at, expires_at, last_used_at */
	json_t *scopes = json_array();
	char *s = xstrdup(db_text(st, 2)), *save = NULL;
	for (char *p = strtok_r(s, " ", &save); p; p = strtok_r(NULL, " ", &save))
		json_array_append_new(scopes, json_string(p));
	free(s);
	json_t *o = json_pack("{s:s,s:s,s:o}", "id", db_text(st, 0), "name",
			      db_text(st, 1), "scopes", scopes);
	json_set_time(o, "created_at", db_int(st, 3));
	json_set_time(o, "expires_at", db_int(st, 4));
	json_set_time(o, "last_used_at", db_int(st, 5));
	return o;
}

int tokens_create(struct dbconn *c, const struct actor *act, json_t *body,
		  json_t **out, struct err *e)
{
	static const char *const fields[] = {"name", "scopes", "expires_in", NULL};
	const char *name;
	int rc;
	if ((rc = json_only_fields(body, fields, e)) ||
	    (rc = json_req_str(body, "name", &name, e)))
		return rc;
	size_t nl = strlen(name);
	if (nl == 0 || nl > 64 || !utf8_valid(name, nl))
		return err_set(e, COVE_EINVAL, "token name must be 1 to 64 characters");
	for (size_t i = 0; i < nl; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return err_set(e, COVE_EINVAL,
				       "token name must not contain control characters");
	unsigned scopes = 0;
	json_t *js = json_object_get(body, "scopes");
	if (js && !json_is_null(js)) {
		if (!json_is_array(js) || json_array_size(js) == 0)
			return err_set(e, COVE_EINVAL,
				       "scopes must be a non-empty list of read, write, admin");
		size_t i;
		json_t *v;
		json_array_foreach(js, i, v)
		{
			const char *s = json_string_value(v);
			if (s && !strcmp(s, "read"))
				scopes |= SCOPE_READ;
			else if (s && !strcmp(s, "write"))
				scopes |= SCOPE_WRITE | SCOPE_READ;
			else if (s && !strcmp(s, "admin"))
				scopes |= SCOPE_ADMIN;
			else
				return err_set(e, COVE_EINVAL,
					       "unknown scope; use read, write or admin");
		}
	} else {
		scopes = SCOPE_READ | SCOPE_WRITE;
	}
	if ((scopes & SCOPE_ADMIN) && !act->admin)
		return err_set(e, COVE_EPERM,
			       "permission denied: only administrators may create "
			       "admin tokens");
	/* A token cannot grant more than the credential that creates it. */
	if ((scopes & act->scopes) != scopes)
		return err_set(e, COVE_EPERM,
			       "permission denied: a token cannot have scopes its "
			       "creator lacks");
	int64_t expires = 0;
	json_t *je = json_object_get(body, "expires_in");
	if (je && !json_is_null(je)) {
		int64_t d = json_is_string(je) ? duration_parse(json_string_value(je))
			    : json_is_integer(je) ? json_integer_value(je)
						  : -1;
		if (d < 60 || d > 3650LL * 86400)
			return err_set(e, COVE_EINVAL,
				       "expires_in must be a duration from 1m to 3650d");
		expires = time_now() + d;
	}
	char id[27];
	id_new(id);
	char *secret = token_new(PAT_PREFIX, 32);
	if (!secret)
		return err_set(e, COVE_EIO, "no randomness available");
	char hash[65];
	sha256_hex(secret, strlen(secret), hash);
	struct buf sc = {0};
	if (scopes & SCOPE_READ)
		buf_adds(&sc, "read ");
	if (scopes & SCOPE_WRITE)
		buf_adds(&sc, "write ");
	if (scopes & SCOPE_ADMIN)
		buf_adds(&sc, "admin ");
	sc.data[--sc.len] = '\0';
	int64_t now = time_now();
	rc = db_exec(c, e,
		     "INSERT INTO api_tokens(id, uid, name, hash, scopes, created_at, "
		     "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		     "sisssii", id, act->uid, name, hash, sc.data, now, expires);
	buf_free(&sc);
	if (rc < 0) {
		free(secret);
		if (rc == COVE_EEXIST)
			err_set(e, COVE_EEXIST, "you already have a token named '%.64s'",
				name);
		return rc;
	}
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT id, name, scopes, created_at, expires_at, "
			   "last_used_at FROM api_tokens WHERE id = ?",
			   "s", id))) {
		free(secret);
		return rc;
	}
	if (db_step(st, e) == 1) {
		*out = token_json(st);
		json_object_set_new(*out, "token", json_string(secret));
	} else {
		rc = err_set(e, COVE_EIO, "token vanished");
	}
	db_done(st);
	free(secret);
	return rc;
}

int tokens_list(struct dbconn *c, const struct actor *act, json_t **out,
		struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT id, name, scopes, created_at, expires_at, "
			  "last_used_at FROM api_tokens WHERE uid = ? ORDER BY id",
			  "i", act->uid);
	if (rc)
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(items, token_json(st));
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o,s:n}", "items", items, "next_cursor");
	return 0;
}

int tokens_revoke(struct dbconn *c, const struct actor *act, const char *id,
		  struct err *e)
{
	int rc = db_exec(c, e, "DELETE FROM api_tokens WHERE id = ? AND uid = ?",
			 "si", id, act->uid);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such token");
	return 0;
}
