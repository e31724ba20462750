/*
 * ns.c - the namespace: nodes (directories and files) in SQLite, walked
 * component by component with POSIX permission checks (perm.c), and the
 * accounting that goes with them: blob reference counts and storage usage
 * per quota scope. Every change runs in one transaction, so the namespace,
 * the reference counts and the usage never disagree.
 *
 * Quota scopes: bytes under /projects/<p> count for project p, bytes under
 * /volumes/<v> for volume v (its capacity), all other bytes for the owning
 * user. A limit of 0 means unlimited.
 *
 * Also volumes, and what the admin overview says about storage.
 */
#include "files/files.h"
#include "files/internal.h"

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ROOT_ID 1

struct fs_upload {
	struct blob_writer *w;
	char *path;
	struct fs_cred cr; /* owns its gids */
	int64_t room;      /* bytes the quotas allow, INT64_MAX when unlimited */
	int mode;
};

/* ---- nodes ------------------------------------------------------------------ */

#define NODE_COLS "id, parent, is_dir, mode, uid, gid, size, sha256, mtime_ms, ctime_ms"

static void node_read(struct stmt *st, struct fs_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->id = db_int(st, 0);
	a->parent = db_int(st, 1);
	a->is_dir = (int)db_int(st, 2);
	a->mode = (unsigned)db_int(st, 3);
	a->uid = db_int(st, 4);
	a->gid = db_int(st, 5);
	a->size = db_int(st, 6);
	const char *sha = db_text(st, 7);
	size_t n = sha ? strnlen(sha, sizeof(a->sha256) - 1) : 0;
	memcpy(a->sha256, sha ? sha : "", n);
	a->sha256[n] = '\0';
	a->mtime_ms = db_int(st, 8);
	a->ctime_ms = db_int(st, 9);
}

/*
 * Path resolution reads a node per component. Each thread remembers the
 * nodes it looked up last (a small direct-mapped cache, like the kernel's
 * dentry cache), valid only for the generation of the nodes table they
 * were read at (db_gen DB_GEN_NODES: any commit that changed a node moves
 * it) and never inside a write transaction. Read-mostly loads (listings,
 * downloads) then cost one statement instead of one per component.
 */
#define DENT_SLOTS 64
struct dent_slot {
	uint64_t gen;
	int used;
	int64_t parent; /* -1: a lookup by id (then a.id is the key) */
	struct fs_attr a;
	char name[FS_NAME_MAX + 1];
};
static __thread struct dent_slot dent_cache[DENT_SLOTS];

static struct dent_slot *dent_slot(int64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)parent;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h *= 1099511628211ULL;
	return &dent_cache[(h >> 20) % DENT_SLOTS];
}

static int dent_get(int64_t parent, const char *name, uint64_t gen, struct fs_attr *a)
{
	struct dent_slot *s = dent_slot(parent, name);
	if (!s->used || s->gen != gen || s->parent != parent || strcmp(s->name, name))
		return 0;
	*a = s->a;
	return 1;
}

static void dent_put(int64_t parent, const char *name, uint64_t gen,
		     const struct fs_attr *a)
{
	size_t n = strlen(name);
	if (n > FS_NAME_MAX)
		return;
	struct dent_slot *s = dent_slot(parent, name);
	s->used = 1;
	s->gen = gen;
	s->parent = parent;
	memcpy(s->name, name, n + 1);
	s->a = *a;
}

/* 1 found, 0 not, < 0 error. */
static int node_child(struct dbconn *c, int64_t parent, const char *name,
		      struct fs_attr *a, struct err *e)
{
	uint64_t gen = 0;
	int cacheable = db_gen_for_read(c, DB_GEN_NODES, &gen);
	if (cacheable && dent_get(parent, name, gen, a))
		return 1;
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT " NODE_COLS " FROM nodes WHERE parent = ? AND name = ?",
			  "is", parent, name);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1)
		node_read(st, a);
	db_done(st);
	if (rc == 1 && cacheable)
		dent_put(parent, name, gen, a);
	return rc;
}

static int node_by_id(struct dbconn *c, int64_t id, struct fs_attr *a,
		      struct err *e)
{
	uint64_t gen = 0;
	int cacheable = db_gen_for_read(c, DB_GEN_NODES, &gen);
	char key[24];
	snprintf(key, sizeof(key), "#%lld", (long long)id);
	if (cacheable && dent_get(-1, key, gen, a))
		return 0;
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT " NODE_COLS " FROM nodes WHERE id = ?",
			  "i", id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1)
		node_read(st, a);
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such file or directory");
	if (rc == 1 && cacheable)
		dent_put(-1, key, gen, a);
	return rc < 0 ? rc : 0;
}

static int denied(struct err *e, const char *what, const char *path)
{
	return err_set(e, COVE_EPERM, "permission denied: %s '%.200s'", what, path);
}

/* Credentials of a user (see files.h). */
/*
 * Credentials are read on every file request; each thread remembers the
 * last few it read, valid for the identity generation they were read at
 * (db_gen DB_GEN_IDENTITY moves with any change to users, groups or members) and
 * for at most CRED_TTL_MS.
 */
#define CRED_SLOTS 4
#define CRED_GIDS 32
#define CRED_TTL_MS 1000
struct cred_slot {
	int64_t uid, gid;
	uint64_t gen;
	int64_t ms;
	unsigned umask;
	int ngids;
	int64_t gids[CRED_GIDS];
};
static __thread struct cred_slot cred_cache[CRED_SLOTS];
static __thread unsigned cred_next;

static int cred_cached(int64_t uid, int64_t gid, uint64_t gen, int64_t now,
		       struct fs_cred *cr)
{
	for (int i = 0; i < CRED_SLOTS; i++) {
		struct cred_slot *s = &cred_cache[i];
		if (s->ngids && s->uid == uid && s->gid == gid && s->gen == gen &&
		    now - s->ms < CRED_TTL_MS) {
			cr->umask = s->umask;
			cr->ngids = s->ngids;
			cr->gids = xmalloc(sizeof(int64_t) * (size_t)s->ngids);
			memcpy(cr->gids, s->gids, sizeof(int64_t) * (size_t)s->ngids);
			return 1;
		}
	}
	return 0;
}

static void cred_remember(const struct fs_cred *cr, uint64_t gen, int64_t now)
{
	if (cr->ngids < 1 || cr->ngids > CRED_GIDS)
		return;
	struct cred_slot *s = &cred_cache[cred_next++ % CRED_SLOTS];
	s->uid = cr->uid;
	s->gid = cr->gid;
	s->gen = gen;
	s->ms = now;
	s->umask = cr->umask;
	s->ngids = cr->ngids;
	memcpy(s->gids, cr->gids, sizeof(int64_t) * (size_t)cr->ngids);
}

int fs_cred_load(struct dbconn *c, int64_t uid, int64_t gid, int admin,
		 struct fs_cred *cr, struct err *e)
{
	memset(cr, 0, sizeof(*cr));
	cr->uid = uid;
	cr->gid = gid;
	cr->admin = admin;
	cr->umask = 022;
	/* taken before the query reads (see db_gen) */
	uint64_t gen = 0;
	int cacheable = db_gen_for_read(c, DB_GEN_IDENTITY, &gen);
	int64_t now = time_now_ms();
	if (cacheable && cred_cached(uid, gid, gen, now, cr))
		return 0;
	/* umask and every group in one query */
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT umask, gid FROM users WHERE uid = ? UNION ALL "
			  "SELECT NULL, gid FROM group_members WHERE uid = ?",
			  "ii", uid, uid);
	if (rc)
		return rc;
	int cap = 8;
	cr->gids = xmalloc(sizeof(int64_t) * (size_t)cap);
	while ((rc = db_step(st, e)) == 1) {
		if (!db_is_null(st, 0))
			cr->umask = (unsigned)db_int(st, 0);
		if (cr->ngids == cap)
			cr->gids = xrealloc(cr->gids, sizeof(int64_t) * (size_t)(cap *= 2));
		cr->gids[cr->ngids++] = db_int(st, 1);
	}
	db_done(st);
	if (rc < 0)
		return rc;
	if (cacheable)
		cred_remember(cr, gen, now);
	return 0;
}

int fs_resolve(struct dbconn *c, const struct fs_cred *cr, const char *path,
	       struct fs_attr *out, struct err *e)
{
	return fs_resolve_from(c, cr, ROOT_ID, path, out, e);
}

int fs_resolve_from(struct dbconn *c, const struct fs_cred *cr, int64_t start_id,
		    const char *path, struct fs_attr *out, struct err *e)
{
	struct fs_attr cur;
	int rc = node_by_id(c, start_id, &cur, e);
	if (rc)
		return rc;
	const char *p = path;
	while (*p == '/')
		p++;
	char name[FS_NAME_MAX + 1];
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > FS_NAME_MAX)
			return err_set(e, COVE_EINVAL, "name too long");
		memcpy(name, p, len);
		name[len] = '\0';
		if (!cur.is_dir)
			return err_set(e, COVE_EINVAL, "not a directory: a component of '%.200s'",
				       path);
		if (!perm_may(cr, &cur, PERM_X)) {
			char *prefix = xstrndup(path, (size_t)(p - path));
			rc = denied(e, "cannot search", prefix);
			free(prefix);
			return rc;
		}
		rc = node_child(c, cur.id, name, &cur, e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return err_set(e, COVE_ENOENT, "no such file or directory: '%.200s'", path);
		p += len;
		while (*p == '/')
			p++;
	}
	*out = cur;
	return 0;
}

/* Resolve the parent of path (which must exist and be a searchable
 * directory) and return the last name. */
static int resolve_parent(struct dbconn *c, const struct fs_cred *cr,
			  const char *path, struct fs_attr *parent, char **name,
			  struct err *e)
{
	char *pp = NULL;
	if (fs_path_split(path, &pp, name))
		return err_set(e, COVE_EINVAL, "'/' itself cannot be changed");
	int rc = fs_resolve(c, cr, pp, parent, e);
	if (rc == 0 && !parent->is_dir)
		rc = err_set(e, COVE_EINVAL, "not a directory: '%.200s'", pp);
	if (rc == 0 && !perm_may(cr, parent, PERM_X))
		rc = denied(e, "cannot search", pp);
	free(pp);
	if (rc) {
		free(*name);
		*name = NULL;
	}
	return rc;
}

/* ---- names of owners and groups -------------------------------------------- */

static void id_name(struct dbconn *c, const char *sql, int64_t id, char *out,
		    size_t n)
{
	struct stmt *st;
	snprintf(out, n, "%lld", (long long)id);
	if (db_query(c, &st, NULL, sql, "i", id))
		return;
	if (db_step(st, NULL) == 1)
		snprintf(out, n, "%s", db_text(st, 0));
	db_done(st);
}

/* The entry object, with owner and group names already looked up (NULL:
 * unknown ids are shown as numbers, 0 as root). */
static json_t *entry_json_named(const struct fs_attr *a, const char *name,
				const char *uname, const char *gname)
{
	char owner[40], group[40], mode[8];
	if (a->uid == 0)
		snprintf(owner, sizeof(owner), "root");
	else if (uname)
		snprintf(owner, sizeof(owner), "%s", uname);
	else
		snprintf(owner, sizeof(owner), "%lld", (long long)a->uid);
	if (a->gid == 0)
		snprintf(group, sizeof(group), "root");
	else if (gname)
		snprintf(group, sizeof(group), "%s", gname);
	else
		snprintf(group, sizeof(group), "%lld", (long long)a->gid);
	snprintf(mode, sizeof(mode), "%04o", a->mode & 07777);
	json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:I}", "name", name,
			      "type", a->is_dir ? "directory" : "file", "size",
			      (json_int_t)(a->is_dir ? 0 : a->size), "mode", mode,
			      "owner", owner, "group", group, "uid", (json_int_t)a->uid,
			      "gid", (json_int_t)a->gid);
	json_object_set_new(o, "sha256", a->is_dir ? json_null() : json_string(a->sha256));
	json_set_time_ms(o, "modified_at", a->mtime_ms);
	json_set_time_ms(o, "created_at", a->ctime_ms);
	return o;
}

json_t *fs_entry_json(struct dbconn *c, const struct fs_attr *a, const char *name)
{
	char owner[40], group[40];
	id_name(c, "SELECT username FROM users WHERE uid = ?", a->uid, owner, sizeof(owner));
	id_name(c, "SELECT name FROM groups WHERE gid = ?", a->gid, group, sizeof(group));
	int known_u = owner[0] < '0' || owner[0] > '9';
	int known_g = group[0] < '0' || group[0] > '9';
	return entry_json_named(a, name, known_u ? owner : NULL, known_g ? group : NULL);
}

/* One entry as JSON text (the same fields as fs_entry_json). */
static void entry_text(struct buf *b, const struct fs_attr *a, const char *name,
		       const char *uname, const char *gname)
{
	char mode[8] = {'"', (char)('0' + (a->mode >> 9 & 7)), (char)('0' + (a->mode >> 6 & 7)),
			(char)('0' + (a->mode >> 3 & 7)), (char)('0' + (a->mode & 7)), '"', 0};
	buf_adds(b, "{\"name\":");
	buf_json_str(b, name);
	buf_adds(b, a->is_dir ? ",\"type\":\"directory\",\"size\":"
			      : ",\"type\":\"file\",\"size\":");
	buf_add_int(b, a->is_dir ? 0 : a->size);
	buf_adds(b, ",\"mode\":");
	buf_adds(b, mode);
	buf_adds(b, ",\"owner\":");
	if (a->uid == 0)
		buf_adds(b, "\"root\"");
	else if (uname)
		buf_json_str(b, uname);
	else {
		buf_addc(b, '"');
		buf_add_int(b, a->uid);
		buf_addc(b, '"');
	}
	buf_adds(b, ",\"group\":");
	if (a->gid == 0)
		buf_adds(b, "\"root\"");
	else if (gname)
		buf_json_str(b, gname);
	else {
		buf_addc(b, '"');
		buf_add_int(b, a->gid);
		buf_addc(b, '"');
	}
	buf_adds(b, ",\"uid\":");
	buf_add_int(b, a->uid);
	buf_adds(b, ",\"gid\":");
	buf_add_int(b, a->gid);
	buf_adds(b, ",\"sha256\":");
	if (a->is_dir) {
		buf_adds(b, "null");
	} else {
		buf_addc(b, '"');
		buf_adds(b, a->sha256);
		buf_addc(b, '"');
	}
	buf_adds(b, ",\"modified_at\":");
	buf_json_time_ms(b, a->mtime_ms);
	buf_adds(b, ",\"created_at\":");
	buf_json_time_ms(b, a->ctime_ms);
	buf_addc(b, '}');
}

int fs_list(struct dbconn *c, const struct fs_cred *cr, const char *path,
	    const struct fs_attr *known, const char *cursor, int limit,
	    struct buf *out, struct err *e)
{
	struct fs_attr dir;
	int rc = 0;
	if (known)
		dir = *known;
	else if ((rc = fs_resolve(c, cr, path, &dir, e)))
		return rc;
	if (!dir.is_dir)
		return err_set(e, COVE_EINVAL, "not a directory: '%.200s'", path);
	if (!perm_may(cr, &dir, PERM_R))
		return denied(e, "cannot list", path);
	int details = perm_may(cr, &dir, PERM_X);
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT n.id, n.parent, n.is_dir, n.mode, n.uid, n.gid, n.size, "
			   "n.sha256, n.mtime_ms, n.ctime_ms, n.name, u.username, g.name "
			   "FROM nodes n LEFT JOIN users u ON u.uid = n.uid LEFT JOIN groups g "
			   "ON g.gid = n.gid WHERE n.parent = ? AND n.name > ? ORDER BY n.name "
			   "LIMIT ?",
			   "isi", dir.id, cursor ? cursor : "", (int64_t)limit + 1)))
		return rc;
	buf_adds(out, "{\"path\":");
	buf_json_str(out, path);
	buf_adds(out, ",\"items\":[");
	int n = 0;
	char last[FS_NAME_MAX + 1] = "";
	int more = 0;
	while ((rc = db_step(st, e)) == 1) {
		if (n == limit) {
			more = 1;
			break;
		}
		struct fs_attr a;
		node_read(st, &a);
		const char *name = db_text(st, 10);
		size_t nl = strnlen(name, FS_NAME_MAX);
		memcpy(last, name, nl);
		last[nl] = '\0';
		if (n++)
			buf_addc(out, ',');
		if (details) {
			entry_text(out, &a, name, db_text(st, 11), db_text(st, 12));
		} else {
			buf_adds(out, "{\"name\":");
			buf_json_str(out, name);
			buf_addc(out, '}');
		}
	}
	db_done(st);
	if (rc < 0)
		return rc;
	buf_adds(out, "],\"next_cursor\":");
	if (more)
		buf_json_str(out, last);
	else
		buf_adds(out, "null");
	buf_addc(out, '}');
	return 0;
}

int fs_list_node(struct dbconn *c, const struct fs_attr *dir, const char *label,
		 json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT " NODE_COLS ", name FROM nodes WHERE parent = ? ORDER BY name "
			  "LIMIT 10000",
			  "i", dir->id);
	if (rc)
		return rc;
	json_t *items = json_array();
	while ((rc = db_step(st, e)) == 1) {
		struct fs_attr a;
		node_read(st, &a);
		json_t *o = json_pack("{s:s,s:s,s:I}", "name", db_text(st, 10), "type",
				      a.is_dir ? "directory" : "file", "size",
				      (json_int_t)(a.is_dir ? 0 : a.size));
		json_object_set_new(o, "sha256", a.is_dir ? json_null() : json_string(a.sha256));
		json_set_time_ms(o, "modified_at", a.mtime_ms);
		json_array_append_new(items, o);
	}
	db_done(st);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:s,s:o}", "path", label, "items", items);
	return 0;
}

int fs_children(struct dbconn *c, int64_t dir, const char *after,
		struct fs_child *out, int max, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT n.id, n.parent, n.is_dir, n.mode, n.uid, n.gid, n.size, "
			  "n.sha256, n.mtime_ms, n.ctime_ms, n.name, u.username, g.name "
			  "FROM nodes n LEFT JOIN users u ON u.uid = n.uid LEFT JOIN groups g "
			  "ON g.gid = n.gid WHERE n.parent = ? AND n.name > ? ORDER BY n.name "
			  "LIMIT ?",
			  "isi", dir, after, (int64_t)max);
	if (rc)
		return rc;
	int n = 0;
	while (n < max && (rc = db_step(st, e)) == 1) {
		struct fs_child *ch = &out[n++];
		node_read(st, &ch->a);
		const char *name = db_text(st, 10), *u = db_text(st, 11), *g = db_text(st, 12);
		snprintf(ch->name, sizeof(ch->name), "%s", name ? name : "");
		snprintf(ch->owner, sizeof(ch->owner), "%s", u ? u : "");
		snprintf(ch->group, sizeof(ch->group), "%s", g ? g : "");
	}
	db_done(st);
	return rc < 0 ? rc : n;
}

void fs_owner_names(struct dbconn *c, const struct fs_attr *a, char owner[40],
		    char group[40])
{
	struct stmt *st;
	owner[0] = group[0] = '\0';
	if (db_query(c, &st, NULL,
		     "SELECT (SELECT username FROM users WHERE uid = ?), "
		     "(SELECT name FROM groups WHERE gid = ?)",
		     "ii", a->uid, a->gid))
		return;
	if (db_step(st, NULL) == 1) {
		const char *u = db_text(st, 0), *g = db_text(st, 1);
		snprintf(owner, 40, "%s", u ? u : "");
		snprintf(group, 40, "%s", g ? g : "");
	}
	db_done(st);
}

int fs_node_name(struct dbconn *c, int64_t id, char out[FS_NAME_MAX + 1], struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT name FROM nodes WHERE id = ?", "i", id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == 1)
		snprintf(out, FS_NAME_MAX + 1, "%s", db_text(st, 0) ? db_text(st, 0) : "");
	db_done(st);
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such file or directory");
	return rc < 0 ? rc : 0;
}

int fs_node_get(struct dbconn *c, int64_t id, struct fs_attr *a, struct err *e)
{
	return node_by_id(c, id, a, e);
}

/* ---- quota scopes ------------------------------------------------------------ */

struct scope {
	char key[80];
	int64_t limit; /* 0 = unlimited */
};

/* The scope a file at path owned by uid counts against. */
static void scope_of(struct dbconn *c, const char *path, int64_t uid,
		     struct scope *s)
{
	s->limit = 0;
	const char *rest = NULL;
	const char *sql = NULL;
	if (str_has_prefix(path, "/projects/")) {
		rest = path + 10;
		sql = "SELECT quota_storage_bytes FROM projects WHERE name = ?";
		snprintf(s->key, sizeof(s->key), "project:");
	} else if (str_has_prefix(path, "/volumes/")) {
		rest = path + 9;
		sql = "SELECT capacity_bytes FROM volumes WHERE name = ?";
		snprintf(s->key, sizeof(s->key), "volume:");
	}
	if (rest) {
		const char *slash = strchr(rest, '/');
		size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
		if (len > 64)
			len = 64;
		char name[65];
		memcpy(name, rest, len);
		name[len] = '\0';
		strncat(s->key, name, sizeof(s->key) - strlen(s->key) - 1);
		db_query_int(c, NULL, &s->limit, sql, "s", name);
		return;
	}
	snprintf(s->key, sizeof(s->key), "user:%lld", (long long)uid);
	db_query_int(c, NULL, &s->limit,
		     "SELECT quota_storage_bytes FROM users WHERE uid = ?", "i", uid);
}

static int usage_add(struct dbconn *c, const struct scope *s, int64_t delta,
		     struct err *e)
{
	if (!delta)
		return 0;
	int rc = db_exec(c, e,
			 "INSERT INTO usage(scope, bytes) VALUES (?, ?) ON CONFLICT(scope) "
			 "DO UPDATE SET bytes = bytes + excluded.bytes",
			 "si", s->key, delta);
	return rc < 0 ? rc : 0;
}

static int64_t usage_of(struct dbconn *c, const char *key)
{
	int64_t v = 0;
	db_query_int(c, NULL, &v, "SELECT bytes FROM usage WHERE scope = ?", "s", key);
	return v;
}

/* Bytes that may still be added in scope s (INT64_MAX if unlimited). */
static int64_t scope_room(struct dbconn *c, const struct scope *s)
{
	if (s->limit <= 0)
		return INT64_MAX;
	int64_t room = s->limit - usage_of(c, s->key);
	return room < 0 ? 0 : room;
}

static int quota_refuse(struct dbconn *c, struct err *e, const struct scope *s)
{
	return err_set(e, COVE_ETOOBIG,
		       "quota exceeded: %s allows %lld bytes and has %lld in use",
		       s->key, (long long)s->limit, (long long)usage_of(c, s->key));
}

/* ---- blob references ----------------------------------------------------------- */

static int blob_ref(struct dbconn *c, const char *sha, int64_t size, int delta,
		    struct err *e)
{
	int rc = db_exec(c, e,
			 "INSERT INTO blobs(sha256, size, refs, created_at) VALUES "
			 "(?, ?, ?, ?) ON CONFLICT(sha256) DO UPDATE SET refs = refs + "
			 "excluded.refs",
			 "siii", sha, size, (int64_t)delta, time_now());
	return rc < 0 ? rc : 0;
}

int files_blob_ref(struct dbconn *c, const char *sha, int64_t size, int delta,
		   struct err *e)
{
	return blob_ref(c, sha, size, delta, e);
}

/* ---- create ------------------------------------------------------------------- */

static int node_insert(struct dbconn *c, int64_t parent, const char *name,
		       int is_dir, unsigned mode, int64_t uid, int64_t gid,
		       int64_t size, const char *sha, int64_t *id, struct err *e)
{
	int64_t now = time_now_ms();
	int rc = db_exec(c, e,
			 "INSERT INTO nodes(parent, name, is_dir, mode, uid, gid, size, "
			 "sha256, mtime_ms, ctime_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 "isiiiiisii", parent, name, (int64_t)is_dir, (int64_t)mode, uid,
			 gid, size, sha, now, now);
	if (rc == COVE_EEXIST)
		return err_set(e, COVE_EEXIST, "'%.200s' already exists", name);
	if (rc < 0)
		return rc;
	if (id)
		*id = db_last_id(c);
	db_exec(c, NULL, "UPDATE nodes SET mtime_ms = ? WHERE id = ?", "ii", now, parent);
	return 0;
}

/* Make one directory; caller holds a transaction. */
static int mkdir_one(struct dbconn *c, const struct fs_cred *cr, const char *path,
		     int mode, struct fs_attr *out, struct err *e)
{
	struct fs_attr parent, existing;
	char *name = NULL;
	int rc = resolve_parent(c, cr, path, &parent, &name, e);
	if (rc)
		return rc;
	rc = node_child(c, parent.id, name, &existing, e);
	if (rc != 0) {
		if (rc > 0)
			rc = err_set(e, COVE_EEXIST, "'%.200s' already exists", path);
		goto out;
	}
	if (!perm_may(cr, &parent, PERM_W | PERM_X)) {
		rc = denied(e, "cannot create in", path);
		goto out;
	}
	unsigned m = perm_create_mode(&parent, 1, mode < 0 ? 0777 : (unsigned)mode,
				      mode < 0 ? cr->umask : 0);
	int64_t gid = perm_create_gid(&parent, cr->gid);
	int64_t id;
	if ((rc = node_insert(c, parent.id, name, 1, m, cr->uid, gid, 0, NULL, &id, e)))
		goto out;
	if (out)
		rc = node_by_id(c, id, out, e);
out:
	free(name);
	return rc;
}

int fs_mkdir(struct dbconn *c, const struct fs_cred *cr, const char *path,
	     int mode, int parents, struct fs_attr *out, struct err *e)
{
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	if (!parents) {
		rc = mkdir_one(c, cr, path, mode, out, e);
	} else {
		/* Like mkdir -p: make each missing ancestor; existing directories
		 * are fine. */
		struct buf prefix = {0};
		const char *p = path + 1;
		while (!rc && *p) {
			const char *end = strchr(p, '/');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			buf_addc(&prefix, '/');
			buf_add(&prefix, p, len);
			struct fs_attr a;
			struct err le = {0};
			int r = fs_resolve(c, cr, prefix.data, &a, &le);
			if (r == COVE_ENOENT)
				rc = mkdir_one(c, cr, prefix.data, mode, &a, e);
			else if (r)
				rc = err_set(e, r, "%s", le.msg);
			else if (!a.is_dir)
				rc = err_set(e, COVE_EEXIST, "'%.200s' exists and is not a directory",
					     prefix.data);
			if (!rc && out)
				*out = a;
			p += len;
			while (*p == '/')
				p++;
		}
		buf_free(&prefix);
	}
	if (rc) {
		db_rollback(c);
		return rc;
	}
	return db_commit(c, e);
}

/* ---- remove -------------------------------------------------------------------- */

/* Remove node a (named path) and, when recursive, everything under it,
 * checking permissions as rm -r would. Caller holds a transaction. */
static int remove_node(struct dbconn *c, const struct fs_cred *cr,
		       const struct fs_attr *a, const char *path, int recursive,
		       struct err *e)
{
	int rc;
	if (a->is_dir) {
		int64_t n = 0;
		db_query_int(c, NULL, &n, "SELECT count(*) FROM nodes WHERE parent = ?", "i",
			     a->id);
		if (n > 0 && !recursive)
			return err_set(e, COVE_ECONFLICT, "directory not empty: '%.200s'", path);
		if (n > 0) {
			if (!perm_may(cr, a, PERM_R | PERM_W | PERM_X))
				return denied(e, "cannot remove entries of", path);
			struct stmt *st;
			if ((rc = db_query(c, &st, e,
					   "SELECT " NODE_COLS ", name FROM nodes WHERE parent = ?",
					   "i", a->id)))
				return rc;
			int cap = 16, k = 0;
			struct fs_attr *kids = xmalloc(sizeof(*kids) * (size_t)cap);
			char **names = xmalloc(sizeof(*names) * (size_t)cap);
			while ((rc = db_step(st, e)) == 1) {
				if (k == cap) {
					cap *= 2;
					kids = xrealloc(kids, sizeof(*kids) * (size_t)cap);
					names = xrealloc(names, sizeof(*names) * (size_t)cap);
				}
				node_read(st, &kids[k]);
				names[k++] = xstrdup(db_text(st, 10));
			}
			db_done(st);
			for (int i = 0; i < k; i++) {
				if (rc >= 0) {
					char *sub = xasprintf("%s/%s", path, names[i]);
					if (!perm_may_unlink(cr, a, &kids[i]))
						rc = denied(e, "cannot remove", sub);
					else
						rc = remove_node(c, cr, &kids[i], sub, 1, e);
					free(sub);
				}
				free(names[i]);
			}
			free(kids);
			free(names);
			if (rc < 0)
				return rc;
		}
	} else {
		struct scope s;
		scope_of(c, path, a->uid, &s);
		if ((rc = usage_add(c, &s, -a->size, e)) ||
		    (rc = blob_ref(c, a->sha256, a->size, -1, e)))
			return rc;
	}
	rc = db_exec(c, e, "DELETE FROM nodes WHERE id = ?", "i", a->id);
	if (rc < 0)
		return rc;
	db_exec(c, NULL, "DELETE FROM shares WHERE node = ?", "i", a->id);
	db_exec(c, NULL, "UPDATE nodes SET mtime_ms = ? WHERE id = ?", "ii",
		time_now_ms(), a->parent);
	return 0;
}

int fs_remove(struct files *f, struct dbconn *c, const struct fs_cred *cr,
	      const char *path, int recursive, struct err *e)
{
	(void)f;
	struct fs_attr parent, a;
	char *name = NULL;
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	if ((rc = resolve_parent(c, cr, path, &parent, &name, e)))
		goto out;
	rc = node_child(c, parent.id, name, &a, e);
	if (rc <= 0) {
		if (rc == 0)
			rc = err_set(e, COVE_ENOENT, "no such file or directory: '%.200s'", path);
		goto out;
	}
	if (!perm_may_unlink(cr, &parent, &a)) {
		rc = denied(e, "cannot remove", path);
		goto out;
	}
	rc = remove_node(c, cr, &a, path, recursive, e);
out:
	free(name);
	if (rc < 0) {
		db_rollback(c);
		return rc;
	}
	return db_commit(c, e);
}

/* ---- chmod, chown --------------------------------------------------------------- */

/* Apply fn to a and (when recursive) everything below it. */
typedef int (*node_fn)(struct dbconn *c, const struct fs_cred *cr,
		       const struct fs_attr *a, const char *path, void *arg,
		       struct err *e);

static int walk(struct dbconn *c, const struct fs_cred *cr, const struct fs_attr *a,
		const char *path, int recursive, node_fn fn, void *arg, struct err *e)
{
	int rc = fn(c, cr, a, path, arg, e);
	if (rc || !recursive || !a->is_dir)
		return rc;
	struct fs_attr self;
	if ((rc = node_by_id(c, a->id, &self, e)))
		return rc;
	if (!perm_may(cr, &self, PERM_R | PERM_X))
		return denied(e, "cannot descend into", path);
	struct stmt *st;
	if ((rc = db_query(c, &st, e,
			   "SELECT " NODE_COLS ", name FROM nodes WHERE parent = ?", "i",
			   a->id)))
		return rc;
	int cap = 16, k = 0;
	struct fs_attr *kids = xmalloc(sizeof(*kids) * (size_t)cap);
	char **names = xmalloc(sizeof(*names) * (size_t)cap);
	while ((rc = db_step(st, e)) == 1) {
		if (k == cap) {
			cap *= 2;
			kids = xrealloc(kids, sizeof(*kids) * (size_t)cap);
			names = xrealloc(names, sizeof(*names) * (size_t)cap);
		}
		node_read(st, &kids[k]);
		names[k++] = xstrdup(db_text(st, 10));
	}
	db_done(st);
	for (int i = 0; i < k; i++) {
		if (rc >= 0) {
			char *sub = xasprintf("%s/%s", strcmp(path, "/") ? path : "", names[i]);
			rc = walk(c, cr, &kids[i], sub, 1, fn, arg, e);
			free(sub);
		}
		free(names[i]);
	}
	free(kids);
	free(names);
	return rc < 0 ? rc : 0;
}

struct walk_ctx {
	const char *root; /* path of the walk's start, for relative names */
	int (*fn)(void *ctx, const char *rel, const struct fs_attr *a);
	void *ctx;
};

static int walk_cb(struct dbconn *c, const struct fs_cred *cr,
		   const struct fs_attr *a, const char *path, void *arg,
		   struct err *e)
{
	struct walk_ctx *w = arg;
	size_t n = strlen(w->root);
	if (!strcmp(path, w->root))
		return 0; /* the start itself */
	const char *rel = path + n + (path[n] == '/');
	int rc = w->fn(w->ctx, rel, a);
	return rc ? err_set(e, rc < 0 ? rc : COVE_EINTERNAL, "walk of '%.200s' stopped at '%.200s'",
			    w->root, rel)
		  : 0;
}

int fs_walk(struct dbconn *c, const struct fs_cred *cr, const struct fs_attr *dir,
	    int (*fn)(void *ctx, const char *rel, const struct fs_attr *a),
	    void *ctx, struct err *e)
{
	struct walk_ctx w = {.root = "/.walk", .fn = fn, .ctx = ctx};
	return walk(c, cr, dir, w.root, 1, walk_cb, &w, e);
}

void fs_cred_free(struct fs_cred *cr)
{
	if (!cr)
		return;
	free(cr->gids);
	cr->gids = NULL;
	cr->ngids = 0;
}

char *files_blob_host_path(struct files *f, const char *sha256)
{
	char *path = store_path(&f->store, sha256);
	/* world-readable: the blob directory itself stays private (0700) */
	chmod(path, 0444);
	return path;
}

static int chmod_fn(struct dbconn *c, const struct fs_cred *cr,
		    const struct fs_attr *a, const char *path, void *arg,
		    struct err *e)
{
	if (!perm_may_chmod(cr, a))
		return err_set(e, COVE_EPERM,
			       "permission denied: only the owner may change the mode of '%.200s'",
			       path);
	unsigned want;
	if (fs_mode_apply(arg, a->mode, a->is_dir, &want))
		return err_set(e, COVE_EINVAL, "mode must be octal (0640) or symbolic (u+x,g-w)");
	unsigned mode = perm_chmod_result(cr, a, want);
	int rc = db_exec(c, e, "UPDATE nodes SET mode = ?, ctime_ms = ctime_ms WHERE id = ?",
			 "ii", (int64_t)mode, a->id);
	return rc < 0 ? rc : 0;
}

int fs_chmod(struct dbconn *c, const struct fs_cred *cr, const char *path,
	     const char *spec, int recursive, struct err *e)
{
	unsigned probe;
	if (fs_mode_apply(spec, 0, 0, &probe))
		return err_set(e, COVE_EINVAL, "mode must be octal (0640) or symbolic (u+x,g-w)");
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	struct fs_attr a;
	if ((rc = fs_resolve(c, cr, path, &a, e)) == 0)
		rc = walk(c, cr, &a, path, recursive, chmod_fn, (void *)spec, e);
	if (rc) {
		db_rollback(c);
		return rc;
	}
	return db_commit(c, e);
}

struct chown_arg {
	int64_t uid, gid;
};

static int chown_fn(struct dbconn *c, const struct fs_cred *cr,
		    const struct fs_attr *a, const char *path, void *arg,
		    struct err *e)
{
	struct chown_arg *ca = arg;
	if (!perm_may_chown(cr, a, ca->uid, ca->gid)) {
		if (ca->uid >= 0 && ca->uid != a->uid)
			return err_set(e, COVE_EPERM,
				       "permission denied: only an administrator may give "
				       "'%.200s' to another user", path);
		return err_set(e, COVE_EPERM,
			       "permission denied: only the owner may change the group of "
			       "'%.200s', to a group they belong to", path);
	}
	int64_t uid = ca->uid >= 0 ? ca->uid : a->uid;
	int64_t gid = ca->gid >= 0 ? ca->gid : a->gid;
	unsigned mode = perm_chown_mode(a);
	int rc;
	if (!a->is_dir && uid != a->uid) {
		struct scope from, to;
		scope_of(c, path, a->uid, &from);
		scope_of(c, path, uid, &to);
		if (strcmp(from.key, to.key)) {
			if (a->size > scope_room(c, &to))
				return quota_refuse(c, e, &to);
			if ((rc = usage_add(c, &from, -a->size, e)) ||
			    (rc = usage_add(c, &to, a->size, e)))
				return rc;
		}
	}
	rc = db_exec(c, e, "UPDATE nodes SET uid = ?, gid = ?, mode = ? WHERE id = ?",
		     "iiii", uid, gid, (int64_t)mode, a->id);
	return rc < 0 ? rc : 0;
}

int fs_chown(struct dbconn *c, const struct fs_cred *cr, const char *path,
	     int64_t uid, int64_t gid, int recursive, struct err *e)
{
	struct chown_arg ca = {uid, gid};
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	struct fs_attr a;
	if ((rc = fs_resolve(c, cr, path, &a, e)) == 0)
		rc = walk(c, cr, &a, path, recursive, chown_fn, &ca, e);
	if (rc) {
		db_rollback(c);
		return rc;
	}
	return db_commit(c, e);
}

/* ---- move and copy --------------------------------------------------------------- */

static int64_t subtree_bytes(struct dbconn *c, int64_t id)
{
	int64_t v = 0;
	db_query_int(c, NULL, &v,
		     "WITH RECURSIVE t(id) AS (SELECT ? UNION ALL SELECT n.id FROM "
		     "nodes n JOIN t ON n.parent = t.id) SELECT coalesce(sum(size), 0) "
		     "FROM nodes WHERE id IN t AND is_dir = 0",
		     "i", id);
	return v;
}

static int scopes_of_subtree_same(struct dbconn *c, const char *from, const char *to)
{
	struct scope a, b;
	scope_of(c, from, -1, &a);
	scope_of(c, to, -1, &b);
	/* Two user-scoped areas keep their owners: usage does not move. */
	if (str_has_prefix(a.key, "user:") && str_has_prefix(b.key, "user:"))
		return 1;
	return !strcmp(a.key, b.key);
}

int fs_move(struct files *f, struct dbconn *c, const struct fs_cred *cr,
	    const char *from, const char *to, struct err *e)
{
	(void)f;
	struct fs_attr sp, dp, a, existing;
	char *sname = NULL, *dname = NULL;
	size_t fl = strlen(from);
	if (!strcmp(from, to))
		return 0;
	if (!strncmp(to, from, fl) && to[fl] == '/')
		return err_set(e, COVE_EINVAL, "cannot move a directory into itself");
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	if ((rc = resolve_parent(c, cr, from, &sp, &sname, e)) ||
	    (rc = resolve_parent(c, cr, to, &dp, &dname, e)))
		goto out;
	if ((rc = node_child(c, sp.id, sname, &a, e)) <= 0) {
		if (rc == 0)
			rc = err_set(e, COVE_ENOENT, "no such file or directory: '%.200s'", from);
		goto out;
	}
	if (!perm_may_unlink(cr, &sp, &a)) {
		rc = denied(e, "cannot move", from);
		goto out;
	}
	if (!perm_may(cr, &dp, PERM_W | PERM_X)) {
		rc = denied(e, "cannot create in", to);
		goto out;
	}
	/* A directory changing parent rewrites its "..": needs write on it. */
	if (a.is_dir && sp.id != dp.id && !perm_may(cr, &a, PERM_W)) {
		rc = denied(e, "cannot move directory", from);
		goto out;
	}
	rc = node_child(c, dp.id, dname, &existing, e);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		if (!perm_may_unlink(cr, &dp, &existing)) {
			rc = denied(e, "cannot replace", to);
			goto out;
		}
		if (existing.is_dir != a.is_dir) {
			rc = err_set(e, COVE_ECONFLICT, "'%.200s' exists and is %s", to,
				     existing.is_dir ? "a directory" : "not a directory");
			goto out;
		}
		if ((rc = remove_node(c, cr, &existing, to, 0, e)))
			goto out;
	}
	if (!scopes_of_subtree_same(c, from, to)) {
		struct scope sf, st_;
		scope_of(c, from, a.uid, &sf);
		scope_of(c, to, a.uid, &st_);
		int64_t bytes = a.is_dir ? subtree_bytes(c, a.id) : a.size;
		if (bytes > scope_room(c, &st_)) {
			rc = quota_refuse(c, e, &st_);
			goto out;
		}
		if ((rc = usage_add(c, &sf, -bytes, e)) || (rc = usage_add(c, &st_, bytes, e)))
			goto out;
	}
	int64_t now = time_now_ms();
	rc = db_exec(c, e, "UPDATE nodes SET parent = ?, name = ?, ctime_ms = ctime_ms WHERE id = ?",
		     "isi", dp.id, dname, a.id);
	if (rc >= 0) {
		db_exec(c, NULL, "UPDATE nodes SET mtime_ms = ? WHERE id IN (?, ?)", "iii",
			now, sp.id, dp.id);
		rc = 0;
	}
out:
	free(sname);
	free(dname);
	if (rc < 0) {
		db_rollback(c);
		return rc;
	}
	return db_commit(c, e);
}

/* Copy node a (readable) as name under parent dst. Caller holds a
 * transaction. Files share their blob: a copy costs no bytes on disk. */
static int copy_node(struct dbconn *c, const struct fs_cred *cr,
		     const struct fs_attr *a, const char *from,
		     const struct fs_attr *dst, const char *dst_path,
		     const char *name, int recursive, struct err *e)
{
	if (!perm_may(cr, a, a->is_dir ? PERM_R | PERM_X : PERM_R))
		return denied(e, "cannot read", from);
	if (a->is_dir && !recursive)
		return err_set(e, COVE_EINVAL, "'%.200s' is a directory (copy it recursively)",
			       from);
	unsigned mode = perm_create_mode(dst, a->is_dir, a->mode & 0777, cr->umask);
	int64_t gid = perm_create_gid(dst, cr->gid);
	int64_t id;
	int rc;
	if (!a->is_dir) {
		struct scope s;
		scope_of(c, dst_path, cr->uid, &s);
		if (a->size > scope_room(c, &s))
			return quota_refuse(c, e, &s);
		if ((rc = usage_add(c, &s, a->size, e)) ||
		    (rc = blob_ref(c, a->sha256, a->size, 1, e)))
			return rc;
	}
	if ((rc = node_insert(c, dst->id, name, a->is_dir, mode, cr->uid, gid,
			      a->is_dir ? 0 : a->size, a->is_dir ? NULL : a->sha256, &id, e)))
		return rc;
	if (!a->is_dir)
		return 0;
	struct fs_attr self;
	if ((rc = node_by_id(c, id, &self, e)))
		return rc;
	struct stmt *st;
	if ((rc = db_query(c, &st, e, "SELECT " NODE_COLS ", name FROM nodes WHERE parent = ?",
			   "i", a->id)))
		return rc;
	int cap = 16, k = 0;
	struct fs_attr *kids = xmalloc(sizeof(*kids) * (size_t)cap);
	char **names = xmalloc(sizeof(*names) * (size_t)cap);
	while ((rc = db_step(st, e)) == 1) {
		if (k == cap) {
			cap *= 2;
			kids = xrealloc(kids, sizeof(*kids) * (size_t)cap);
			names = xrealloc(names, sizeof(*names) * (size_t)cap);
		}
		node_read(st, &kids[k]);
		names[k++] = xstrdup(db_text(st, 10));
	}
	db_done(st);
	for (int i = 0; i < k; i++) {
		if (rc >= 0) {
			char *sf = xasprintf("%s/%s", from, names[i]);
			char *sd = xasprintf("%s/%s", dst_path, name);
			rc = copy_node(c, cr, &kids[i], sf, &self, sd, names[i], 1, e);
			free(sf);
			free(sd);
		}
		free(names[i]);
	}
	free(kids);
	free(names);
	return rc < 0 ? rc : 0;
}

int fs_copy(struct dbconn *c, const struct fs_cred *cr, const char *from,
	    const char *to, int recursive, struct err *e)
{
	size_t fl = strlen(from);
	if (!strncmp(to, from, fl) && (to[fl] == '/' || to[fl] == '\0'))
		return err_set(e, COVE_EINVAL, "cannot copy a directory into itself");
	struct fs_attr a, dp, existing;
	char *dname = NULL, *dparent = NULL, *tmp = NULL;
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	if ((rc = fs_resolve(c, cr, from, &a, e)) ||
	    (rc = resolve_parent(c, cr, to, &dp, &dname, e)))
		goto out;
	if (!perm_may(cr, &dp, PERM_W | PERM_X)) {
		rc = denied(e, "cannot create in", to);
		goto out;
	}
	if ((rc = node_child(c, dp.id, dname, &existing, e)) != 0) {
		if (rc > 0)
			rc = err_set(e, COVE_EEXIST, "'%.200s' already exists", to);
		goto out;
	}
	fs_path_split(to, &dparent, &tmp);
	rc = copy_node(c, cr, &a, from, &dp, dparent, dname, recursive, e);
out:
	free(dname);
	free(dparent);
	free(tmp);
	if (rc < 0) {
		db_rollback(c);
		return rc;
	}
	return db_commit(c, e);
}

/* ---- uploads ------------------------------------------------------------------------ */

int fs_upload_begin(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		    const char *path, int64_t length, int mode,
		    struct fs_upload **out, struct err *e)
{
	struct fs_upload *u = xcalloc(1, sizeof(*u));
	int rc = fs_upload_check(c, cr, path, length, &u->room, e);
	if (rc || (rc = store_writer_open(&f->store, &u->w, e))) {
		free(u);
		return rc;
	}
	u->path = xstrdup(path);
	u->cr = *cr;
	u->cr.gids = NULL; /* copied below: the caller frees its own */
	if (cr->ngids) {
		u->cr.gids = xmalloc(sizeof(int64_t) * (size_t)cr->ngids);
		memcpy(u->cr.gids, cr->gids, sizeof(int64_t) * (size_t)cr->ngids);
	}
	u->mode = mode;
	*out = u;
	return 0;
}

int fs_upload_data(struct fs_upload *u, const void *data, size_t len, struct err *e)
{
	if ((int64_t)len > u->room - store_writer_size(u->w))
		return err_set(e, COVE_ETOOBIG,
			       "quota exceeded: the upload is larger than the %lld bytes left",
			       (long long)u->room);
	return store_writer_write(u->w, data, len, e);
}

void fs_upload_abort(struct fs_upload *u)
{
	if (!u)
		return;
	store_writer_abort(u->w);
	free(u->path);
	free(u->cr.gids);
	free(u);
}

/* Make stored bytes (sha, size) the content of path: create the file or
 * replace the one there, with its accounting. The parent is found again
 * here, under the write lock: the tree may have changed while the bytes
 * were arriving (a concurrent upload of the same path wins or loses whole,
 * never half). Caller holds a transaction (or a savepoint in one). */
static int commit_blob_tx(struct dbconn *c, const struct fs_cred *cr, const char *path,
			  int mode, const char *sha, int64_t size, int64_t *id_out,
			  struct err *e)
{
	struct fs_attr parent, existing;
	char *name = NULL;
	int rc = resolve_parent(c, cr, path, &parent, &name, e);
	if (rc)
		return rc;
	struct scope s;
	rc = node_child(c, parent.id, name, &existing, e);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		if (existing.is_dir) {
			rc = err_set(e, COVE_ECONFLICT, "'%.200s' is a directory", path);
			goto out;
		}
		if (!perm_may(cr, &existing, PERM_W)) {
			rc = denied(e, "cannot write", path);
			goto out;
		}
		scope_of(c, path, existing.uid, &s);
		if (size - existing.size > scope_room(c, &s)) {
			rc = quota_refuse(c, e, &s);
			goto out;
		}
		if ((rc = usage_add(c, &s, size - existing.size, e)) ||
		    (rc = blob_ref(c, existing.sha256, existing.size, -1, e)) ||
		    (rc = blob_ref(c, sha, size, 1, e)))
			goto out;
		rc = db_exec(c, e, "UPDATE nodes SET size = ?, sha256 = ?, mtime_ms = ? WHERE id = ?",
			     "isii", size, sha, time_now_ms(), existing.id);
		if (rc < 0)
			goto out;
		*id_out = existing.id;
		rc = 0;
	} else {
		if (!perm_may(cr, &parent, PERM_W | PERM_X)) {
			rc = denied(e, "cannot create in", path);
			goto out;
		}
		scope_of(c, path, cr->uid, &s);
		if (size > scope_room(c, &s)) {
			rc = quota_refuse(c, e, &s);
			goto out;
		}
		unsigned m = perm_create_mode(&parent, 0, mode < 0 ? 0666 : (unsigned)mode,
					      mode < 0 ? cr->umask : 0);
		int64_t gid = perm_create_gid(&parent, cr->gid);
		if ((rc = usage_add(c, &s, size, e)) || (rc = blob_ref(c, sha, size, 1, e)))
			goto out;
		rc = node_insert(c, parent.id, name, 0, m, cr->uid, gid, size, sha, id_out, e);
	}
out:
	free(name);
	return rc < 0 ? rc : 0;
}

/* Uploads that finish at about the same time commit their metadata
 * together: one WAL fsync for many (db_batch_run). */
struct commit_req {
	const struct fs_cred *cr;
	const char *path;
	int mode;
	const char *sha;
	int64_t size;
	int64_t id;
};

static int commit_fn(struct dbconn *c, void *arg, struct err *e)
{
	struct commit_req *q = arg;
	return commit_blob_tx(c, q->cr, q->path, q->mode, q->sha, q->size, &q->id, e);
}

static int commit_blob(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		       const char *path, int mode, const char *sha, int64_t size,
		       int64_t *id_out, struct err *e)
{
	struct commit_req r = {.cr = cr, .path = path, .mode = mode, .sha = sha, .size = size};
	int rc = db_batch_run(f->batch, c, commit_fn, &r, e);
	if (!rc)
		*id_out = r.id;
	return rc;
}

int fs_upload_commit(struct files *f, struct dbconn *c, struct fs_upload *u,
		     struct fs_attr *out, struct err *e)
{
	char sha[65];
	int64_t size, id;
	/* Bytes first: durable before any metadata points at them. */
	int rc = store_writer_finish(&f->store, u->w, sha, &size, e);
	u->w = NULL;
	if (!rc)
		rc = commit_blob(f, c, &u->cr, u->path, u->mode, sha, size, &id, e);
	if (!rc && out)
		rc = node_by_id(c, id, out, e);
	fs_upload_abort(u);
	return rc;
}

int fs_commit_file(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		   const char *path, int mode, const char *part,
		   const struct sha256_ctx *state, int64_t known_size, struct fs_attr *out,
		   struct err *e)
{
	char sha[65];
	int64_t size = known_size, id;
	int rc = state ? store_adopt_hashed(&f->store, part, state, known_size, sha, e)
		       : store_adopt(&f->store, part, sha, &size, e);
	if (!rc)
		rc = commit_blob(f, c, cr, path, mode, sha, size, &id, e);
	if (!rc && out)
		rc = node_by_id(c, id, out, e);
	return rc;
}

int fs_upload_check(struct dbconn *c, const struct fs_cred *cr, const char *path,
		    int64_t length, int64_t *room, struct err *e)
{
	struct fs_attr parent, existing;
	char *name = NULL;
	int rc = resolve_parent(c, cr, path, &parent, &name, e);
	if (rc)
		return rc;
	rc = node_child(c, parent.id, name, &existing, e);
	free(name);
	if (rc < 0)
		return rc;
	int64_t old = 0;
	if (rc == 1) {
		if (existing.is_dir)
			return err_set(e, COVE_ECONFLICT, "'%.200s' is a directory", path);
		if (!perm_may(cr, &existing, PERM_W))
			return denied(e, "cannot write", path);
		old = existing.size;
	} else if (!perm_may(cr, &parent, PERM_W | PERM_X)) {
		return denied(e, "cannot create in", path);
	}
	struct scope s;
	scope_of(c, path, rc == 1 ? existing.uid : cr->uid, &s);
	*room = scope_room(c, &s);
	if (*room != INT64_MAX)
		*room += old;
	if (length >= 0 && length > *room)
		return err_set(e, COVE_ETOOBIG,
			       "quota exceeded: %lld bytes do not fit in the %lld left in %s",
			       (long long)length, (long long)*room, s.key);
	return 0;
}

int fs_open_attr(struct files *f, const struct fs_attr *a, struct err *e)
{
	if (a->is_dir)
		return err_set(e, COVE_EINVAL, "that is a directory");
	return store_open_read(&f->store, a->sha256, NULL, e);
}

int fs_open(struct files *f, struct dbconn *c, const struct fs_cred *cr,
	    const char *path, struct fs_attr *a, struct err *e)
{
	int rc = fs_resolve(c, cr, path, a, e);
	if (rc)
		return rc;
	if (a->is_dir)
		return err_set(e, COVE_EINVAL, "'%.200s' is a directory", path);
	if (!perm_may(cr, a, PERM_R))
		return denied(e, "cannot read", path);
	return store_open_read(&f->store, a->sha256, NULL, e);
}

/* ---- areas made with users and projects ------------------------------------------------ */

int fs_home_create(struct files *f, struct dbconn *c, const char *name,
		   int64_t uid, int64_t gid, struct err *e)
{
	struct fs_attr home, existing;
	int rc = node_child(c, ROOT_ID, "home", &home, e);
	if (rc <= 0)
		return rc < 0 ? rc : err_set(e, COVE_EIO, "/home is missing");
	rc = node_child(c, home.id, name, &existing, e);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return err_set(e, COVE_EEXIST,
			       "/home/%s already exists (left by an earlier user of that name)",
			       name);
	return node_insert(c, home.id, name, 1, f->home_mode, uid, gid, 0, NULL, NULL, e);
}

int fs_project_create(struct dbconn *c, const char *name, int64_t gid, struct err *e)
{
	struct fs_attr projects, existing;
	int rc = node_child(c, ROOT_ID, "projects", &projects, e);
	if (rc <= 0)
		return rc < 0 ? rc : err_set(e, COVE_EIO, "/projects is missing");
	rc = node_child(c, projects.id, name, &existing, e);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return err_set(e, COVE_EEXIST, "/projects/%s already exists", name);
	return node_insert(c, projects.id, name, 1, 02770, 0, gid, 0, NULL, NULL, e);
}

int fs_area_remove(struct files *f, struct dbconn *c, const char *path, struct err *e)
{
	(void)f;
	struct fs_cred root = {.uid = 0, .gid = 0, .admin = 1};
	struct fs_attr a;
	int rc = fs_resolve(c, &root, path, &a, e);
	if (rc == COVE_ENOENT)
		return 0;
	if (rc)
		return rc;
	int64_t n = 0;
	db_query_int(c, NULL, &n, "SELECT count(*) FROM nodes WHERE parent = ?", "i", a.id);
	if (n > 0)
		return err_set(e, COVE_ECONFLICT,
			       "%s still holds files: remove them first (cove rm -r)", path);
	rc = db_exec(c, e, "DELETE FROM nodes WHERE id = ?", "i", a.id);
	return rc < 0 ? rc : 0;
}

int fs_usage(struct dbconn *c, const struct fs_cred *cr, json_t **out, struct err *e)
{
	json_t *items = json_array();
	struct scope s;
	scope_of(c, "/home", cr->uid, &s);
	json_array_append_new(items, json_pack("{s:s,s:I,s:I}", "scope", s.key, "used",
					       (json_int_t)usage_of(c, s.key), "limit",
					       (json_int_t)s.limit));
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT p.name, p.quota_storage_bytes FROM projects p WHERE ? OR "
			  "EXISTS (SELECT 1 FROM project_members m WHERE m.project = p.name "
			  "AND m.uid = ?) ORDER BY p.name",
			  "ii", (int64_t)cr->admin, cr->uid);
	if (rc) {
		json_decref(items);
		return rc;
	}
	while (db_step(st, e) == 1) {
		char key[80];
		snprintf(key, sizeof(key), "project:%s", db_text(st, 0));
		json_array_append_new(items, json_pack("{s:s,s:I,s:I}", "scope", key, "used",
						       (json_int_t)usage_of(c, key), "limit",
						       (json_int_t)db_int(st, 1)));
	}
	db_done(st);
	if (db_query(c, &st, e, "SELECT name, capacity_bytes FROM volumes ORDER BY name",
		     NULL) == 0) {
		while (db_step(st, e) == 1) {
			char key[80];
			snprintf(key, sizeof(key), "volume:%s", db_text(st, 0));
			json_array_append_new(items, json_pack("{s:s,s:I,s:I}", "scope", key,
							       "used", (json_int_t)usage_of(c, key),
							       "limit", (json_int_t)db_int(st, 1)));
		}
		db_done(st);
	}
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

/* ---- open ------------------------------------------------------------------------ */

int files_open(struct files **out, struct db *db, const char *data_dir,
	       unsigned home_mode, struct err *e)
{
	struct files *f = xcalloc(1, sizeof(*f));
	f->db = db;
	f->home_mode = home_mode;
	pthread_mutex_init(&f->backup_lock, NULL);
	int rc = store_init(&f->store, data_dir, e);
	f->uploads = xasprintf("%s/uploads", data_dir);
	f->batch = db_batcher_new();
	if (!rc && mkdir(f->uploads, 0700) < 0 && errno != EEXIST)
		rc = err_set(e, COVE_EIO, "cannot create %s: %s", f->uploads, strerror(errno));
	if (rc) {
		files_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

void files_close(struct files *f)
{
	if (!f)
		return;
	store_free(&f->store);
	pthread_mutex_destroy(&f->backup_lock);
	db_batcher_free(f->batch);
	free(f->uploads);
	free(f);
}

/* ---- volumes ------------------------------------------------------------------------ */

static json_t *volume_json(struct dbconn *c, const char *name)
{
	struct stmt *st;
	json_t *o = NULL;
	if (db_query(c, &st, NULL, "SELECT name, capacity_bytes, created_at FROM volumes "
				   "WHERE name = ?", "s", name))
		return NULL;
	if (db_step(st, NULL) == 1) {
		char key[80];
		snprintf(key, sizeof(key), "volume:%s", db_text(st, 0));
		o = json_pack("{s:s,s:s,s:I,s:I}", "name", db_text(st, 0), "path", "",
			      "capacity_bytes", (json_int_t)db_int(st, 1), "used_bytes",
			      (json_int_t)usage_of(c, key));
		char *path = xasprintf("/volumes/%s", db_text(st, 0));
		json_object_set_new(o, "path", json_string(path));
		free(path);
		json_set_time(o, "created_at", db_int(st, 2));
	}
	db_done(st);
	return o;
}

int volumes_create(struct dbconn *c, const char *name, int64_t capacity,
		   int64_t gid, json_t **out, struct err *e)
{
	if (capacity < 0)
		return err_set(e, COVE_EINVAL, "capacity_bytes must not be negative");
	size_t n = strlen(name);
	if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return err_set(e, COVE_EINVAL,
			       "volume name must be 1-64 of lowercase letters, digits, '_' and '-'");
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	rc = db_exec(c, e, "INSERT INTO volumes(name, capacity_bytes, created_at) VALUES (?, ?, ?)",
		     "sii", name, capacity, time_now());
	if (rc == COVE_EEXIST)
		err_set(e, COVE_EEXIST, "volume '%s' already exists", name);
	if (rc < 0)
		goto rollback;
	struct fs_attr vols;
	if ((rc = node_by_id(c, 4, &vols, e)) ||
	    (rc = node_insert(c, vols.id, name, 1, gid > 0 ? 02770 : 01777, 0, gid > 0 ? gid : 0,
			      0, NULL, NULL, e)))
		goto rollback;
	if ((rc = db_commit(c, e)))
		return rc;
	*out = volume_json(c, name);
	return 0;
rollback:
	db_rollback(c);
	return rc;
}

int volumes_update(struct dbconn *c, const char *name, int64_t capacity,
		   json_t **out, struct err *e)
{
	if (capacity < 0)
		return err_set(e, COVE_EINVAL, "capacity_bytes must not be negative");
	int rc = db_exec(c, e, "UPDATE volumes SET capacity_bytes = ? WHERE name = ?", "is",
			 capacity, name);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, COVE_ENOENT, "no such volume '%.64s'", name);
	*out = volume_json(c, name);
	return 0;
}

int volumes_delete(struct files *f, struct dbconn *c, const char *name, struct err *e)
{
	int rc = db_begin(c, e);
	if (rc)
		return rc;
	char *path = xasprintf("/volumes/%s", name);
	rc = db_exec(c, e, "DELETE FROM volumes WHERE name = ?", "s", name);
	if (rc == 0)
		rc = err_set(e, COVE_ENOENT, "no such volume '%.64s'", name);
	if (rc >= 0)
		rc = fs_area_remove(f, c, path, e);
	free(path);
	if (rc < 0) {
		db_rollback(c);
		return rc;
	}
	db_exec(c, NULL, "DELETE FROM usage WHERE scope = 'volume:' || ?", "s", name);
	return db_commit(c, e);
}

int volumes_list(struct dbconn *c, json_t **out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e, "SELECT name FROM volumes ORDER BY name", NULL);
	if (rc)
		return rc;
	json_t *names = json_array(), *items = json_array();
	while (db_step(st, e) == 1)
		json_array_append_new(names, json_string(db_text(st, 0)));
	db_done(st);
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		json_t *o = volume_json(c, json_string_value(v));
		if (o)
			json_array_append_new(items, o);
	}
	json_decref(names);
	*out = json_pack("{s:o,s:n}", "items", items, "next_cursor");
	return 0;
}

int files_overview(struct files *f, struct dbconn *c, json_t *out, struct err *e)
{
	struct stmt *st;
	int rc = db_query(c, &st, e,
			  "SELECT v.name, v.capacity_bytes, coalesce(u.bytes, 0) FROM volumes v"
			  " LEFT JOIN usage u ON u.scope = 'volume:' || v.name ORDER BY v.name",
			  NULL);
	if (rc)
		return rc;
	json_t *vols = json_array();
	while ((rc = db_step(st, e)) == 1)
		json_array_append_new(vols, json_pack("{s:s,s:I,s:I}", "name", db_text(st, 0),
						      "capacity", (json_int_t)db_int(st, 1),
						      "used", (json_int_t)db_int(st, 2)));
	db_done(st);
	int64_t bytes = 0;
	if (rc < 0 || (rc = db_query_int(c, e, &bytes,
					 "SELECT value FROM counters WHERE name = 'blob_bytes'",
					 NULL)) < 0) {
		json_decref(vols);
		return rc;
	}
	json_t *disk = json_null();
	struct statvfs sv;
	if (statvfs(f->store.root, &sv) == 0)
		disk = json_pack("{s:I,s:I}", "total",
				 (json_int_t)((uint64_t)sv.f_blocks * sv.f_frsize), "free",
				 (json_int_t)((uint64_t)sv.f_bavail * sv.f_frsize));
	json_object_set_new(out, "storage",
			    json_pack("{s:o,s:I,s:o}", "volumes", vols, "blob_bytes",
				      (json_int_t)bytes, "disk", disk));
	return 0;
}
