/*
 * sqlite.c - the SQLite implementation of db.h: a fixed pool of
 * connections, each with a small cache of prepared statements keyed by the
 * SQL text (a hash, then the text itself), and the schema migrations.
 *
 * Durability: WAL with synchronous=FULL, so a commit that returned has
 * reached the disk and survives kill -9 and power loss.
 */
#include "db/db.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STMT_CACHE 96

struct stmt {
	sqlite3_stmt *s;
	/* the cache key: a hash of the SQL text, confirmed by the text
	 * (sqlite3_sql). It was once the text's address: SQL built with
	 * xasprintf and freed left a key that a later string at the same
	 * address, with other text, matched, and ran the old statement. */
	uint64_t hash;
	const char *sql; /* the text (sqlite3_sql), for messages */
	struct dbconn *c;
	int in_use;
};

struct dbconn {
	struct db *db;
	sqlite3 *h;
	int busy;
	int writing; /* holds db->write_lock */
	unsigned dirty;    /* bit per enum db_gen changed since its last commit */
	int reading;       /* inside db_read_begin .. db_read_end */
	sqlite3_stmt *s_begin, *s_commit; /* prepared once: BEGIN, COMMIT */
	uint64_t read_gen[DB_GEN_COUNT]; /* generations at db_read_begin */
	struct stmt cache[STMT_CACHE];
	int ncache;
	struct stmt oneoff; /* used when the cache is full */
	int64_t cache_bytes; /* its page cache, when last measured (db_cache_bytes) */
};

/*
 * Writers are serialised here, in the process, before SQLite sees them:
 * contending for SQLite's own lock would park the losers in its busy
 * handler, which sleeps in whole milliseconds. One writer at a time is
 * what SQLite allows anyway; this only makes the waiting cheap.
 */
struct db {
	pthread_mutex_t write_lock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	struct dbconn *conns;
	uint64_t gen[DB_GEN_COUNT]; /* db_gen; atomic */
};

extern const char *const db_migrations[];

static int map_rc(sqlite3 *h, int rc, struct err *e, const char *what)
{
	int ext = sqlite3_extended_errcode(h);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return err_set(e, COVE_EEXIST, "already exists");
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return err_set(e, COVE_ECONFLICT, "conflicts with existing data (%s)",
			       sqlite3_errmsg(h));
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return err_set(e, COVE_EUNAVAIL, "database busy, retry");
	log_event(LOG_ERROR, "sqlite error", "{s:s,s:i,s:s}", "during", what,
		  "rc", ext, "error", sqlite3_errmsg(h));
	return err_set(e, COVE_EIO, "database error");
}

/* The generation a table's changes move (db_gen), or -1. */
static int table_gen(const char *t)
{
	static const char *const identity[] = {"users",    "groups",   "group_members",
					       "sessions", "api_tokens", "projects",
					       "project_members"};
	if (!strcmp(t, "nodes"))
		return DB_GEN_NODES;
	for (size_t i = 0; i < sizeof(identity) / sizeof(identity[0]); i++)
		if (!strcmp(t, identity[i]))
			return DB_GEN_IDENTITY;
	return -1;
}

/* Runs for every row a statement inserts, updates or deletes (also rows
 * changed by foreign-key actions); notes which generations must move. */
static void on_update(void *arg, int op, const char *dbname, const char *table,
		      sqlite3_int64 rowid)
{
	(void)op, (void)dbname, (void)rowid;
	struct dbconn *c = arg;
	int g = table_gen(table);
	if (g >= 0)
		c->dirty |= 1u << g;
}

/*
 * Runs after each commit in WAL mode, once the commit is visible to new
 * readers: the point where generations may move. Setting a WAL hook
 * replaces SQLite's automatic checkpoint, so it is done here as SQLite's
 * default would (passive, from 1,000 frames).
 */
static int on_wal_commit(void *arg, sqlite3 *h, const char *dbname, int frames)
{
	struct dbconn *c = arg;
	for (int g = 0; g < DB_GEN_COUNT; g++)
		if (c->dirty & (1u << g))
			__atomic_add_fetch(&c->db->gen[g], 1, __ATOMIC_SEQ_CST);
	c->dirty = 0;
	if (frames >= 1000)
		sqlite3_wal_checkpoint_v2(h, dbname, SQLITE_CHECKPOINT_PASSIVE, NULL,
					  NULL);
	return SQLITE_OK;
}

uint64_t db_gen(struct db *db, enum db_gen which)
{
	return __atomic_load_n(&db->gen[which], __ATOMIC_SEQ_CST);
}

int db_gen_for_read(struct dbconn *c, enum db_gen which, uint64_t *gen)
{
	if (c->writing)
		return 0;
	if (c->reading) {
		*gen = c->read_gen[which];
		return 1;
	}
	if (!sqlite3_get_autocommit(c->h))
		return 0;
	*gen = db_gen(c->db, which);
	return 1;
}

static int conn_open(struct dbconn *c, const char *path, struct err *e)
{
	int rc = sqlite3_open_v2(path, &c->h,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		err_set(e, COVE_EIO, "cannot open database %s: %s", path,
			c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc));
		sqlite3_close(c->h);
		c->h = NULL;
		return COVE_EIO;
	}
	sqlite3_busy_timeout(c->h, 10000);
	sqlite3_extended_result_codes(c->h, 1);
	const char *pragmas = "PRAGMA journal_mode=WAL;"
			      "PRAGMA synchronous=FULL;"
			      "PRAGMA foreign_keys=ON;"
			      /* No memory-mapped reads (mmap_size stays 0): after
			       * any commit by another connection, SQLite unmaps and
			       * remaps a connection's whole view at its next read
			       * transaction, and with uploads committing hundreds of
			       * times a second those munmaps (TLB shootdowns across
			       * the server's threads) cost more than the preads they
			       * save: 1 KiB uploads went from ~1,600/s to ~2,600/s
			       * without it, side by side (docs/performance.md). */
			      "PRAGMA temp_store=MEMORY;";
	char *msg = NULL;
	if (sqlite3_exec(c->h, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, COVE_EIO, "cannot configure database: %s",
			msg ? msg : "?");
		sqlite3_free(msg);
		return COVE_EIO;
	}
	sqlite3_update_hook(c->h, on_update, c);
	sqlite3_wal_hook(c->h, on_wal_commit, c);
	return 0;
}

static void conn_close(struct dbconn *c)
{
	for (int i = 0; i < c->ncache; i++)
		sqlite3_finalize(c->cache[i].s);
	c->ncache = 0;
	if (c->oneoff.s)
		sqlite3_finalize(c->oneoff.s);
	sqlite3_finalize(c->s_begin);
	sqlite3_finalize(c->s_commit);
	c->s_begin = c->s_commit = NULL;
	sqlite3_close(c->h);
	c->h = NULL;
}

static int migrate(struct dbconn *c, struct err *e)
{
	sqlite3_stmt *s;
	int version = 0;
	if (sqlite3_prepare_v2(c->h, "PRAGMA user_version", -1, &s, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			version = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	int known = 0;
	while (db_migrations[known])
		known++;
	if (version > known)
		return err_set(e, COVE_EINVAL, "the database is newer than this cove: it has "
			       "schema version %d, this cove knows versions up to %d; run the "
			       "cove that wrote it (or a newer one), or restore a backup made "
			       "for this version", version, known);
	for (int v = version; db_migrations[v]; v++) {
		char *msg = NULL;
		char *sql = xasprintf("BEGIN IMMEDIATE;%s;PRAGMA user_version=%d;COMMIT;",
				      db_migrations[v], v + 1);
		int rc = sqlite3_exec(c->h, sql, NULL, NULL, &msg);
		free(sql);
		if (rc != SQLITE_OK) {
			err_set(e, COVE_EIO, "database migration %d failed: %s",
				v + 1, msg ? msg : "?");
			sqlite3_free(msg);
			sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
			return COVE_EIO;
		}
		log_event(LOG_INFO, "database migrated", "{s:i}", "version", v + 1);
	}
	return 0;
}

int db_open(struct db **out, const char *path, int pool_size, struct err *e)
{
	/* No global allocation statistics: they cost a process-wide mutex on
	 * every allocation. Must precede initialisation; later calls fail
	 * harmlessly. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	struct db *db = xcalloc(1, sizeof(*db));
	pthread_mutex_init(&db->mu, NULL);
	pthread_mutex_init(&db->write_lock, NULL);
	pthread_cond_init(&db->cv, NULL);
	db->n = pool_size > 0 ? pool_size : 4;
	db->conns = xcalloc((size_t)db->n, sizeof(struct dbconn));
	int rc = 0;
	for (int i = 0; i < db->n; i++) {
		db->conns[i].db = db;
		rc = conn_open(&db->conns[i], path, e);
		if (rc)
			goto fail;
		if (i == 0 && (rc = migrate(&db->conns[0], e)))
			goto fail;
	}
	*out = db;
	return 0;
fail:
	db_close(db);
	*out = NULL;
	return rc;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < db->n; i++)
		if (db->conns[i].h)
			conn_close(&db->conns[i]);
	pthread_mutex_destroy(&db->mu);
	pthread_mutex_destroy(&db->write_lock);
	pthread_cond_destroy(&db->cv);
	free(db->conns);
	free(db);
}

struct dbconn *db_get(struct db *db)
{
	pthread_mutex_lock(&db->mu);
	for (;;) {
		for (int i = 0; i < db->n; i++)
			if (!db->conns[i].busy) {
				db->conns[i].busy = 1;
				pthread_mutex_unlock(&db->mu);
				return &db->conns[i];
			}
		pthread_cond_wait(&db->cv, &db->mu);
	}
}

void db_put(struct db *db, struct dbconn *c)
{
	if (!c)
		return;
	if (!sqlite3_get_autocommit(c->h) || c->writing) {
		log_event(LOG_WARN, "connection returned inside a transaction",
			  NULL);
		db_rollback(c);
	}
	/* A statement stepped and never finished (db_done) keeps its read
	 * snapshot open even in autocommit mode: every later query on this
	 * connection would see the past, and the caches stamped with the
	 * current generation would keep it. Finish it here, loudly. */
	for (int i = 0; i < c->ncache; i++)
		if (c->cache[i].in_use) {
			log_event(LOG_WARN, "statement left unfinished", "{s:s}", "sql",
				  c->cache[i].sql);
			db_done(&c->cache[i]);
		}
	if (c->oneoff.in_use) {
		log_event(LOG_WARN, "statement left unfinished", "{s:s}", "sql",
			  c->oneoff.sql ? c->oneoff.sql : "?");
		db_done(&c->oneoff);
	}
	pthread_mutex_lock(&db->mu);
	c->busy = 0;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
}

static int simple(struct dbconn *c, const char *sql, struct err *e)
{
	int rc = sqlite3_exec(c->h, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return map_rc(c->h, rc, e, sql);
	return 0;
}

static void write_unlock(struct dbconn *c)
{
	if (c->writing) {
		c->writing = 0;
		pthread_mutex_unlock(&c->db->write_lock);
	}
}

int db_begin(struct dbconn *c, struct err *e)
{
	assert(!c->writing);
	pthread_mutex_lock(&c->db->write_lock);
	c->writing = 1;
	int rc = simple(c, "BEGIN IMMEDIATE", e);
	if (rc)
		write_unlock(c);
	return rc;
}

int db_commit(struct dbconn *c, struct err *e)
{
	int rc = simple(c, "COMMIT", e);
	if (rc) {
		db_rollback(c);
		return rc;
	}
	write_unlock(c);
	return 0;
}

/* Run a prepared-once statement without results (BEGIN, COMMIT): parsing
 * them on every request costs more than the read they bracket. */
static int run_cached(struct dbconn *c, sqlite3_stmt **s, const char *sql)
{
	if (!*s && sqlite3_prepare_v2(c->h, sql, -1, s, NULL) != SQLITE_OK) {
		*s = NULL;
		return sqlite3_exec(c->h, sql, NULL, NULL, NULL);
	}
	int rc = sqlite3_step(*s);
	sqlite3_reset(*s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void db_read_begin(struct dbconn *c)
{
	/* before BEGIN: the snapshot, taken at the first statement, is at
	 * least as new as this generation */
	for (int g = 0; g < DB_GEN_COUNT; g++)
		c->read_gen[g] = db_gen(c->db, (enum db_gen)g);
	c->reading = run_cached(c, &c->s_begin, "BEGIN") == SQLITE_OK;
}

void db_read_end(struct dbconn *c)
{
	c->reading = 0;
	if (!sqlite3_get_autocommit(c->h))
		run_cached(c, &c->s_commit, "COMMIT");
}

void db_rollback(struct dbconn *c)
{
	c->reading = 0;
	if (!sqlite3_get_autocommit(c->h))
		sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
	write_unlock(c);
}

static uint64_t sql_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct stmt *stmt_get(struct dbconn *c, const char *sql, struct err *e)
{
	uint64_t h = sql_hash(sql);
	for (int i = 0; i < c->ncache; i++)
		if (c->cache[i].hash == h && !c->cache[i].in_use &&
		    !strcmp(c->cache[i].sql, sql)) {
			c->cache[i].in_use = 1;
			return &c->cache[i];
		}
	struct stmt *st;
	if (c->ncache < STMT_CACHE) {
		st = &c->cache[c->ncache];
	} else {
		st = &c->oneoff;
		if (st->in_use) {
			err_set(e, COVE_EINTERNAL, "too many open statements");
			return NULL;
		}
		if (st->s)
			sqlite3_finalize(st->s);
	}
	memset(st, 0, sizeof(*st));
	int rc = sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT,
				    &st->s, NULL);
	if (rc != SQLITE_OK) {
		map_rc(c->h, rc, e, sql);
		st->s = NULL;
		return NULL;
	}
	st->sql = sqlite3_sql(st->s);
	st->hash = h;
	st->c = c;
	st->in_use = 1;
	if (st != &c->oneoff)
		c->ncache++;
	return st;
}

static int bind_all(struct stmt *st, const char *types, va_list ap,
		    struct err *e)
{
	int n = types ? (int)strlen(types) : 0;
	for (int i = 0; i < n; i++) {
		int rc;
		switch (types[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);
			rc = v ? sqlite3_bind_text(st->s, i + 1, v, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st->s, i + 1);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(st->s, i + 1, va_arg(ap, int64_t));
			break;
		case 'n':
			rc = sqlite3_bind_null(st->s, i + 1);
			break;
		default:
			return err_set(e, COVE_EINTERNAL, "bad bind type '%c'",
				       types[i]);
		}
		if (rc != SQLITE_OK)
			return map_rc(st->c->h, rc, e, st->sql);
	}
	return 0;
}

static int vquery(struct dbconn *c, struct stmt **out, struct err *e,
		  const char *sql, const char *types, va_list ap)
{
	struct stmt *st = stmt_get(c, sql, e);
	if (!st)
		return e ? e->code : COVE_EIO;
	int rc = bind_all(st, types, ap, e);
	if (rc) {
		db_done(st);
		return rc;
	}
	*out = st;
	return 0;
}

int db_query(struct dbconn *c, struct stmt **st, struct err *e,
	     const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	int rc = vquery(c, st, e, sql, types, ap);
	va_end(ap);
	return rc;
}

int db_exec(struct dbconn *c, struct err *e, const char *sql,
	    const char *types, ...)
{
	struct stmt *st;
	va_list ap;
	va_start(ap, types);
	int rc = vquery(c, &st, e, sql, types, ap);
	va_end(ap);
	if (rc)
		return rc;
	int s;
	while ((s = db_step(st, e)) == 1)
		;
	db_done(st);
	if (s < 0)
		return s;
	return sqlite3_changes(c->h);
}

int db_step(struct stmt *st, struct err *e)
{
	/* A write outside a transaction takes the writer lock for its step. */
	int lock = !st->c->writing && !sqlite3_stmt_readonly(st->s);
	if (lock)
		pthread_mutex_lock(&st->c->db->write_lock);
	int rc = sqlite3_step(st->s);
	if (lock)
		pthread_mutex_unlock(&st->c->db->write_lock);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return map_rc(st->c->h, rc, e, st->sql);
}

const char *db_text(struct stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st->s, col);
}

int64_t db_int(struct stmt *st, int col)
{
	return sqlite3_column_int64(st->s, col);
}

int db_is_null(struct stmt *st, int col)
{
	return sqlite3_column_type(st->s, col) == SQLITE_NULL;
}

void db_done(struct stmt *st)
{
	if (!st)
		return;
	sqlite3_reset(st->s);
	sqlite3_clear_bindings(st->s);
	st->in_use = 0;
}

int db_query_int(struct dbconn *c, struct err *e, int64_t *out,
		 const char *sql, const char *types, ...)
{
	struct stmt *st;
	va_list ap;
	va_start(ap, types);
	int rc = vquery(c, &st, e, sql, types, ap);
	va_end(ap);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1)
		*out = db_int(st, 0);
	db_done(st);
	return rc;
}

int64_t db_last_id(struct dbconn *c)
{
	return sqlite3_last_insert_rowid(c->h);
}

int64_t db_cache_bytes(struct db *db)
{
	/* only idle connections are asked (they are NOMUTEX: one thread at a
	 * time); a busy one counts what it held when last seen idle */
	int64_t total = 0;
	pthread_mutex_lock(&db->mu);
	for (int i = 0; i < db->n; i++) {
		struct dbconn *c = &db->conns[i];
		if (!c->busy && c->h) {
			int cur = 0, hi = 0;
			if (sqlite3_db_status(c->h, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0) ==
			    SQLITE_OK)
				c->cache_bytes = cur;
		}
		total += c->cache_bytes;
	}
	pthread_mutex_unlock(&db->mu);
	return total;
}

int db_snapshot(struct db *db, const char *path, struct err *e)
{
	struct dbconn *c = db_get(db);
	char *msg = NULL;
	/* one read transaction's view, written as a compact new file; the
	 * file name is quoted by SQLite's own printf (%Q) */
	char *sql = sqlite3_mprintf("VACUUM INTO %Q", path);
	int rc = sqlite3_exec(c->h, sql, NULL, NULL, &msg);
	sqlite3_free(sql);
	db_put(db, c);
	if (rc != SQLITE_OK) {
		int r = err_set(e, rc == SQLITE_FULL ? COVE_ETOOBIG : COVE_EIO,
				"cannot copy the database to %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		return r;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		int r = err_set(e, COVE_EIO, "cannot sync %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	close(fd);
	return 0;
}

int db_ping(struct db *db)
{
	struct dbconn *c = db_get(db);
	int64_t v = 0;
	int rc = db_query_int(c, NULL, &v, "SELECT 1", NULL);
	db_put(db, c);
	return rc == 1 && v == 1 ? 0 : COVE_EIO;
}
