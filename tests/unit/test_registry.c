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

#include "registry/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- image resolution for jobs, against a real database and store ---- */

static char tmpdir[64];

/* Store bytes and return their hex digest (static buffer per call site). */
static void put_blob(struct files *f, const char *data, size_t len, char hex[65])
{
	struct blob_writer *w;
	struct err e = {0};
	int64_t size;
	assert_int_equal(files_blob_writer(f, &w, &e), 0);
	assert_int_equal(files_blob_write(w, data, len, &e), 0);
	assert_int_equal(files_blob_finish(f, w, hex, &size, &e), 0);
	assert_int_equal(size, (int64_t)len);
}

/* Retention: the newest `keep` matching tags stay, by push time (ties by
 * name); immutable and unmatched tags always stay; older_than spares
 * recent pushes; a tag stays when any rule matching it keeps it. */
static void test_retention_select(void **state)
{
	(void)state;
	int64_t now = 1000000000; /* ms */
	struct reg_tag_info t[] = {
		{"v1", "", now - 7000, 1}, /* immutable */
		{"v2", "", now - 6000, 0},
		{"v3", "", now - 5000, 0},
		{"v4", "", now - 4000, 0},
		{"v5", "", now - 3000, 0},
		{"latest", "", now - 1000, 0},
		{"dev-1", "", now - 3600 * 1000 - 1, 0},
		{"dev-2", "", now - 10, 0},
	};
	int n = (int)(sizeof(t) / sizeof(t[0]));
	int rm[8];
	struct reg_retention_rule keep2 = {"v*", 2, 0};
	assert_int_equal(reg_retention_select(t, n, &keep2, 1, now, rm), 2);
	int want1[] = {0, 1, 1, 0, 0, 0, 0, 0};
	assert_memory_equal(rm, want1, sizeof(want1));

	/* keep 0 of dev-* older than an hour: only dev-1 is old enough */
	struct reg_retention_rule dev = {"dev-*", 0, 3600};
	assert_int_equal(reg_retention_select(t, n, &dev, 1, now, rm), 1);
	int want2[] = {0, 0, 0, 0, 0, 0, 1, 0};
	assert_memory_equal(rm, want2, sizeof(want2));

	/* two rules: v5 is kept by the second even though the first drops it */
	struct reg_retention_rule two[] = {{"v*", 0, 0}, {"v5", 1, 0}};
	assert_int_equal(reg_retention_select(t, n, two, 2, now, rm), 3);
	int want3[] = {0, 1, 1, 1, 0, 0, 0, 0};
	assert_memory_equal(rm, want3, sizeof(want3));

	/* keep more than there are: nothing goes; no rules: nothing goes */
	struct reg_retention_rule many = {"*", 100, 0};
	assert_int_equal(reg_retention_select(t, n, &many, 1, now, rm), 0);
	assert_int_equal(reg_retention_select(t, n, NULL, 0, now, rm), 0);

	/* same push time: the name decides, deterministically */
	struct reg_tag_info same[] = {{"a", "", 5, 0}, {"b", "", 5, 0}, {"c", "", 5, 0}};
	struct reg_retention_rule one = {"*", 1, 0};
	assert_int_equal(reg_retention_select(same, 3, &one, 1, now, rm), 2);
	assert_int_equal(rm[2], 0);
	assert_int_equal(rm[0] + rm[1], 2);
	assert_int_equal(reg_retention_select(t, 0, &one, 1, now, rm), 0);
}

static void test_image_resolve(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cove-unit-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	struct err e = {0};
	struct db *db;
	char *dbpath = xasprintf("%s/cove.db", tmpdir);
	assert_int_equal(db_open(&db, dbpath, 2, &e), 0);
	free(dbpath);
	struct files *f;
	assert_int_equal(files_open(&f, db, tmpdir, 0755, &e), 0);
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = tmpdir;
	struct registry *rg;
	assert_int_equal(registry_open(&rg, db, f, NULL, &cfg, &e), 0);
	struct dbconn *c = db_get(db);
	assert_true(db_exec(c, &e,
			    "INSERT INTO groups(gid, name, kind, created_at) VALUES "
			    "(1000, 'alice', 'user', 0), (1001, 'bob', 'user', 0);"
			    "", NULL) >= 0);
	assert_true(db_exec(c, &e,
			    "INSERT INTO users(uid, username, gid, created_at, updated_at) "
			    "VALUES (1000, 'alice', 1000, 0, 0), (1001, 'bob', 1001, 0, 0)",
			    NULL) >= 0);

	char l1[65], l2[65], cf[65], mf[65], ix[65];
	put_blob(f, "layer one", 9, l1);
	put_blob(f, "layer two!", 10, l2);
	put_blob(f, "{}", 2, cf);
	assert_int_equal(reg_blob_link(rg, c, "alice/env", l1, 9, &e), 0);
	assert_int_equal(reg_blob_link(rg, c, "alice/env", l2, 10, &e), 0);
	assert_int_equal(reg_blob_link(rg, c, "alice/env", cf, 2, &e), 0);
	char *man = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"sha256:%s\",\"size\":2},\"layers\":["
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\",\"size\":9},"
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"sha256:%s\",\"size\":10}]}",
		cf, l1, l2);
	put_blob(f, man, strlen(man), mf);
	struct reg_manifest m;
	memset(&m, 0, sizeof(m));
	memcpy(m.hex, mf, 65);
	m.size = (int64_t)strlen(man);
	m.media_type = "application/vnd.oci.image.manifest.v1+json";
	char missing[72];
	assert_int_equal(reg_manifest_put(rg, c, "alice/env", &m, "v1", "alice", missing, &e), 0);
	char *idx = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
		"\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"digest\":\"sha256:%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
		"\"architecture\":\"amd64\"}}]}",
		mf, strlen(man));
	put_blob(f, idx, strlen(idx), ix);
	memset(&m, 0, sizeof(m));
	memcpy(m.hex, ix, 65);
	m.size = (int64_t)strlen(idx);
	m.media_type = "application/vnd.oci.image.index.v1+json";
	assert_int_equal(reg_manifest_put(rg, c, "alice/env", &m, "latest", "alice", missing, &e), 0);

	struct actor alice = {.authenticated = 1, .uid = 1000, .gid = 1000, .scopes = SCOPE_ALL};
	const char *refs[3];
	char *bydigest = xasprintf("alice/env@sha256:%s", mf);
	refs[0] = "alice/env:latest"; /* the index, resolved to its amd64 image */
	refs[1] = "alice/env:v1";
	refs[2] = bydigest;
	for (int i = 0; i < 3; i++) {
		char digest[72];
		char **paths, **types;
		int n;
		if (registry_image_resolve(rg, c, &alice, refs[i], digest, &paths, &types, &n, &e))
			fail_msg("%s: %s", refs[i], e.msg);
		char want[72];
		snprintf(want, sizeof(want), "sha256:%s", mf);
		assert_string_equal(digest, want);
		assert_int_equal(n, 2);
		assert_non_null(strstr(paths[0], l1));
		assert_non_null(strstr(paths[1], l2));
		assert_string_equal(types[1], "application/vnd.oci.image.layer.v1.tar+zstd");
		struct stat sb;
		assert_int_equal(stat(paths[1], &sb), 0);
		assert_int_equal(sb.st_size, 10);
		registry_image_free(paths, types, n);
	}
	struct actor bob = {.authenticated = 1, .uid = 1001, .gid = 1001, .scopes = SCOPE_ALL};
	char digest[72];
	char **paths, **types;
	int n;
	assert_int_equal(registry_image_resolve(rg, c, &bob, "alice/env:v1", digest, &paths,
						&types, &n, &e), COVE_ENOENT);
	assert_int_equal(registry_image_resolve(rg, c, &alice, "alice/env:nope", digest, &paths,
						&types, &n, &e), COVE_ENOENT);
	assert_int_equal(registry_image_resolve(rg, c, &alice, "Alice/env", digest, &paths,
						&types, &n, &e), COVE_EINVAL);
	assert_int_equal(registry_image_resolve(rg, c, &alice, "alice/env@sha256:12", digest,
						&paths, &types, &n, &e), COVE_EINVAL);
	free(bydigest);
	free(man);
	free(idx);
	db_put(db, c);
	registry_close(rg);
	files_close(f);
	db_close(db);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_retention_select),
		cmocka_unit_test(test_image_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
