/*
 * internal.h - what the files of the auth module share and nobody else
 * sees: the context struct and the domain functions api.c calls.
 * Every function taking a struct dbconn runs its own transaction unless it
 * says "caller holds a transaction".
 */
#ifndef COVE_AUTH_INTERNAL_H
#define COVE_AUTH_INTERNAL_H

#include "auth/auth.h"

#include <pthread.h>
#include <regex.h>

/*
 * Verified access tokens, so the signature of a token is checked once, not
 * on every request. Only tokens that passed full verification enter; an
 * entry is used only until the token's own expiry. The identity behind it
 * (session not revoked, user active, admin or not) is cached too, but only
 * for the identity generation it was read at (db_gen DB_GEN_IDENTITY: any change
 * to users, groups, sessions, tokens or projects moves it) and at most
 * IDENTITY_TTL_MS, as a second line of defence. Slots are guarded by
 * striped locks so that threads rarely wait for each other.
 */
#define TOKEN_CACHE_SLOTS 4096
#define TOKEN_CACHE_LOCKS 64
#define IDENTITY_TTL_MS 1000
struct token_slot {
	uint64_t hash;
	char *token;
	int64_t uid;
	int64_t exp;
	char sid[32];
	/* the identity, valid while ident_gen is current */
	int ident_ok;
	uint64_t ident_gen;
	int64_t ident_ms;
	int64_t gid;
	int admin;
	char username[AUTH_NAME_MAX + 1];
};

/* Passwords verified for HTTP Basic (registry clients ask a token per
 * repository, each time with the password): remembered for a minute by a
 * keyed hash of username and password, with a fingerprint of the stored
 * password hash, so a password change forgets them at once. */
#define BASIC_CACHE_SLOTS 256
#define BASIC_CACHE_TTL 60
struct basic_slot {
	char key[65];  /* HMAC-like SHA-256 of the server's secret, user, password */
	char fp[65];   /* SHA-256 of the stored password hash */
	int64_t exp;
};

/*
 * An OpenID Connect provider (oidc.c): its configuration, and its
 * discovery document and keys, fetched at first use and cached (guarded
 * by lock). id names it in URLs; name is what the login page shows.
 */
struct oidc_provider {
	char *id, *name, *issuer, *client_id;
	char *client_secret; /* NULL: a public client */
	char *auth_method;   /* client_secret_basic or client_secret_post */
	char *groups_claim, *admin_group, *required_group;
	regex_t project_re;
	int has_re;
	json_t *project_roles; /* group -> role, or NULL */
	pthread_mutex_t lock;
	json_t *meta;
	int64_t meta_at;
	json_t *jwks; /* rhonabwy jwks_t */
	int64_t jwks_at_ms;
};
struct oidc {
	struct oidc_provider *p;
	size_t n;
	int64_t skew, jwks_refetch;
};

struct auth {
	struct oidc *oidc; /* NULL: no single sign-on */
	pthread_mutex_t basic_lock;
	struct basic_slot *basic;
	unsigned char basic_secret[32];
	pthread_mutex_t cache_lock[TOKEN_CACHE_LOCKS];
	struct token_slot *cache;
	struct db *db;
	const struct config *cfg;
	struct keyring *keys;
	struct pw_params pw;
	char *issuer;
	char *dummy_hash; /* verified against when the user does not exist */
	struct auth_hooks hooks;
};

#define AUDIENCE "cove"
#define PAT_PREFIX "cove_pat_"

/* ---- users ---- */
struct user_spec {
	const char *username;
	const char *email;     /* may be NULL */
	const char *full_name; /* may be NULL */
	const char *password;  /* may be NULL: no password login */
	const char *password_hash; /* already hashed (takes precedence) */
	const char *state;     /* NULL: active */
	int admin;
	int64_t uid;  /* 0: allocate */
	int64_t gid;  /* 0: same as uid */
	int allow_reserved;
	int skip_policy; /* operator-set bootstrap password */
};
int users_create(struct auth *a, struct dbconn *c, const struct user_spec *u,
		 int64_t *uid, struct err *e);
/* The same inside the caller's transaction (no plain password: hash it
 * first, outside the lock, into password_hash). */
int users_create_tx(struct auth *a, struct dbconn *c, const struct user_spec *u,
		    int64_t *uid, struct err *e);
/* Look up by name: 1 found, 0 not, < 0 error. */
int users_find(struct dbconn *c, const char *name, int64_t *uid, struct err *e);
/* The user object (see docs/api.md), or NULL with e set. */
json_t *users_json(struct dbconn *c, int64_t uid, struct err *e);
int users_is_admin(struct dbconn *c, int64_t uid);
/* Apply a PATCH (fields as in docs/api.md); admin_fields allows state,
 * admin and password. */
int users_update(struct auth *a, struct dbconn *c, const struct actor *act,
		 int64_t uid, json_t *patch, int admin_fields, struct err *e);
int users_delete(struct auth *a, struct dbconn *c, const struct actor *act,
		 int64_t uid, struct err *e);
/* Users by uid, limit at a time after cursor; q (case-insensitive, Unicode
 * letters too) keeps those whose username, email or full name contains it,
 * state those in that state. NULL fields do not filter. */
struct user_filter {
	const char *cursor;
	const char *q;
	const char *state;
	int limit;
};
int users_list(struct dbconn *c, const struct user_filter *f, json_t **out,
	       struct err *e);
int users_export_passwd(struct dbconn *c, struct buf *out, struct err *e);
int users_import_passwd(struct auth *a, struct dbconn *c, const char *text,
			json_t **report, struct err *e);
int64_t ids_next(struct dbconn *c, struct err *e); /* caller holds a transaction */
int email_check(const char *email, struct err *e);

/* ---- groups ---- */
int groups_find(struct dbconn *c, const char *name, int64_t *gid,
		char kind[16], struct err *e);
json_t *groups_json(struct dbconn *c, int64_t gid, struct err *e);
int groups_create(struct dbconn *c, const char *name, int64_t gid,
		  json_t *members, int64_t *out_gid, struct err *e);
int groups_rename(struct dbconn *c, int64_t gid, const char *name,
		  struct err *e);
int groups_delete(struct dbconn *c, int64_t gid, struct err *e);
int groups_member(struct dbconn *c, int64_t gid, int64_t uid, int add,
		  struct err *e);
int groups_list(struct dbconn *c, const char *cursor, int limit, json_t **out,
		struct err *e);
int groups_export(struct dbconn *c, struct buf *out, struct err *e);
int groups_import(struct dbconn *c, const char *text, json_t **report,
		  struct err *e);

/* ---- projects ---- */
/* Inside the caller's transaction: the project's group and row (quota:
 * storage, jobs, cpu, memory; 0 for none) and the project_created hook
 * (shared directory, registry namespace). Returns the new gid, or a
 * negative code in e. The caller checked the name is free. */
int64_t projects_insert(struct auth *a, struct dbconn *c, const char *name,
			const char *desc, const int64_t quota[4], struct err *e);
int projects_create(struct auth *a, struct dbconn *c, const struct actor *act,
		    json_t *body, json_t **out, struct err *e);
/* The caller's role in the project ("" when none): 1 exists, 0 not. */
int projects_role(struct dbconn *c, const char *name, int64_t uid,
		  char role[16], struct err *e);
json_t *projects_json(struct dbconn *c, const char *name, struct err *e);
int projects_update(struct dbconn *c, const struct actor *act,
		    const char *name, json_t *body, struct err *e);
int projects_delete(struct auth *a, struct dbconn *c, const char *name,
		    struct err *e);
int projects_list(struct dbconn *c, const struct actor *act, const char *cursor,
		  int limit, json_t **out, struct err *e);
int projects_set_member(struct dbconn *c, const char *name, int64_t uid,
			const char *role, struct err *e);
int projects_remove_member(struct dbconn *c, const char *name, int64_t uid,
			   struct err *e);
json_t *projects_members(struct dbconn *c, const char *name, struct err *e);
json_t *projects_of_user(struct dbconn *c, int64_t uid);

/* ---- sessions and tokens ---- */
int sessions_login(struct auth *a, struct dbconn *c, struct actor *act,
		   const char *username, const char *password, json_t **pair,
		   struct err *e);
/* Check a password as login does (throttling, audit) without a session;
 * fills act (all scopes). */
int sessions_password(struct auth *a, struct dbconn *c, struct actor *act,
		      const char *username, const char *password, struct err *e);
/* Start a browser session (password checked as login does): *cookie is
 * the cookie's secret value (caller frees); act is filled. */
int sessions_browser_login(struct auth *a, struct dbconn *c, struct actor *act,
			   const char *username, const char *password,
			   const char *user_agent, char **cookie, struct err *e);
/* Start a session for a user already authenticated (single sign-on):
 * a token pair, or a browser session (*cookie as above). detail goes to
 * the audit record of the login; sso_provider (may be NULL) names the
 * provider whose logout ends the browser session too. */
int sessions_token_start(struct auth *a, struct dbconn *c, struct actor *act,
			 int64_t uid, int64_t gid, const char *username,
			 const char *detail, json_t **pair, struct err *e);
int sessions_browser_start(struct auth *a, struct dbconn *c, struct actor *act,
			   int64_t uid, int64_t gid, const char *username,
			   const char *user_agent, const char *detail,
			   const char *sso_provider, char **cookie, struct err *e);
/* The caller's live sessions, browser and CLI: {"items":[...]} */
int sessions_list(struct auth *a, struct dbconn *c, const struct actor *act,
		  json_t **out, struct err *e);
/* End one of the caller's own sessions (COVE_ENOENT when not theirs). */
int sessions_revoke_own(struct dbconn *c, const struct actor *act, const char *id,
			struct err *e);
int sessions_refresh(struct auth *a, struct dbconn *c, struct actor *act,
		     const char *refresh_token, json_t **pair, struct err *e);
int sessions_logout(struct dbconn *c, const struct actor *act,
		    const char *refresh_token, struct err *e);
/* End every session of uid except keep (may be NULL). */
int sessions_revoke_user(struct dbconn *c, int64_t uid, const char *keep,
			 const char *reason, struct err *e);
int tokens_create(struct dbconn *c, const struct actor *act, json_t *body,
		  json_t **out, struct err *e);
int tokens_list(struct dbconn *c, const struct actor *act, json_t **out,
		struct err *e);
int tokens_revoke(struct dbconn *c, const struct actor *act, const char *id,
		  struct err *e);

/* ---- audit ---- */
/* What GET /v1/audit shows, newest first; NULL fields do not filter. */
struct audit_filter {
	const char *cursor;  /* the next_cursor of the previous page */
	const char *actor;   /* exactly this actor */
	const char *action;  /* this action, or a family ("user" for user.*) */
	const char *outcome; /* "success" or "failure" */
	const char *target;  /* exactly this target */
	const char *since;   /* RFC 3339: at or after */
	const char *until;   /* RFC 3339: before */
	int limit;
};
/* {"items":[entry],"next_cursor"}; COVE_EINVAL naming a malformed filter. */
int audit_list(struct dbconn *c, const struct audit_filter *f, json_t **out,
	       struct err *e);

/* ---- OpenID Connect (oidc.c) ---- */
/* Providers from cfg (*out NULL when none is configured). */
int oidc_open(struct oidc **out, const struct config *cfg, struct err *e);
void oidc_close(struct oidc *o);
struct oidc_provider *oidc_find(struct oidc *o, const char *id);
/* The discovery document (caller decrefs). COVE_EUNAVAIL when the
 * provider cannot be reached and nothing is cached. */
int oidc_metadata(struct oidc_provider *p, json_t **meta, struct err *e);
const char *oidc_meta_str(json_t *meta, const char *key);
/* Verify an ID token (see oidc.c); nonce NULL: none expected. */
int oidc_verify_id_token(struct oidc *o, struct oidc_provider *p, const char *token,
			 const char *nonce, json_t **claims, struct err *e);
int oidc_claims_check(const struct oidc *o, const struct oidc_provider *p,
		      json_t *claims, const char *nonce, int64_t now, struct err *e);
/* POST params (NULL-ended key, value list) and the client's credentials
 * to the endpoint the discovery document names endpoint_key. */
int oidc_token_call(struct oidc_provider *p, const char *endpoint_key,
		    const char *const *params, long *status, json_t **body,
		    struct err *e);
char *oidc_authorize_url(struct oidc_provider *p, json_t *meta, const char *redirect_uri,
			 const char *state, const char *nonce, const char *challenge);

/* ---- single sign-on accounts (sso.c) ---- */
/* THE provisioning of an SSO login, in one transaction: finds or creates
 * the user linked to (iss, sub), projects the groups claim onto projects
 * and admin, takes back what vanished groups had granted, and audits.
 * 0 with *uid, *gid and username set; COVE_EPERM when refused. */
int sso_provision(struct auth *a, struct dbconn *c, struct oidc_provider *p,
		  json_t *claims, struct actor *act, int64_t *uid, int64_t *gid,
		  char username[AUTH_NAME_MAX + 1], struct err *e);
int sso_link(struct dbconn *c, struct oidc *o, const char *username,
	     const char *issuer, const char *sub, struct err *e);
int sso_unlink(struct dbconn *c, const char *username, const char *issuer,
	       const char *sub, struct err *e);
int sso_identities(struct dbconn *c, const char *username, json_t **out,
		   struct err *e);

/* For the login page: [{id, name, start}] of every provider (sso_api.c). */
json_t *sso_options(struct auth *a);
/* Where the browser goes to end its session at provider (RP-initiated
 * logout), or NULL when it has no end_session_endpoint. Caller frees. */
char *sso_logout_url(struct auth *a, const char *provider, const char *self);
void sso_self_url(const struct config *cfg, char *out, size_t n);

/* ---- settings ---- */
int settings_get_bool(struct dbconn *c, const char *key, int def);
int settings_set(struct dbconn *c, const char *key, const char *value,
		 struct err *e);


#endif
