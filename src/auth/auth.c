/*
 * auth.c - the auth context: opening (keys, first admin), authenticating a
 * request's bearer token into an actor, the audit log (written, and read
 * back filtered), group lookups for other modules and the settings table.
 */
#include "auth/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int settings_get_bool(struct dbconn *c, const char *key, int def)
{
	struct stmt *st;
	int v = def;
	if (db_query(c, &st, NULL, "SELECT value FROM settings WHERE key = ?", "s",
		     key))
		return def;
	if (db_step(st, NULL) == 1)
		v = !strcmp(db_text(st, 0), "true");
	db_done(st);
	return v;
}

int settings_set(struct dbconn *c, const char *key, const char *value,
		 struct err *e)
{
	int rc = db_exec(c, e,
			 "INSERT INTO settings(key, value) VALUES (?, ?) "
			 "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			 "ss", key, value);
	return rc < 0 ? rc : 0;
}

static int bootstrap_admin(struct auth *a, const char *password,
			   char **generated, struct err *e)
{
	struct dbconn *c = db_get(a->db);
	int64_t n = 0;
	int rc = db_query_int(c, e, &n, "SELECT count(*) FROM users", NULL);
	if (rc < 0)
		goto out;
	rc = 0;
	if (n > 0)
		goto out;
	settings_set(c, "registration", a->cfg->registration ? "true" : "false", NULL);
	char *gen = NULL;
	if (!password || !*password) {
		gen = token_new("", 15);
		if (!gen) {
			rc = err_set(e, COVE_EIO, "no randomness available");
			goto out;
		}
		password = gen;
	}
	struct user_spec spec = {
		.username = "admin",
		.full_name = "Administrator",
		.password = password,
		.admin = 1,
		.allow_reserved = 1,
		.skip_policy = 1,
	};
	int64_t uid;
	rc = users_create(a, c, &spec, &uid, e);
	if (rc) {
		free(gen);
		goto out;
	}
	struct actor sys = {.authenticated = 1};
	snprintf(sys.username, sizeof(sys.username), "system");
	auth_audit(c, &sys, "user.bootstrap", "admin", 1, "first administrator");
	*generated = gen;
out:
	db_put(a->db, c);
	return rc;
}

int auth_open(struct auth **out, struct db *db, const struct config *cfg,
	      const struct auth_hooks *hooks, const char *admin_password,
	      char **generated, struct err *e)
{
	struct auth *a = xcalloc(1, sizeof(*a));
	if (hooks)
		a->hooks = *hooks;
	for (int i = 0; i < TOKEN_CACHE_LOCKS; i++)
		pthread_mutex_init(&a->cache_lock[i], NULL);
	a->cache = xcalloc(TOKEN_CACHE_SLOTS, sizeof(*a->cache));
	pthread_mutex_init(&a->basic_lock, NULL);
	a->basic = xcalloc(BASIC_CACHE_SLOTS, sizeof(*a->basic));
	if (rand_bytes(a->basic_secret, sizeof(a->basic_secret))) {
		free(a->basic); /* no secret, no cache: every check is a full one */
		a->basic = NULL;
	}
	a->db = db;
	a->cfg = cfg;
	a->pw.m_kib = (uint32_t)cfg->argon2_m_kib;
	a->pw.t = (uint32_t)cfg->argon2_t;
	a->pw.p = (uint32_t)cfg->argon2_p;
	a->issuer = xstrdup(*cfg->public_url ? cfg->public_url : "cove");
	*generated = NULL;
	char *dir = xasprintf("%s/keys", cfg->data_dir);
	int rc = keyring_open(&a->keys, dir, cfg->access_ttl, cfg->key_rotate_days, e);
	free(dir);
	if (rc)
		goto fail;
	if ((rc = oidc_open(&a->oidc, cfg, e)))
		goto fail;
	/* The operator chose this password explicitly: honour it, but say
	 * when it would not pass the policy users are held to. */
	struct err pe = {0};
	if (admin_password && *admin_password &&
	    auth_password_check(NULL, admin_password, &pe))
		log_event(LOG_WARN, "COVE_ADMIN_PASSWORD is weak", "{s:s}", "detail",
			  pe.msg);
	if ((rc = auth_password_hash(&a->pw, "not a password: timing only",
				     &a->dummy_hash, e)))
		goto fail;
	if ((rc = bootstrap_admin(a, admin_password, generated, e)))
		goto fail;
	*out = a;
	return 0;
fail:
	auth_close(a);
	*out = NULL;
	return rc;
}

void auth_close(struct auth *a)
{
	if (!a)
		return;
	keyring_close(a->keys);
	oidc_close(a->oidc);
	for (int i = 0; i < TOKEN_CACHE_SLOTS; i++)
		free(a->cache[i].token);
	free(a->cache);
	free(a->basic);
	pthread_mutex_destroy(&a->basic_lock);
	for (int i = 0; i < TOKEN_CACHE_LOCKS; i++)
		pthread_mutex_destroy(&a->cache_lock[i]);
	free(a->issuer);
	free(a->dummy_hash);
	free(a);
}

static unsigned scopes_parse(const char *s)
{
	unsigned v = 0;
	if (strstr(s, "read"))
		v |= SCOPE_READ;
	if (strstr(s, "write"))
		v |= SCOPE_WRITE;
	if (strstr(s, "admin"))
		v |= SCOPE_ADMIN;
	return v;
}

/* Fill act from the user row; refuse users that are not active. */
static int actor_from_user(struct actor *act, struct stmt *st, int col,
			   struct err *e)
{
	/* columns: uid, username, gid, state, is_admin */
	const char *state = db_text(st, col + 3);
	if (strcmp(state, "active"))
		return err_set(e, COVE_EAUTH, "account is %s", state);
	act->uid = db_int(st, col);
	snprintf(act->username, sizeof(act->username), "%s", db_text(st, col + 1));
	act->gid = db_int(st, col + 2);
	act->admin = (int)db_int(st, col + 4);
	act->authenticated = 1;
	return 0;
}

#define USER_COLS \
	"u.uid, u.username, u.gid, u.state, " \
	"EXISTS (SELECT 1 FROM groups g WHERE g.name = 'admin' AND " \
	"(g.gid = u.gid OR g.gid IN (SELECT gid FROM group_members m " \
	"WHERE m.uid = u.uid)))"

static int auth_pat(struct auth *a, const char *token, struct actor *act,
		    struct err *e)
{
	char hash[65];
	sha256_hex(token, strlen(token), hash);
	struct dbconn *c = db_get(a->db);
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT " USER_COLS ", t.id, t.scopes, t.expires_at, "
			  "t.last_used_at FROM api_tokens t JOIN users u ON "
			  "u.uid = t.uid WHERE t.hash = ?",
			  "s", hash);
	if (rc)
		goto out;
	rc = db_step(st, e);
	if (rc <= 0) {
		db_done(st);
		rc = rc < 0 ? rc : err_set(e, COVE_EAUTH, "invalid token");
		goto out;
	}
	int64_t now = time_now();
	int64_t expires = db_int(st, 7), last = db_int(st, 8);
	char id[32];
	snprintf(id, sizeof(id), "%s", db_text(st, 5));
	if (expires && expires <= now) {
		db_done(st);
		rc = err_set(e, COVE_EAUTH, "token has expired");
		goto out;
	}
	act->scopes = scopes_parse(db_text(st, 6));
	rc = actor_from_user(act, st, 0, e);
	db_done(st);
	if (rc)
		goto out;
	snprintf(act->token_id, sizeof(act->token_id), "%s", id);
	if (now - last >= 60)
		db_exec(c, NULL, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
			"is", now, id);
out:
	db_put(a->db, c);
	return rc;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

enum { CACHE_MISS, CACHE_CLAIMS, CACHE_IDENTITY };

/* The slot of a token's hash, and the lock that guards it. */
static struct token_slot *cache_slot(struct auth *a, uint64_t h, pthread_mutex_t **mu)
{
	size_t i = h % TOKEN_CACHE_SLOTS;
	*mu = &a->cache_lock[i % TOKEN_CACHE_LOCKS];
	return &a->cache[i];
}

/*
 * What is known of token: CACHE_IDENTITY (act filled: the session and the
 * user were checked at generation gen, recently), CACHE_CLAIMS (only its
 * signature was verified before: *uid and sid filled) or CACHE_MISS.
 */
static int cache_get(struct auth *a, const char *token, uint64_t h, uint64_t gen,
		     int64_t *uid, struct actor *act)
{
	pthread_mutex_t *mu;
	struct token_slot *s = cache_slot(a, h, &mu);
	int hit = CACHE_MISS;
	int64_t now_ms = time_now_ms();
	pthread_mutex_lock(mu);
	if (s->token && s->hash == h && s->exp * 1000 > now_ms && !strcmp(s->token, token)) {
		*uid = s->uid;
		memcpy(act->session_id, s->sid, sizeof(act->session_id));
		hit = CACHE_CLAIMS;
		if (s->ident_ok && s->ident_gen == gen &&
		    now_ms - s->ident_ms < IDENTITY_TTL_MS) {
			act->uid = s->uid;
			act->gid = s->gid;
			act->admin = s->admin;
			memcpy(act->username, s->username, sizeof(act->username));
			hit = CACHE_IDENTITY;
		}
	}
	pthread_mutex_unlock(mu);
	return hit;
}

static void cache_put(struct auth *a, const char *token, uint64_t h, int64_t uid,
		      const char *sid, int64_t exp)
{
	pthread_mutex_t *mu;
	struct token_slot *s = cache_slot(a, h, &mu);
	char *copy = xstrdup(token);
	pthread_mutex_lock(mu);
	char *old = s->token;
	s->token = copy;
	s->hash = h;
	s->uid = uid;
	s->exp = exp;
	s->ident_ok = 0;
	snprintf(s->sid, sizeof(s->sid), "%s", sid);
	pthread_mutex_unlock(mu);
	free(old);
}

/* Remember the identity act of token, checked at generation gen. */
static void cache_put_identity(struct auth *a, const char *token, uint64_t h,
			       uint64_t gen, const struct actor *act)
{
	pthread_mutex_t *mu;
	struct token_slot *s = cache_slot(a, h, &mu);
	pthread_mutex_lock(mu);
	if (s->token && s->hash == h && !strcmp(s->token, token) && s->uid == act->uid) {
		s->ident_ok = 1;
		s->ident_gen = gen;
		s->ident_ms = time_now_ms();
		s->gid = act->gid;
		s->admin = act->admin;
		memcpy(s->username, act->username, sizeof(s->username));
	}
	pthread_mutex_unlock(mu);
}

static int auth_jwt(struct auth *a, const char *token, struct actor *act,
		    struct err *e)
{
	uint64_t h = fnv1a(token);
	int64_t uid = 0;
	int rc;
	/* read before any query: a change committed after this moment moves
	 * the generation past the one stored with what the query reads */
	uint64_t gen = db_gen(a->db, DB_GEN_IDENTITY);
	int hit = cache_get(a, token, h, gen, &uid, act);
	if (hit == CACHE_IDENTITY) {
		act->scopes = SCOPE_ALL;
		act->authenticated = 1;
		return 0;
	}
	if (hit == CACHE_MISS) {
		json_t *claims = NULL;
		rc = keyring_verify(a->keys, token, a->issuer, AUDIENCE, &claims, e);
		if (rc)
			return rc;
		uid = json_integer_value(json_object_get(claims, "uid"));
		const char *sid = json_string_value(json_object_get(claims, "sid"));
		int64_t exp = json_integer_value(json_object_get(claims, "exp"));
		if (!uid || !sid || strlen(sid) >= sizeof(act->session_id)) {
			json_decref(claims);
			return err_set(e, COVE_EAUTH, "invalid token: missing claims");
		}
		snprintf(act->session_id, sizeof(act->session_id), "%s", sid);
		cache_put(a, token, h, uid, sid, exp);
		json_decref(claims);
	}
	struct dbconn *c = db_get(a->db);
	struct stmt *st;
	rc = db_query(c, &st, e,
		      "SELECT " USER_COLS ", s.revoked_at FROM sessions s JOIN users "
		      "u ON u.uid = s.uid WHERE s.id = ? AND u.uid = ?",
		      "si", act->session_id, uid);
	if (rc)
		goto out;
	rc = db_step(st, e);
	if (rc <= 0) {
		rc = rc < 0 ? rc : err_set(e, COVE_EAUTH, "session has ended");
	} else if (!db_is_null(st, 5)) {
		rc = err_set(e, COVE_EAUTH, "session has ended; log in again");
	} else {
		act->scopes = SCOPE_ALL;
		rc = actor_from_user(act, st, 0, e);
	}
	db_done(st);
	if (!rc)
		cache_put_identity(a, token, h, gen, act);
out:
	db_put(a->db, c);
	return rc;
}

/* ---- browser sessions ---------------------------------------------------- */

void auth_csrf_token(const char *cookie, char out[65])
{
	struct buf b = {0};
	buf_adds(&b, "cove-csrf:");
	buf_adds(&b, cookie);
	sha256_hex(b.data, b.len, out);
	buf_free(&b);
}

int auth_csrf_ok(const char *cookie, const char *given)
{
	char want[65];
	auth_csrf_token(cookie, want);
	if (!given || strlen(given) != 64)
		return 0;
	unsigned diff = 0;
	for (int i = 0; i < 64; i++)
		diff |= (unsigned)(want[i] ^ given[i]);
	return diff == 0;
}

/*
 * A session cookie: the session row it names (by the hash of its secret)
 * must be a browser session, not revoked, not past its lifetime nor idle
 * for longer than --session-idle. The identity is cached as for access
 * tokens (at most IDENTITY_TTL_MS, and only within one identity
 * generation: a logout or a revocation is seen by the next request).
 */
/* Nobody yet: what an actor is before a credential is verified. */
static void actor_reset(struct actor *act)
{
	act->authenticated = 0;
	act->uid = 0;
	act->admin = 0;
	act->scopes = 0;
	act->username[0] = act->session_id[0] = act->token_id[0] = '\0';
	act->via_cookie = 0;
}

int auth_cookie(struct auth *a, const char *cookie, struct actor *act,
		struct err *e)
{
	actor_reset(act);
	size_t n = strlen(cookie);
	if (!str_has_prefix(cookie, AUTH_COOKIE_PREFIX) || n > 128)
		return err_set(e, COVE_EAUTH, "invalid session cookie; log in again");
	uint64_t h = fnv1a(cookie);
	uint64_t gen = db_gen(a->db, DB_GEN_IDENTITY);
	int64_t uid = 0;
	if (cache_get(a, cookie, h, gen, &uid, act) == CACHE_IDENTITY) {
		act->scopes = SCOPE_ALL;
		act->authenticated = 1;
		act->via_cookie = 1;
		return 0;
	}
	char hash[65];
	sha256_hex(cookie, n, hash);
	struct dbconn *c = db_get(a->db);
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT " USER_COLS ", s.id, s.revoked_at, s.expires_at, "
			  "s.last_seen_at FROM sessions s JOIN users u ON u.uid = s.uid "
			  "WHERE s.cookie_hash = ? AND s.kind = 'browser'",
			  "s", hash);
	if (rc)
		goto out;
	int64_t now = time_now(), exp = 0, seen = 0;
	rc = db_step(st, e);
	if (rc <= 0) {
		rc = rc < 0 ? rc : err_set(e, COVE_EAUTH, "session has ended; log in again");
	} else if (!db_is_null(st, 6)) {
		rc = err_set(e, COVE_EAUTH, "session has ended; log in again");
	} else {
		exp = db_int(st, 7);
		seen = db_int(st, 8);
		if (exp <= now)
			rc = err_set(e, COVE_EAUTH, "session has expired; log in again");
		else if (seen + a->cfg->session_idle <= now)
			rc = err_set(e, COVE_EAUTH,
				     "session ended after being unused; log in again");
		else
			rc = actor_from_user(act, st, 0, e);
		snprintf(act->session_id, sizeof(act->session_id), "%s", db_text(st, 5));
	}
	db_done(st);
	if (rc)
		goto out;
	act->scopes = SCOPE_ALL;
	act->via_cookie = 1;
	/* the cache entry lives no longer than the session could */
	int64_t until = seen + a->cfg->session_idle < exp ? seen + a->cfg->session_idle : exp;
	cache_put(a, cookie, h, act->uid, act->session_id, until);
	cache_put_identity(a, cookie, h, gen, act);
	/* last use, to the minute: for the idle limit and the session list */
	if (now - seen >= 60)
		db_exec(c, NULL, "UPDATE sessions SET last_seen_at = ? WHERE id = ?",
			"is", now, act->session_id);
out:
	db_put(a->db, c);
	if (rc) {
		act->authenticated = 0;
		act->session_id[0] = '\0';
	}
	return rc;
}

int auth_authenticate(struct auth *a, const char *authorization,
		      struct actor *act, struct err *e)
{
	actor_reset(act);
	if (!authorization)
		return 0;
	if (strncasecmp(authorization, "Bearer ", 7))
		return err_set(e, COVE_EAUTH,
			       "unsupported authorization scheme: use 'Bearer <token>'");
	const char *token = authorization + 7;
	while (*token == ' ')
		token++;
	size_t n = strlen(token);
	if (n == 0 || n > 4096)
		return err_set(e, COVE_EAUTH, "invalid token");
	int rc = str_has_prefix(token, PAT_PREFIX) ? auth_pat(a, token, act, e)
						  : auth_jwt(a, token, act, e);
	if (rc) {
		act->authenticated = 0;
		if (rc != COVE_EAUTH && rc != COVE_EUNAVAIL)
			rc = err_set(e, COVE_EAUTH, "cannot verify token");
	}
	return rc;
}

/* The cache key of a credential: SHA-256 over the server's random secret,
 * the username and the password (never stored or logged as such). */
static void basic_key(struct auth *a, const char *user, const char *secret,
		      char out[65])
{
	struct buf b = {0};
	buf_add(&b, a->basic_secret, sizeof(a->basic_secret));
	buf_adds(&b, user);
	buf_addc(&b, '\0');
	buf_adds(&b, secret);
	sha256_hex(b.data, b.len, out);
	memset(b.data, 0, b.len);
	buf_free(&b);
}

/* The stored password hash of user, its fingerprint, and the actor:
 * 1 when the user is active and the fingerprint is fp_want (or fp_want is
 * NULL, then fp_out is filled). */
static int basic_user(struct dbconn *c, const char *user, const char *fp_want,
		      char fp_out[65], struct actor *act)
{
	struct stmt *st;
	if (db_query(c, &st, NULL,
		     "SELECT uid, gid, state, password_hash FROM users WHERE username = ?",
		     "s", user))
		return 0;
	int ok = 0;
	if (db_step(st, NULL) == 1 && db_text(st, 3) && !strcmp(db_text(st, 2), "active")) {
		char fp[65];
		sha256_hex(db_text(st, 3), strlen(db_text(st, 3)), fp);
		if (!fp_want || !strcmp(fp, fp_want)) {
			ok = 1;
			if (fp_out)
				memcpy(fp_out, fp, 65);
			if (act) {
				act->uid = db_int(st, 0);
				act->gid = db_int(st, 1);
			}
		}
	}
	db_done(st);
	return ok;
}

static struct basic_slot *basic_slot_of(struct auth *a, const char *key)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++)
		v = v * 16 + (unsigned)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
	return &a->basic[v % BASIC_CACHE_SLOTS];
}

static int basic_cached(struct auth *a, struct dbconn *c, const char *key,
			const char *user, struct actor *act)
{
	struct basic_slot *s = basic_slot_of(a, key);
	char fp[65];
	int hit = 0;
	pthread_mutex_lock(&a->basic_lock);
	if (s->exp > time_now() && !strcmp(s->key, key)) {
		memcpy(fp, s->fp, 65);
		hit = 1;
	}
	pthread_mutex_unlock(&a->basic_lock);
	if (!hit || !basic_user(c, user, fp, NULL, act))
		return 0;
	act->authenticated = 1;
	act->scopes = SCOPE_ALL;
	act->admin = users_is_admin(c, act->uid);
	snprintf(act->username, sizeof(act->username), "%s", user);
	return 1;
}

static void basic_remember(struct auth *a, struct dbconn *c, const char *key,
			   const char *user)
{
	char fp[65];
	if (!basic_user(c, user, NULL, fp, NULL))
		return;
	struct basic_slot *s = basic_slot_of(a, key);
	pthread_mutex_lock(&a->basic_lock);
	memcpy(s->key, key, 65);
	memcpy(s->fp, fp, 65);
	s->exp = time_now() + BASIC_CACHE_TTL;
	pthread_mutex_unlock(&a->basic_lock);
}

int auth_basic(struct auth *a, const char *username, const char *secret,
	       struct actor *act, struct err *e)
{
	if (!username || !*username || strlen(username) > AUTH_NAME_MAX || !secret ||
	    !*secret || strlen(secret) > 1024)
		return err_set(e, COVE_EAUTH, "invalid username or password");
	if (str_has_prefix(secret, PAT_PREFIX)) {
		int rc = auth_pat(a, secret, act, e);
		if (rc == 0 && strcmp(act->username, username)) {
			act->authenticated = 0;
			rc = err_set(e, COVE_EAUTH, "token does not belong to %s", username);
		}
		if (rc)
			act->authenticated = 0;
		return rc == COVE_EAUTH || rc == 0 ? rc
			: err_set(e, COVE_EAUTH, "cannot verify token");
	}
	char key[65];
	basic_key(a, username, secret, key);
	struct dbconn *c = db_get(a->db);
	int rc;
	if (a->basic && basic_cached(a, c, key, username, act) == 1) {
		rc = 0;
	} else {
		rc = sessions_password(a, c, act, username, secret, e);
		if (rc == 0 && a->basic)
			basic_remember(a, c, key, username);
	}
	db_put(a->db, c);
	if (rc)
		act->authenticated = 0;
	return rc;
}

int auth_sign(struct auth *a, json_t *claims, char **jwt, struct err *e)
{
	json_object_set_new(claims, "iss", json_string(a->issuer));
	return keyring_sign(a->keys, claims, jwt, e);
}

int auth_verify(struct auth *a, const char *token, const char *audience,
		json_t **claims, struct err *e)
{
	return keyring_verify(a->keys, token, a->issuer, audience, claims, e);
}

int64_t auth_token_ttl(struct auth *a)
{
	return a->cfg->access_ttl;
}

int auth_project_role(struct dbconn *c, const char *name, int64_t uid,
		      char role[16], struct err *e)
{
	return projects_role(c, name, uid, role, e);
}

int auth_user_is_admin(struct dbconn *c, int64_t uid)
{
	return users_is_admin(c, uid);
}

int auth_overview(struct dbconn *c, json_t *out, struct err *e)
{
	/* every count reads an index: users_state for the states (locked and
	 * disabled are few), users_gid and group_members for the admins (the
	 * members of the group admin, and those whose primary group it is) */
	int64_t total = 0, locked = 0, disabled = 0, admins = 0, projects = 0;
	int rc;
	if ((rc = db_query_int(c, e, &total, "SELECT count(*) FROM users", NULL)) < 0 ||
	    (rc = db_query_int(c, e, &locked,
			       "SELECT count(*) FROM users WHERE state = 'locked'", NULL)) < 0 ||
	    (rc = db_query_int(c, e, &disabled,
			       "SELECT count(*) FROM users WHERE state = 'disabled'", NULL)) < 0 ||
	    (rc = db_query_int(c, e, &admins,
			       "SELECT (SELECT count(*) FROM group_members m WHERE m.gid = g.gid)"
			       " + (SELECT count(*) FROM users u WHERE u.gid = g.gid AND NOT EXISTS"
			       " (SELECT 1 FROM group_members m WHERE m.gid = g.gid AND m.uid ="
			       " u.uid)) FROM groups g WHERE g.name = 'admin'",
			       NULL)) < 0 ||
	    (rc = db_query_int(c, e, &projects, "SELECT count(*) FROM projects", NULL)) < 0)
		return rc;
	json_object_set_new(out, "users",
			    json_pack("{s:I,s:I,s:I,s:I,s:I}", "total", (json_int_t)total,
				      "active", (json_int_t)(total - locked - disabled),
				      "locked", (json_int_t)locked, "disabled",
				      (json_int_t)disabled, "admins", (json_int_t)admins));
	json_object_set_new(out, "projects", json_integer(projects));
	return 0;
}

void auth_audit(struct dbconn *c, const struct actor *act, const char *action,
		const char *target, int ok, const char *detail)
{
	char id[27];
	id_new(id);
	struct err e = {0};
	int rc = db_exec(c, &e,
			 "INSERT INTO audit(id, time, actor, action, target, "
			 "outcome, ip, request_id, detail) "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 "sisssssss", id, time_now(),
			 act && act->username[0] ? act->username : "anonymous",
			 action, target ? target : "", ok ? "success" : "failure",
			 act ? act->ip : "", act ? act->request_id : "",
			 detail ? detail : "");
	if (rc < 0)
		log_event(LOG_ERROR, "audit write failed", "{s:s,s:s}", "action",
			  action, "error", e.msg);
	log_event(LOG_INFO, "audit", "{s:s,s:s,s:s,s:s}", "actor",
		  act && act->username[0] ? act->username : "anonymous", "action",
		  action, "target", target ? target : "", "outcome",
		  ok ? "success" : "failure");
}

/* An id, or its time prefix: Crockford base32 digits. */
static int audit_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 26)
		return 0;
	return strspn(s, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") == n;
}

/* ?since and ?until: the time prefix of audit ids of that millisecond
 * (ids start with their time, so a time range is a range of ids, read
 * from the primary key). */
static int audit_time_bound(const char *name, const char *v, char out[11],
			    int64_t *ms, struct err *e)
{
	if (time_parse(v, ms) < 0)
		return err_set(e, COVE_EINVAL,
			       "'%s' must be an RFC 3339 time such as 2026-05-01T00:00:00Z "
			       "(or with an offset: 2026-05-01T02:00:00+02:00)",
			       name);
	id_time_prefix(*ms, out);
	return 0;
}

int audit_list(struct dbconn *c, const struct audit_filter *f, json_t **out,
	       struct err *e)
{
	/* the page is the ids in [lo, hi): since, and the smaller of the
	 * cursor and until */
	char lo[11] = "", until[11] = "", hi[32] = "~"; /* '~' follows every id */
	int64_t since_ms = 0, until_ms = 0;
	int rc;
	if (f->cursor && *f->cursor) {
		if (!audit_id_ok(f->cursor))
			return err_set(e, COVE_EINVAL, "malformed cursor");
		snprintf(hi, sizeof(hi), "%s", f->cursor);
	}
	if (f->since && (rc = audit_time_bound("since", f->since, lo, &since_ms, e)))
		return rc;
	if (f->until) {
		if ((rc = audit_time_bound("until", f->until, until, &until_ms, e)))
			return rc;
		if (strcmp(until, hi) < 0)
			snprintf(hi, sizeof(hi), "%s", until);
	}
	if (f->since && f->until && since_ms >= until_ms)
		return err_set(e, COVE_EINVAL, "'since' must be before 'until'");
	if (f->outcome && strcmp(f->outcome, "success") && strcmp(f->outcome, "failure"))
		return err_set(e, COVE_EINVAL, "'outcome' is success or failure, not '%.40s'",
			       f->outcome);
	static const char *const names[] = {"actor", "action", "target"};
	const char *vals[] = {f->actor, f->action, f->target};
	for (int i = 0; i < 3; i++)
		if (vals[i] && (!*vals[i] || strlen(vals[i]) > 512))
			return err_set(e, COVE_EINVAL, "'%s' must be 1 to 512 bytes", names[i]);
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT id, time, actor, action, target, outcome, ip, request_id, "
			   "detail FROM audit WHERE id >= ?1 AND id < ?2 AND (?3 IS NULL OR "
			   "actor = ?3) AND (?4 IS NULL OR action = ?4 OR action LIKE ?4 || "
			   "'.%') AND (?5 IS NULL OR outcome = ?5) AND (?6 IS NULL OR target = "
			   "?6) ORDER BY id DESC LIMIT ?7",
			   "ssssssi", lo, hi, f->actor, f->action, f->outcome, f->target,
			   (int64_t)f->limit + 1)))
		return rc;
	json_t *items = json_array();
	json_t *next = json_null();
	int n = 0;
	while ((rc = db_step(st, e)) == 1) {
		if (n++ == f->limit) {
			json_decref(next);
			next = json_string(json_string_value(
				json_object_get(json_array_get(items, (size_t)f->limit - 1), "id")));
			break;
		}
		json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", db_text(st, 0),
				      "actor", db_text(st, 2), "action", db_text(st, 3),
				      "target", db_text(st, 4), "outcome", db_text(st, 5), "ip",
				      db_text(st, 6), "request_id", db_text(st, 7), "detail",
				      db_text(st, 8));
		json_set_time(a, "time", db_int(st, 1));
		json_array_append_new(items, a);
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

int auth_user_gids(struct dbconn *c, int64_t uid, int64_t **gids,
		   struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT gid FROM users WHERE uid = ? UNION ALL "
			  "SELECT gid FROM group_members WHERE uid = ?",
			  "ii", uid, uid);
	if (rc)
		return rc;
	size_t n = 0, cap = 8;
	int64_t *v = xmalloc(cap * sizeof(*v));
	while ((rc = db_step(st, e)) == 1) {
		if (n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = db_int(st, 0);
	}
	db_done(st);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*gids = v;
	return (int)n;
}
