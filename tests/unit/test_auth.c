/*
 * test_auth.c - unit tests of the auth module's logic: the password and
 * username policies, Argon2id hashing and re-hash detection, access-token
 * issue and verification against forgeries, and refresh-token rotation
 * with reuse detection. Runs against a temporary data directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cove-unit-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* ---- policies ---------------------------------------------------------- */

static void test_password_policy(void **state)
{
	struct err e = {0};
	assert_int_equal(auth_password_check("alice", "Sh0rt!", &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "at least 8"));
	assert_int_equal(auth_password_check("alice", "alllowercase", &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "three"));
	assert_int_equal(auth_password_check("alice", "Tulip-garden7", &e), 0);
	assert_int_equal(auth_password_check("alice", "Password123", &e), COVE_EINVAL);
	assert_int_equal(auth_password_check("alice", "password123", &e), COVE_EINVAL);
	assert_int_equal(auth_password_check("alice", "correct horse battery", &e), 0);
	assert_int_equal(auth_password_check("Alice-2026x", "alice-2026X", &e), COVE_EINVAL);
	assert_int_equal(auth_password_check("alice", "P@ssw0rd", &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "common"));
	assert_int_equal(auth_password_check("alice", "Tab\there-123", &e), COVE_EINVAL);
	assert_int_equal(auth_password_check("alice", "Bad\xff\xfe-utf8", &e), COVE_EINVAL);
	char longpw[300];
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	longpw[0] = 'B';
	longpw[1] = '1';
	assert_int_equal(auth_password_check("alice", longpw, &e), COVE_EINVAL);
	assert_int_equal(auth_password_check("alice", "Ünïcødé-Pässwörd-1", &e), 0);
}

static void test_username_policy(void **state)
{
	struct err e = {0};
	assert_int_equal(auth_username_check("alice", 0, &e), 0);
	assert_int_equal(auth_username_check("_svc-01", 0, &e), 0);
	assert_int_equal(auth_username_check("root", 0, &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "reserved"));
	assert_int_equal(auth_username_check("admin", 0, &e), COVE_EINVAL);
	assert_int_equal(auth_username_check("admin", 1, &e), 0);
	assert_int_equal(auth_username_check("system", 0, &e), COVE_EINVAL);
	assert_int_equal(auth_username_check("Alice", 0, &e), COVE_EINVAL);
	assert_int_equal(auth_username_check("1alice", 0, &e), COVE_EINVAL);
	assert_int_equal(auth_username_check("al/ice", 0, &e), COVE_EINVAL);
	assert_int_equal(auth_username_check("../etc", 0, &e), COVE_EINVAL);
	assert_int_equal(auth_username_check("", 0, &e), COVE_EINVAL);
	assert_int_equal(auth_username_check("a23456789012345678901234567890123", 0, &e),
			 COVE_EINVAL);
	assert_int_equal(auth_username_check("ålice", 0, &e), COVE_EINVAL);
}

/* ---- Argon2id ---------------------------------------------------------- */

static void test_argon2(void **state)
{
	struct pw_params pp = {.m_kib = 256, .t = 1, .p = 1};
	struct err e = {0};
	char *h = NULL;
	assert_int_equal(auth_password_hash(&pp, "Secret-pass-1", &h, &e), 0);
	assert_true(str_has_prefix(h, "$argon2id$v=19$m=256,t=1,p=1$"));
	int rehash = -1;
	assert_int_equal(auth_password_verify(h, "Secret-pass-1", &pp, &rehash), 1);
	assert_int_equal(rehash, 0);
	assert_int_equal(auth_password_verify(h, "Secret-pass-2", &pp, &rehash), 0);
	assert_int_equal(auth_password_verify(h, "", &pp, &rehash), 0);
	/* Parameters changed since the hash was made: verify, and ask for a
	 * re-hash. */
	struct pw_params stronger = {.m_kib = 512, .t = 2, .p = 1};
	assert_int_equal(auth_password_verify(h, "Secret-pass-1", &stronger, &rehash), 1);
	assert_int_equal(rehash, 1);
	/* Salted: the same password hashes differently. */
	char *h2 = NULL;
	assert_int_equal(auth_password_hash(&pp, "Secret-pass-1", &h2, &e), 0);
	assert_string_not_equal(h, h2);
	/* Garbage and other schemes never verify. */
	assert_int_equal(auth_password_verify(NULL, "x", &pp, NULL), 0);
	assert_int_equal(auth_password_verify("$argon2i$v=19$m=256,t=1,p=1$abc$def",
					      "x", &pp, NULL), 0);
	assert_int_equal(auth_password_verify("plain", "plain", &pp, NULL), 0);
	assert_int_equal(auth_password_verify("$argon2id$v=19$m=99999999,t=1,p=1$aaaa$bbbb",
					      "x", &pp, NULL), 0);
	free(h);
	free(h2);
}

/* ---- access tokens ------------------------------------------------------ */

static json_t *claims(const char *aud, int64_t exp_delta)
{
	int64_t now = time_now();
	return json_pack("{s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:I}", "iss", "cove", "aud",
			 aud, "sub", "alice", "uid", 1001, "sid", "S1", "iat",
			 (json_int_t)now, "nbf", (json_int_t)now, "exp",
			 (json_int_t)(now + exp_delta));
}

static char *sign(struct keyring *k, json_t *c)
{
	char *t = NULL;
	struct err e = {0};
	assert_int_equal(keyring_sign(k, c, &t, &e), 0);
	json_decref(c);
	return t;
}

static int verify(struct keyring *k, const char *t)
{
	json_t *c = NULL;
	struct err e = {0};
	int rc = keyring_verify(k, t, "cove", "cove", &c, &e);
	json_decref(c);
	return rc;
}

static char *b64(const char *s)
{
	return b64url_encode(s, strlen(s));
}

static void test_tokens(void **state)
{
	make_tmpdir();
	char *d1 = xasprintf("%s/k1", tmpdir), *d2 = xasprintf("%s/k2", tmpdir);
	struct keyring *k1 = NULL, *k2 = NULL;
	struct err e = {0};
	assert_int_equal(keyring_open(&k1, d1, 900, 30, &e), 0);
	assert_int_equal(keyring_open(&k2, d2, 900, 30, &e), 0);

	char *good = sign(k1, claims("cove", 600));
	assert_int_equal(verify(k1, good), 0);
	json_t *c = NULL;
	assert_int_equal(keyring_verify(k1, good, "cove", "cove", &c, &e), 0);
	assert_int_equal(json_integer_value(json_object_get(c, "uid")), 1001);
	json_decref(c);

	/* expired */
	char *expired = sign(k1, claims("cove", -120));
	assert_int_equal(verify(k1, expired), COVE_EAUTH);
	/* wrong audience, wrong issuer */
	char *aud = sign(k1, claims("other-service", 600));
	assert_int_equal(verify(k1, aud), COVE_EAUTH);
	assert_int_equal(keyring_verify(k1, good, "someone-else", "cove", &c, &e),
			 COVE_EAUTH);
	/* signed by a key that is not ours */
	char *foreign = sign(k2, claims("cove", 600));
	assert_int_equal(verify(k1, foreign), COVE_EAUTH);

	/* tampered payload: same header and signature, uid changed */
	char *dot1 = strchr(good, '.'), *dot2 = strchr(dot1 + 1, '.');
	char *payload = b64("{\"iss\":\"cove\",\"aud\":\"cove\",\"sub\":\"admin\","
			    "\"uid\":1000,\"sid\":\"S1\",\"exp\":9999999999}");
	char *tampered = xasprintf("%.*s.%s%s", (int)(dot1 - good), good, payload, dot2);
	assert_int_equal(verify(k1, tampered), COVE_EAUTH);
	/* tampered signature */
	char *badsig = xstrdup(good);
	size_t n = strlen(badsig);
	badsig[n - 2] = badsig[n - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(k1, badsig), COVE_EAUTH);

	/* alg: none, with and without a kid */
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%.*s\"}",
		 26, "01M85F56HNZ8BA7E0BMY1CXJST");
	char *h = b64(hdr);
	char *none = xasprintf("%s.%s.", h, payload);
	assert_int_equal(verify(k1, none), COVE_EAUTH);
	/* alg: HS256 (key confusion) */
	char *h2 = b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
	char *hs = xasprintf("%s.%s.c2lnbmF0dXJl", h2, payload);
	assert_int_equal(verify(k1, hs), COVE_EAUTH);
	/* garbage */
	assert_int_equal(verify(k1, "not.a.jwt"), COVE_EAUTH);
	assert_int_equal(verify(k1, ""), COVE_EAUTH);

	/* not yet valid: nbf a minute ahead is refused; a clock a tick or
	 * two behind the issuer's (nbf = now + 2) is not a reason to refuse */
	json_t *cl = claims("cove", 600);
	json_object_set_new(cl, "nbf", json_integer(time_now() + 60));
	char *future = sign(k1, cl);
	assert_int_equal(verify(k1, future), COVE_EAUTH);
	cl = claims("cove", 600);
	json_object_set_new(cl, "nbf", json_integer(time_now() + 2));
	char *soon = sign(k1, cl);
	assert_int_equal(verify(k1, soon), 0);
	/* no expiry, or one that is not a number */
	cl = claims("cove", 600);
	json_object_del(cl, "exp");
	char *noexp = sign(k1, cl);
	assert_int_equal(verify(k1, noexp), COVE_EAUTH);
	cl = claims("cove", 600);
	json_object_set_new(cl, "exp", json_string("9999999999"));
	char *strexp = sign(k1, cl);
	assert_int_equal(verify(k1, strexp), COVE_EAUTH);
	free(future), free(soon), free(noexp), free(strexp);

	/* rotation: old tokens still verify, new ones use the new key, and the
	 * JWKS lists both */
	char kid[32];
	assert_int_equal(keyring_rotate(k1, kid, &e), 0);
	assert_int_equal(verify(k1, good), 0);
	char *fresh = sign(k1, claims("cove", 600));
	assert_int_equal(verify(k1, fresh), 0);
	json_t *jwks = keyring_jwks(k1);
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
	json_decref(jwks);
	/* keys survive a restart */
	keyring_close(k1);
	assert_int_equal(keyring_open(&k1, d1, 900, 30, &e), 0);
	assert_int_equal(verify(k1, good), 0);
	assert_int_equal(verify(k1, fresh), 0);

	free(good), free(expired), free(aud), free(foreign), free(payload);
	free(tampered), free(badsig), free(h), free(none), free(h2), free(hs);
	free(fresh);
	keyring_close(k1);
	keyring_close(k2);
	free(d1);
	free(d2);
	rm_tmpdir();
}

/* ---- sessions: refresh rotation and reuse detection -------------------- */

static void test_refresh_rotation(void **state)
{
	make_tmpdir();
	struct config cfg;
	struct err e = {0};
	char *argv[] = {"serve", "--argon2-memory", "64", "--argon2-passes", "1",
			"--data", tmpdir, NULL};
	assert_int_equal(config_load(&cfg, 7, argv, &e), 0);
	struct db *db = NULL;
	char *dbpath = xasprintf("%s/cove.db", tmpdir);
	assert_int_equal(db_open(&db, dbpath, 2, &e), 0);
	struct auth *a = NULL;
	char *gen = NULL;
	assert_int_equal(auth_open(&a, db, &cfg, NULL, "Admin-Pass-99", &gen, &e), 0);
	assert_null(gen);
	struct dbconn *c = db_get(db);

	struct user_spec u = {.username = "alice", .email = "alice@example.org",
			      .password = "Alice-Pass-99"};
	int64_t uid;
	assert_int_equal(users_create(a, c, &u, &uid, &e), 0);
	assert_true(uid > 1000);
	/* the same name again is refused */
	assert_int_equal(users_create(a, c, &u, &uid, &e), COVE_EEXIST);

	struct actor act = {0};
	snprintf(act.ip, sizeof(act.ip), "127.0.0.1");
	json_t *p1 = NULL, *p2 = NULL, *p3 = NULL;
	assert_int_equal(sessions_login(a, c, &act, "alice", "wrong-Pass-99", &p1, &e),
			 COVE_EAUTH);
	assert_int_equal(sessions_login(a, c, &act, "alice", "Alice-Pass-99", &p1, &e), 0);
	const char *rt1 = json_string_value(json_object_get(p1, "refresh_token"));
	const char *at1 = json_string_value(json_object_get(p1, "access_token"));
	struct actor who = {0};
	char *authz = xasprintf("Bearer %s", at1);
	assert_int_equal(auth_authenticate(a, authz, &who, &e), 0);
	assert_string_equal(who.username, "alice");

	/* rotation: each use gives a new refresh token */
	assert_int_equal(sessions_refresh(a, c, &act, rt1, &p2, &e), 0);
	const char *rt2 = json_string_value(json_object_get(p2, "refresh_token"));
	assert_string_not_equal(rt1, rt2);
	/* reuse of the old one: refused, and the whole family is revoked */
	assert_int_equal(sessions_refresh(a, c, &act, rt1, &p3, &e), COVE_EAUTH);
	assert_non_null(strstr(e.msg, "already used"));
	assert_int_equal(sessions_refresh(a, c, &act, rt2, &p3, &e), COVE_EAUTH);
	/* and so is the access token of that session */
	assert_int_equal(auth_authenticate(a, authz, &who, &e), COVE_EAUTH);
	/* unknown tokens */
	assert_int_equal(sessions_refresh(a, c, &act, "cove_rt_nope", &p3, &e), COVE_EAUTH);

	/* lockout after the configured number of failures */
	json_t *p4 = NULL;
	for (int i = 0; i < 5; i++)
		sessions_login(a, c, &act, "alice", "Wrong-Pass-00", &p4, &e);
	assert_int_equal(sessions_login(a, c, &act, "alice", "Alice-Pass-99", &p4, &e),
			 COVE_ETOOMANY);
	assert_true(e.retry_after > 0);

	free(authz);
	json_decref(p1);
	json_decref(p2);
	db_put(db, c);
	auth_close(a);
	db_close(db);
	config_free(&cfg);
	free(dbpath);
	rm_tmpdir();
}

/* ---- core helpers --------------------------------------------------------- */

static void test_core(void **state)
{
	assert_int_equal(duration_parse("90"), 90);
	assert_int_equal(duration_parse("15m"), 900);
	assert_int_equal(duration_parse("2h"), 7200);
	assert_int_equal(duration_parse("30d"), 30 * 86400);
	assert_int_equal(duration_parse("-5"), -1);
	assert_int_equal(duration_parse("5x"), -1);
	assert_int_equal(duration_parse(""), -1);
	assert_int_equal(duration_parse("99999999999999999999d"), -1);
	assert_true(utf8_valid("héllo", strlen("héllo")));
	assert_false(utf8_valid("\xc3", 1));
	assert_false(utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	assert_false(utf8_valid("\xc0\xaf", 2));     /* overlong '/' */
	char a[27], b[27];
	id_new(a);
	usleep(2000);
	id_new(b);
	assert_int_equal(strlen(a), 26);
	assert_true(strcmp(a, b) < 0); /* sortable by time */
	char h[65];
	sha256_hex("abc", 3, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	char *enc = b64url_encode("\xfb\xff", 2);
	assert_string_equal(enc, "-_8");
	free(enc);
	/* the fast time writer agrees with gmtime/strftime, over many dates */
	for (int64_t t = -86400LL * 365 * 3; t < 86400LL * 365 * 200; t += 86400LL * 37 + 3917) {
		char ref[32], want[48];
		time_format(t, ref);
		snprintf(want, sizeof(want), "\"%.19s.123Z\"", ref);
		struct buf tb = {0};
		buf_json_time_ms(&tb, t * 1000 + 123);
		assert_string_equal(tb.data, want);
		buf_free(&tb);
	}
	/* RFC 3339 back to milliseconds, the zone applied */
	int64_t ms;
	assert_int_equal(time_parse("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(time_parse("2026-11-23T10:00:00.250Z", &ms), 0);
	assert_int_equal(ms, 1795428000250LL);
	assert_int_equal(time_parse("2026-11-23t11:30:00.25+01:30", &ms), 0);
	assert_int_equal(ms, 1795428000250LL);
	assert_int_equal(time_parse("2026-11-23 05:00:00.123456789-05:00", &ms), 0);
	assert_int_equal(ms, 1795428000123LL);
	assert_int_equal(time_parse("2024-02-29T00:00:00z", &ms), 0);
	assert_int_equal(time_parse("1969-12-31T23:59:59Z", &ms), 0);
	assert_int_equal(ms, -1000);
	static const char *const bad[] = {
		"", "2026-11-23", "2026-11-23T10:00:00", "2026-11-23T10:00Z",
		"2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z",
		"2026-11-23T24:00:00Z", "2026-11-23T10:60:00Z", "2026-11-23T10:00:00.Z",
		"2026-11-23T10:00:00+1:00", "2026-11-23T10:00:00Zjunk", "26-11-23T10:00:00Z",
		"2026-11-23X10:00:00Z", "yesterday", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(time_parse(bad[i], &ms), -1);
	/* the time prefix of ids bounds the ids of that millisecond */
	char pre[11], later[11];
	int64_t now = time_now_ms();
	id_new(a);
	id_time_prefix(now, pre);
	id_time_prefix(now + 1000, later);
	assert_int_equal(strlen(pre), 10);
	assert_true(strcmp(a, pre) >= 0 && strcmp(a, later) < 0);
	id_time_prefix(-5, pre);
	assert_string_equal(pre, "0000000000");
	struct buf js = {0};
	buf_json_str(&js, "a\"b\\c\n\x01é");
	json_error_t je;
	json_t *back = json_loads(js.data, JSON_DECODE_ANY, &je);
	assert_non_null(back);
	assert_string_equal(json_string_value(back), "a\"b\\c\n\x01é");
	json_decref(back);
	buf_free(&js);
	struct err e = {0};
	err_set(&e, COVE_EINVAL, "inner");
	err_set(&e, COVE_EINVAL, "outer: %s", e.msg);
	assert_string_equal(e.msg, "outer: inner");
}

int main(void)
{
	log_setup(LOG_OFF, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core),
		cmocka_unit_test(test_password_policy),
		cmocka_unit_test(test_username_policy),
		cmocka_unit_test(test_argon2),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_refresh_rotation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
