/*
 * duckdb.c - `cove __duckdb SCRIPT`: run the SQL statements of the file
 * SCRIPT in an in-memory DuckDB and print every result as CSV.
 *
 * This is the program a DuckDB job runs inside its sandbox. It loads
 * libduckdb.so with dlopen at run time (cove itself never links against
 * DuckDB, so a machine without it still runs everything else) and talks to
 * it through the stable C API, whose few types and functions are declared
 * below because no duckdb.h is installed.
 *
 * Output contract (what a user sees in the job's log):
 *   - each statement that returns a query result (SELECT, DESCRIBE, SHOW,
 *     EXPLAIN, PRAGMA, CALL...) prints a CSV table on stdout, even when it
 *     has no rows; DDL and the row counts of INSERT, UPDATE, DELETE and COPY
 *     print nothing. A table is a header line, then one line per row,
 *     fields quoted as RFC 4180 says
 *     (a field holding a comma, a double quote, CR or LF is put in double
 *     quotes, inner quotes doubled); lines end with LF, not CRLF; NULL is an
 *     empty field and the empty string is "" so the two stay apart;
 *   - a blank line separates consecutive result sets;
 *   - values look as DuckDB's own cast to VARCHAR writes them;
 *   - results stream: memory stays bounded by a chunk of rows, except for a
 *     non-SELECT statement (EXECUTE, CALL...) returning types we do not
 *     decode ourselves, which is materialised (see enum print_mode);
 *   - the first failing statement prints "duckdb: <error> (statement N)" on
 *     stderr (N counts from 1; DuckDB's context lines, if any, follow) and
 *     the run stops with status 1; rows of that statement already printed
 *     stay printed;
 *   - status 2 when nothing could run: bad usage, unreadable script, no
 *     library, a database that would not open.
 *
 * The whole script is parsed before anything runs, so a syntax error in the
 * last statement is reported without the earlier ones having run.
 *
 * Must not: link against DuckDB, touch the network (extension auto-install
 * and auto-load are switched off: jobs run without network, and parquet and
 * json are built into the official library), or outlive its results (every
 * DuckDB object is destroyed before returning). Library code elsewhere never
 * prints; this file does, because it *is* a command's main.
 */
#include "exec/exec.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where scripts/deps.sh installs the library (npm package, no Debian one). */
#define DUCKDB_DEPS_LIB                                                       \
	"/usr/local/lib/cove/node_modules/@duckdb/node-bindings-linux-x64/"     \
	"libduckdb.so"

/* ---- the slice of DuckDB's stable C API we use ------------------------ */
/*
 * Declared here after DuckDB's documented C API (duckdb.h, v1.x), because
 * the npm package ships no header. Handles are opaque pointers; the one
 * struct whose layout matters is duckdb_result, which duckdb_fetch_chunk
 * takes by value: six 8-byte words, stable since v0.3.2. We only ever read
 * it through API calls.
 */
typedef uint64_t idx_t;
typedef enum { DuckDBSuccess = 0, DuckDBError = 1 } duckdb_state;
typedef void *duckdb_database;
typedef void *duckdb_connection;
typedef void *duckdb_config;
typedef void *duckdb_extracted_statements;
typedef void *duckdb_prepared_statement;
typedef void *duckdb_data_chunk;
typedef void *duckdb_vector;

typedef struct {
	idx_t deprecated_column_count;
	idx_t deprecated_row_count;
	idx_t deprecated_rows_changed;
	void *deprecated_columns;
	char *deprecated_error_message;
	void *internal_data;
} duckdb_result;

_Static_assert(sizeof(duckdb_result) == 48, "duckdb_result is six words");

/* duckdb_type values we decode ourselves (the numbering is part of the
 * stable API: explicit values in duckdb.h since v1.0). */
enum {
	DUCKDB_TYPE_INVALID = 0,
	DUCKDB_TYPE_BOOLEAN = 1,
	DUCKDB_TYPE_TINYINT = 2,
	DUCKDB_TYPE_SMALLINT = 3,
	DUCKDB_TYPE_INTEGER = 4,
	DUCKDB_TYPE_BIGINT = 5,
	DUCKDB_TYPE_UTINYINT = 6,
	DUCKDB_TYPE_USMALLINT = 7,
	DUCKDB_TYPE_UINTEGER = 8,
	DUCKDB_TYPE_UBIGINT = 9,
	DUCKDB_TYPE_HUGEINT = 16,
	DUCKDB_TYPE_VARCHAR = 17,
	DUCKDB_TYPE_UHUGEINT = 32,
};

enum { DUCKDB_RESULT_TYPE_QUERY_RESULT = 3 }; /* duckdb_result_type */
enum { DUCKDB_STATEMENT_TYPE_SELECT = 1 };    /* duckdb_statement_type */

/* A VARCHAR cell in a vector: strings up to 12 bytes are stored inline,
 * longer ones behind a pointer (duckdb_string_t). */
union duck_string {
	struct {
		uint32_t length;
		char prefix[4];
		const char *ptr;
	} pointer;
	struct {
		uint32_t length;
		char inlined[12];
	} inlined;
};

_Static_assert(sizeof(union duck_string) == 16, "duckdb_string_t is 16 bytes");

/* The functions, resolved with dlsym into this table. */
struct duck_api {
	void *dl;
	const char *(*library_version)(void);
	duckdb_state (*create_config)(duckdb_config *out);
	duckdb_state (*set_config)(duckdb_config cfg, const char *name,
				   const char *value);
	void (*destroy_config)(duckdb_config *cfg);
	duckdb_state (*open_ext)(const char *path, duckdb_database *out,
				 duckdb_config cfg, char **out_error);
	void (*close)(duckdb_database *db);
	duckdb_state (*connect)(duckdb_database db, duckdb_connection *out);
	void (*disconnect)(duckdb_connection *conn);
	idx_t (*extract_statements)(duckdb_connection conn, const char *sql,
				    duckdb_extracted_statements *out);
	const char *(*extract_statements_error)(duckdb_extracted_statements ex);
	duckdb_state (*prepare_extracted_statement)(
		duckdb_connection conn, duckdb_extracted_statements ex, idx_t index,
		duckdb_prepared_statement *out);
	void (*destroy_extracted)(duckdb_extracted_statements *ex);
	duckdb_state (*prepare)(duckdb_connection conn, const char *sql,
				duckdb_prepared_statement *out);
	const char *(*prepare_error)(duckdb_prepared_statement p);
	int (*prepared_statement_type)(duckdb_prepared_statement p);
	idx_t (*prepared_statement_column_count)(duckdb_prepared_statement p);
	int (*prepared_statement_column_type)(duckdb_prepared_statement p,
					      idx_t col);
	void (*destroy_prepare)(duckdb_prepared_statement *p);
	duckdb_state (*execute_prepared)(duckdb_prepared_statement p,
					 duckdb_result *out);
	duckdb_state (*execute_prepared_streaming)(duckdb_prepared_statement p,
						   duckdb_result *out);
	const char *(*result_error)(duckdb_result *r);
	int (*result_return_type)(duckdb_result r);
	void (*destroy_result)(duckdb_result *r);
	idx_t (*column_count)(duckdb_result *r);
	const char *(*column_name)(duckdb_result *r, idx_t col);
	int (*column_type)(duckdb_result *r, idx_t col);
	idx_t (*row_count)(duckdb_result *r);
	bool (*value_is_null)(duckdb_result *r, idx_t col, idx_t row);
	char *(*value_varchar)(duckdb_result *r, idx_t col, idx_t row);
	duckdb_data_chunk (*fetch_chunk)(duckdb_result r);
	void (*destroy_data_chunk)(duckdb_data_chunk *c);
	idx_t (*data_chunk_get_size)(duckdb_data_chunk c);
	duckdb_vector (*data_chunk_get_vector)(duckdb_data_chunk c, idx_t col);
	void *(*vector_get_data)(duckdb_vector v);
	uint64_t *(*vector_get_validity)(duckdb_vector v);
	void (*free)(void *p);
};

#define DUCK_SYM(field) { "duckdb_" #field, offsetof(struct duck_api, field) }
static const struct {
	const char *name;
	size_t off;
} duck_syms[] = {
	DUCK_SYM(library_version),
	DUCK_SYM(create_config),
	DUCK_SYM(set_config),
	DUCK_SYM(destroy_config),
	DUCK_SYM(open_ext),
	DUCK_SYM(close),
	DUCK_SYM(connect),
	DUCK_SYM(disconnect),
	DUCK_SYM(extract_statements),
	DUCK_SYM(extract_statements_error),
	DUCK_SYM(prepare_extracted_statement),
	DUCK_SYM(destroy_extracted),
	DUCK_SYM(prepare),
	DUCK_SYM(prepare_error),
	DUCK_SYM(prepared_statement_type),
	DUCK_SYM(prepared_statement_column_count),
	DUCK_SYM(prepared_statement_column_type),
	DUCK_SYM(destroy_prepare),
	DUCK_SYM(execute_prepared),
	DUCK_SYM(execute_prepared_streaming),
	DUCK_SYM(result_error),
	DUCK_SYM(result_return_type),
	DUCK_SYM(destroy_result),
	DUCK_SYM(column_count),
	DUCK_SYM(column_name),
	DUCK_SYM(column_type),
	DUCK_SYM(row_count),
	DUCK_SYM(value_is_null),
	DUCK_SYM(value_varchar),
	DUCK_SYM(fetch_chunk),
	DUCK_SYM(destroy_data_chunk),
	DUCK_SYM(data_chunk_get_size),
	DUCK_SYM(data_chunk_get_vector),
	DUCK_SYM(vector_get_data),
	DUCK_SYM(vector_get_validity),
	DUCK_SYM(free),
};
#undef DUCK_SYM

/* dlsym hands out object pointers; POSIX guarantees they convert to
 * function pointers of the same size, which is how we store them. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
	       "function and object pointers have the same size");

/*
 * Load the library: COVE_DUCKDB_LIB when set (and only it, so a wrong value
 * is noticed rather than silently replaced), else where deps.sh puts it,
 * else "libduckdb.so" through the dynamic loader's search path.
 * Fills api; on failure e says what is missing.
 */
static int duck_load(struct duck_api *api, struct err *e)
{
	memset(api, 0, sizeof(*api));
	const char *env = getenv("COVE_DUCKDB_LIB");
	if (env && *env) {
		api->dl = dlopen(env, RTLD_NOW | RTLD_LOCAL);
		if (!api->dl)
			return err_set(e, COVE_EUNAVAIL,
				       "cannot load DuckDB (COVE_DUCKDB_LIB): %s",
				       dlerror());
	} else {
		api->dl = dlopen(DUCKDB_DEPS_LIB, RTLD_NOW | RTLD_LOCAL);
		if (!api->dl)
			api->dl = dlopen("libduckdb.so", RTLD_NOW | RTLD_LOCAL);
		if (!api->dl)
			return err_set(e, COVE_EUNAVAIL,
				       "cannot load DuckDB: %s (install it with "
				       "scripts/deps.sh or set COVE_DUCKDB_LIB)",
				       dlerror());
	}
	for (size_t i = 0; i < sizeof(duck_syms) / sizeof(duck_syms[0]); i++) {
		void *sym = dlsym(api->dl, duck_syms[i].name);
		if (!sym) {
			/* Leave the library mapped: unloading a C++ runtime
			 * mid-process buys nothing and risks its destructors. */
			return err_set(e, COVE_EUNAVAIL,
				       "the DuckDB library lacks %s (version 1.1 "
				       "or later is needed)",
				       duck_syms[i].name);
		}
		memcpy((char *)api + duck_syms[i].off, &sym, sizeof(sym));
	}
	return 0;
}

/*
 * Open an in-memory database and a connection. Threads come from
 * COVE_DUCKDB_THREADS and the memory limit from COVE_DUCKDB_MEMORY_LIMIT
 * ("4GB") when set; otherwise DuckDB's defaults, which already follow the
 * cgroup limits the sandbox puts on the job.
 */
static int duck_open(struct duck_api *api, duckdb_database *db,
		     duckdb_connection *conn, struct err *e)
{
	duckdb_config cfg = NULL;
	char *open_err = NULL;
	int rc = 0;
	const char *settings[][2] = {
		{"autoinstall_known_extensions", "false"},
		{"autoload_known_extensions", "false"},
		{"threads", getenv("COVE_DUCKDB_THREADS")},
		{"memory_limit", getenv("COVE_DUCKDB_MEMORY_LIMIT")},
	};

	if (api->create_config(&cfg) != DuckDBSuccess) {
		rc = err_set(e, COVE_ENOMEM, "cannot create a DuckDB configuration");
		goto out;
	}
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (!settings[i][1] || !*settings[i][1])
			continue;
		if (api->set_config(cfg, settings[i][0], settings[i][1]) !=
		    DuckDBSuccess) {
			rc = err_set(e, COVE_EINVAL, "DuckDB refuses %s = '%s'",
				     settings[i][0], settings[i][1]);
			goto out;
		}
	}
	if (api->open_ext(NULL, db, cfg, &open_err) != DuckDBSuccess) {
		rc = err_set(e, COVE_EUNAVAIL, "cannot open a DuckDB database: %s",
			     open_err ? open_err : "unknown error");
		goto out;
	}
	if (api->connect(*db, conn) != DuckDBSuccess) {
		api->close(db);
		rc = err_set(e, COVE_EUNAVAIL, "cannot connect to DuckDB");
		goto out;
	}
out:
	if (open_err)
		api->free(open_err);
	if (cfg)
		api->destroy_config(&cfg);
	return rc;
}

/* ---- CSV --------------------------------------------------------------- */

/* Append one field, quoted when RFC 4180 requires it. is_null: an empty,
 * unquoted field; an empty string is written "" so it differs from NULL. */
static void csv_add(struct buf *b, const char *s, size_t n, int is_null)
{
	if (is_null)
		return;
	int quote = n == 0;
	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote) {
		buf_add(b, s, n);
		return;
	}
	buf_addc(b, '"');
	for (const char *p = s, *end = s + n; p < end;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (!q) {
			buf_add(b, p, (size_t)(end - p));
			break;
		}
		buf_add(b, p, (size_t)(q - p + 1));
		buf_addc(b, '"');
		p = q + 1;
	}
	buf_addc(b, '"');
}

/* Append an unsigned 128-bit integer in decimal (negative: the caller
 * writes the sign and passes the magnitude). */
static void buf_add_u128(struct buf *b, unsigned __int128 v)
{
	char tmp[40];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	buf_add(b, tmp + i, sizeof(tmp) - i);
}

/* Types whose vector layout we decode and print exactly as DuckDB would;
 * a result with any other column type takes the materialised path. */
static int duck_type_native(int type)
{
	switch (type) {
	case DUCKDB_TYPE_BOOLEAN:
	case DUCKDB_TYPE_TINYINT:
	case DUCKDB_TYPE_SMALLINT:
	case DUCKDB_TYPE_INTEGER:
	case DUCKDB_TYPE_BIGINT:
	case DUCKDB_TYPE_UTINYINT:
	case DUCKDB_TYPE_USMALLINT:
	case DUCKDB_TYPE_UINTEGER:
	case DUCKDB_TYPE_UBIGINT:
	case DUCKDB_TYPE_HUGEINT:
	case DUCKDB_TYPE_UHUGEINT:
	case DUCKDB_TYPE_VARCHAR:
		return 1;
	default:
		return 0;
	}
}

/* Append cell row of a vector of a native type (see duck_type_native). */
static void csv_add_cell(struct buf *b, int type, const void *data, idx_t row)
{
	switch (type) {
	case DUCKDB_TYPE_BOOLEAN:
		buf_adds(b, ((const bool *)data)[row] ? "true" : "false");
		break;
	case DUCKDB_TYPE_TINYINT:
		buf_add_int(b, ((const int8_t *)data)[row]);
		break;
	case DUCKDB_TYPE_SMALLINT:
		buf_add_int(b, ((const int16_t *)data)[row]);
		break;
	case DUCKDB_TYPE_INTEGER:
		buf_add_int(b, ((const int32_t *)data)[row]);
		break;
	case DUCKDB_TYPE_BIGINT:
		buf_add_int(b, ((const int64_t *)data)[row]);
		break;
	case DUCKDB_TYPE_UTINYINT:
		buf_add_int(b, ((const uint8_t *)data)[row]);
		break;
	case DUCKDB_TYPE_USMALLINT:
		buf_add_int(b, ((const uint16_t *)data)[row]);
		break;
	case DUCKDB_TYPE_UINTEGER:
		buf_add_int(b, ((const uint32_t *)data)[row]);
		break;
	case DUCKDB_TYPE_UBIGINT:
		buf_add_u128(b, ((const uint64_t *)data)[row]);
		break;
	case DUCKDB_TYPE_HUGEINT: {
		/* {uint64 lower; int64 upper}: the in-memory form of __int128
		 * on little-endian x86-64. */
		__int128 v;
		memcpy(&v, (const char *)data + 16 * row, sizeof(v));
		if (v < 0) {
			buf_addc(b, '-');
			buf_add_u128(b, -(unsigned __int128)v);
		} else {
			buf_add_u128(b, (unsigned __int128)v);
		}
		break;
	}
	case DUCKDB_TYPE_UHUGEINT: {
		unsigned __int128 v;
		memcpy(&v, (const char *)data + 16 * row, sizeof(v));
		buf_add_u128(b, v);
		break;
	}
	case DUCKDB_TYPE_VARCHAR: {
		const union duck_string *s = (const union duck_string *)data + row;
		uint32_t len = s->inlined.length;
		csv_add(b, len <= 12 ? s->inlined.inlined : s->pointer.ptr, len, 0);
		break;
	}
	}
}

/* Write the header line of result r to out. */
static void csv_header(struct duck_api *api, duckdb_result *r, idx_t ncols,
		       struct buf *line, FILE *out)
{
	buf_reset(line);
	for (idx_t c = 0; c < ncols; c++) {
		const char *name = api->column_name(r, c);
		if (c)
			buf_addc(line, ',');
		csv_add(line, name ? name : "", name ? strlen(name) : 0, 0);
	}
	buf_addc(line, '\n');
	fwrite(line->data, 1, line->len, out);
}

/*
 * Print a streaming result chunk by chunk (2048 rows each): memory stays
 * bounded by a chunk whatever the result's size. Only for results whose
 * every column is of a native type. Returns 0, or 1 with the error (which
 * may arise in the middle of the stream, after rows were printed) in *why
 * (caller frees).
 */
static int print_streaming(struct duck_api *api, duckdb_result *r, FILE *out,
			   char **why)
{
	struct buf line = {0};
	idx_t ncols = api->column_count(r);
	int *types = xcalloc(ncols ? ncols : 1, sizeof(*types));
	const void **data = xcalloc(ncols ? ncols : 1, sizeof(*data));
	uint64_t **valid = xcalloc(ncols ? ncols : 1, sizeof(*valid));
	int rc = 0;

	for (idx_t c = 0; c < ncols; c++) {
		types[c] = api->column_type(r, c);
		if (!duck_type_native(types[c])) {
			/* The prepared statement promised other types. */
			*why = xasprintf("column %llu changed type while executing",
					 (unsigned long long)c + 1);
			rc = 1;
			goto out;
		}
	}
	csv_header(api, r, ncols, &line, out);
	for (;;) {
		duckdb_data_chunk chunk = api->fetch_chunk(*r);
		if (!chunk)
			break;
		idx_t n = api->data_chunk_get_size(chunk);
		for (idx_t c = 0; c < ncols; c++) {
			duckdb_vector v = api->data_chunk_get_vector(chunk, c);
			data[c] = api->vector_get_data(v);
			valid[c] = api->vector_get_validity(v);
		}
		for (idx_t row = 0; row < n; row++) {
			buf_reset(&line);
			for (idx_t c = 0; c < ncols; c++) {
				if (c)
					buf_addc(&line, ',');
				if (valid[c] && !(valid[c][row / 64] >> (row % 64) & 1))
					continue; /* NULL: empty field */
				csv_add_cell(&line, types[c], data[c], row);
			}
			buf_addc(&line, '\n');
			fwrite(line.data, 1, line.len, out);
		}
		api->destroy_data_chunk(&chunk);
		if (ferror(out)) {
			/* Full disk or closed pipe: reading on is wasted work. */
			*why = xstrdup("cannot write the results");
			rc = 1;
			goto out;
		}
	}
	/* A NULL chunk is the end of the result or an error met on the way. */
	const char *msg = api->result_error(r);
	if (msg) {
		*why = xstrdup(msg);
		rc = 1;
	}
out:
	free(types);
	free(data);
	free(valid);
	buf_free(&line);
	return rc;
}

/*
 * Print a materialised result cell by cell with duckdb_value_varchar, which
 * formats every type (DECIMAL, DOUBLE, dates, LIST, STRUCT...) the way
 * DuckDB does. The trade-off: the whole result is held in memory, twice
 * (the result, then the C API's column arrays built on the first
 * duckdb_value_* call). Output is still written row by row. Used for
 * results with a column type print_streaming does not decode that we could
 * not wrap in a cast (see enum print_mode).
 *
 * duckdb_value_varchar gives NULL for nested values (LIST, STRUCT, MAP...);
 * rather than print them as empty, that is an error (1, *why set).
 */
static int print_materialized(struct duck_api *api, duckdb_result *r,
			      FILE *out, char **why)
{
	int rc = 0;
	struct buf line = {0};
	idx_t ncols = api->column_count(r);
	idx_t nrows = api->row_count(r);

	csv_header(api, r, ncols, &line, out);
	for (idx_t row = 0; row < nrows; row++) {
		buf_reset(&line);
		for (idx_t c = 0; c < ncols; c++) {
			if (c)
				buf_addc(&line, ',');
			if (api->value_is_null(r, c, row))
				continue;
			char *s = api->value_varchar(r, c, row);
			if (!s) {
				const char *name = api->column_name(r, c);
				*why = xasprintf(
					"cannot print the values of column '%s' of "
					"this statement as text: only a SELECT prints "
					"nested values (or cast the column to VARCHAR)",
					name ? name : "?");
				rc = 1;
				goto out;
			}
			csv_add(&line, s, strlen(s), 0);
			api->free(s);
		}
		buf_addc(&line, '\n');
		fwrite(line.data, 1, line.len, out);
	}
out:
	buf_free(&line);
	return rc;
}

/* ---- locating a syntax error ------------------------------------------ */

/*
 * Return the length of the next statement of sql, up to and including its
 * ';' (or the end). Skips over quoted strings and identifiers, E'' strings
 * with backslash escapes, dollar-quoted strings and (nested) comments, so
 * that a ';' inside them does not split. Only used to say which statement
 * holds a syntax error; DuckDB's parser is the authority on the statement.
 */
static size_t sql_next_statement(const char *sql)
{
	const char *p = sql;
	while (*p && *p != ';') {
		if (*p == '\'' || *p == '"') {
			char q = *p;
			int backslash = q == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e');
			for (p++; *p; p++) {
				if (backslash && *p == '\\' && p[1]) {
					p++;
				} else if (*p == q) {
					if (p[1] != q)
						break;
					p++; /* doubled quote */
				}
			}
			if (*p)
				p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			int depth = 0;
			while (*p) {
				if (p[0] == '/' && p[1] == '*') {
					depth++;
					p += 2;
				} else if (p[0] == '*' && p[1] == '/') {
					p += 2;
					if (--depth == 0)
						break;
				} else {
					p++;
				}
			}
		} else if (*p == '$') {
			/* $tag$ ... $tag$; a tag never starts with a digit ($1 is
			 * a parameter). */
			const char *t = p + 1;
			if (*t != '$' && !(*t == '_' || (*t >= 'a' && *t <= 'z') ||
					   (*t >= 'A' && *t <= 'Z'))) {
				p++;
				continue;
			}
			while (*t == '_' || (*t >= 'a' && *t <= 'z') ||
			       (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9'))
				t++;
			if (*t != '$') {
				p = t;
				continue;
			}
			size_t taglen = (size_t)(t - p + 1);
			const char *end = t + 1;
			while (*end && strncmp(end, p, taglen))
				end++;
			p = *end ? end + taglen : end;
		} else {
			p++;
		}
	}
	if (*p == ';')
		p++;
	return (size_t)(p - sql);
}

/* Which statement (from 1) of sql fails to parse on its own; 0 when none
 * does (then we cannot tell). */
static idx_t sql_failing_statement(struct duck_api *api, duckdb_connection conn,
				   const char *sql)
{
	idx_t seen = 0;
	while (*sql) {
		size_t n = sql_next_statement(sql);
		char *one = xstrndup(sql, n);
		duckdb_extracted_statements ex = NULL;
		idx_t count = api->extract_statements(conn, one, &ex);
		const char *msg = ex ? api->extract_statements_error(ex) : NULL;
		int bad = count == 0 && msg && *msg;
		if (ex)
			api->destroy_extracted(&ex);
		free(one);
		if (bad)
			return seen + 1;
		seen += count;
		sql += n;
	}
	return 0;
}

/* ---- running a script -------------------------------------------------- */

/* Print msg as "duckdb: <first line> (statement N)" then its other lines
 * (DuckDB adds context such as "LINE 3: ..." with a caret under it). */
static void report_error(const char *msg, idx_t stmt)
{
	const char *nl = strchr(msg, '\n');
	int first = nl ? (int)(nl - msg) : (int)strlen(msg);
	if (stmt)
		fprintf(stderr, "duckdb: %.*s (statement %llu)\n", first, msg,
			(unsigned long long)stmt);
	else
		fprintf(stderr, "duckdb: %.*s\n", first, msg);
	if (nl && nl[1])
		fprintf(stderr, "%s%s", nl + 1,
			nl[strlen(nl) - 1] == '\n' ? "" : "\n");
}

/*
 * How a result gets printed:
 *   PRINT_STREAM  every column is of a type print_streaming decodes;
 *   PRINT_CAST    a SELECT with other types, run as
 *                 SELECT COLUMNS(*)::VARCHAR FROM (<statement>) so that
 *                 DuckDB formats the values and the result still streams;
 *   PRINT_VALUES  anything else (a non-SELECT with such types, or a SELECT
 *                 whose text we could not isolate): materialised, see
 *                 print_materialized.
 */
enum print_mode { PRINT_STREAM, PRINT_CAST, PRINT_VALUES };

static int prepared_native(struct duck_api *api, duckdb_prepared_statement p)
{
	idx_t ncols = api->prepared_statement_column_count(p);
	for (idx_t c = 0; c < ncols; c++)
		if (!duck_type_native(api->prepared_statement_column_type(p, c)))
			return 0;
	return 1;
}

/* Prepare text (one SELECT, trailing ';' allowed) wrapped in a cast of all
 * its columns to VARCHAR; NULL when DuckDB will not have it. */
static duckdb_prepared_statement prepare_cast(struct duck_api *api,
					      duckdb_connection conn,
					      const char *text)
{
	size_t n = strlen(text);
	while (n && (text[n - 1] == ';' || text[n - 1] == ' ' ||
		     text[n - 1] == '\t' || text[n - 1] == '\n' ||
		     text[n - 1] == '\r'))
		n--;
	/* The newline before ')' ends a trailing "-- comment". */
	char *sql = xasprintf("SELECT COLUMNS(*)::VARCHAR FROM (\n%.*s\n)",
			      (int)n, text);
	duckdb_prepared_statement p = NULL;
	if (api->prepare(conn, sql, &p) != DuckDBSuccess || !prepared_native(api, p)) {
		if (p)
			api->destroy_prepare(&p);
		p = NULL;
	}
	free(sql);
	return p;
}

/*
 * Run statement i of ex (text: its SQL, or NULL when unknown) and print its
 * result if it is a query result (DDL and row counts of INSERT, UPDATE,
 * DELETE or COPY print nothing). *printed says whether an earlier result
 * was printed, for the blank line between them. Returns 0, or 1 with
 * DuckDB's message in *why (caller frees; DuckDB's messages can be long,
 * so no fixed-size struct err here).
 */
static int run_statement(struct duck_api *api, duckdb_connection conn,
			 duckdb_extracted_statements ex, idx_t i,
			 const char *text, int *printed, char **why)
{
	duckdb_prepared_statement stmt = NULL, cast = NULL;
	duckdb_result res;
	int have_res = 0, rc = 0;
	enum print_mode mode = PRINT_VALUES;

	if (api->prepare_extracted_statement(conn, ex, i, &stmt) != DuckDBSuccess) {
		const char *msg = stmt ? api->prepare_error(stmt) : NULL;
		*why = xstrdup(msg ? msg : "cannot prepare the statement");
		rc = 1;
		goto out;
	}
	if (prepared_native(api, stmt))
		mode = PRINT_STREAM;
	else if (text && api->prepared_statement_type(stmt) ==
				 DUCKDB_STATEMENT_TYPE_SELECT &&
		 (cast = prepare_cast(api, conn, text)))
		mode = PRINT_CAST;

	memset(&res, 0, sizeof(res));
	duckdb_state st;
	if (mode == PRINT_STREAM)
		st = api->execute_prepared_streaming(stmt, &res);
	else if (mode == PRINT_CAST)
		st = api->execute_prepared_streaming(cast, &res);
	else
		st = api->execute_prepared(stmt, &res);
	have_res = 1;
	if (st != DuckDBSuccess) {
		const char *msg = api->result_error(&res);
		*why = xstrdup(msg ? msg : "the statement failed");
		rc = 1;
		goto out;
	}
	if (api->result_return_type(res) != DUCKDB_RESULT_TYPE_QUERY_RESULT ||
	    api->column_count(&res) == 0)
		goto out;
	if (*printed)
		fputc('\n', stdout);
	*printed = 1;
	rc = mode == PRINT_VALUES ? print_materialized(api, &res, stdout, why)
				  : print_streaming(api, &res, stdout, why);
out:
	if (have_res)
		api->destroy_result(&res);
	if (cast)
		api->destroy_prepare(&cast);
	if (stmt)
		api->destroy_prepare(&stmt);
	return rc;
}

/*
 * Cut sql into the texts of its n statements (as DuckDB counted them),
 * for PRINT_CAST. NULL (then every statement runs unwrapped) when our cut
 * disagrees with DuckDB's parser anywhere. Free with texts_free.
 */
static char **sql_texts(struct duck_api *api, duckdb_connection conn,
			const char *sql, idx_t n)
{
	char **texts = xcalloc(n + 1, sizeof(*texts));
	idx_t seen = 0;
	while (*sql) {
		size_t len = sql_next_statement(sql);
		char *one = xstrndup(sql, len);
		duckdb_extracted_statements ex = NULL;
		idx_t count = api->extract_statements(conn, one, &ex);
		if (ex)
			api->destroy_extracted(&ex);
		sql += len;
		if (count == 0) { /* blank or only comments */
			free(one);
			continue;
		}
		if (count != 1 || seen == n) {
			free(one);
			seen = n + 1;
			break;
		}
		texts[seen++] = one;
	}
	if (seen != n) {
		for (idx_t i = 0; i < n; i++)
			free(texts[i]);
		free(texts);
		return NULL;
	}
	return texts;
}

static void texts_free(char **texts, idx_t n)
{
	if (!texts)
		return;
	for (idx_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
}

/* Read the whole file at path into a NUL-terminated string (caller frees). */
static char *read_script(const char *path, struct err *e)
{
	struct buf b = {0};
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");
	if (!f) {
		err_set(e, COVE_ENOENT, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	if (ferror(f)) {
		err_set(e, COVE_EIO, "cannot read %s: %s", path, strerror(errno));
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	if (memchr(b.data ? b.data : "", '\0', b.len)) {
		err_set(e, COVE_EINVAL, "%s holds a NUL byte: not an SQL script",
			path);
		buf_free(&b);
		return NULL;
	}
	return b.data ? buf_detach(&b) : xstrdup("");
}

int exec_duckdb_main(int argc, char **argv)
{
	struct duck_api api = {0};
	struct err e = {0};
	char *why = NULL;
	duckdb_database db = NULL;
	duckdb_connection conn = NULL;
	duckdb_extracted_statements ex = NULL;
	char *sql = NULL, **texts = NULL;
	idx_t n = 0;
	int status = 2, printed = 0;

	if (argc != 2 || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: cove __duckdb SCRIPT\n"
				"runs the SQL statements of SCRIPT in an in-memory "
				"DuckDB, printing each result as CSV\n");
		return 2;
	}
	if (!(sql = read_script(argv[1], &e)))
		goto fail;
	if (duck_load(&api, &e) || duck_open(&api, &db, &conn, &e))
		goto fail;

	n = api.extract_statements(conn, sql, &ex);
	const char *perr = ex ? api.extract_statements_error(ex) : NULL;
	if (n == 0 && perr && *perr) {
		report_error(perr, sql_failing_statement(&api, conn, sql));
		status = 1;
		goto out;
	}
	texts = sql_texts(&api, conn, sql, n);
	status = 0;
	for (idx_t i = 0; i < n; i++) {
		if (run_statement(&api, conn, ex, i, texts ? texts[i] : NULL,
				  &printed, &why)) {
			fflush(stdout);
			report_error(why, i + 1);
			status = 1;
			goto out;
		}
		/* each statement's result reaches the job's log as it is done, so
		 * a long script's progress shows while it runs */
		if (fflush(stdout) || ferror(stdout))
			break;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "duckdb: cannot write the results: %s\n",
			strerror(errno));
		status = 1;
	}
	goto out;
fail:
	fprintf(stderr, "duckdb: %s\n", e.msg);
out:
	if (ex)
		api.destroy_extracted(&ex);
	if (conn)
		api.disconnect(&conn);
	if (db)
		api.close(&db);
	texts_free(texts, n);
	free(why);
	free(sql);
	fflush(stdout);
	return status;
}
