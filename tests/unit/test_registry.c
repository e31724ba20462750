/*
 * test_registry.c - unit tests of the registry's pure checks: the OCI
 * repository name grammar, tags, digests and the globs of tag rules.
 * Everything that reaches SQL or a path has passed through these.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "registry/registry.h"

#include <string.h>

static void test_names(void **state)
{
	const char *good[] = {"proj/repo", "proj/a/b/c", "p0/r.e_p-o", "a/b__c",
			      "a/b---c", "a1/2b", NULL};
	const char *bad[] = {"", "proj", "Proj/repo", "proj/Repo", "proj//repo",
			     "/proj/repo", "proj/repo/", "proj/-repo", "proj/repo-",
			     "proj/re..po", "proj/re___po", "proj/re po", "proj/r:tag",
			     "proj/../x", "proj/.x", "proj/r@x", NULL};
	for (int i = 0; good[i]; i++)
		assert_true(reg_name_valid(good[i]));
	for (int i = 0; bad[i]; i++)
		assert_false(reg_name_valid(bad[i]));
	char big[300];
	memset(big, 'a', sizeof(big));
	big[1] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_false(reg_name_valid(big)); /* longer than 255 */
	assert_false(reg_name_valid(NULL));
}

static void test_tags(void **state)
{
	assert_true(reg_tag_valid("latest"));
	assert_true(reg_tag_valid("v1.2.3-rc_1"));
	assert_true(reg_tag_valid("_x"));
	assert_false(reg_tag_valid(""));
	assert_false(reg_tag_valid(".hidden"));
	assert_false(reg_tag_valid("-x"));
	assert_false(reg_tag_valid("a/b"));
	assert_false(reg_tag_valid("a:b"));
	char t[130];
	memset(t, 'a', 128);
	t[128] = '\0';
	assert_true(reg_tag_valid(t));
	t[128] = 'a';
	t[129] = '\0';
	assert_false(reg_tag_valid(t));
}

static void test_digests(void **state)
{
	char hex[65];
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	assert_true(reg_digest_parse(d, hex));
	assert_string_equal(hex, d + 7);
	assert_false(reg_digest_parse("sha256:0123", hex));
	assert_false(reg_digest_parse("sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", hex));
	assert_false(reg_digest_parse("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", hex));
	assert_false(reg_digest_parse("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", hex));
	assert_false(reg_digest_parse("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", hex));
	assert_false(reg_digest_parse(NULL, hex));
	assert_false(reg_digest_parse("latest", hex));
}

static void test_globs(void **state)
{
	assert_true(reg_glob("v*", "v1.0"));
	assert_false(reg_glob("v*", "latest"));
	assert_true(reg_glob("*", "anything"));
	assert_false(reg_glob("*", "a/b"));
	assert_true(reg_glob("**", "a/b/c"));
	assert_true(reg_glob("team/*", "team/app"));
	assert_false(reg_glob("team/*", "team/app/x"));
	assert_true(reg_glob("team/**", "team/app/x"));
	assert_true(reg_glob("release-?", "release-1"));
	assert_false(reg_glob("release-?", "release-10"));
	assert_true(reg_glob("frozen", "frozen"));
	assert_false(reg_glob("frozen", "frozen2"));
	assert_true(reg_glob("*-stable", "1.2-stable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_globs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
