/*
 * test_files.c - unit tests of the file space's pure logic: path
 * canonicalisation, chmod specs (octal and symbolic), and the POSIX
 * permission rules of perm.c on cases whose kernel answer is known, and
 * the archive formats a folder download accepts.
 * (tests/integration/test_kernel_perms.py compares with the kernel itself.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "files/files.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void path_ok(const char *in, const char *want)
{
	struct err e = {0};
	char *got = fs_path_clean(in, &e);
	if (!got)
		fail_msg("'%s' refused: %s", in, e.msg);
	assert_string_equal(got, want);
	free(got);
}

static void path_bad(const char *in, const char *word)
{
	struct err e = {0};
	char *got = fs_path_clean(in, &e);
	if (got)
		fail_msg("'%s' accepted as '%s'", in, got);
	assert_int_equal(e.code, COVE_EINVAL);
	assert_non_null(strstr(e.msg, word));
}

static void test_paths(void **state)
{
	path_ok("/", "/");
	path_ok("", "/");
	path_ok("/a/b", "/a/b");
	path_ok("/a/b/", "/a/b");
	path_ok("a/b", "/a/b");
	path_ok("/Grüße/a b/🚀", "/Grüße/a b/🚀");
	path_ok("/...", "/...");
	path_ok("/.hidden", "/.hidden");
	path_bad("/..", "'..'");
	path_bad("/a/../b", "'..'");
	path_bad("/a/./b", "'.'");
	path_bad("/a//b", "empty");
	path_bad("/a\x01" "b", "control");
	path_bad("/a\tb", "control");
	path_bad("/a\xff", "UTF-8");
	char name[300];
	memset(name, 'n', 256);
	name[0] = '/';
	name[257] = '\0';
	memset(name + 1, 'n', 256);
	path_bad(name, "longer than 255");
	char *longp = xmalloc(5000);
	for (int i = 0; i < 4097; i++)
		longp[i] = i % 2 ? 'a' : '/';
	longp[4097] = '\0';
	path_bad(longp, "longer than 4096");
	struct buf deep = {0};
	for (int i = 0; i < 129; i++)
		buf_adds(&deep, "/d");
	path_bad(deep.data, "deeper");
	buf_free(&deep);
	free(longp);
	char *p = NULL, *n = NULL;
	assert_int_equal(fs_path_split("/a/b/c", &p, &n), 0);
	assert_string_equal(p, "/a/b");
	assert_string_equal(n, "c");
	free(p);
	free(n);
	assert_int_equal(fs_path_split("/a", &p, &n), 0);
	assert_string_equal(p, "/");
	free(p);
	free(n);
	assert_int_equal(fs_path_split("/", &p, &n), COVE_EINVAL);
}

static unsigned mode(const char *spec, unsigned old, int dir)
{
	unsigned out = 0;
	if (fs_mode_apply(spec, old, dir, &out))
		fail_msg("spec '%s' refused", spec);
	return out;
}

static void test_modes(void **state)
{
	assert_int_equal(mode("0640", 0777, 0), 0640);
	assert_int_equal(mode("2770", 0, 1), 02770);
	assert_int_equal(mode("755", 0, 0), 0755);
	assert_int_equal(mode("u+x", 0644, 0), 0744);
	assert_int_equal(mode("go-rwx", 0755, 0), 0700);
	assert_int_equal(mode("a+r", 0600, 0), 0644);
	assert_int_equal(mode("+w", 0444, 0), 0666);
	assert_int_equal(mode("g+w,o-r", 0644, 0), 0660);
	assert_int_equal(mode("u=rw,go=r", 0777, 0), 0644);
	assert_int_equal(mode("g+s", 0770, 1), 02770);
	assert_int_equal(mode("+t", 0777, 1), 01777);
	assert_int_equal(mode("a+X", 0644, 1), 0755);  /* directory: X applies */
	assert_int_equal(mode("a+X", 0644, 0), 0644);  /* file without x: not */
	assert_int_equal(mode("a+X", 0744, 0), 0755);  /* file with some x: yes */
	unsigned out;
	assert_int_equal(fs_mode_apply("", 0, 0, &out), COVE_EINVAL);
	assert_int_equal(fs_mode_apply("99", 0, 0, &out), COVE_EINVAL);
	assert_int_equal(fs_mode_apply("77777", 0, 0, &out), COVE_EINVAL);
	assert_int_equal(fs_mode_apply("u+q", 0, 0, &out), COVE_EINVAL);
	assert_int_equal(fs_mode_apply("rwx", 0, 0, &out), COVE_EINVAL);
	assert_int_equal(fs_mode_apply("u+x,", 0, 0, &out), 0);
}

static struct fs_attr attr(int64_t uid, int64_t gid, unsigned m, int dir)
{
	struct fs_attr a;
	memset(&a, 0, sizeof(a));
	a.uid = uid;
	a.gid = gid;
	a.mode = m;
	a.is_dir = dir;
	return a;
}

static void test_perms(void **state)
{
	int64_t alice_groups[] = {1001, 3000};
	int64_t bob_groups[] = {1002};
	struct fs_cred alice = {.uid = 1001, .gid = 1001, .gids = alice_groups, .ngids = 2};
	struct fs_cred bob = {.uid = 1002, .gid = 1002, .gids = bob_groups, .ngids = 1};
	struct fs_cred root = {.uid = 0, .admin = 1};

	/* classes do not fall through: an owner without r is denied even if
	 * group and other could read */
	struct fs_attr f = attr(1001, 3000, 0044, 0);
	assert_false(perm_may(&alice, &f, PERM_R));
	assert_false(perm_may(&bob, &f, PERM_W));
	assert_true(perm_may(&bob, &f, PERM_R));
	/* group class via a supplementary group */
	struct fs_attr g = attr(1002, 3000, 0640, 0);
	assert_true(perm_may(&alice, &g, PERM_R));
	assert_false(perm_may(&alice, &g, PERM_W));
	/* admin as root: anything but executing a file without x bits */
	struct fs_attr none = attr(1002, 1002, 0000, 0);
	assert_true(perm_may(&root, &none, PERM_R | PERM_W));
	assert_false(perm_may(&root, &none, PERM_X));
	struct fs_attr nodir = attr(1002, 1002, 0000, 1);
	assert_true(perm_may(&root, &nodir, PERM_X));
	/* sticky directories: only the entry's or the directory's owner */
	struct fs_attr tmp = attr(0, 0, 01777, 1);
	struct fs_attr mine = attr(1001, 1001, 0644, 0);
	assert_true(perm_may_unlink(&alice, &tmp, &mine));
	assert_false(perm_may_unlink(&bob, &tmp, &mine));
	assert_true(perm_may_unlink(&root, &tmp, &mine));
	struct fs_attr bobs_sticky = attr(1002, 1002, 01777, 1);
	assert_true(perm_may_unlink(&bob, &bobs_sticky, &mine));
	/* unlink needs w and x on the directory, nothing on the file */
	struct fs_attr wonly = attr(1001, 1001, 0200, 1);
	assert_false(perm_may_unlink(&alice, &wonly, &none));
	struct fs_attr wx = attr(1001, 1001, 0300, 1);
	assert_true(perm_may_unlink(&alice, &wx, &none));
	/* chmod: owner or admin; setgid dropped for a group one is not in */
	assert_true(perm_may_chmod(&alice, &mine));
	assert_false(perm_may_chmod(&bob, &mine));
	struct fs_attr other_group = attr(1001, 4000, 0644, 0);
	assert_int_equal(perm_chmod_result(&alice, &other_group, 02755), 0755);
	struct fs_attr own_group = attr(1001, 3000, 0644, 0);
	assert_int_equal(perm_chmod_result(&alice, &own_group, 02755), 02755);
	assert_int_equal(perm_chmod_result(&root, &other_group, 02755), 02755);
	/* chown: admin only to another user; chgrp by the owner to own groups */
	assert_false(perm_may_chown(&alice, &mine, 1002, -1));
	assert_true(perm_may_chown(&alice, &mine, 1001, -1));
	assert_true(perm_may_chown(&alice, &mine, -1, 3000));
	assert_false(perm_may_chown(&alice, &mine, -1, 4000));
	assert_false(perm_may_chown(&bob, &mine, -1, 1002));
	assert_true(perm_may_chown(&root, &mine, 1002, 4000));
	/* chown clears setuid, and setgid when group-executable */
	struct fs_attr suid = attr(1001, 1001, 06755, 0);
	assert_int_equal(perm_chown_mode(&suid), 0755);
	struct fs_attr sgid_noexec = attr(1001, 1001, 02644, 0);
	assert_int_equal(perm_chown_mode(&sgid_noexec), 02644);
	struct fs_attr sgid_dir = attr(1001, 1001, 02775, 1);
	assert_int_equal(perm_chown_mode(&sgid_dir), 02775);
	/* creation: umask, setgid inheritance of group and bit */
	struct fs_attr proj = attr(0, 5000, 02770, 1);
	assert_int_equal(perm_create_mode(&proj, 0, 0666, 022), 0644);
	assert_int_equal(perm_create_mode(&proj, 1, 0777, 022), 02755);
	assert_int_equal(perm_create_gid(&proj, 1001), 5000);
	struct fs_attr plain = attr(0, 5000, 0777, 1);
	assert_int_equal(perm_create_gid(&plain, 1001), 1001);
	assert_int_equal(perm_create_mode(&plain, 1, 0777, 027), 0750);
}

static void test_archive_formats(void **state)
{
	struct err e = {0};
	enum fs_archive_format f = 0;
	assert_int_equal(fs_archive_format_parse("tar.gz", &f, &e), 0);
	assert_int_equal(f, FS_ARCHIVE_TAR_GZ);
	assert_string_equal(fs_archive_ext(f), ".tar.gz");
	assert_int_equal(fs_archive_format_parse("zip", &f, &e), 0);
	assert_int_equal(f, FS_ARCHIVE_ZIP);
	assert_string_equal(fs_archive_ext(f), ".zip");
	static const char *const bad[] = {"", "rar", "ZIP", "tgz", "tar", "zip ", "tar.gz\x01", NULL};
	for (const char *const *b = bad; *b; b++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(fs_archive_format_parse(*b, &f, &e), COVE_EINVAL);
		/* the message names what would have worked */
		assert_non_null(strstr(e.msg, "archive=tar.gz or archive=zip"));
	}
	assert_int_equal(fs_archive_format_parse(NULL, &f, &e), COVE_EINVAL);
}

/* Where a backup may go: absolute, its parent existing, outside the data
 * directory and not containing it. */
static void test_backup_dirs(void **state)
{
	char data[] = "/var/tmp/cove-bk-XXXXXX";
	assert_non_null(mkdtemp(data));
	struct err e = {0};
	char *inside = xasprintf("%s/b", data), *sibling = xasprintf("%s-b", data);
	char *deep = xasprintf("%s/no/such", data);
	assert_int_equal(files_backup_check_dir(data, "/var/tmp/cove-bk-new", &e), 0);
	assert_int_equal(files_backup_check_dir(data, sibling, &e), 0); /* a prefix, not a parent */
	assert_int_equal(files_backup_check_dir(data, "rel/b", &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "absolute"));
	assert_int_equal(files_backup_check_dir(data, inside, &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "outside"));
	assert_int_equal(files_backup_check_dir(data, data, &e), COVE_EINVAL);
	assert_int_equal(files_backup_check_dir(data, "/var", &e), COVE_EINVAL); /* contains it */
	assert_int_equal(files_backup_check_dir(data, "/var/tmp/..", &e), COVE_EINVAL);
	assert_int_equal(files_backup_check_dir(data, deep, &e), COVE_EINVAL);
	assert_non_null(strstr(e.msg, "parent"));
	assert_int_equal(files_backup_check_dir(data, "/var/tmp/a\tb", &e), COVE_EINVAL);
	/* through a link to the data directory's parent: still inside */
	char *link = xasprintf("%s-link", data);
	assert_int_equal(symlink(data, link), 0);
	char *via = xasprintf("%s/b", link);
	assert_int_equal(files_backup_check_dir(data, via, &e), COVE_EINVAL);
	unlink(link);
	rmdir(data);
	free(inside);
	free(sibling);
	free(deep);
	free(link);
	free(via);
}

int main(void)
{
	log_setup(LOG_OFF, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_perms),
		cmocka_unit_test(test_archive_formats),
		cmocka_unit_test(test_backup_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
