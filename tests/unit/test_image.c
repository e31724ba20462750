/*
 * test_image.c - unpacking image layers into the root file system cache
 * (src/exec/image.c): layers are written here with libarchive (exact
 * control over hostile member names) and with the tar, gzip and zstd
 * commands, then unpacked, and the tree is checked the way a job would
 * see it: whiteouts and opaque directories applied layer by layer, links
 * kept inside, escapes refused with nothing written outside, setuid bits
 * and device nodes gone, the cache shared, crash debris ignored, eviction.
 * Needs root (the unpacker chroots).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exec/exec.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char top[256];        /* per test: a fresh directory */
static char cache[PATH_MAX]; /* top/cache */
static int digest_seq;

#define GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define ZS "application/vnd.oci.image.layer.v1.tar+zstd"
#define TAR "application/vnd.oci.image.layer.v1.tar"
#define DOCKER_GZ "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* One tar member: f file, d dir, l symlink, h hard link, c char device,
 * p fifo. data: contents (f) or target (l, h). */
struct ent {
	char type;
	const char *name;
	const char *data;
	int mode;
};

static int setup_each(void **state)
{
	snprintf(top, sizeof top, "/tmp/cove-image-test-XXXXXX");
	assert_non_null(mkdtemp(top));
	snprintf(cache, sizeof cache, "%s/cache", top);
	return 0;
}

static int teardown_each(void **state)
{
	if (!getenv("TEST_KEEP")) {
		char *cmd = xasprintf("rm -rf '%s'", top);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	return 0;
}

static void digest_new(char out[80])
{
	char seed[64];
	snprintf(seed, sizeof seed, "%d-%d-%lld", (int)getpid(), ++digest_seq,
		 (long long)time_now_ms());
	char hex[65];
	sha256_hex(seed, strlen(seed), hex);
	snprintf(out, 80, "sha256:%s", hex);
}

/* Write a layer top/<file> with libarchive; filter "gzip", "zstd" or "". */
static char *layer(const char *file, const char *filter, const struct ent *ents)
{
	char *path = xasprintf("%s/%s", top, file);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (!strcmp(filter, "gzip"))
		archive_write_add_filter_gzip(a);
	else if (!strcmp(filter, "zstd"))
		assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (const struct ent *x = ents; x->type; x++) {
		struct archive_entry *en = archive_entry_new();
		archive_entry_set_pathname(en, x->name);
		archive_entry_set_mtime(en, 1700000000, 0);
		archive_entry_set_uid(en, 1234);
		archive_entry_set_gid(en, 1234);
		size_t len = 0;
		switch (x->type) {
		case 'f':
			len = strlen(x->data);
			archive_entry_set_filetype(en, AE_IFREG);
			archive_entry_set_size(en, (la_int64_t)len);
			break;
		case 'd':
			archive_entry_set_filetype(en, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(en, AE_IFLNK);
			archive_entry_set_symlink(en, x->data);
			break;
		case 'h':
			archive_entry_set_filetype(en, AE_IFREG);
			archive_entry_set_hardlink(en, x->data);
			break;
		case 'c':
			archive_entry_set_filetype(en, AE_IFCHR);
			archive_entry_set_rdevmajor(en, 1);
			archive_entry_set_rdevminor(en, 3);
			break;
		case 'p':
			archive_entry_set_filetype(en, AE_IFIFO);
			break;
		}
		archive_entry_set_perm(en, x->mode ? x->mode
					       : (x->type == 'd' ? 0755 : 0644));
		assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(a, x->data, len), (la_ssize_t)len);
		archive_entry_free(en);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
	free(cmd);
}

static int prepare(const char *digest, char **layers, char **types, int n,
		   const struct image_limits *lim, char **rootfs, struct err *e)
{
	int lfd = -1;
	int rc = image_prepare(cache, digest, layers, types, n, lim, rootfs, &lfd, e);
	if (!rc) {
		assert_true(lfd >= 0);
		close(lfd);
	}
	return rc;
}

static char *rpath(const char *root, const char *rel)
{
	return xasprintf("%s/%s", root, rel);
}

static int exists(const char *root, const char *rel)
{
	struct stat sb;
	char *p = rpath(root, rel);
	int r = lstat(p, &sb) == 0;
	free(p);
	return r;
}

static char *slurp(const char *root, const char *rel)
{
	char *p = rpath(root, rel);
	FILE *f = fopen(p, "r");
	free(p);
	if (!f)
		return NULL;
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

static void assert_content(const char *root, const char *rel, const char *want)
{
	char *got = slurp(root, rel);
	if (!got)
		fail_msg("%s missing", rel);
	assert_string_equal(got, want);
	free(got);
}

/* No cache entry and no temporary directory left for digest. */
static void assert_no_entry(const char *digest)
{
	char *p = xasprintf("%s/%s", cache, digest + 7);
	struct stat sb;
	assert_int_equal(lstat(p, &sb), -1);
	free(p);
	char *cmd = xasprintf("ls -a '%s' | grep -q '^\\.tmp-'", cache);
	assert_int_not_equal(system(cmd), 0);
	free(cmd);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_basic(void **state)
{
	struct ent l1[] = {
		{'d', "./", NULL, 0700},
		{'d', "etc", NULL, 0},
		{'f', "etc/os-release", "ID=tiny\n", 0},
		{'d', "usr/bin", NULL, 0},
		{'f', "usr/bin/tool", "#!/bin/sh\n", 04755},
		{'f', "usr/bin/sgid", "x", 02755},
		{'l', "bin", "usr/bin", 0},
		{'l', "etc/abs", "/etc/os-release", 0},
		{'h', "usr/bin/tool2", "usr/bin/tool", 0},
		{'c', "dev-null", NULL, 0666},
		{'p', "fifo", NULL, 0644},
		{'d', "tmp", NULL, 01777},
		{0},
	};
	char *layers[] = {layer("l1.tgz", "gzip", l1), NULL};
	char *types[] = {GZ, NULL};
	char digest[80];
	digest_new(digest);
	char *root = NULL;
	struct err e = {0};
	if (prepare(digest, layers, types, 1, NULL, &root, &e))
		fail_msg("prepare: %s", e.msg);
	char *want = xasprintf("%s/%s/rootfs", cache, digest + 7);
	assert_string_equal(root, want);
	assert_content(root, "etc/os-release", "ID=tiny\n");
	assert_content(root, "bin/tool", "#!/bin/sh\n"); /* through the link */
	struct stat sb, sb2;
	char *p = rpath(root, "usr/bin/tool");
	assert_int_equal(lstat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755); /* setuid dropped */
	assert_int_equal(sb.st_uid, 0);             /* owner mapped to root */
	assert_int_equal(sb.st_gid, 0);
	free(p);
	p = rpath(root, "usr/bin/tool2");
	assert_int_equal(lstat(p, &sb2), 0);
	assert_int_equal(sb.st_ino, sb2.st_ino); /* a hard link, inside */
	free(p);
	p = rpath(root, "usr/bin/sgid");
	assert_int_equal(lstat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	free(p);
	char lt[256];
	p = rpath(root, "etc/abs");
	ssize_t n = readlink(p, lt, sizeof lt - 1);
	assert_true(n > 0);
	lt[n] = '\0';
	assert_string_equal(lt, "/etc/os-release"); /* kept verbatim */
	free(p);
	assert_false(exists(root, "dev-null")); /* device nodes skipped */
	p = rpath(root, "tmp");
	assert_int_equal(lstat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 01777);
	free(p);
	assert_int_equal(stat(root, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755); /* "./" does not decide */
	/* the size of the entry is recorded for the evictor */
	char *size = xasprintf("%s/%s/size", cache, digest + 7);
	assert_int_equal(access(size, F_OK), 0);
	free(size);
	free(want);
	free(root);
	free(layers[0]);
}

/* Layers made by the tar, gzip and zstd commands, and a plain tar. */
static void test_tools(void **state)
{
	sh("cd '%s' && mkdir -p a/usr/lib b/usr/lib c/opt && echo one > a/usr/lib/one && "
	   "echo two > b/usr/lib/two && echo three > c/opt/three && "
	   "ln -s one a/usr/lib/one.link && ln a/usr/lib/one a/usr/lib/one.hard && "
	   "tar -C a -cf - . | gzip > a.tgz && "
	   "tar -C b -cf - . | zstd -q > b.tzst && tar -C c -cf c.tar opt", top);
	char *layers[] = {xasprintf("%s/a.tgz", top), xasprintf("%s/b.tzst", top),
			  xasprintf("%s/c.tar", top), NULL};
	char *types[] = {DOCKER_GZ, ZS, TAR, NULL};
	char digest[80];
	digest_new(digest);
	char *root = NULL;
	struct err e = {0};
	if (prepare(digest, layers, types, 3, NULL, &root, &e))
		fail_msg("prepare: %s", e.msg);
	assert_content(root, "usr/lib/one", "one\n");
	assert_content(root, "usr/lib/one.link", "one\n");
	assert_content(root, "usr/lib/one.hard", "one\n");
	assert_content(root, "usr/lib/two", "two\n");
	assert_content(root, "opt/three", "three\n");
	for (int i = 0; i < 3; i++)
		free(layers[i]);
	free(root);
}

static void test_whiteouts(void **state)
{
	struct ent l1[] = {
		{'d', "a", NULL, 0},
		{'f', "a/x", "x", 0},
		{'f', "a/y", "y", 0},
		{'d', "b", NULL, 0},
		{'f', "b/z", "z", 0},
		{'d', "c", NULL, 0},
		{'f', "c/old1", "1", 0},
		{'d', "c/olddir", NULL, 0},
		{'f', "c/olddir/f", "f", 0},
		{'f', "d", "a file that becomes a directory", 0},
		{'d', "e", NULL, 0},
		{'f', "e/in", "a directory that becomes a file", 0},
		{'f', "keep", "k", 0},
		{0},
	};
	struct ent l2[] = {
		{'f', "a/.wh.x", "", 0},     /* delete a/x */
		{'f', ".wh.b", "", 0},       /* delete b and all below */
		{'f', "c/new", "n", 0},      /* added before the opaque marker */
		{'f', "c/.wh..wh..opq", "", 0},
		{'f', "c/new2", "n2", 0},    /* and after it */
		{'d', "d", NULL, 0},
		{'f', "d/inside", "i", 0},
		{'f', "e", "now a file", 0},
		{'f', ".wh.nothing-here", "", 0}, /* whiting out the absent: fine */
		{'f', "a/.wh..wh.plnk", "", 0},  /* AUFS bookkeeping: ignored */
		{0},
	};
	struct ent l3[] = {
		{'f', "b/again", "b is back", 0}, /* a later layer may recreate */
		{0},
	};
	char *layers[] = {layer("l1.tar", "", l1), layer("l2.tzst", "zstd", l2),
			  layer("l3.tgz", "gzip", l3), NULL};
	char *types[] = {TAR, ZS, GZ, NULL};
	char digest[80];
	digest_new(digest);
	char *root = NULL;
	struct err e = {0};
	if (prepare(digest, layers, types, 3, NULL, &root, &e))
		fail_msg("prepare: %s", e.msg);
	assert_false(exists(root, "a/x"));
	assert_content(root, "a/y", "y");
	assert_false(exists(root, "a/.wh.x"));
	assert_false(exists(root, "b/z"));
	assert_content(root, "b/again", "b is back");
	assert_false(exists(root, "c/old1"));
	assert_false(exists(root, "c/olddir"));
	assert_content(root, "c/new", "n");
	assert_content(root, "c/new2", "n2");
	assert_false(exists(root, "c/.wh..wh..opq"));
	assert_content(root, "d/inside", "i");
	assert_content(root, "e", "now a file");
	assert_content(root, "keep", "k");
	assert_false(exists(root, ".wh.nothing-here"));
	assert_false(exists(root, "a/.wh..wh.plnk"));
	for (int i = 0; i < 3; i++)
		free(layers[i]);
	free(root);
}

/* Each hostile layer is refused, nothing lands outside the tree, and no
 * cache entry (nor temporary directory) is left. */
static void test_escapes(void **state)
{
	char *outside = xasprintf("%s/outside", top);
	assert_int_equal(mkdir(outside, 0755), 0);
	char *abs_target = xasprintf("%s", outside);
	char *abs_name = xasprintf("%s/abs-name", outside);
	char *up = xasprintf("../../../../../../../..%s", outside);
	char *hl_abs = xasprintf("%s/victim", outside);
	/* a file outside that a hard link could try to reach */
	sh("echo secret > '%s/victim'", outside);
	struct ent bad_abs[] = {{'f', abs_name, "x", 0}, {0}};
	struct ent bad_dotdot[] = {{'f', "../evil", "x", 0}, {0}};
	struct ent bad_dotdot2[] = {{'d', "a", NULL, 0}, {'f', "a/../../evil", "x", 0}, {0}};
	struct ent bad_link_abs[] = {{'l', "esc", abs_target, 0},
				     {'f', "esc/through-abs", "x", 0},
				     {0}};
	struct ent bad_link_up[] = {{'l', "up", up, 0}, {'f', "up/through-up", "x", 0}, {0}};
	struct ent bad_link_rel[] = {{'d', "d", NULL, 0},
				     {'l', "d/l", "../..", 0},
				     {'f', "d/l/through-rel", "x", 0},
				     {0}};
	struct ent bad_link_chain[] = {{'l', "a", "b", 0},
				       {'l', "b", "c/../..", 0},
				       {'d', "c", NULL, 0},
				       {'f', "a/through-chain", "x", 0},
				       {0}};
	struct ent bad_hl_abs[] = {{'h', "hl", hl_abs, 0}, {0}};
	struct ent bad_hl_up[] = {{'h', "hl", "../outside/victim", 0}, {0}};
	struct ent bad_hl_link[] = {{'l', "esc", abs_target, 0},
				    {'h', "hl", "esc/victim", 0},
				    {0}};
	struct ent bad_whiteout[] = {{'l', "esc", abs_target, 0},
				     {'f', "esc/.wh.victim", "", 0},
				     {0}};
	struct ent bad_whiteout_up[] = {{'f', "../outside/.wh.victim", "", 0}, {0}};
	const struct ent *cases[] = {bad_abs,       bad_dotdot,    bad_dotdot2,
				     bad_link_abs,  bad_link_up,   bad_link_rel,
				     bad_link_chain, bad_hl_abs,   bad_hl_up,
				     bad_hl_link,   bad_whiteout,  bad_whiteout_up};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char fname[32];
		snprintf(fname, sizeof fname, "bad%zu.tgz", i);
		char *layers[] = {layer(fname, "gzip", cases[i]), NULL};
		char *types[] = {GZ, NULL};
		char digest[80];
		digest_new(digest);
		char *root = NULL;
		struct err e = {0};
		int rc = prepare(digest, layers, types, 1, NULL, &root, &e);
		if (rc != COVE_EINVAL)
			fail_msg("case %zu: rc %d (%s), want COVE_EINVAL", i, rc, e.msg);
		if (getenv("TEST_VERBOSE"))
			fprintf(stderr, "case %zu: %s\n", i, e.msg);
		assert_non_null(strstr(e.msg, "layer 1"));
		assert_null(root);
		assert_no_entry(digest);
		free(layers[0]);
	}
	/* outside: only the victim, unchanged */
	sh("test \"$(ls -A '%s')\" = victim && test \"$(cat '%s/victim')\" = secret",
	   outside, outside);
	sh("test ! -e /evil && test ! -e '%s/evil' && test ! -e /tmp/evil", top);
	free(outside);
	free(abs_target);
	free(abs_name);
	free(up);
	free(hl_abs);
}

/* Links that stay inside are fine, relative ones through other links too. */
static void test_links_inside(void **state)
{
	struct ent l1[] = {
		{'d', "usr/lib", NULL, 0},
		{'l', "lib", "usr/lib", 0},
		{'d', "opt/x", NULL, 0},
		{'l', "opt/x/up", "../../usr", 0},
		{0},
	};
	struct ent l2[] = {
		{'f', "lib/libz.so", "z", 0},       /* written through lib -> usr/lib */
		{'f', "opt/x/up/lib/b", "b", 0},   /* through ../../usr */
		{'h', "lib/libz.so.1", "lib/libz.so", 0},
		{0},
	};
	char *layers[] = {layer("l1.tgz", "gzip", l1), layer("l2.tgz", "gzip", l2), NULL};
	char *types[] = {GZ, GZ, NULL};
	char digest[80];
	digest_new(digest);
	char *root = NULL;
	struct err e = {0};
	if (prepare(digest, layers, types, 2, NULL, &root, &e))
		fail_msg("prepare: %s", e.msg);
	assert_content(root, "usr/lib/libz.so", "z");
	assert_content(root, "usr/lib/b", "b");
	assert_content(root, "usr/lib/libz.so.1", "z");
	struct stat sb;
	char *p = rpath(root, "lib");
	assert_int_equal(lstat(p, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	free(p);
	free(layers[0]);
	free(layers[1]);
	free(root);
}

static void test_bad_input(void **state)
{
	struct ent l1[] = {{'f', "a", "a", 0}, {0}};
	char *good = layer("l1.tgz", "gzip", l1);
	char *missing = xasprintf("%s/nope.tgz", top);
	char *junk = xasprintf("%s/junk", top);
	sh("head -c 4096 /dev/urandom > '%s'", junk);
	char digest[80];
	digest_new(digest);
	char *root = NULL;
	struct err e = {0};
	char *layers[] = {good, NULL};
	char *types[] = {"application/vnd.oci.image.layer.v1.tar+bzip2", NULL};
	assert_int_equal(prepare(digest, layers, types, 1, NULL, &root, &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "media type"));
	types[0] = GZ;
	assert_int_equal(prepare("sha256:xyz", layers, types, 1, NULL, &root, &e),
			 COVE_EINVAL);
	assert_int_equal(prepare("sha256:../../etc", layers, types, 1, NULL, &root, &e),
			 COVE_EINVAL);
	layers[0] = missing;
	assert_int_equal(prepare(digest, layers, types, 1, NULL, &root, &e), COVE_ENOENT);
	assert_no_entry(digest);
	layers[0] = junk;
	assert_int_equal(prepare(digest, layers, types, 1, NULL, &root, &e), COVE_EINVAL);
	assert_no_entry(digest);
	/* a truncated gzip layer */
	sh("head -c 60 '%s' > '%s/trunc.tgz'", good, top);
	char *trunc = xasprintf("%s/trunc.tgz", top);
	layers[0] = trunc;
	assert_int_equal(prepare(digest, layers, types, 1, NULL, &root, &e), COVE_EINVAL);
	assert_no_entry(digest);
	/* limits */
	struct ent big[] = {{'f', "a", "0123456789", 0}, {'f', "b", "0123456789", 0}, {0}};
	char *bigl = layer("big.tgz", "gzip", big);
	layers[0] = bigl;
	struct image_limits lim = {.max_bytes = 15};
	assert_int_equal(prepare(digest, layers, types, 1, &lim, &root, &e), COVE_ETOOBIG);
	assert_no_entry(digest);
	struct image_limits lim2 = {.max_entries = 1};
	assert_int_equal(prepare(digest, layers, types, 1, &lim2, &root, &e), COVE_ETOOBIG);
	assert_no_entry(digest);
	/* an image of no layers is an empty root */
	assert_int_equal(prepare(digest, NULL, NULL, 0, NULL, &root, &e), 0);
	free(root);
	free(good);
	free(missing);
	free(junk);
	free(trunc);
	free(bigl);
}

/* Unpacked once: a second prepare needs no layers; concurrent prepares of
 * one digest share one unpack; crash debris is never used. */
static void test_cache(void **state)
{
	struct ent l1[] = {{'f', "marker", "m", 0}, {0}};
	char *lpath = layer("l1.tgz", "gzip", l1);
	char *layers[] = {lpath, NULL};
	char *types[] = {GZ, NULL};
	char digest[80];
	digest_new(digest);
	const char *hex = digest + 7;

	/* debris of a crash: a temporary tree, and an entry without rootfs */
	sh("mkdir -p '%s/.tmp-%s-abcdef/rootfs' '%s/%s' && echo junk > '%s/%s/junk'",
	   cache, hex, cache, hex, cache, hex);
	char *root = NULL;
	struct err e = {0};
	if (prepare(digest, layers, types, 1, NULL, &root, &e))
		fail_msg("prepare: %s", e.msg);
	assert_content(root, "marker", "m");
	assert_false(exists(root, "../junk"));
	sh("test ! -e '%s/.tmp-%s-abcdef'", cache, hex);
	free(root);

	/* cached: the layer is not read again */
	char *moved = xasprintf("%s.gone", lpath);
	assert_int_equal(rename(lpath, moved), 0);
	if (prepare(digest, layers, types, 1, NULL, &root, &e))
		fail_msg("prepare (cached): %s", e.msg);
	free(root);

	/* concurrent first unpacks of another digest: one tree, all agree */
	assert_int_equal(rename(moved, lpath), 0);
	char d2[80];
	digest_new(d2);
	pid_t kids[6];
	for (int i = 0; i < 6; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char *r = NULL;
			struct err ce = {0};
			int lfd = -1;
			int rc = image_prepare(cache, d2, layers, types, 1, NULL, &r, &lfd, &ce);
			if (rc)
				fprintf(stderr, "child: %s\n", ce.msg);
			_exit(rc ? 1 : 0);
		}
	}
	for (int i = 0; i < 6; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	if (prepare(d2, layers, types, 1, NULL, &root, &e))
		fail_msg("prepare: %s", e.msg);
	assert_content(root, "marker", "m");
	free(root);
	sh("test \"$(ls -A '%s' | grep -c '^\\.tmp-')\" = 0", cache);
	free(moved);
	free(lpath);
}

/* kill -9 in the middle of an unpack: the next prepare neither waits for
 * ever nor uses the half-written tree, and unpacks it again. */
static void test_crash(void **state)
{
	sh("cd '%s' && mkdir -p big/data && head -c 400M /dev/zero > big/data/zeros && "
	   "echo done > big/data/last && tar -C big -cf - . | gzip -1 > big.tgz && rm -rf big",
	   top);
	char *lpath = xasprintf("%s/big.tgz", top);
	char *layers[] = {lpath, NULL};
	char *types[] = {GZ, NULL};
	char digest[80];
	digest_new(digest);
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		char *r = NULL;
		struct err ce = {0};
		int lfd = -1;
		_exit(image_prepare(cache, digest, layers, types, 1, NULL, &r, &lfd, &ce) ? 1 : 0);
	}
	/* wait until the unpack has begun writing */
	char *zeros = xasprintf("%s/.tmp-%s-*/rootfs/data/zeros", cache, digest + 7);
	char *probe = xasprintf("sh -c 'test -s %s' 2>/dev/null", zeros);
	int seen = 0;
	for (int i = 0; i < 400 && !seen; i++) {
		seen = system(probe) == 0;
		if (!seen)
			usleep(10000);
	}
	assert_true(seen);
	assert_int_equal(kill(kid, SIGKILL), 0);
	int st;
	assert_int_equal(waitpid(kid, &st, 0), kid);
	/* no entry: only debris */
	char *entry = xasprintf("%s/%s", cache, digest + 7);
	assert_int_equal(access(entry, F_OK), -1);
	double t0 = time_mono();
	char *root = NULL;
	struct err e = {0};
	if (prepare(digest, layers, types, 1, NULL, &root, &e))
		fail_msg("prepare after the crash: %s", e.msg);
	assert_true(time_mono() - t0 < 60);
	assert_content(root, "data/last", "done\n");
	sh("test \"$(ls -A '%s' | grep -c '^\\.tmp-')\" = 0", cache);
	free(root);
	free(entry);
	free(probe);
	free(zeros);
	free(lpath);
}

static void test_evict(void **state)
{
	struct ent l1[] = {{'f', "data", "0123456789", 0}, {0}};
	char *lpath = layer("l1.tgz", "gzip", l1);
	char *layers[] = {lpath, NULL};
	char *types[] = {GZ, NULL};
	char old[80], busy[80], fresh[80];
	digest_new(old);
	digest_new(busy);
	digest_new(fresh);
	char *root = NULL;
	struct err e = {0};
	int busy_fd = -1;
	assert_int_equal(prepare(old, layers, types, 1, NULL, &root, &e), 0);
	free(root);
	assert_int_equal(image_prepare(cache, busy, layers, types, 1, NULL, &root,
				       &busy_fd, &e),
			 0);
	free(root);
	assert_int_equal(prepare(fresh, layers, types, 1, NULL, &root, &e), 0);
	free(root);
	/* old and busy were last used 10 days ago */
	sh("touch -d '10 days ago' '%s/%s' '%s/%s'", cache, old + 7, cache, busy + 7);
	/* and a crashed unpack of two days ago */
	sh("mkdir -p '%s/.tmp-%s-zzzzzz/rootfs' && touch -d '2 days ago' "
	   "'%s/.tmp-%s-zzzzzz'",
	   cache, old + 7, cache, old + 7);
	struct image_evict_stats st;
	assert_int_equal(image_cache_evict(cache, 7 * 86400, 0, &st, &e), 0);
	assert_int_equal(st.removed, 1); /* old; busy is in use */
	assert_int_equal(st.kept, 2);
	sh("test ! -e '%s/%s' && test -d '%s/%s/rootfs' && test -d '%s/%s/rootfs'", cache,
	   old + 7, cache, busy + 7, cache, fresh + 7);
	sh("test ! -e '%s/.tmp-%s-zzzzzz' && test ! -e '%s/%s.lock'", cache, old + 7, cache,
	   old + 7);
	/* released: now it goes too; then a byte budget of 1 empties the cache */
	close(busy_fd);
	assert_int_equal(image_cache_evict(cache, 7 * 86400, 0, &st, &e), 0);
	assert_int_equal(st.removed, 1);
	assert_int_equal(image_cache_evict(cache, 0, 1, &st, &e), 0);
	assert_int_equal(st.removed, 1);
	assert_int_equal(st.kept, 0);
	sh("test \"$(ls -A '%s')\" = ''", cache);
	/* and an evicted image is unpacked again on demand */
	assert_int_equal(prepare(old, layers, types, 1, NULL, &root, &e), 0);
	assert_content(root, "data", "0123456789");
	free(root);
	/* a missing cache is an empty one */
	char *none = xasprintf("%s/none", top);
	assert_int_equal(image_cache_evict(none, 1, 1, &st, &e), 0);
	free(none);
	free(lpath);
}

static void test_config(void **state)
{
	const char *j = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
			"\"Env\":[\"PATH=/opt/bin:/bin\",\"GREETING=hi=there\"],"
			"\"Entrypoint\":[\"/bin/busybox\"],\"Cmd\":[\"sh\",\"-c\",\"echo\"],"
			"\"WorkingDir\":\"/work\",\"User\":\"1000\"},\"rootfs\":{}}";
	struct image_config c;
	struct err e = {0};
	assert_int_equal(image_config_parse(j, strlen(j), &c, &e), 0);
	assert_string_equal(c.env[0], "PATH=/opt/bin:/bin");
	assert_string_equal(c.env[1], "GREETING=hi=there");
	assert_null(c.env[2]);
	assert_string_equal(c.entrypoint[0], "/bin/busybox");
	assert_null(c.entrypoint[1]);
	assert_string_equal(c.cmd[2], "echo");
	assert_string_equal(c.workdir, "/work");
	assert_string_equal(c.user, "1000");
	image_config_free(&c);
	const char *empty = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
	assert_int_equal(image_config_parse(empty, strlen(empty), &c, &e), 0);
	assert_null(c.env);
	assert_null(c.cmd);
	assert_null(c.workdir);
	image_config_free(&c);
	const char *nulls = "{\"config\":{\"Env\":null,\"Cmd\":null,\"WorkingDir\":\"\"}}";
	assert_int_equal(image_config_parse(nulls, strlen(nulls), &c, &e), 0);
	assert_null(c.workdir);
	image_config_free(&c);
	/* working directories as a runtime reads them */
	const char *wds[][2] = {{"/srv/", "/srv"}, {"app", "/app"}, {"/a//b/./c/../d", "/a/b/d"},
				{"/../..", "/"}, {".", "/"}};
	for (size_t i = 0; i < sizeof wds / sizeof wds[0]; i++) {
		char *js = xasprintf("{\"config\":{\"WorkingDir\":\"%s\"}}", wds[i][0]);
		assert_int_equal(image_config_parse(js, strlen(js), &c, &e), 0);
		assert_string_equal(c.workdir, wds[i][1]);
		image_config_free(&c);
		free(js);
	}
	const char *bad[] = {
		"not json", "[]", "{\"config\":3}", "{\"config\":{\"Env\":\"PATH=/\"}}",
		"{\"config\":{\"Env\":[1]}}", "{\"config\":{\"Env\":[\"NOEQUALS\"]}}",
		"{\"config\":{\"Cmd\":[\"a\",null]}}", "{\"config\":{\"WorkingDir\":7}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (image_config_parse(bad[i], strlen(bad[i]), &c, &e) != COVE_EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_null(c.env);
	}
	image_config_free(NULL);
	assert_true(image_layer_type_ok(DOCKER_GZ));
	assert_false(image_layer_type_ok("application/vnd.oci.image.manifest.v1+json"));
}

int main(void)
{
	log_setup(LOG_WARN, 2);
	if (geteuid() != 0) {
		fprintf(stderr, "test_image: needs root (the unpacker chroots); skipped\n");
		return 0;
	}
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_tools, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_whiteouts, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_escapes, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_links_inside, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_bad_input, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_cache, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_crash, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_evict, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_config, setup_each, teardown_each),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
