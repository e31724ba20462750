/*
 * test_http.c - unit tests of the HTTP layer's pure text logic: the
 * Content-Disposition value for user files (RFC 6266 with an RFC 8187
 * filename*) and which names count as active content in a browser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"

#include <stdlib.h>
#include <string.h>

static void disposition_is(const char *name, const char *want)
{
	char *got = http_disposition("attachment", name);
	assert_string_equal(got, want);
	free(got);
}

static void test_disposition(void **state)
{
	disposition_is("report.csv", "attachment; filename=\"report.csv\"; "
				     "filename*=UTF-8''report.csv");
	/* each non-ASCII character is one '_' in the fallback, its UTF-8
	 * bytes percent-encoded in filename* */
	disposition_is("Grüße 🚀.tar.gz",
		       "attachment; filename=\"Gr__e _.tar.gz\"; "
		       "filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%F0%9F%9A%80.tar.gz");
	/* what a quoted-string or a percent-decoding browser would misread */
	disposition_is("a\"b\\c%41.txt", "attachment; filename=\"a_b_c_41.txt\"; "
					 "filename*=UTF-8''a%22b%5Cc%2541.txt");
	/* separators of the header itself stay inside the quotes, encoded
	 * in filename* */
	disposition_is("x; filename=evil.html, y",
		       "attachment; filename=\"x; filename=evil.html, y\"; "
		       "filename*=UTF-8''x%3B%20filename%3Devil.html%2C%20y");
	/* RFC 8187 attr-chars stand as they are */
	disposition_is("!#$&+-.^_`|~", "attachment; filename=\"!#$&+-.^_`|~\"; "
				       "filename*=UTF-8''!#$&+-.^_`|~");
	disposition_is("", "attachment; filename=\"download\"; filename*=UTF-8''download");
	char *inl = http_disposition("inline", "a.txt");
	assert_string_equal(inl, "inline; filename=\"a.txt\"; filename*=UTF-8''a.txt");
	free(inl);
}

static void test_active_names(void **state)
{
	static const char *const active[] = {
		"index.html", "a.htm", "A.HTML", "page.xhtml", "logo.svg", "logo.SVGZ",
		"feed.xml", "style.xsl", "app.js", "mod.mjs", "x.tar.Js", ".html", NULL};
	static const char *const inert[] = {
		"data.csv", "html", "notes.html.txt", "a.json", "a.jsx", "a.svg.gz",
		"a.xslx", "", "readme", "a.htmlx", NULL};
	for (const char *const *p = active; *p; p++)
		if (!http_name_is_active(*p))
			fail_msg("'%s' should count as active content", *p);
	for (const char *const *p = inert; *p; p++)
		if (http_name_is_active(*p))
			fail_msg("'%s' should not count as active content", *p);
	assert_false(http_name_is_active(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disposition),
		cmocka_unit_test(test_active_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
