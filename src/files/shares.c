/*
 * shares.c - share links: a secret URL that gives read-only access to one
 * file or directory tree without an account. The link acts with its
 * creator's rights at the moment of use, so a creator who loses access
 * (or is deleted) takes the link down with them; links expire and can be
 * revoked. Only a SHA-256 of the secret is stored. No HTTP here.
 */
#include "auth/auth.h"
#include "files/files.h"

#include <stdlib.h>
#include <string.h>

#define SHARE_PREFIX "cove_sh_"

static json_t *share_json(struct stmt *st, const char *base_url)
{
	/* columns: id, path, created_at, expires_at, uses */
	json_t *o = json_pack("{s:s,s:s,s:I}", "id", db_text(st, 0), "path",
			      db_text(st, 1), "uses", (json_int_t)db_int(st, 4));
	json_set_time(o, "created_at", db_int(st, 2));
	json_set_time(o, "expires_at", db_int(st, 3));
	(void)base_url;
	return o;
}

int shares_create(struct dbconn *c, const struct fs_cred *cr, const char *path,
		  int64_t expires_in, const char *base_url, json_t **out,
		  struct err *e)
{
	struct fs_attr a;
	int rc = fs_resolve(c, cr, path, &a, e);
	if (rc)
		return rc;
	if (!perm_may(cr, &a, a.is_dir ? PERM_R | PERM_X : PERM_R))
		return err_set(e, COVE_EPERM, "permission denied: cannot read '%.200s'", path);
	if (expires_in < 0 || expires_in > 3650LL * 86400)
		return err_set(e, COVE_EINVAL, "expiry must be between 1 minute and 3650 days");
	char id[27];
	id_new(id);
	char *token = token_new(SHARE_PREFIX, 24);
	if (!token)
		return err_set(e, COVE_EIO, "no randomness available");
	char hash[65];
	sha256_hex(token, strlen(token), hash);
	int64_t now = time_now();
	int64_t exp = expires_in ? now + expires_in : 0;
	rc = db_exec(c, e,
		     "INSERT INTO shares(id, token_hash, node, path, uid, created_at, "
		     "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		     "ssisiii", id, hash, a.id, path, cr->uid, now, exp);
	if (rc < 0) {
		free(token);
		return rc;
	}
	char *url = xasprintf("%s/s/%s", base_url, token);
	*out = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "path", path, "url", url,
			 "token", token, "type", a.is_dir ? "directory" : "file");
	json_set_time(*out, "created_at", now);
	json_set_time(*out, "expires_at", exp);
	free(url);
	free(token);
	return 0;
}

int shares_list(struct dbconn *c, const struct fs_cred *cr, const char *base_url,
		json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT id, path, created_at, expires_at, uses FROM shares "
			  "WHERE uid = ? ORDER BY id",
			  "i", cr->uid);
	if (rc)
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(items, share_json(st, base_url));
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o,s:n}", "items", items, "next_cursor");
	return 0;
}

int shares_revoke(struct dbconn *c, const struct fs_cred *cr, const char *id,
		  struct err *e)
{
	int rc = db_exec(c, e, "DELETE FROM shares WHERE id = ? AND (uid = ? OR ?)",
			 "sii", id, cr->uid, (int64_t)cr->admin);
	if (rc < 0)
		return rc;
	return rc == 0 ? err_set(e, COVE_ENOENT, "no such share link") : 0;
}

int shares_resolve(struct dbconn *c, const char *token, const char *sub,
		   struct fs_attr *a, char share_id[32], struct err *e)
{
	char hash[65];
	sha256_hex(token, strlen(token), hash);
	struct stmt *st;
	int64_t node = 0, uid = 0, exp = 0;
	int rc = db_query(c, &st, e,
			  "SELECT id, node, uid, expires_at FROM shares WHERE token_hash = ?",
			  "s", hash);
	if (rc)
		return rc;
	if ((rc = db_step(st, e)) == 1) {
		snprintf(share_id, 32, "%s", db_text(st, 0));
		node = db_int(st, 1);
		uid = db_int(st, 2);
		exp = db_int(st, 3);
	}
	db_done(st);
	if (rc < 0)
		return rc;
	if (!node || (exp && exp <= time_now()))
		return err_set(e, COVE_ENOENT, "this link does not exist or has expired");
	/* The creator's rights, as they are now. */
	struct fs_cred cr = {.uid = uid};
	int64_t gid = 0, admin = 0;
	db_query_int(c, NULL, &gid, "SELECT gid FROM users WHERE uid = ?", "i", uid);
	cr.gid = gid;
	db_query_int(c, NULL, &admin,
		     "SELECT EXISTS (SELECT 1 FROM groups g WHERE g.name = 'admin' AND "
		     "(g.gid = ? OR g.gid IN (SELECT gid FROM group_members WHERE uid = ?)))",
		     "ii", gid, uid);
	cr.admin = (int)admin;
	int n = auth_user_gids(c, uid, &cr.gids, e);
	if (n < 0)
		return n;
	cr.ngids = n;
	rc = fs_resolve_from(c, &cr, node, sub ? sub : "", a, e);
	if (rc == 0 && !perm_may(&cr, a, a->is_dir ? PERM_R | PERM_X : PERM_R))
		rc = err_set(e, COVE_ENOENT, "this link does not exist or has expired");
	if (rc == COVE_EPERM)
		rc = err_set(e, COVE_ENOENT, "this link does not exist or has expired");
	free(cr.gids);
	if (rc == 0)
		db_exec(c, NULL, "UPDATE shares SET uses = uses + 1 WHERE id = ?", "s", share_id);
	return rc;
}
