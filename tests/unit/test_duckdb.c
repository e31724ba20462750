/*
 * test_duckdb.c - `cove __duckdb SCRIPT` as a job sees it: scripts written
 * to a temporary directory, exec_duckdb_main called in-process with stdout
 * and stderr sent to files, and the CSV and messages compared with what a
 * user would read. Needs the real libduckdb.so (scripts/deps.sh); every test
 * that runs SQL is skipped, saying so, when it is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exec/exec.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEPS_LIB                                                              \
	"/usr/local/lib/cove/node_modules/@duckdb/node-bindings-linux-x64/"     \
	"libduckdb.so"

static char tmpdir[] = "/tmp/cove-test-duckdb-XXXXXX";

/* What one run printed and returned. */
struct run {
	int rc;
	char *out;
	char *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static char *path_in_tmp(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *read_all(const char *path)
{
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return b.data ? buf_detach(&b) : xstrdup("");
}

/* Point fd at a fresh file; return a copy of the old fd to restore. */
static int redirect(int fd, const char *path)
{
	int saved = dup(fd);
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && f >= 0);
	assert_int_equal(dup2(f, fd), fd);
	close(f);
	return saved;
}

static void restore(int fd, int saved)
{
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
}

/* Run exec_duckdb_main on a script holding sql ("%s" in it is replaced by
 * the temporary directory, for file paths). */
static struct run run_sql(const char *sql)
{
	struct run r = {0};
	struct buf text = {0};
	for (const char *p = sql; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			buf_adds(&text, tmpdir);
			p++;
		} else {
			buf_addc(&text, *p);
		}
	}
	char *script = path_in_tmp("script.sql");
	char *out = path_in_tmp("stdout");
	char *err = path_in_tmp("stderr");
	write_file(script, buf_str(&text));

	fflush(stdout);
	fflush(stderr);
	int so = redirect(1, out), se = redirect(2, err);
	char *argv[] = {"__duckdb", script, NULL};
	r.rc = exec_duckdb_main(2, argv);
	fflush(stdout);
	fflush(stderr);
	restore(1, so);
	restore(2, se);

	r.out = read_all(out);
	r.err = read_all(err);
	free(script);
	free(out);
	free(err);
	buf_free(&text);
	return r;
}

static int have_duckdb(void)
{
	const char *env = getenv("COVE_DUCKDB_LIB");
	return access(env && *env ? env : DEPS_LIB, R_OK) == 0;
}

#define NEED_DUCKDB()                                                         \
	do {                                                                  \
		if (!have_duckdb()) {                                         \
			print_message("skipped: no libduckdb.so at %s (run "  \
				      "scripts/deps.sh)\n",                   \
				      DEPS_LIB);                              \
			skip();                                               \
		}                                                             \
	} while (0)

/* Run sql, expecting success with exactly want on stdout and nothing on
 * stderr. */
static void expect_csv(const char *sql, const char *want)
{
	struct run r = run_sql(sql);
	if (r.rc != 0 || strcmp(r.out, want) || *r.err)
		fail_msg("script:\n%s\nrc %d\nstdout:\n%s\nwanted:\n%s\nstderr:\n%s",
			 sql, r.rc, r.out, want, r.err);
	run_free(&r);
}

static void test_select_42(void **state)
{
	NEED_DUCKDB();
	expect_csv("SELECT 42;\n", "42\n42\n");
	expect_csv("SELECT 42 AS answer", "answer\n42\n");
}

static void test_csv_file_aggregation(void **state)
{
	NEED_DUCKDB();
	char *csv = path_in_tmp("sales.csv");
	write_file(csv, "city,amount\n"
			"Lyon,10\n"
			"Paris,5\n"
			"Lyon,20\n"
			"Paris,7\n"
			"Nice,1\n");
	/* sum() of BIGINT is a HUGEINT (decoded from the vectors), avg() a
	 * DOUBLE (formatted by DuckDB through the VARCHAR cast). */
	expect_csv("SELECT city, sum(amount) AS total, count(*) AS n,\n"
		   "       avg(amount) AS mean\n"
		   "FROM read_csv('%s/sales.csv')\n"
		   "GROUP BY city ORDER BY total DESC;\n",
		   "city,total,n,mean\n"
		   "Lyon,30,2,15.0\n"
		   "Paris,12,2,6.0\n"
		   "Nice,1,1,1.0\n");
	free(csv);
}

static void test_parquet_round_trip(void **state)
{
	NEED_DUCKDB();
	/* COPY prints nothing (its row count is not a query result). */
	expect_csv("COPY (SELECT i, 'row ' || i AS label, i * 0.5 AS half\n"
		   "      FROM range(3) t(i))\n"
		   "  TO '%s/x.parquet' (FORMAT parquet);\n"
		   "SELECT * FROM read_parquet('%s/x.parquet') ORDER BY i;\n",
		   "i,label,half\n"
		   "0,row 0,0.0\n"
		   "1,row 1,0.5\n"
		   "2,row 2,1.0\n");
	char *pq = path_in_tmp("x.parquet");
	char *bytes = read_all(pq);
	assert_memory_equal(bytes, "PAR1", 4);
	free(bytes);
	free(pq);
}

static void test_csv_quoting(void **state)
{
	NEED_DUCKDB();
	expect_csv("SELECT 'a,b' AS \"x,y\", 'say \"hi\"' AS q,\n"
		   "       'one' || chr(10) || 'two' AS lf, 'cr' || chr(13) AS cr,\n"
		   "       NULL AS nothing, '' AS empty, 'plain' AS p;\n",
		   "\"x,y\",q,lf,cr,nothing,empty,p\n"
		   "\"a,b\",\"say \"\"hi\"\"\",\"one\ntwo\",\"cr\r\",,\"\",plain\n");
	/* The same through the cast path (a DATE column forces it). */
	expect_csv("SELECT 'a,b' AS s, NULL AS n, '' AS e, DATE '2024-02-29' AS d;",
		   "s,n,e,d\n\"a,b\",,\"\",2024-02-29\n");
}

static void test_syntax_error(void **state)
{
	NEED_DUCKDB();
	struct run r = run_sql("CREATE TABLE t(i INT);\n"
			       "SELECT * FROMM t;\n"
			       "SELECT 3;\n");
	assert_int_equal(r.rc, 1);
	/* Parsed before anything runs: no output at all. */
	assert_string_equal(r.out, "");
	assert_true(str_has_prefix(r.err, "duckdb: Parser Error: "));
	const char *nl = strchr(r.err, '\n');
	assert_non_null(nl);
	/* The statement number ends the first line; DuckDB's context
	 * ("LINE 2: ...") follows. */
	assert_true(nl - r.err > 13);
	assert_memory_equal(nl - 13, "(statement 2)", 13);
	assert_non_null(strstr(r.err, "FROMM"));
	run_free(&r);

	/* A ';' inside a string or a comment does not throw the count off. */
	r = run_sql("SELECT 'a;b'; -- x; y\n"
		    "/* ; */ SELECT $$;$$;\n"
		    "SELEC 3;\n");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "(statement 3)\n"));
	run_free(&r);
}

static void test_runtime_error_stops(void **state)
{
	NEED_DUCKDB();
	struct run r = run_sql("SELECT 1 AS one;\n"
			       "SELECT * FROM no_such_table;\n"
			       "SELECT 3 AS three;\n");
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out, "one\n1\n");
	assert_true(str_has_prefix(r.err, "duckdb: Catalog Error: "));
	assert_non_null(strstr(r.err, "no_such_table"));
	assert_non_null(strstr(r.err, "(statement 2)\n"));
	run_free(&r);

	/* An error raised while the result streams. */
	r = run_sql("SELECT CASE WHEN i < 50000 THEN i\n"
		    "            ELSE error('boom at ' || i) END AS v\n"
		    "FROM range(100000) t(i);\n");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "boom at"));
	assert_non_null(strstr(r.err, "(statement 1)\n"));
	run_free(&r);
}

static void test_multiple_statements(void **state)
{
	NEED_DUCKDB();
	expect_csv("CREATE TABLE t(i INTEGER, s VARCHAR);\n"
		   "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL);\n"
		   "SELECT count(*) AS n FROM t;\n"
		   "UPDATE t SET s = 'three' WHERE i = 3;\n"
		   "SELECT * FROM t ORDER BY i;\n"
		   "SELECT * FROM t WHERE false;\n",
		   "n\n3\n"
		   "\n"
		   "i,s\n1,one\n2,two\n3,three\n"
		   "\n"
		   "i,s\n");
	/* No statements at all. */
	expect_csv("-- nothing to do\n", "");
}

static void test_types(void **state)
{
	NEED_DUCKDB();
	expect_csv("SELECT true AS b, (-128)::TINYINT AS t, 255::UTINYINT AS ut,\n"
		   "  '-170141183460469231731687303715884105728'::HUGEINT AS h,\n"
		   "  '340282366920938463463374607431768211455'::UHUGEINT AS uh,\n"
		   "  '18446744073709551615'::UBIGINT AS ub,\n"
		   "  'a string longer than twelve bytes' AS long;\n",
		   "b,t,ut,h,uh,ub,long\n"
		   "true,-128,255,-170141183460469231731687303715884105728,"
		   "340282366920938463463374607431768211455,18446744073709551615,"
		   "a string longer than twelve bytes\n");
	/* Nested and formatted types go through DuckDB's VARCHAR cast. */
	expect_csv("SELECT [1, 2] AS l, {'k': 'v'} AS st, 1.50::DECIMAL(4,2) AS d,\n"
		   "  TIMESTAMP '2024-01-02 03:04:05' AS ts, 0.1::DOUBLE AS f,\n"
		   "  NULL::INT[] AS nl\n",
		   "l,st,d,ts,f,nl\n"
		   "\"[1, 2]\",{'k': v},1.50,2024-01-02 03:04:05,0.1,\n");
	/* A non-SELECT cannot be cast: nested values are an error, not an
	 * empty field. */
	struct run r = run_sql("PREPARE q AS SELECT [1] AS l;\nEXECUTE q;\n");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "column 'l'"));
	assert_non_null(strstr(r.err, "(statement 2)\n"));
	run_free(&r);
}

static void test_big_result_streams(void **state)
{
	NEED_DUCKDB();
	struct run r = run_sql("SELECT i, 'v' || i AS s FROM range(200000) t(i)"
			       " ORDER BY i;");
	assert_int_equal(r.rc, 0);
	size_t lines = 0;
	for (const char *p = r.out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 200001);
	assert_true(str_has_prefix(r.out, "i,s\n0,v0\n1,v1\n"));
	assert_non_null(strstr(r.out, "\n199999,v199999\n"));
	run_free(&r);
}

static void test_unicode(void **state)
{
	NEED_DUCKDB();
	expect_csv("SELECT 'Grüße, 世界 🚀' AS \"名前\", upper('éà ω') AS u,\n"
		   "       length('🚀') AS n;\n",
		   "名前,u,n\n\"Grüße, 世界 🚀\",ÉÀ Ω,1\n");
}

static void test_no_network_extensions(void **state)
{
	NEED_DUCKDB();
	expect_csv("SELECT current_setting('autoinstall_known_extensions') AS i,\n"
		   "       current_setting('autoload_known_extensions') AS l;",
		   "i,l\nfalse,false\n");
}

static void test_missing_library(void **state)
{
	const char *old = getenv("COVE_DUCKDB_LIB");
	char *saved = old ? xstrdup(old) : NULL;
	setenv("COVE_DUCKDB_LIB", "/nonexistent/libduckdb.so", 1);
	struct run r = run_sql("SELECT 1;");
	if (saved)
		setenv("COVE_DUCKDB_LIB", saved, 1);
	else
		unsetenv("COVE_DUCKDB_LIB");
	free(saved);
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.out, "");
	assert_true(str_has_prefix(r.err, "duckdb: cannot load DuckDB"));
	assert_non_null(strstr(r.err, "/nonexistent/libduckdb.so"));
	/* One line. */
	assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
	run_free(&r);
}

static void test_usage(void **state)
{
	char *argv[] = {"__duckdb", NULL};
	fflush(stderr);
	int se = redirect(2, "/dev/null");
	int rc = exec_duckdb_main(1, argv);
	restore(2, se);
	assert_int_equal(rc, 2);

	struct run r = {0};
	char *missing = path_in_tmp("no-such-script.sql");
	char *err = path_in_tmp("stderr");
	char *argv2[] = {"__duckdb", missing, NULL};
	se = redirect(2, err);
	r.rc = exec_duckdb_main(2, argv2);
	fflush(stderr);
	restore(2, se);
	r.err = read_all(err);
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "cannot read"));
	run_free(&r);
	free(missing);
	free(err);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_42),
		cmocka_unit_test(test_csv_file_aggregation),
		cmocka_unit_test(test_parquet_round_trip),
		cmocka_unit_test(test_csv_quoting),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_runtime_error_stops),
		cmocka_unit_test(test_multiple_statements),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_big_result_streams),
		cmocka_unit_test(test_unicode),
		cmocka_unit_test(test_no_network_extensions),
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_usage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
