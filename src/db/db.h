/*
 * db.h - the thin SQL layer. SQLite (WAL, synchronous=FULL) is the embedded
 * default: a pool of connections, one borrowed per request, prepared
 * statements cached per connection, migrations applied at open.
 *
 * Callers write SQL with '?' placeholders and bind by a type string:
 *   's' const char * (NULL binds NULL)   'i' int64_t   'n' NULL
 * No HTTP here; no knowledge of users or files either: modules own their SQL.
 */
#ifndef COVE_DB_H
#define COVE_DB_H

#include "core/core.h"

struct db;     /* the pool */
struct dbconn; /* one connection, borrowed from the pool */
struct stmt;   /* a statement being stepped */

/* Open (creating if needed) the database at path, apply migrations, and
 * keep up to pool_size connections. *out is freed with db_close. */
int db_open(struct db **out, const char *path, int pool_size, struct err *e);
/* Close every connection; all must have been returned. NULL is a no-op. */
void db_close(struct db *db);

/* Borrow a connection (blocks while all are in use); give it back with
 * db_put. A connection is returned with no transaction open. */
struct dbconn *db_get(struct db *db);
void db_put(struct db *db, struct dbconn *c);

/* Transactions. db_begin takes the write lock at once (BEGIN IMMEDIATE),
 * so two writers never deadlock on upgrade. */
int db_begin(struct dbconn *c, struct err *e);
int db_commit(struct dbconn *c, struct err *e);
/* A read transaction: one snapshot and one lock for several queries.
 * Only for requests that do not write. */
void db_read_begin(struct dbconn *c);
void db_read_end(struct dbconn *c);
void db_rollback(struct dbconn *c);

/* Run a statement that returns no rows. Returns the number of changed rows
 * (>= 0) or a negative code: COVE_EEXIST on a uniqueness violation,
 * COVE_ECONFLICT on other constraint failures, COVE_EIO otherwise. */
int db_exec(struct dbconn *c, struct err *e, const char *sql,
	    const char *types, ...);
/* Prepare and bind; then db_step until it returns 0. */
int db_query(struct dbconn *c, struct stmt **st, struct err *e,
	     const char *sql, const char *types, ...);
/* 1 = a row is ready, 0 = done, < 0 = error (e filled). */
int db_step(struct stmt *st, struct err *e);
/* Column getters for the current row; text is valid until the next step. */
const char *db_text(struct stmt *st, int col); /* NULL for NULL */
int64_t db_int(struct stmt *st, int col);
int db_is_null(struct stmt *st, int col);
/* Finish with a statement (returns it to the connection's cache). */
void db_done(struct stmt *st);

/* One-row helpers: 1 when found (copying into out), 0 when not found. */
int db_query_int(struct dbconn *c, struct err *e, int64_t *out,
		 const char *sql, const char *types, ...);

/* Last inserted rowid on this connection. */
int64_t db_last_id(struct dbconn *c);
/* Cheap liveness check for /readyz. */
int db_ping(struct db *db);

/* Write a consistent copy of the whole database (one snapshot, as of now)
 * to a new file at path, and sync it. Writers go on meanwhile. */
int db_snapshot(struct db *db, const char *path, struct err *e);

/* Bytes the connections' page caches hold now (each up to SQLite's default
 * 2,000 KiB: they fill as the database grows, then stay). */
int64_t db_cache_bytes(struct db *db);

/*
 * Generations: counters that move after every commit that changed a class
 * of tables, for in-process caches of what those tables say.
 *   DB_GEN_IDENTITY: users, groups, group_members, sessions, api_tokens,
 *                    projects, project_members (who a caller is, and their
 *                    groups);
 *   DB_GEN_NODES:    nodes (the file-space tree, for path resolution).
 * A cache entry records the generation its query's snapshot is at least
 * as new as, and is valid only while that generation is current: the bump
 * happens after the commit is visible, so no entry outlives a change.
 */
enum db_gen { DB_GEN_IDENTITY, DB_GEN_NODES, DB_GEN_COUNT };
uint64_t db_gen(struct db *db, enum db_gen which);
/*
 * The generation that what c reads next is at least as new as: in
 * autocommit mode the current one (the next statement's snapshot is taken
 * after this call); inside db_read_begin .. db_read_end the one read at
 * db_read_begin (the transaction's snapshot is taken later, at its first
 * statement). Returns 0 inside a write transaction (what it reads may be
 * its own uncommitted work) or a transaction begun otherwise: neither use
 * nor fill a cache then.
 */
int db_gen_for_read(struct dbconn *c, enum db_gen which, uint64_t *gen);

/*
 * Group commit. Every acknowledged write must reach the disk, and a commit
 * costs one fsync of the WAL, made one at a time; so callers that write at
 * about the same time commit together. The first becomes the leader, takes
 * every request queued so far (at most 256), runs each one's fn in its own
 * SAVEPOINT (one failure does not undo the others) and commits once; the
 * others wait for their result. Alone, a request commits at once.
 * fn returns 0 or a negative code with e filled; db_batch_run returns what
 * fn returned, or the commit's failure.
 */
struct db_batcher;
struct db_batcher *db_batcher_new(void);
void db_batcher_free(struct db_batcher *b);
int db_batch_run(struct db_batcher *b, struct dbconn *c,
		 int (*fn)(struct dbconn *c, void *arg, struct err *e), void *arg,
		 struct err *e);

#endif
