/*
 * test_sso.c - unit tests of single sign-on's pure parts: the username an
 * identity gets, eduPerson entitlements read as groups, the return paths
 * a login may land on (no open redirect), provider slugs, and the claim
 * checks of an ID token (iss, aud, azp, exp, iat, nbf, nonce).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/internal.h"

#include <stdlib.h>
#include <string.h>

static void test_username_derive(void **state)
{
	char out[AUTH_NAME_MAX + 1];
	sso_username_derive("Alice.Smith", NULL, "https://i", "s", 0, out);
	assert_string_equal(out, "alice_smith");
	sso_username_derive(NULL, "Bob.Jones@uni.example", "https://i", "s", 0, out);
	assert_string_equal(out, "bob_jones");
	sso_username_derive("9lives", NULL, "https://i", "s", 0, out);
	assert_string_equal(out, "u9lives");
	sso_username_derive("Ünïcode Ñame", NULL, "https://i", "s", 0, out);
	assert_int_equal(auth_username_check(out, 0, NULL), 0);
	sso_username_derive("a-very-long-preferred-username-beyond-limits", NULL,
			    "https://i", "s", 0, out);
	assert_true(strlen(out) <= 24);
	/* nothing usable: "user" and a suffix */
	sso_username_derive("", "@x", "https://i", "s", 0, out);
	assert_true(!strncmp(out, "user-", 5));
	assert_int_equal(auth_username_check(out, 0, NULL), 0);
	/* the suffix is deterministic and depends on issuer and sub */
	char a[AUTH_NAME_MAX + 1], b[AUTH_NAME_MAX + 1], c[AUTH_NAME_MAX + 1];
	sso_username_derive("admin", NULL, "https://i", "s1", 1, a);
	sso_username_derive("admin", NULL, "https://i", "s1", 1, b);
	sso_username_derive("admin", NULL, "https://i", "s2", 1, c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_true(!strncmp(a, "admin-", 6) && strlen(a) == 14);
	assert_int_equal(auth_username_check(a, 0, NULL), 0);
	/* every derived name fits the rules, whatever the input */
	const char *odd[] = {"___", "-x-", "ABC", "a b c", "x@y", "日本", "a..b", NULL};
	for (int i = 0; odd[i]; i++) {
		sso_username_derive(odd[i], NULL, "https://i", "s", 1, out);
		assert_int_equal(auth_username_check(out, 0, NULL), 0);
	}
}

static void test_group_parse(void **state)
{
	char g[256];
	assert_int_equal(sso_group_parse("lab-a", g, sizeof(g)), 1);
	assert_string_equal(g, "lab-a");
	assert_int_equal(sso_group_parse("urn:mace:egi.eu:group:lab-a:role=member#aai.egi.eu",
					 g, sizeof(g)), 1);
	assert_string_equal(g, "lab-a");
	assert_int_equal(sso_group_parse("urn:mace:egi.eu:group:lab-a:sub:role=member#aai.egi.eu",
					 g, sizeof(g)), 1);
	assert_string_equal(g, "lab-a:sub");
	assert_int_equal(sso_group_parse("urn:mace:egi.eu:group:lab-a#aai.egi.eu", g, sizeof(g)), 1);
	assert_string_equal(g, "lab-a");
	/* another role is not a membership */
	assert_int_equal(sso_group_parse("urn:mace:egi.eu:group:lab-a:role=manager#aai.egi.eu",
					 g, sizeof(g)), 0);
	assert_int_equal(sso_group_parse("urn:mace:egi.eu:res:thing", g, sizeof(g)), 0);
	assert_int_equal(sso_group_parse("urn:mace:egi.eu:group:#x", g, sizeof(g)), 0);
	assert_int_equal(sso_group_parse("", g, sizeof(g)), 0);
	assert_int_equal(sso_group_parse(NULL, g, sizeof(g)), 0);
}

static void test_return_ok(void **state)
{
	assert_true(sso_return_ok("/"));
	assert_true(sso_return_ok("/files/home/alice?x=1#y"));
	assert_false(sso_return_ok("//evil.example/"));
	assert_false(sso_return_ok("/\\evil.example"));
	assert_false(sso_return_ok("/a\\b"));
	assert_false(sso_return_ok("https://evil.example/"));
	assert_false(sso_return_ok("javascript:alert(1)"));
	assert_false(sso_return_ok("files"));
	assert_false(sso_return_ok(""));
	assert_false(sso_return_ok(NULL));
	assert_false(sso_return_ok("/a b"));
	assert_false(sso_return_ok("/a\r\nSet-Cookie:x"));
	assert_false(sso_return_ok("/v1/me"));
	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_false(sso_return_ok(big));
}

static void test_slug(void **state)
{
	char s[48];
	oidc_slug("EGI Check-in", s, sizeof(s));
	assert_string_equal(s, "egi-check-in");
	oidc_slug("  Lab  IdP!! ", s, sizeof(s));
	assert_string_equal(s, "lab-idp");
	oidc_slug("***", s, sizeof(s));
	assert_string_equal(s, "sso");
}

static void test_claims_check(void **state)
{
	struct oidc o = {.skew = 60};
	struct oidc_provider p = {.issuer = "https://idp", .client_id = "cove"};
	struct err e = {0};
	int64_t now = 1000000;
	json_t *c = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "iss", "https://idp", "aud",
			      "cove", "sub", "u", "iat", (json_int_t)now, "exp",
			      (json_int_t)(now + 300), "nonce", "n1");
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now, &e), 0);
	assert_int_equal(oidc_claims_check(&o, &p, c, "n2", now, &e), COVE_EAUTH);
	assert_non_null(strstr(e.msg, "nonce"));
	/* within the skew, and beyond it */
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now + 350, &e), 0);
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now + 400, &e), COVE_EAUTH);
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now - 100, &e), COVE_EAUTH);
	assert_non_null(strstr(e.msg, "future"));
	json_object_set_new(c, "nbf", json_integer(now + 200));
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now, &e), COVE_EAUTH);
	json_object_del(c, "nbf");
	json_object_set_new(c, "aud", json_pack("[s,s]", "cove", "other"));
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now, &e), COVE_EAUTH);
	json_object_set_new(c, "azp", json_string("cove"));
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now, &e), 0);
	json_object_set_new(c, "aud", json_string("other"));
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now, &e), COVE_EAUTH);
	json_object_set_new(c, "aud", json_string("cove"));
	json_object_set_new(c, "iss", json_string("https://idp.evil"));
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now, &e), COVE_EAUTH);
	json_object_set_new(c, "iss", json_string("https://idp"));
	json_object_del(c, "nonce");
	assert_int_equal(oidc_claims_check(&o, &p, c, "n1", now, &e), COVE_EAUTH);
	assert_int_equal(oidc_claims_check(&o, &p, c, NULL, now, &e), 0); /* device flow */
	json_object_del(c, "sub");
	assert_int_equal(oidc_claims_check(&o, &p, c, NULL, now, &e), COVE_EAUTH);
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_username_derive),
		cmocka_unit_test(test_group_parse),
		cmocka_unit_test(test_return_ok),
		cmocka_unit_test(test_slug),
		cmocka_unit_test(test_claims_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
