/*
 * users.c - user accounts with Unix semantics: uid from 1000, a
 * user-private primary group with gid = uid, supplementary groups, the
 * admin group; creation (registration, admin, import), changes, deletion,
 * listing and searching, and passwd-format export. SQL lives here; no HTTP.
 */
#include "auth/internal.h"

#include <ctype.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

int64_t ids_next(struct dbconn *c, struct err *e)
{
	int64_t v = 0;
	int rc = db_query_int(c, e, &v,
			      "SELECT max(coalesce((SELECT max(uid) FROM users), 0),"
			      " coalesce((SELECT max(gid) FROM groups), 0), ?)",
			      "i", (int64_t)(AUTH_UID_MIN - 1));
	if (rc < 0)
		return rc;
	return v + 1;
}

int email_check(const char *email, struct err *e)
{
	size_t n = strlen(email);
	const char *at = strchr(email, '@');
	if (n < 3 || n > 254 || !at || at == email || !at[1] || strchr(at + 1, '@') ||
	    !strchr(at + 1, '.'))
		return err_set(e, COVE_EINVAL, "'%.64s' is not an email address", email);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)email[i] <= ' ' || email[i] == 0x7f ||
		    strchr("<>()[]\\,;:\"", email[i]))
			return err_set(e, COVE_EINVAL,
				       "email address contains a character that is not allowed");
	if (!utf8_valid(email, n))
		return err_set(e, COVE_EINVAL, "email address is not valid UTF-8");
	return 0;
}

static int full_name_check(const char *s, struct err *e)
{
	size_t n = strlen(s);
	if (n > 128 || !utf8_valid(s, n))
		return err_set(e, COVE_EINVAL,
			       "full name must be valid UTF-8 of at most 128 bytes");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == ':' || s[i] == 0x7f)
			return err_set(e, COVE_EINVAL,
				       "full name must not contain ':' or control characters");
	return 0;
}

int users_find(struct dbconn *c, const char *name, int64_t *uid, struct err *e)
{
	int rc = db_query_int(c, e, uid, "SELECT uid FROM users WHERE username = ?",
			      "s", name);
	return rc;
}

int users_is_admin(struct dbconn *c, int64_t uid)
{
	int64_t v = 0;
	db_query_int(c, NULL, &v,
		     "SELECT EXISTS (SELECT 1 FROM users u JOIN groups g ON "
		     "g.name = 'admin' WHERE u.uid = ? AND (g.gid = u.gid OR "
		     "g.gid IN (SELECT gid FROM group_members WHERE uid = u.uid)))",
		     "i", uid);
	return v == 1;
}

/* The checks of a new user's fields, before any lock is taken. */
static int user_spec_check(const struct user_spec *u, struct err *e)
{
	int rc;
	if ((rc = auth_username_check(u->username, u->allow_reserved, e)))
		return rc;
	if (u->email && (rc = email_check(u->email, e)))
		return rc;
	if (u->full_name && (rc = full_name_check(u->full_name, e)))
		return rc;
	if (u->state && strcmp(u->state, "active") && strcmp(u->state, "locked") &&
	    strcmp(u->state, "disabled"))
		return err_set(e, COVE_EINVAL, "state must be active, locked or disabled");
	return 0;
}

/* Insert the user, their private group and (through the hook) their home.
 * Caller holds a transaction; hash is the password's (may be NULL). */
static int user_insert(struct auth *a, struct dbconn *c, const struct user_spec *u,
		       const char *hash, int64_t *uid_out, struct err *e)
{
	int64_t found;
	int rc;
	if ((rc = db_query_int(c, e, &found,
			       "SELECT 1 FROM users WHERE username = ? UNION ALL "
			       "SELECT 1 FROM groups WHERE name = ?",
			       "ss", u->username, u->username)) != 0) {
		if (rc > 0)
			rc = err_set(e, COVE_EEXIST, "the name '%s' is already taken",
				     u->username);
		return rc;
	}
	if (u->email && (rc = db_query_int(c, e, &found,
					   "SELECT 1 FROM users WHERE email = ?", "s",
					   u->email)) != 0) {
		if (rc > 0)
			rc = err_set(e, COVE_EEXIST,
				     "the email address is already registered");
		return rc;
	}
	int64_t uid = u->uid;
	if (!uid) {
		uid = ids_next(c, e);
		if (uid < 0)
			return (int)uid;
	}
	int64_t gid = u->gid ? u->gid : uid;
	int64_t now = time_now();
	rc = db_exec(c, e, "INSERT INTO groups(gid, name, kind, created_at) "
			   "VALUES (?, ?, 'user', ?)",
		     "isi", gid, u->username, now);
	if (rc < 0) {
		if (rc == COVE_EEXIST)
			err_set(e, COVE_EEXIST, "gid %lld is already in use", (long long)gid);
		return rc;
	}
	rc = db_exec(c, e,
		     "INSERT INTO users(uid, username, email, full_name, "
		     "password_hash, state, gid, created_at, updated_at) "
		     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		     "isssssiii", uid, u->username, u->email,
		     u->full_name ? u->full_name : "",
		     u->password_hash ? u->password_hash : hash,
		     u->state ? u->state : "active", gid, now, now);
	if (rc < 0) {
		if (rc == COVE_EEXIST)
			err_set(e, COVE_EEXIST, "uid %lld or the name is already in use",
				(long long)uid);
		return rc;
	}
	if (u->admin && strcmp(u->username, "admin")) {
		rc = db_exec(c, e,
			     "INSERT INTO group_members(gid, uid) SELECT gid, ? "
			     "FROM groups WHERE name = 'admin'",
			     "i", uid);
		if (rc < 0)
			return rc;
	}
	if (a->hooks.user_created &&
	    (rc = a->hooks.user_created(a->hooks.ctx, c, u->username, uid, gid, e)))
		return rc;
	*uid_out = uid;
	return 0;
}

int users_create_tx(struct auth *a, struct dbconn *c, const struct user_spec *u,
		    int64_t *uid_out, struct err *e)
{
	int rc = user_spec_check(u, e);
	if (rc)
		return rc;
	if (u->password && !u->password_hash)
		return err_set(e, COVE_EINTERNAL, "users_create_tx takes no plain password");
	return user_insert(a, c, u, NULL, uid_out, e);
}

int users_create(struct auth *a, struct dbconn *c, const struct user_spec *u,
		 int64_t *uid_out, struct err *e)
{
	int rc;
	char *hash = NULL;
	if ((rc = user_spec_check(u, e)))
		return rc;
	if (u->password && !u->password_hash) {
		if (!u->skip_policy &&
		    (rc = auth_password_check(u->username, u->password, e)))
			return rc;
		/* Hash before taking the write lock: it is the slow part. */
		if ((rc = auth_password_hash(&a->pw, u->password, &hash, e)))
			return rc;
	}
	if ((rc = db_begin(c, e)))
		goto out;
	if ((rc = user_insert(a, c, u, hash, uid_out, e))) {
		db_rollback(c);
		goto out;
	}
	rc = db_commit(c, e);
out:
	free(hash);
	return rc < 0 ? rc : 0;
}

json_t *users_json(struct dbconn *c, int64_t uid, struct err *e)
{
	struct stmt *st;
	if (db_query(c, &st, e,
		     "SELECT u.uid, u.username, u.email, u.full_name, u.state, u.gid, "
		     "u.umask, u.created_at, u.password_hash IS NOT NULL, "
		     "u.quota_storage_bytes FROM users u WHERE u.uid = ?",
		     "i", uid))
		return NULL;
	int rc = db_step(st, e);
	if (rc <= 0) {
		db_done(st);
		if (rc == 0)
			err_set(e, COVE_ENOENT, "no such user");
		return NULL;
	}
	char umask[8];
	snprintf(umask, sizeof(umask), "%04llo", (long long)db_int(st, 6));
	json_t *o = json_pack("{s:I,s:s,s:s?,s:s,s:s,s:I,s:s,s:b}", "uid",
			      (json_int_t)db_int(st, 0), "username", db_text(st, 1),
			      "email", db_text(st, 2), "full_name", db_text(st, 3),
			      "state", db_text(st, 4), "gid", (json_int_t)db_int(st, 5),
			      "umask", umask, "has_password", (int)db_int(st, 8));
	if (!json_object_get(o, "email"))
		json_object_set_new(o, "email", json_null());
	json_set_time(o, "created_at", db_int(st, 7));
	json_object_set_new(o, "quota_storage_bytes", json_integer(db_int(st, 9)));
	db_done(st);
	json_t *groups = json_array();
	if (db_query(c, &st, e,
		     "SELECT g.name FROM groups g JOIN users u ON u.gid = g.gid "
		     "WHERE u.uid = ? UNION ALL SELECT * FROM (SELECT g.name FROM "
		     "group_members m JOIN groups g ON g.gid = m.gid WHERE m.uid = ? "
		     "ORDER BY g.name)",
		     "ii", uid, uid) == 0) {
		while (db_step(st, e) == 1)
			json_array_append_new(groups, json_string(db_text(st, 0)));
		db_done(st);
	}
	int admin = 0;
	size_t i;
	json_t *g;
	json_array_foreach(groups, i, g) if (!strcmp(json_string_value(g), "admin"))
		admin = 1;
	json_object_set_new(o, "groups", groups);
	json_object_set_new(o, "admin", json_boolean(admin));
	return o;
}

static int umask_parse(const char *s, int64_t *out)
{
	if (!s || !*s || strlen(s) > 4)
		return -1;
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return -1;
		v = v * 8 + (*p - '0');
	}
	if (v > 0777)
		return -1;
	*out = v;
	return 0;
}

int users_update(struct auth *a, struct dbconn *c, const struct actor *act,
		 int64_t uid, json_t *patch, int admin_fields, struct err *e)
{
	static const char *const self_fields[] = {"email", "full_name", "umask", NULL};
	static const char *const all_fields[] = {"email",    "full_name", "umask",
						 "state",    "password",  "admin",
						 "quota_storage_bytes", NULL};
	int rc = json_only_fields(patch, admin_fields ? all_fields : self_fields, e);
	if (rc)
		return rc;
	const char *email, *full_name, *umask_s, *state, *password;
	int admin = 0, admin_set = 0, quota_set = 0;
	int64_t quota = 0;
	if ((rc = json_opt_int(patch, "quota_storage_bytes", &quota, &quota_set, e)))
		return rc;
	if (quota_set && quota < 0)
		return err_set(e, COVE_EINVAL, "quota_storage_bytes must not be negative");
	if ((rc = json_opt_str(patch, "email", &email, e)) ||
	    (rc = json_opt_str(patch, "full_name", &full_name, e)) ||
	    (rc = json_opt_str(patch, "umask", &umask_s, e)) ||
	    (rc = json_opt_str(patch, "state", &state, e)) ||
	    (rc = json_opt_str(patch, "password", &password, e)) ||
	    (rc = json_opt_bool(patch, "admin", &admin, &admin_set, e)))
		return rc;
	int64_t umask = 0;
	if (email && (rc = email_check(email, e)))
		return rc;
	if (full_name && (rc = full_name_check(full_name, e)))
		return rc;
	if (umask_s && umask_parse(umask_s, &umask))
		return err_set(e, COVE_EINVAL, "umask must be octal, like \"0022\"");
	if (state && strcmp(state, "active") && strcmp(state, "locked") &&
	    strcmp(state, "disabled"))
		return err_set(e, COVE_EINVAL, "state must be active, locked or disabled");
	char username[AUTH_NAME_MAX + 1] = "";
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT username FROM users WHERE uid = ?",
			   "i", uid)))
		return rc;
	if (db_step(st, e) == 1)
		snprintf(username, sizeof(username), "%s", db_text(st, 0));
	db_done(st);
	if (!username[0])
		return err_set(e, COVE_ENOENT, "no such user");
	if (uid == act->uid && ((state && strcmp(state, "active")) ||
				(admin_set && !admin)))
		return err_set(e, COVE_ECONFLICT,
			       "you cannot lock yourself out or drop your own admin rights");
	if (admin_set && !admin && !strcmp(username, "admin"))
		return err_set(e, COVE_ECONFLICT,
			       "the 'admin' user is always an administrator");
	char *hash = NULL;
	if (password) {
		if ((rc = auth_password_check(username, password, e)))
			return rc;
		if ((rc = auth_password_hash(&a->pw, password, &hash, e)))
			return rc;
	}
	if ((rc = db_begin(c, e)))
		goto out;
	int64_t now = time_now();
	if (email) {
		rc = db_exec(c, e, "UPDATE users SET email = ?, updated_at = ? WHERE uid = ?",
			     "sii", email, now, uid);
		if (rc == COVE_EEXIST)
			err_set(e, COVE_EEXIST, "the email address is already registered");
		if (rc < 0)
			goto rollback;
	}
	if (full_name && (rc = db_exec(c, e, "UPDATE users SET full_name = ?, "
					     "updated_at = ? WHERE uid = ?",
				       "sii", full_name, now, uid)) < 0)
		goto rollback;
	if (umask_s && (rc = db_exec(c, e, "UPDATE users SET umask = ?, updated_at = ? "
					   "WHERE uid = ?",
				     "iii", umask, now, uid)) < 0)
		goto rollback;
	if (quota_set && (rc = db_exec(c, e, "UPDATE users SET quota_storage_bytes = ? "
					     "WHERE uid = ?",
				       "ii", quota, uid)) < 0)
		goto rollback;
	if (state && (rc = db_exec(c, e, "UPDATE users SET state = ?, updated_at = ? "
					 "WHERE uid = ?",
				   "sii", state, now, uid)) < 0)
		goto rollback;
	if (hash && (rc = db_exec(c, e, "UPDATE users SET password_hash = ?, "
					"updated_at = ? WHERE uid = ?",
				  "sii", hash, now, uid)) < 0)
		goto rollback;
	if (admin_set && strcmp(username, "admin")) {
		rc = admin ? db_exec(c, e,
				     "INSERT OR IGNORE INTO group_members(gid, uid) "
				     "SELECT gid, ? FROM groups WHERE name = 'admin'",
				     "i", uid)
			   : db_exec(c, e,
				     "DELETE FROM group_members WHERE uid = ? AND gid = "
				     "(SELECT gid FROM groups WHERE name = 'admin')",
				     "i", uid);
		if (rc < 0)
			goto rollback;
	}
	if (hash || (state && strcmp(state, "active")))
		if ((rc = sessions_revoke_user(c, uid, NULL,
					       hash ? "password reset by admin"
						    : "account locked",
					       e)) < 0)
			goto rollback;
	rc = db_commit(c, e);
	goto out;
rollback:
	db_rollback(c);
out:
	free(hash);
	return rc < 0 ? rc : 0;
}

int users_delete(struct auth *a, struct dbconn *c, const struct actor *act,
		 int64_t uid, struct err *e)
{
	if (uid == act->uid)
		return err_set(e, COVE_ECONFLICT, "you cannot delete yourself");
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	int64_t gid = 0;
	char name[AUTH_NAME_MAX + 1] = "";
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT gid, username FROM users WHERE uid = ?",
			   "i", uid)))
		goto rollback;
	if (db_step(st, e) == 1) {
		gid = db_int(st, 0);
		snprintf(name, sizeof(name), "%s", db_text(st, 1));
	}
	db_done(st);
	if (!name[0]) {
		rc = err_set(e, COVE_ENOENT, "no such user");
		goto rollback;
	}
	if (!strcmp(name, "admin")) {
		rc = err_set(e, COVE_ECONFLICT, "the 'admin' user cannot be deleted");
		goto rollback;
	}
	if (a->hooks.user_deleted &&
	    (rc = a->hooks.user_deleted(a->hooks.ctx, c, name, e)))
		goto rollback;
	if ((rc = db_exec(c, e, "DELETE FROM users WHERE uid = ?", "i", uid)) < 0)
		goto rollback;
	/* The user-private group goes with its user unless someone else
	 * still has it as primary group. */
	if ((rc = db_exec(c, e,
			  "DELETE FROM groups WHERE gid = ? AND kind = 'user' AND "
			  "NOT EXISTS (SELECT 1 FROM users WHERE gid = ?)",
			  "ii", gid, gid)) < 0)
		goto rollback;
	return db_commit(c, e);
rollback:
	db_rollback(c);
	return rc;
}

/* ---- listing and search ---- */

static locale_t fold_locale; /* C.UTF-8, for towlower_l; 0: ASCII only */
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;

static void fold_init(void)
{
	fold_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* s (UTF-8) as lower-case code points into a new array of *n (caller frees):
 * "Ørsted" and "ØRSTED" fold alike. Bytes that are not UTF-8 stand for
 * themselves. */
static uint32_t *fold(const char *s, size_t *n)
{
	size_t len = strlen(s), k = 0;
	uint32_t *v = xmalloc(sizeof(*v) * (len + 1));
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t c = *p;
		int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
		int ok = 1;
		for (int i = 1; i <= extra; i++)
			ok &= (p[i] & 0xc0) == 0x80;
		if (extra && ok) {
			c &= 0x3f >> extra;
			for (int i = 1; i <= extra; i++)
				c = (c << 6) | (p[i] & 0x3f);
			p += extra + 1;
		} else {
			p++;
		}
		if (c < 0x80)
			c = (uint32_t)tolower((int)c);
		else if (fold_locale)
			c = (uint32_t)towlower_l((wint_t)c, fold_locale);
		v[k++] = c;
	}
	*n = k;
	return v;
}

/* Does hay contain the folded needle (nn code points)? */
static int fold_contains(const char *hay, const uint32_t *needle, size_t nn)
{
	size_t nh;
	uint32_t *h = fold(hay, &nh);
	int hit = 0;
	for (size_t i = 0; !hit && i + nn <= nh; i++)
		hit = !memcmp(h + i, needle, nn * sizeof(*h));
	free(h);
	return hit;
}

int users_list(struct dbconn *c, const struct user_filter *f, json_t **out,
	       struct err *e)
{
	int64_t after = 0;
	if (f->cursor) {
		char *end;
		after = strtoll(f->cursor, &end, 10);
		if (!*f->cursor || *end)
			return err_set(e, COVE_EINVAL, "invalid cursor");
	}
	if (f->state && strcmp(f->state, "active") && strcmp(f->state, "locked") &&
	    strcmp(f->state, "disabled"))
		return err_set(e, COVE_EINVAL,
			       "'state' is active, locked or disabled, not '%.40s'", f->state);
	const char *q = f->q && *f->q ? f->q : NULL; /* an empty search box: everyone */
	if (q && (strlen(q) > 256 || !utf8_valid(q, strlen(q))))
		return err_set(e, COVE_EINVAL, "'q' must be at most 256 bytes of UTF-8");
	uint32_t *needle = NULL;
	size_t nn = 0;
	if (q) {
		pthread_once(&fold_once, fold_init);
		needle = fold(q, &nn);
	}
	/* The search reads the users in uid order and keeps those matching:
	 * no index serves a substring anywhere in three columns, and folding
	 * case beyond ASCII is not something SQLite's lower() does. */
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT uid, username, coalesce(email, ''), full_name FROM users "
			  "WHERE uid > ? AND (?2 IS NULL OR state = ?2) ORDER BY uid",
			  "is", after, f->state);
	if (rc) {
		free(needle);
		return rc;
	}
	int64_t *uids = xmalloc(sizeof(int64_t) * ((size_t)f->limit + 1));
	int n = 0;
	while (n <= f->limit && (rc = db_step(st, e)) == 1)
		if (!q || fold_contains(db_text(st, 1), needle, nn) ||
		    fold_contains(db_text(st, 2), needle, nn) ||
		    fold_contains(db_text(st, 3), needle, nn))
			uids[n++] = db_int(st, 0);
	db_done(st);
	free(needle);
	if (rc < 0) {
		free(uids);
		return rc;
	}
	json_t *items = json_array();
	for (int i = 0; i < n && i < f->limit; i++) {
		json_t *u = users_json(c, uids[i], NULL);
		if (u)
			json_array_append_new(items, u);
	}
	json_t *next = json_null();
	if (n > f->limit) {
		char cur[32];
		snprintf(cur, sizeof(cur), "%lld", (long long)uids[f->limit - 1]);
		json_decref(next);
		next = json_string(cur);
	}
	free(uids);
	*out = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
	return 0;
}

int users_export_passwd(struct dbconn *c, struct buf *out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT username, uid, gid, full_name FROM users ORDER BY uid",
			  NULL);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == 1)
		buf_addf(out, "%s:x:%lld:%lld:%s:/home/%s:/bin/sh\n", db_text(st, 0),
			 (long long)db_int(st, 1), (long long)db_int(st, 2),
			 db_text(st, 3), db_text(st, 0));
	db_done(st);
	return rc < 0 ? rc : 0;
}

/* Split line on ':' into at most n fields (modifies line). */
static int split_fields(char *line, char **f, int n)
{
	int k = 0;
	f[k++] = line;
	for (char *p = line; *p && k < n; p++)
		if (*p == ':') {
			*p = '\0';
			f[k++] = p + 1;
		}
	return k;
}

static int64_t parse_id(const char *s)
{
	char *end;
	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	long long v = strtoll(s, &end, 10);
	if (*end || v < 0 || v > 2000000000)
		return -1;
	return v;
}

int users_import_passwd(struct auth *a, struct dbconn *c, const char *text,
			json_t **report, struct err *e)
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
		char *f[7];
		const char *reason = NULL;
		struct err le = {0};
		char *orig = xstrdup(line);
		int nf = split_fields(line, f, 7);
		int64_t uid = nf == 7 ? parse_id(f[2]) : -1;
		int64_t gid = nf == 7 ? parse_id(f[3]) : -1;
		if (nf != 7 || uid < 0 || gid < 0) {
			reason = "not a passwd line (name:x:uid:gid:gecos:home:shell)";
		} else if (uid < AUTH_UID_MIN) {
			reason = "system account (uid below 1000)";
		} else {
			char *comma = strchr(f[4], ',');
			if (comma)
				*comma = '\0';
			struct user_spec spec = {
				.username = f[0],
				.full_name = f[4],
				.uid = uid,
				.gid = gid,
			};
			int64_t got;
			if (users_create(a, c, &spec, &got, &le) == 0)
				json_array_append_new(created, json_string(f[0]));
			else
				reason = le.msg;
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
