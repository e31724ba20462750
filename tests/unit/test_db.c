/*
 * test_db.c - the SQLite layer's statement cache: a statement is found
 * again by its text, never by where the text happens to lie in memory.
 * SQL built at run time (the table named by an argument) and freed after
 * each use once ran, from a later string at the same address with another
 * table in it, the statement prepared for the first one.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statements_are_found_by_their_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
