/*
 * auth.h - who is who in cove: users, groups, projects, passwords, tokens,
 * signing keys and the audit log.
 *
 * Identity in a request comes only from a verified token: an access token
 * (JWT, EdDSA, signed by our keyring) or a personal API token (opaque,
 * stored hashed). auth_authenticate turns an Authorization header into a
 * struct actor; everything else takes an actor and decides what it may do.
 * Domain functions here never see HTTP; api.c translates.
 */
#ifndef COVE_AUTH_H
#define COVE_AUTH_H

#include "core/core.h"
#include "db/db.h"

#define AUTH_NAME_MAX 32
#define AUTH_UID_MIN 1000

enum auth_scope {
	SCOPE_READ = 1,
	SCOPE_WRITE = 2,
	SCOPE_ADMIN = 4,
	SCOPE_ALL = 7,
};

/* The caller of a request, as established by auth_authenticate. */
struct actor {
	int authenticated;
	int64_t uid;
	int64_t gid;
	int admin;
	unsigned scopes;
	char username[AUTH_NAME_MAX + 1];
	char session_id[32]; /* set for access tokens and browser sessions */
	char token_id[32];   /* set for personal API tokens */
	int via_cookie;      /* authenticated by a browser session's cookie */
	/* where the request came from, for the audit log */
	char ip[64];
	char request_id[32];
};

struct auth;
struct keyring;

/*
 * Calls into other modules made inside the auth module's transactions,
 * so that a user never exists without a home directory, nor a project
 * without its shared directory. Each returns 0 or a code with e filled;
 * a failure rolls the whole change back.
 */
struct auth_hooks {
	void *ctx;
	int (*user_created)(void *ctx, struct dbconn *c, const char *name,
			    int64_t uid, int64_t gid, struct err *e);
	int (*user_deleted)(void *ctx, struct dbconn *c, const char *name,
			    struct err *e);
	int (*project_created)(void *ctx, struct dbconn *c, const char *name,
			       int64_t gid, struct err *e);
	int (*project_deleted)(void *ctx, struct dbconn *c, const char *name,
			       struct err *e);
};

/* Open the auth context: loads (or creates) signing keys under
 * data_dir/keys, and creates the first admin when there are no users:
 * with admin_password, or a generated one returned in *generated (caller
 * frees; NULL when none was generated). */
int auth_open(struct auth **out, struct db *db, const struct config *cfg,
	      const struct auth_hooks *hooks, const char *admin_password,
	      char **generated, struct err *e);
void auth_close(struct auth *a);

/* Verify "Bearer <token>" (the whole header value, or NULL for none).
 * With no header: 0 and act->authenticated = 0. With a bad or expired
 * token: COVE_EAUTH. */
int auth_authenticate(struct auth *a, const char *authorization,
		      struct actor *act, struct err *e);

/*
 * Browser sessions (the portal): a server-side session named by an
 * HttpOnly cookie, AUTH_COOKIE, whose value is a random secret stored
 * only as its SHA-256. Requests that change state and are authenticated
 * by the cookie must carry the session's CSRF token in AUTH_CSRF_HEADER
 * (a cross-site page can send the cookie but cannot read the token).
 */
#define AUTH_COOKIE "cove_session"
#define AUTH_COOKIE_PREFIX "cove_bs_"
#define AUTH_CSRF_HEADER "X-CSRF-Token"
/* Verify a session cookie's value into act (act->via_cookie = 1). Bad,
 * ended, expired or idle sessions: COVE_EAUTH. */
int auth_cookie(struct auth *a, const char *cookie, struct actor *act,
		struct err *e);
/* The CSRF token of a session cookie (derived from it: a SHA-256 in hex,
 * so it tells nothing of the cookie). */
void auth_csrf_token(const char *cookie, char out[65]);
/* 1 when the CSRF token given matches cookie's (constant time). */
int auth_csrf_ok(const char *cookie, const char *given);

/* HTTP Basic credentials of a user: a password (throttled and audited as
 * a login) or one of the user's personal API tokens. Fills act. */
int auth_basic(struct auth *a, const char *username, const char *secret,
	       struct actor *act, struct err *e);
/* Sign claims (borrowed) with the server's keyring, setting iss (the
 * caller sets aud, exp and the rest). */
int auth_sign(struct auth *a, json_t *claims, char **jwt, struct err *e);
/* Verify a JWT of ours issued for audience; *claims on success. */
int auth_verify(struct auth *a, const char *token, const char *audience,
		json_t **claims, struct err *e);
/* Seconds an access token lives (also registry tokens). */
int64_t auth_token_ttl(struct auth *a);
/* The caller's role in project name ("" when none): 1 the project
 * exists, 0 not, < 0 error. */
int auth_project_role(struct dbconn *c, const char *name, int64_t uid,
		      char role[16], struct err *e);

/* For the admin overview: sets out's "users" ({"total","active","locked",
 * "disabled","admins"}) and "projects" (a count), from indexes. */
int auth_overview(struct dbconn *c, json_t *out, struct err *e);

/* 1 when uid is an administrator. */
int auth_user_is_admin(struct dbconn *c, int64_t uid);

/* Record an event in the audit log (never fails the caller). */
void auth_audit(struct dbconn *c, const struct actor *act, const char *action,
		const char *target, int ok, const char *detail);

/* Groups of a user (primary first), for permission checks elsewhere.
 * *gids is malloc'd; returns the count or a negative code. */
int auth_user_gids(struct dbconn *c, int64_t uid, int64_t **gids,
		   struct err *e);

/* ---- pieces exposed for unit tests ---------------------------------------- */

struct pw_params {
	uint32_t m_kib, t, p;
};
/* Password policy: length 8..256; at least three of lower, upper, digit,
 * other (two from 16 characters on); not the username; not common. */
int auth_password_check(const char *username, const char *password,
			struct err *e);
/* Username policy: [a-z_][a-z0-9_-]{0,31}, not reserved. */
int auth_username_check(const char *name, int allow_reserved, struct err *e);
/* Argon2id: encode into a PHC string (caller frees) / verify. verify
 * returns 1 (match), 0 (no match) or negative; *rehash is set when the
 * stored parameters differ from want. */
int auth_password_hash(const struct pw_params *pp, const char *password,
		       char **out, struct err *e);
int auth_password_verify(const char *encoded, const char *password,
			 const struct pw_params *want, int *rehash);

/* Single sign-on's pure parts (sso.c, oidc.c). */
/* A cove username for an identity: preferred_username, else the email's
 * local part, made to fit auth_username_check (lowercase, others -> '_',
 * at most 24 characters); with suffix set, "-" and 8 hex digits of the
 * SHA-256 of issuer "\n" sub (deterministic, for collisions). */
void sso_username_derive(const char *preferred, const char *email,
			 const char *issuer, const char *sub, int suffix,
			 char out[AUTH_NAME_MAX + 1]);
/* The group a groups-claim value names: the value itself, or for an
 * eduPerson entitlement (urn:mace:<org>:group:<g>[:<sub>][:role=R][#auth])
 * the group path <g>[:<sub>] when R is member (or absent). 1 with out
 * set, 0 when the value names no group membership. */
int sso_group_parse(const char *value, char *out, size_t n);
/* 1 when ret is one of the portal's own paths ("/..." not "//", no
 * backslash, no scheme, printable ASCII, at most 1024 bytes). */
int sso_return_ok(const char *ret);
/* "EGI Check-in" -> "egi-check-in". */
void oidc_slug(const char *name, char *out, size_t n);

/* Keyring: Ed25519 signing keys in dir (one JWK file per key, 0600). */
int keyring_open(struct keyring **out, const char *dir, int64_t access_ttl,
		 int64_t rotate_days, struct err *e);
void keyring_close(struct keyring *k);
int keyring_rotate(struct keyring *k, char kid_out[32], struct err *e);
/* JWKS document of every key whose tokens may still be alive (caller
 * decrefs). */
json_t *keyring_jwks(struct keyring *k);
/* Sign claims (borrowed) into a compact JWT (caller frees). */
int keyring_sign(struct keyring *k, json_t *claims, char **jwt, struct err *e);
/* Verify a compact JWT: signature by one of our keys (by kid), alg EdDSA
 * only, typ JWT, iss, aud, exp, nbf. On success *claims is set (caller
 * decrefs). */
int keyring_verify(struct keyring *k, const char *token, const char *issuer,
		   const char *audience, json_t **claims, struct err *e);

#endif
