/*
 * keys.c - the keyring of Ed25519 signing keys for access tokens, through
 * rhonabwy (never hand-rolled JOSE).
 *
 * One JSON file per key in the keys directory (mode 0600, written to a
 * temporary file, fsynced and renamed): {"jwk": private JWK, "created": t,
 * "retired": t or 0}. The newest unretired key signs. A retired key stays
 * in the JWKS until every token it signed has expired (retired + access
 * TTL + skew), then its file is removed. Verification accepts only EdDSA
 * and only our keys, found by "kid"; it never follows jku/jwk/x5u headers.
 */
#include "auth/auth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <rhonabwy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS_MAX 16
#define CLOCK_SKEW 60
/* a token's nbf may be this far ahead of our clock (replicas' clocks) */
#define NBF_SKEW 5

struct key {
	char kid[32];
	jwk_t *priv;
	jwk_t *pub;
	int64_t created;
	int64_t retired;
};

struct keyring {
	pthread_rwlock_t lock;
	char *dir;
	int64_t access_ttl;
	int64_t rotate_after;
	struct key keys[KEYS_MAX];
	int n;
	int active; /* index of the signing key, -1 when none */
};

static void key_clear(struct key *k)
{
	r_jwk_free(k->priv);
	r_jwk_free(k->pub);
	memset(k, 0, sizeof(*k));
}

static int write_file_atomic(const char *path, const char *data, struct err *e)
{
	char *tmp = xasprintf("%s.tmp", path);
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = err_set(e, COVE_EIO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t len = strlen(data), off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = err_set(e, COVE_EIO, "write %s: %s", tmp, strerror(errno));
			close(fd);
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		rc = err_set(e, COVE_EIO, "fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0)
		rc = err_set(e, COVE_EIO, "rename %s: %s", path, strerror(errno));
out:
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int key_save(struct keyring *kr, const struct key *k, struct err *e)
{
	json_t *o = json_pack("{s:o,s:I,s:I}", "jwk", r_jwk_export_to_json_t(k->priv),
			      "created", (json_int_t)k->created, "retired",
			      (json_int_t)k->retired);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	char *path = xasprintf("%s/%s.json", kr->dir, k->kid);
	int rc = write_file_atomic(path, s, e);
	free(path);
	free(s);
	if (!rc) {
		/* make the rename durable */
		int dfd = open(kr->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return rc;
}

static int key_load(struct key *k, const char *path, struct err *e)
{
	json_error_t je;
	json_t *o = json_load_file(path, 0, &je);
	json_t *jwk = o ? json_object_get(o, "jwk") : NULL;
	const char *kid = jwk ? json_string_value(json_object_get(jwk, "kid")) : NULL;
	int rc = 0;
	if (!jwk || !kid || strlen(kid) >= sizeof(k->kid)) {
		rc = err_set(e, COVE_EIO, "signing key %s is unreadable", path);
		goto out;
	}
	memset(k, 0, sizeof(*k));
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	k->created = json_integer_value(json_object_get(o, "created"));
	k->retired = json_integer_value(json_object_get(o, "retired"));
	if (r_jwk_init(&k->priv) != RHN_OK || r_jwk_init(&k->pub) != RHN_OK ||
	    r_jwk_import_from_json_t(k->priv, jwk) != RHN_OK ||
	    r_jwk_extract_pubkey(k->priv, k->pub, 0) != RHN_OK) {
		key_clear(k);
		rc = err_set(e, COVE_EIO, "signing key %s is not a valid JWK", path);
	} else {
		r_jwk_set_property_str(k->pub, "kid", k->kid);
		r_jwk_set_property_str(k->pub, "use", "sig");
		r_jwk_set_property_str(k->pub, "alg", "EdDSA");
	}
out:
	json_decref(o);
	return rc;
}

/* Drop retired keys whose tokens can no longer be alive. Lock held. */
static void prune(struct keyring *kr)
{
	int64_t now = time_now();
	for (int i = 0; i < kr->n;) {
		struct key *k = &kr->keys[i];
		if (k->retired && k->retired + kr->access_ttl + CLOCK_SKEW < now) {
			char *path = xasprintf("%s/%s.json", kr->dir, k->kid);
			unlink(path);
			free(path);
			key_clear(k);
			kr->keys[i] = kr->keys[kr->n - 1];
			memset(&kr->keys[kr->n - 1], 0, sizeof(struct key));
			kr->n--;
			continue;
		}
		i++;
	}
	kr->active = -1;
	for (int i = 0; i < kr->n; i++)
		if (!kr->keys[i].retired &&
		    (kr->active < 0 || kr->keys[i].created > kr->keys[kr->active].created))
			kr->active = i;
}

/* Make a new signing key and retire the current one. Lock held. */
static int rotate_locked(struct keyring *kr, char kid_out[32], struct err *e)
{
	prune(kr);
	if (kr->n >= KEYS_MAX)
		return err_set(e, COVE_ECONFLICT,
			       "too many signing keys are still alive; try later");
	struct key k;
	memset(&k, 0, sizeof(k));
	id_new(k.kid);
	k.created = time_now();
	if (r_jwk_init(&k.priv) != RHN_OK || r_jwk_init(&k.pub) != RHN_OK ||
	    r_jwk_generate_key_pair(k.priv, k.pub, R_KEY_TYPE_EDDSA, 256, k.kid) !=
		    RHN_OK) {
		key_clear(&k);
		return err_set(e, COVE_EINTERNAL, "cannot generate an Ed25519 key");
	}
	r_jwk_set_property_str(k.pub, "use", "sig");
	r_jwk_set_property_str(k.pub, "alg", "EdDSA");
	int rc = key_save(kr, &k, e);
	if (rc) {
		key_clear(&k);
		return rc;
	}
	if (kr->active >= 0) {
		struct key *old = &kr->keys[kr->active];
		old->retired = time_now();
		if ((rc = key_save(kr, old, e))) {
			old->retired = 0;
			log_event(LOG_WARN, "could not retire old signing key",
				  "{s:s}", "kid", old->kid);
		}
	}
	kr->keys[kr->n++] = k;
	kr->active = kr->n - 1;
	if (kid_out)
		snprintf(kid_out, 32, "%s", k.kid);
	log_event(LOG_INFO, "signing key rotated", "{s:s}", "kid", k.kid);
	return 0;
}

int keyring_open(struct keyring **out, const char *dir, int64_t access_ttl,
		 int64_t rotate_days, struct err *e)
{
	struct keyring *kr = xcalloc(1, sizeof(*kr));
	pthread_rwlock_init(&kr->lock, NULL);
	kr->dir = xstrdup(dir);
	kr->access_ttl = access_ttl;
	kr->rotate_after = rotate_days * 86400;
	kr->active = -1;
	int rc = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = err_set(e, COVE_EIO, "cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	chmod(dir, 0700);
	DIR *d = opendir(dir);
	if (!d) {
		rc = err_set(e, COVE_EIO, "cannot read %s: %s", dir, strerror(errno));
		goto fail;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		if (kr->n >= KEYS_MAX)
			break;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		struct err ke = {0};
		if (key_load(&kr->keys[kr->n], path, &ke) == 0)
			kr->n++;
		else
			log_event(LOG_WARN, "skipping signing key", "{s:s}", "detail",
				  ke.msg);
		free(path);
	}
	closedir(d);
	prune(kr);
	if (kr->active < 0 ||
	    (kr->rotate_after > 0 &&
	     kr->keys[kr->active].created + kr->rotate_after < time_now()))
		if ((rc = rotate_locked(kr, NULL, e)))
			goto fail;
	*out = kr;
	return 0;
fail:
	keyring_close(kr);
	*out = NULL;
	return rc;
}

void keyring_close(struct keyring *kr)
{
	if (!kr)
		return;
	for (int i = 0; i < kr->n; i++)
		key_clear(&kr->keys[i]);
	pthread_rwlock_destroy(&kr->lock);
	free(kr->dir);
	free(kr);
}

int keyring_rotate(struct keyring *kr, char kid_out[32], struct err *e)
{
	pthread_rwlock_wrlock(&kr->lock);
	int rc = rotate_locked(kr, kid_out, e);
	pthread_rwlock_unlock(&kr->lock);
	return rc;
}

json_t *keyring_jwks(struct keyring *kr)
{
	json_t *keys = json_array();
	int64_t now = time_now();
	pthread_rwlock_rdlock(&kr->lock);
	for (int i = 0; i < kr->n; i++) {
		struct key *k = &kr->keys[i];
		if (k->retired && k->retired + kr->access_ttl + CLOCK_SKEW < now)
			continue;
		json_array_append_new(keys, r_jwk_export_to_json_t(k->pub));
	}
	pthread_rwlock_unlock(&kr->lock);
	return json_pack("{s:o}", "keys", keys);
}

int keyring_sign(struct keyring *kr, json_t *claims, char **out, struct err *e)
{
	jwt_t *jwt = NULL;
	int rc = 0;
	*out = NULL;
	pthread_rwlock_rdlock(&kr->lock);
	if (kr->active < 0) {
		rc = err_set(e, COVE_EINTERNAL, "no signing key");
		goto out;
	}
	struct key *k = &kr->keys[kr->active];
	if (r_jwt_init(&jwt) != RHN_OK ||
	    r_jwt_set_full_claims_json_t(jwt, claims) != RHN_OK ||
	    r_jwt_set_header_str_value(jwt, "kid", k->kid) != RHN_OK ||
	    r_jwt_set_header_str_value(jwt, "typ", "JWT") != RHN_OK ||
	    r_jwt_set_sign_alg(jwt, R_JWA_ALG_EDDSA) != RHN_OK) {
		rc = err_set(e, COVE_EINTERNAL, "cannot build token");
		goto out;
	}
	char *s = r_jwt_serialize_signed(jwt, k->priv, 0);
	if (!s) {
		rc = err_set(e, COVE_EINTERNAL, "cannot sign token");
		goto out;
	}
	*out = xstrdup(s);
	r_free(s);
out:
	pthread_rwlock_unlock(&kr->lock);
	r_jwt_free(jwt);
	return rc;
}

int keyring_verify(struct keyring *kr, const char *token, const char *issuer,
		   const char *audience, json_t **claims, struct err *e)
{
	jwt_t *jwt = NULL;
	int rc = 0;
	*claims = NULL;
	if (r_jwt_init(&jwt) != RHN_OK)
		return err_set(e, COVE_EINTERNAL, "out of memory");
	if (r_jwt_advanced_parse(jwt, token, R_PARSE_NONE, 0) != RHN_OK ||
	    r_jwt_get_type(jwt) != R_JWT_TYPE_SIGN) {
		rc = err_set(e, COVE_EAUTH, "invalid token");
		goto out;
	}
	if (r_jwt_get_sign_alg(jwt) != R_JWA_ALG_EDDSA) {
		rc = err_set(e, COVE_EAUTH, "invalid token: algorithm not accepted");
		goto out;
	}
	const char *typ = r_jwt_get_header_str_value(jwt, "typ");
	if (typ && strcmp(typ, "JWT")) {
		rc = err_set(e, COVE_EAUTH, "invalid token: wrong type");
		goto out;
	}
	const char *kid = r_jwt_get_header_str_value(jwt, "kid");
	if (!kid) {
		rc = err_set(e, COVE_EAUTH, "invalid token: no key id");
		goto out;
	}
	int verified = 0, found = 0;
	int64_t now = time_now();
	pthread_rwlock_rdlock(&kr->lock);
	for (int i = 0; i < kr->n; i++) {
		struct key *k = &kr->keys[i];
		if (strcmp(k->kid, kid))
			continue;
		found = 1;
		if (k->retired && k->retired + kr->access_ttl + CLOCK_SKEW < now)
			break;
		verified = r_jwt_verify_signature(jwt, k->pub, 0) == RHN_OK;
		break;
	}
	pthread_rwlock_unlock(&kr->lock);
	if (!verified) {
		rc = err_set(e, COVE_EAUTH, found ? "invalid token: bad signature"
						  : "invalid token: unknown signing key");
		goto out;
	}
	if (r_jwt_validate_claims(jwt, R_JWT_CLAIM_ISS, issuer, R_JWT_CLAIM_AUD,
				  audience, R_JWT_CLAIM_NOP) != RHN_OK) {
		rc = err_set(e, COVE_EAUTH, "invalid token: not for this server");
		goto out;
	}
	*claims = r_jwt_get_full_claims_json_t(jwt);
	if (!*claims) {
		rc = err_set(e, COVE_EAUTH, "invalid token");
		goto out;
	}
	/* Times are checked here, not by rhonabwy: it compares with time(),
	 * which glibc reads from the coarse clock, a tick behind the one
	 * tokens are issued by; a token verified within that tick of a second
	 * boundary looked "not yet valid" (seen as a failed registry pull). */
	json_t *jexp = json_object_get(*claims, "exp");
	json_t *jnbf = json_object_get(*claims, "nbf");
	if (!json_is_integer(jexp) || json_integer_value(jexp) <= now ||
	    (jnbf && (!json_is_integer(jnbf) ||
		      json_integer_value(jnbf) > now + NBF_SKEW))) {
		json_decref(*claims);
		*claims = NULL;
		rc = err_set(e, COVE_EAUTH, "invalid token: expired or not yet valid");
	}
out:
	r_jwt_free(jwt);
	return rc;
}
