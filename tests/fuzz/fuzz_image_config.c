/*
 * fuzz_image_config.c - an image's config blob as pushed by anyone with
 * push rights (image_config_parse, src/exec/image.c), which decides a job's
 * environment, entrypoint, command and working directory.
 * Invariants: an accepted config's working directory is absolute with no
 * "", "." or ".." component; every env entry is a NUL-free C string.
 */
#include "exec/exec.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_config c;
	memset(&c, 0, sizeof c);
	struct err e = {0};
	if (image_config_parse((const char *)data, size, &c, &e) == 0 && c.workdir) {
		const char *w = c.workdir;
		FUZZ_CHECK(w[0] == '/', "workdir '%s'", w);
		FUZZ_CHECK(!strstr(w, "//") && !strstr(w, "/./") && !strstr(w, "/../"),
			   "workdir '%s'", w);
		size_t n = strlen(w);
		FUZZ_CHECK(n == 1 || (w[n - 1] != '/' &&
				      !(n >= 2 && !strcmp(w + n - 2, "/.")) &&
				      !(n >= 3 && !strcmp(w + n - 3, "/.."))),
			   "workdir '%s'", w);
	}
	image_config_free(&c);
	return 0;
}
