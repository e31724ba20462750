/*
 * fuzz_path.c - file-space paths as users send them (src/files/path.c):
 * fs_path_clean, fs_path_split, and fs_mode_apply (chmod's mode strings).
 * Invariants: a cleaned path is absolute, has no "", "." or ".."
 * component, no control byte, is within FS_PATH_MAX/FS_NAME_MAX/
 * FS_DEPTH_MAX, is a fixed point of fs_path_clean, and splits into a
 * parent and a name that join back to it; a mode stays within 07777.
 */
#include "files/files.h"
#include "fuzz.h"

static void check_clean(const char *p)
{
	FUZZ_CHECK(p[0] == '/', "'%s' is not absolute", p);
	size_t n = strlen(p);
	FUZZ_CHECK(n <= FS_PATH_MAX, "%zu bytes", n);
	FUZZ_CHECK(n == 1 || p[n - 1] != '/', "'%s' ends with '/'", p);
	int depth = 0;
	for (const char *s = p + (n > 1); *s && n > 1;) {
		const char *end = strchr(s, '/');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		FUZZ_CHECK(len > 0, "empty component in '%s'", p);
		FUZZ_CHECK(len <= FS_NAME_MAX, "name of %zu bytes", len);
		FUZZ_CHECK(!(len == 1 && s[0] == '.'), "'.' in '%s'", p);
		FUZZ_CHECK(!(len == 2 && s[0] == '.' && s[1] == '.'), "'..' in '%s'", p);
		for (size_t i = 0; i < len; i++)
			FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f,
				   "control byte in '%s'", p);
		depth++;
		s += len + (end != NULL);
	}
	FUZZ_CHECK(depth <= FS_DEPTH_MAX, "depth %d", depth);
	FUZZ_CHECK(utf8_valid(p, n), "invalid UTF-8 out");

	struct err e = {0};
	char *again = fs_path_clean(p, &e);
	FUZZ_CHECK(again && !strcmp(again, p), "not a fixed point: '%s' -> '%s'", p,
		   again ? again : e.msg);
	free(again);

	char *parent = NULL, *name = NULL;
	int rc = fs_path_split(p, &parent, &name);
	if (!strcmp(p, "/")) {
		FUZZ_CHECK(rc != 0, "the root split");
		return;
	}
	FUZZ_CHECK(rc == 0, "'%s' does not split", p);
	FUZZ_CHECK(*name && !strchr(name, '/'), "name '%s'", name);
	char *joined = xasprintf("%s%s%s", parent, strcmp(parent, "/") ? "/" : "", name);
	FUZZ_CHECK(!strcmp(joined, p), "'%s' + '%s' != '%s'", parent, name, p);
	free(joined);
	free(parent);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct err e = {0};
	char *p = fs_path_clean(s, &e);
	if (p)
		check_clean(p);
	else
		FUZZ_CHECK(e.code == COVE_EINVAL && e.msg[0], "refused without a reason");
	free(p);

	/* the same bytes as a chmod mode over a few starting modes */
	static const unsigned olds[] = {0, 0644, 0755, 07777, 02775, 01777};
	for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++)
		for (int dir = 0; dir < 2; dir++) {
			unsigned out = 0xdeadbeef;
			if (fs_mode_apply(s, olds[i], dir, &out) == 0)
				FUZZ_CHECK(out <= 07777, "mode %o from '%s'", out, s);
		}
	free(s);
	return 0;
}
