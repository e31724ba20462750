/*
 * test_db.c - the SQLite layer's statement cache: a statement is found
 * again by its text, never by where the text happens to lie in memory.
 * SQL built at run time (the table named by an argument) and freed after
 * each use once ran, from a later string at the same address with another
 * table in it, the statement prepared for the first one.
 * Also: a snapshot (db_snapshot) is a whole database of its own as of one
 * moment, and a database newer than the binary is refused untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static struct db *open_db(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/cove-db-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/t.db", dir);
	struct db *db = NULL;
	struct err e = {0};
	assert_int_equal(db_open(&db, path, 1, &e), 0);
	free(path);
	return db;
}

static void close_db(struct db *db)
{
	db_close(db);
	char *cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int64_t count(struct dbconn *c, const char *table)
{
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	int64_t n = -1;
	struct err e = {0};
	assert_int_equal(db_query_int(c, &e, &n, sql, NULL), 1);
	free(sql);
	return n;
}

static void test_statements_are_found_by_their_text(void **state)
{
	struct db *db = open_db();
	struct dbconn *c = db_get(db);
	struct err e = {0};
	assert_true(db_exec(c, &e, "CREATE TABLE t1 (v INTEGER)", NULL) >= 0);
	assert_true(db_exec(c, &e, "CREATE TABLE t2 (v INTEGER)", NULL) >= 0);
	/* one buffer, written again with the other table's name: the same
	 * address with other text, as malloc gives a freed string's address
	 * to the next (AddressSanitizer's quarantine hides that, so the
	 * buffer is reused by hand here) */
	char buf[64];
	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "INSERT INTO t%d(v) VALUES (?)", 1 + i % 2);
		assert_true(db_exec(c, &e, buf, "i", (int64_t)i) >= 0);
	}
	assert_int_equal(count(c, "t1"), 20);
	assert_int_equal(count(c, "t2"), 20);
	/* the same text from another address is the same statement, and a
	 * literal keeps working beside built ones */
	char *again = xstrdup("INSERT INTO t1(v) VALUES (?)");
	assert_true(db_exec(c, &e, again, "i", (int64_t)100) >= 0);
	free(again);
	assert_true(db_exec(c, &e, "INSERT INTO t2(v) VALUES (?)", "i", (int64_t)101) >= 0);
	assert_int_equal(count(c, "t1"), 21);
	assert_int_equal(count(c, "t2"), 21);
	db_put(db, c);
	close_db(db);
}

static void test_a_snapshot_is_a_database_of_its_own(void **state)
{
	struct db *db = open_db();
	struct dbconn *c = db_get(db);
	struct err e = {0};
	assert_true(db_exec(c, &e, "CREATE TABLE t1 (v INTEGER)", NULL) >= 0);
	for (int i = 0; i < 50; i++)
		assert_true(db_exec(c, &e, "INSERT INTO t1(v) VALUES (?)", "i", (int64_t)i) >= 0);
	db_put(db, c);
	char *snap = xasprintf("%s/snap.db", dir);
	assert_int_equal(db_snapshot(db, snap, &e), 0);
	/* a second snapshot to the same place is refused, not overwritten */
	assert_int_not_equal(db_snapshot(db, snap, &e), 0);
	assert_non_null(strstr(e.msg, snap));
	/* later writes are not in it */
	c = db_get(db);
	assert_true(db_exec(c, &e, "INSERT INTO t1(v) VALUES (99)", NULL) >= 0);
	db_put(db, c);
	struct db *s2 = NULL;
	assert_int_equal(db_open(&s2, snap, 1, &e), 0);
	c = db_get(s2);
	assert_int_equal(count(c, "t1"), 50);
	int64_t v = 0;
	assert_int_equal(db_query_int(c, &e, &v, "PRAGMA user_version", NULL), 1);
	assert_true(v > 0); /* the schema version travels with it */
	db_put(s2, c);
	db_close(s2);
	free(snap);
	close_db(db);
}

static void test_a_newer_database_is_refused(void **state)
{
	struct db *db = open_db();
	struct dbconn *c = db_get(db);
	struct err e = {0};
	int64_t v = 0;
	assert_int_equal(db_query_int(c, &e, &v, "PRAGMA user_version", NULL), 1);
	char *sql = xasprintf("PRAGMA user_version = %lld", (long long)v + 1);
	assert_true(db_exec(c, &e, sql, NULL) >= 0);
	free(sql);
	db_put(db, c);
	db_close(db);
	char *path = xasprintf("%s/t.db", dir);
	struct db *again = NULL;
	assert_int_equal(db_open(&again, path, 1, &e), COVE_EINVAL);
	assert_null(again);
	assert_non_null(strstr(e.msg, "newer than this cove"));
	free(path);
	char *cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statements_are_found_by_their_text),
		cmocka_unit_test(test_a_snapshot_is_a_database_of_its_own),
		cmocka_unit_test(test_a_newer_database_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
