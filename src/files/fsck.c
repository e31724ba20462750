/*
 * fsck.c - consistency of metadata and bytes, and garbage collection.
 *
 * fsck compares what the database says with what is on disk: every file
 * node's blob is present with the right size (and, with verify, the right
 * SHA-256); every blob's reference count matches the nodes that use it;
 * usage per quota scope matches the files in it; no blob file lies around
 * unknown to the database. With repair it fixes what can be fixed: counts,
 * usage, and blob files unknown to the database (left by a crash between
 * storing bytes and committing metadata: counted as garbage, removed on
 * repair, not reported as damage). Missing bytes cannot be
 * repaired; they are reported with the paths that lost them.
 *
 * gc removes blobs no node references, but only those untouched for a
 * grace period, so an upload that just stored its bytes and is about to
 * commit its metadata never loses them.
 */
#include "files/files.h"
#include "files/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void problem(json_t *list, const char *kind, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(list, json_pack("{s:s,s:s}", "kind", kind, "detail", msg));
}

int store_hash_file(const char *path, char out[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	int rc = sha256_update_fd(&ctx, fd, NULL);
	close(fd);
	if (rc == 0)
		sha256_digest_hex(&ctx, out);
	return rc;
}

/* Path of a node, for reports. */
static char *node_path(struct dbconn *c, int64_t id)
{
	struct stmt *st;
	char *p = NULL;
	if (db_query(c, &st, NULL,
		     "WITH RECURSIVE up(id, parent, name, depth) AS (SELECT id, parent, "
		     "name, 0 FROM nodes WHERE id = ? UNION ALL SELECT n.id, n.parent, "
		     "n.name, up.depth + 1 FROM nodes n JOIN up ON n.id = up.parent) "
		     "SELECT group_concat(name, '/') FROM (SELECT name FROM up ORDER BY "
		     "depth DESC)",
		     "i", id) == 0) {
		if (db_step(st, NULL) == 1 && db_text(st, 0))
			p = xstrdup(db_text(st, 0));
		db_done(st);
	}
	return p ? p : xstrdup("?");
}

int files_fsck(struct files *f, struct dbconn *c, int repair, int verify,
	       json_t **out, struct err *e)
{
	json_t *problems = json_array();
	int64_t files = 0, blobs = 0, repaired = 0, garbage = 0;
	struct stmt *st;
	int rc;

	/* 1. bytes behind every blob that nodes use */
	if ((rc = db_query(c, &st, e,
			   "SELECT b.sha256, b.size, (SELECT min(id) FROM nodes n WHERE "
			   "n.sha256 = b.sha256) FROM blobs b WHERE b.refs > 0",
			   NULL)))
		goto fail;
	while ((rc = db_step(st, e)) == 1) {
		blobs++;
		const char *sha = db_text(st, 0);
		int64_t size = db_int(st, 1);
		char *path = store_path(&f->store, sha);
		struct stat sb;
		if (stat(path, &sb) < 0) {
			char *np = node_path(c, db_int(st, 2));
			problem(problems, "missing_bytes", "blob %s (%lld bytes, used by /%s) is missing",
				sha, (long long)size, np + (np[0] == '/'));
			free(np);
		} else if (sb.st_size != size) {
			problem(problems, "wrong_size", "blob %s has %lld bytes, expected %lld", sha,
				(long long)sb.st_size, (long long)size);
		} else if (verify) {
			char got[65];
			if (store_hash_file(path, got) < 0 || strcmp(got, sha))
				problem(problems, "corrupt", "blob %s does not hash to its name", sha);
		}
		free(path);
	}
	db_done(st);
	if (rc < 0)
		goto fail;

	if (repair && (rc = db_begin(c, e)))
		goto fail;
	/* 2. reference counts */
	if ((rc = db_query(c, &st, e,
			   /* files use blobs, and so does the registry: one
			    * reference per repository link and per manifest */
			   "SELECT b.sha256, b.refs, (SELECT count(*) FROM nodes n WHERE "
			   "n.sha256 = b.sha256) + (SELECT count(*) FROM registry_blobs l "
			   "WHERE l.sha256 = b.sha256) + (SELECT count(*) FROM manifests m "
			   "WHERE m.sha256 = b.sha256) AS real FROM blobs b WHERE b.refs != real "
			   "UNION ALL SELECT n.sha256, 0, count(*) FROM nodes n WHERE n.is_dir = 0 "
			   "AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = n.sha256) "
			   "GROUP BY n.sha256",
			   NULL)))
		goto fail_tx;
	json_t *fix = json_array();
	while ((rc = db_step(st, e)) == 1) {
		problem(problems, "refcount", "blob %s counts %lld references, files and images use it %lld times",
			db_text(st, 0), (long long)db_int(st, 1), (long long)db_int(st, 2));
		json_array_append_new(fix, json_pack("[s,I]", db_text(st, 0), (json_int_t)db_int(st, 2)));
	}
	db_done(st);
	if (repair) {
		size_t i;
		json_t *v;
		json_array_foreach(fix, i, v) {
			const char *sha = json_string_value(json_array_get(v, 0));
			int64_t refs = json_integer_value(json_array_get(v, 1));
			int64_t size = 0;
			db_query_int(c, NULL, &size, "SELECT size FROM nodes WHERE sha256 = ? LIMIT 1", "s", sha);
			if (db_exec(c, e, "INSERT INTO blobs(sha256, size, refs, created_at) VALUES "
					  "(?, ?, ?, ?) ON CONFLICT(sha256) DO UPDATE SET refs = excluded.refs",
				    "siii", sha, size, refs, time_now()) >= 0)
				repaired++;
		}
	}
	json_decref(fix);

	/* 3. usage per scope, recomputed from the files */
	if ((rc = db_query(c, &st, e,
			   "WITH RECURSIVE t(id, path, uid, size, is_dir) AS ("
			   " SELECT id, '', uid, size, is_dir FROM nodes WHERE id = 1"
			   " UNION ALL SELECT n.id, t.path || '/' || n.name, n.uid, n.size, n.is_dir"
			   " FROM nodes n JOIN t ON n.parent = t.id),"
			   " f(scope, size) AS (SELECT CASE"
			   "  WHEN path LIKE '/projects/%/%' THEN 'project:' || substr(path, 11, instr(substr(path, 11), '/') - 1)"
			   "  WHEN path LIKE '/volumes/%/%' THEN 'volume:' || substr(path, 10, instr(substr(path, 10), '/') - 1)"
			   "  ELSE 'user:' || uid END, size FROM t WHERE is_dir = 0),"
			   " want(scope, bytes) AS (SELECT scope, sum(size) FROM f GROUP BY scope)"
			   " SELECT coalesce(w.scope, u.scope), coalesce(w.bytes, 0), coalesce(u.bytes, 0)"
			   " FROM want w FULL OUTER JOIN usage u ON u.scope = w.scope"
			   " WHERE coalesce(w.bytes, 0) != coalesce(u.bytes, 0)",
			   NULL)))
		goto fail_tx;
	fix = json_array();
	while ((rc = db_step(st, e)) == 1) {
		problem(problems, "usage", "%s records %lld bytes, its files hold %lld", db_text(st, 0),
			(long long)db_int(st, 2), (long long)db_int(st, 1));
		json_array_append_new(fix, json_pack("[s,I]", db_text(st, 0), (json_int_t)db_int(st, 1)));
	}
	db_done(st);
	if (repair) {
		size_t i;
		json_t *v;
		json_array_foreach(fix, i, v) {
			if (db_exec(c, e, "INSERT INTO usage(scope, bytes) VALUES (?, ?) ON CONFLICT(scope) "
					  "DO UPDATE SET bytes = excluded.bytes",
				    "si", json_string_value(json_array_get(v, 0)),
				    (int64_t)json_integer_value(json_array_get(v, 1))) >= 0)
				repaired++;
		}
	}
	json_decref(fix);
	if (repair && (rc = db_commit(c, e)))
		goto fail;
	db_query_int(c, NULL, &files, "SELECT count(*) FROM nodes WHERE is_dir = 0", NULL);

	/* 4. blob files the database does not know */
	DIR *top = opendir(f->store.root);
	struct dirent *d1;
	while (top && (d1 = readdir(top))) {
		if (d1->d_name[0] == '.')
			continue;
		char *sub = xasprintf("%s/%s", f->store.root, d1->d_name);
		DIR *dd = opendir(sub);
		struct dirent *d2;
		while (dd && (d2 = readdir(dd))) {
			if (d2->d_name[0] == '.')
				continue;
			int64_t known = 0;
			db_query_int(c, NULL, &known, "SELECT count(*) FROM blobs WHERE sha256 = ?",
				     "s", d2->d_name);
			if (!known) {
				/* bytes whose upload never committed (a crash between
				 * rename and commit): garbage, not damage */
				garbage++;
				if (repair) {
					char *p = xasprintf("%s/%s", sub, d2->d_name);
					if (unlink(p) == 0)
						repaired++;
					free(p);
				}
			}
		}
		if (dd)
			closedir(dd);
		free(sub);
	}
	if (top)
		closedir(top);
	*out = json_pack("{s:b,s:o,s:I,s:I,s:{s:I,s:I}}", "clean",
			 json_array_size(problems) == 0, "problems", problems, "repaired",
			 (json_int_t)repaired, "unreferenced_blob_files", (json_int_t)garbage,
			 "checked", "files", (json_int_t)files, "blobs", (json_int_t)blobs);
	return 0;
fail_tx:
	if (repair)
		db_rollback(c);
fail:
	json_decref(problems);
	return rc;
}

int files_gc(struct files *f, struct dbconn *c, int64_t grace, json_t **out,
	     struct err *e)
{
	struct stmt *st;
	/* a backup copies the blobs its snapshot names: none may go meanwhile */
	pthread_mutex_lock(&f->backup_lock);
	int rc = db_query(c, &st, e, "SELECT sha256, size FROM blobs WHERE refs <= 0", NULL);
	if (rc) {
		pthread_mutex_unlock(&f->backup_lock);
		return rc;
	}
	json_t *cand = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(cand, json_pack("[s,I]", db_text(st, 0), (json_int_t)db_int(st, 1)));
	db_done(st);
	int64_t removed = 0, bytes = 0, kept = 0, now = time_now();
	size_t i;
	json_t *v;
	json_array_foreach(cand, i, v) {
		const char *sha = json_string_value(json_array_get(v, 0));
		char *path = store_path(&f->store, sha);
		struct stat sb;
		pthread_mutex_lock(&f->store.lock);
		int exists = stat(path, &sb) == 0;
		if (exists && sb.st_mtime + grace > now) {
			kept++;
		} else if (db_exec(c, NULL, "DELETE FROM blobs WHERE sha256 = ? AND refs <= 0",
				   "s", sha) == 1) {
			/* the row is gone (it was still unreferenced): now the bytes */
			if (exists && unlink(path) == 0) {
				removed++;
				bytes += json_integer_value(json_array_get(v, 1));
			}
		}
		pthread_mutex_unlock(&f->store.lock);
		free(path);
	}
	json_decref(cand);
	pthread_mutex_unlock(&f->backup_lock);
	*out = json_pack("{s:I,s:I,s:I}", "removed", (json_int_t)removed, "bytes",
			 (json_int_t)bytes, "kept_in_grace", (json_int_t)kept);
	return 0;
}
