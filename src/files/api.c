/*
 * api.c - HTTP handlers of the file space: /v1/fs/{path} (GET bytes, a
 * listing or, with ?archive=, a folder's archive; PUT streams an upload,
 * POST mkdir/copy/move, PATCH mode and ownership, DELETE) and /v1/df.
 * Turns the caller's token identity into file credentials (uid, groups,
 * umask) and requests into ns.c and archive.c calls. Every response with
 * user bytes goes out with reply_user_content (never active content in
 * our origin).
 */
#include "auth/auth.h"
#include "files/files.h"
#include "http/http.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DB(r) ((r)->srv->db)

/* Credentials of the request's actor; free cr->gids after. */
static int cred_load(struct req *r, struct dbconn *c, struct fs_cred *cr,
		     struct err *e)
{
	return fs_cred_load(c, r->actor.uid, r->actor.gid, r->actor.admin, cr, e);
}

/* "/" + the {path*} parameter, canonical; NULL with e set. */
static char *req_path(struct req *r, struct err *e)
{
	const char *p = req_param(r, "path");
	char *raw = xasprintf("/%s", p ? p : "");
	char *clean = fs_path_clean(raw, e);
	free(raw);
	return clean;
}

static int query_bool(struct req *r, const char *key)
{
	const char *v = req_query(r, key);
	return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"));
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : "/";
}

/* ---- GET: bytes, listing or metadata -------------------------------------- */

/* Parse "bytes=a-b", "bytes=a-", "bytes=-n" against size. 1 = a range,
 * 0 = no (or an ignorable multi-) range, -1 = unsatisfiable. */
int fs_range_parse(const char *h, int64_t size, int64_t *from, int64_t *to)
{
	if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 0;
	const char *p = h + 6;
	char *end;
	if (*p == '-') {
		long long n = strtoll(p + 1, &end, 10);
		if (*end || n <= 0 || !p[1])
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return size > 0 ? 1 : -1;
	}
	long long a = strtoll(p, &end, 10);
	if (end == p || *end != '-' || a < 0)
		return -1;
	p = end + 1;
	long long b = size - 1;
	if (*p) {
		b = strtoll(p, &end, 10);
		if (*end || b < a)
			return -1;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*from = a;
	*to = b;
	return 1;
}

/* Answer with a file's bytes: ETag (its SHA-256), If-None-Match, a single
 * Range (206/416), and the headers that keep user bytes from being active
 * content in our origin (attachment: always as a download; name: the
 * file's, for Content-Disposition). Takes fd. */
static void send_file(struct req *r, const struct fs_attr *ap, int fd, const char *name,
		      int attachment)
{
	struct fs_attr a = *ap;
	char etag[72];
	snprintf(etag, sizeof(etag), "\"%s\"", a.sha256);
	const char *inm = req_header(r, "If-None-Match");
	if (inm && (strstr(inm, etag) || !strcmp(inm, "*"))) {
		close(fd);
		reply_empty(r, 304);
		reply_header(r, "ETag", etag);
		reply_user_content(r, name, attachment);
		return;
	}
	int64_t from = 0, to = a.size - 1;
	const char *range = req_header(r, "Range");
	const char *ifr = req_header(r, "If-Range");
	int pr = (ifr && strcmp(ifr, etag)) ? 0 : fs_range_parse(range, a.size, &from, &to);
	char cr_hdr[96];
	if (pr < 0) {
		close(fd);
		reply_problem(r, 416, "range '%.64s' is outside the file's %lld bytes",
			      range, (long long)a.size);
		snprintf(cr_hdr, sizeof(cr_hdr), "bytes */%lld", (long long)a.size);
		reply_header(r, "Content-Range", cr_hdr);
		return;
	}
	if (a.size == 0) {
		close(fd);
		reply_text(r, 200, "application/octet-stream", "", 0);
	} else {
		reply_fd(r, pr ? 206 : 200, "application/octet-stream", fd, (uint64_t)from,
			 (uint64_t)(to - from + 1));
	}
	if (pr) {
		snprintf(cr_hdr, sizeof(cr_hdr), "bytes %lld-%lld/%lld", (long long)from,
			 (long long)to, (long long)a.size);
		reply_header(r, "Content-Range", cr_hdr);
	}
	reply_header(r, "ETag", etag);
	reply_header(r, "Accept-Ranges", "bytes");
	reply_header(r, "Cache-Control", "private, no-cache");
	reply_user_content(r, name, attachment);
}

/* ---- GET ?archive=: a folder as tar.gz or zip ------------------------------- */

/*
 * archive.c's producer thread fills a ring while the event loop sends it.
 * reply_stream_download fits that: the connection sleeps, off the loop,
 * when the ring is empty, and the producer wakes exactly it when bytes
 * come (the 100 ms tick alone would cap a download at a ring per tick). A
 * plain libmicrohttpd callback that waited for the producer would hold an
 * event-loop thread, and every connection it serves, meanwhile.
 */
struct archive_dl {
	struct fs_archive *ar;
	struct stream *st;
};

static void archive_ready(void *arg)
{
	struct archive_dl *d = arg;
	http_stream_wake(d->st);
}

static long archive_fill(void *arg, char *buf, size_t max)
{
	struct archive_dl *d = arg;
	long n = fs_archive_read(d->ar, buf, max);
	if (n == FS_ARCHIVE_END)
		return -1;
	return n == FS_ARCHIVE_FAILED ? STREAM_ABORT : n;
}

/* Also when the client went away: stops and joins the producer. */
static void archive_dl_free(void *arg)
{
	struct archive_dl *d = arg;
	fs_archive_free(d->ar);
	free(d);
}

/* On the I/O worker pool: the checks, and a zip's count of its index,
 * read the tree. */
static void get_archive(struct req *r)
{
	struct err e = {0};
	enum fs_archive_format fmt;
	char *path = NULL;
	if (fs_archive_format_parse(req_query(r, "archive"), &fmt, &e) ||
	    !(path = req_path(r, &e))) {
		reply_err(r, &e);
		return;
	}
	struct fs_cred cr;
	struct archive_dl *d = xcalloc(1, sizeof(*d));
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = fs_archive_open(r->srv->files, c, &cr, path, fmt, archive_ready, d, &d->ar, &e);
	db_put(DB(r), c);
	free(cr.gids);
	free(path);
	if (rc) {
		free(d);
		reply_err(r, &e);
		return;
	}
	char *fname = xasprintf("%s%s", fs_archive_name(d->ar), fs_archive_ext(fmt));
	struct stream *st = reply_stream_download(
		r, 200, fmt == FS_ARCHIVE_ZIP ? "application/zip" : "application/gzip",
		archive_fill, archive_dl_free, d);
	if (st) { /* else d is freed already */
		d->st = st; /* before any fill, hence before the producer starts */
		reply_user_content(r, fname, 1);
	}
	free(fname);
}

static void get_fs(struct req *r)
{
	struct err e = {0};
	char *path = req_path(r, &e);
	if (!path) {
		reply_err(r, &e);
		return;
	}
	if (req_query(r, "archive")) {
		enum fs_archive_format fmt;
		if (fs_archive_format_parse(req_query(r, "archive"), &fmt, &e))
			reply_err(r, &e);
		else
			req_offload(r, get_archive);
		free(path);
		return;
	}
	int limit;
	if (req_limit(r, &limit, &e)) {
		reply_err(r, &e);
		free(path);
		return;
	}
	struct fs_cred cr;
	struct fs_attr a;
	struct dbconn *c = db_get(DB(r));
	json_t *o = NULL;
	struct buf listing = {0};
	int fd = -1;
	db_read_begin(c); /* one snapshot, one lock for the whole walk */
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = fs_resolve(c, &cr, path, &a, &e);
	if (!rc && (query_bool(r, "stat")))
		o = fs_entry_json(c, &a, base_name(path));
	else if (!rc && a.is_dir)
		rc = fs_list(c, &cr, path, &a, req_query(r, "cursor"), limit, &listing, &e);
	else if (!rc)
		fd = fs_open(r->srv->files, c, &cr, path, &a, &e);
	db_read_end(c);
	db_put(DB(r), c);
	free(cr.gids);
	if (!rc && listing.len) {
		reply_text(r, 200, "application/json", listing.data, listing.len);
		buf_free(&listing);
		goto out;
	}
	buf_free(&listing);
	if (rc || (!o && fd < 0)) {
		reply_err(r, &e);
		goto out;
	}
	if (o) {
		reply_json(r, 200, o);
		goto out;
	}
	send_file(r, &a, fd, base_name(path), query_bool(r, "download"));
out:
	free(path);
}

/* ---- PUT: streamed upload ---------------------------------------------------- */

struct put_ctx {
	struct fs_upload *u;
	char *path;
	int existed;
};

static int put_begin(struct req *r)
{
	struct err e = {0};
	char *path = req_path(r, &e);
	if (!path) {
		reply_err(r, &e);
		return 1;
	}
	int64_t length = -1;
	const char *cl = req_header(r, "Content-Length");
	if (cl) {
		char *end;
		long long v = strtoll(cl, &end, 10);
		if (*end || v < 0) {
			free(path);
			reply_problem(r, 400, "bad Content-Length");
			return 1;
		}
		length = v;
	}
	int mode = -1;
	const char *ms = req_query(r, "mode");
	if (ms) {
		unsigned m;
		if (ms[0] < '0' || ms[0] > '7' || fs_mode_apply(ms, 0, 0, &m)) {
			free(path);
			reply_problem(r, 400, "mode must be octal, like 0640");
			return 1;
		}
		mode = (int)m;
	}
	struct fs_cred cr;
	struct fs_attr a;
	struct put_ctx *pc = xcalloc(1, sizeof(*pc));
	pc->path = path;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc) {
		struct err le = {0};
		pc->existed = fs_resolve(c, &cr, path, &a, &le) == 0;
		const char *inm = req_header(r, "If-None-Match");
		if (pc->existed && inm && !strcmp(inm, "*"))
			rc = err_set(&e, COVE_EEXIST, "'%.200s' already exists", path);
	}
	if (!rc)
		rc = fs_upload_begin(r->srv->files, c, &cr, path, length, mode, &pc->u, &e);
	db_put(DB(r), c);
	free(cr.gids);
	r->stream_ctx = pc;
	if (rc) {
		if (rc == COVE_EEXIST && req_header(r, "If-None-Match"))
			reply_problem(r, 412, "%s", e.msg);
		else
			reply_err(r, &e);
		return 1;
	}
	return 0;
}

static int put_data(struct req *r, const char *buf, size_t len)
{
	struct put_ctx *pc = r->stream_ctx;
	struct err e = {0};
	if (fs_upload_data(pc->u, buf, len, &e)) {
		fs_upload_abort(pc->u);
		pc->u = NULL;
		reply_err(r, &e);
		return 1;
	}
	return 0;
}

static void put_commit(struct req *r)
{
	struct put_ctx *pc = r->stream_ctx;
	struct err e = {0};
	struct fs_attr a;
	struct dbconn *c = db_get(DB(r));
	int rc = fs_upload_commit(r->srv->files, c, pc->u, &a, &e);
	pc->u = NULL;
	json_t *o = rc ? NULL : fs_entry_json(c, &a, base_name(pc->path));
	db_put(DB(r), c);
	if (rc) {
		reply_err(r, &e);
		return;
	}
	json_object_set_new(o, "path", json_string(pc->path));
	reply_json(r, pc->existed ? 200 : 201, o);
	char etag[72];
	snprintf(etag, sizeof(etag), "\"%s\"", a.sha256);
	reply_header(r, "ETag", etag);
}

/* The commit waits on the disk (fsync, group commit): off the event loop. */
static void put_end(struct req *r)
{
	req_offload(r, put_commit);
}

static void put_cleanup(struct req *r)
{
	struct put_ctx *pc = r->stream_ctx;
	if (!pc)
		return;
	fs_upload_abort(pc->u); /* a vanished client leaves nothing behind */
	free(pc->path);
	free(pc);
	r->stream_ctx = NULL;
}

static const struct stream_ops put_ops = {put_begin, put_data, put_end, put_cleanup};

/* ---- POST: mkdir, copy, move ------------------------------------------------- */

static void post_fs(struct req *r)
{
	static const char *const fields[] = {"op", "to", "parents", "recursive", "mode", NULL};
	struct err e = {0};
	json_t *b = req_json(r, &e);
	const char *op, *to_raw, *mode_s;
	int parents = 0, recursive = 0;
	char *path = NULL, *to = NULL;
	if (!b || json_only_fields(b, fields, &e) || json_req_str(b, "op", &op, &e) ||
	    json_opt_str(b, "to", &to_raw, &e) || json_opt_str(b, "mode", &mode_s, &e) ||
	    json_opt_bool(b, "parents", &parents, NULL, &e) ||
	    json_opt_bool(b, "recursive", &recursive, NULL, &e) || !(path = req_path(r, &e))) {
		reply_err(r, &e);
		return;
	}
	int mode = -1;
	unsigned m;
	if (mode_s) {
		if (mode_s[0] < '0' || mode_s[0] > '7' || fs_mode_apply(mode_s, 0, 1, &m)) {
			reply_problem(r, 400, "mode must be octal, like 0750");
			free(path);
			return;
		}
		mode = (int)m;
	}
	int is_mkdir = !strcmp(op, "mkdir");
	if (!is_mkdir && strcmp(op, "copy") && strcmp(op, "move")) {
		reply_problem(r, 400, "op must be mkdir, copy or move");
		free(path);
		return;
	}
	if (!is_mkdir && (!to_raw || !(to = fs_path_clean(to_raw, &e)))) {
		if (!to_raw)
			err_set(&e, COVE_EINVAL, "field 'to' is required for %s", op);
		reply_err(r, &e);
		free(path);
		return;
	}
	struct fs_cred cr;
	struct fs_attr a;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc && is_mkdir)
		rc = fs_mkdir(c, &cr, path, mode, parents, &a, &e);
	else if (!rc && !strcmp(op, "copy"))
		rc = fs_copy(c, &cr, path, to, recursive, &e);
	else if (!rc)
		rc = fs_move(r->srv->files, c, &cr, path, to, &e);
	const char *target = is_mkdir ? path : to;
	if (!rc)
		rc = fs_resolve(c, &cr, target, &a, &e);
	json_t *o = rc ? NULL : fs_entry_json(c, &a, base_name(target));
	db_put(DB(r), c);
	free(cr.gids);
	if (o) {
		json_object_set_new(o, "path", json_string(target));
		reply_json(r, is_mkdir || !strcmp(op, "copy") ? 201 : 200, o);
	} else {
		reply_err(r, &e);
	}
	free(path);
	free(to);
}

/* ---- POST with multipart/form-data: a browser's upload into a directory ---- */

/*
 * Each file part of the form becomes dir/<its file name>, streamed through
 * the same upload path as PUT (permissions, quota while bytes arrive,
 * durable then atomic). Parts that are not files are ignored. The answer
 * lists the entries made, or the first error.
 */
struct form_ctx {
	struct MHD_PostProcessor *pp;
	char *dir;
	struct fs_cred cr;
	struct files *files;
	struct db *db;
	struct fs_upload *u;
	char *cur_path;
	json_t *made;
	struct err e;
	int failed;
	/* JSON body (mkdir/copy/move) when not a form */
	int is_form;
};

static void form_commit(struct form_ctx *f)
{
	if (!f->u)
		return;
	struct fs_attr a;
	struct dbconn *c = db_get(f->db);
	int rc = fs_upload_commit(f->files, c, f->u, &a, &f->e);
	f->u = NULL;
	if (rc) {
		f->failed = 1;
	} else {
		json_t *o = fs_entry_json(c, &a, base_name(f->cur_path));
		json_object_set_new(o, "path", json_string(f->cur_path));
		json_array_append_new(f->made, o);
	}
	db_put(f->db, c);
}

static enum MHD_Result form_part(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data, uint64_t off,
				 size_t size)
{
	struct form_ctx *f = cls;
	if (f->failed)
		return MHD_NO;
	if (!filename)
		return MHD_YES; /* a plain field */
	if (off == 0) {
		form_commit(f); /* the previous file is complete */
		if (f->failed)
			return MHD_NO;
		if (!*filename || strchr(filename, '/') || !strcmp(filename, ".") ||
		    !strcmp(filename, "..")) {
			err_set(&f->e, COVE_EINVAL, "bad file name in the form: '%.64s'", filename);
			f->failed = 1;
			return MHD_NO;
		}
		char *raw = xasprintf("%s/%s", strcmp(f->dir, "/") ? f->dir : "", filename);
		free(f->cur_path);
		f->cur_path = fs_path_clean(raw, &f->e);
		free(raw);
		if (!f->cur_path) {
			f->failed = 1;
			return MHD_NO;
		}
		struct dbconn *c = db_get(f->db);
		int rc = fs_upload_begin(f->files, c, &f->cr, f->cur_path, -1, -1, &f->u, &f->e);
		db_put(f->db, c);
		if (rc) {
			f->failed = 1;
			return MHD_NO;
		}
	}
	if (size && fs_upload_data(f->u, data, size, &f->e)) {
		fs_upload_abort(f->u);
		f->u = NULL;
		f->failed = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

static int post_begin(struct req *r)
{
	const char *ct = req_header(r, "Content-Type");
	struct form_ctx *f = xcalloc(1, sizeof(*f));
	r->stream_ctx = f;
	if (!ct || strncasecmp(ct, "multipart/form-data", 19)) {
		/* a JSON operation: collect the (bounded) body as usual */
		const char *cl = req_header(r, "Content-Length");
		if (cl && strtoll(cl, NULL, 10) > r->srv->cfg->max_body) {
			reply_problem(r, 413, "request body is larger than %lld bytes",
				      (long long)r->srv->cfg->max_body);
			return 1;
		}
		if (cl && strcmp(cl, "0") && (!ct || strncasecmp(ct, "application/json", 16))) {
			reply_problem(r, 415, "request body must be application/json, or "
					      "multipart/form-data to upload files");
			return 1;
		}
		return 0;
	}
	f->is_form = 1;
	struct err e = {0};
	f->dir = req_path(r, &e);
	if (!f->dir) {
		reply_err(r, &e);
		return 1;
	}
	f->files = r->srv->files;
	f->db = r->srv->db;
	f->made = json_array();
	struct dbconn *c = db_get(f->db);
	int rc = cred_load(r, c, &f->cr, &e);
	struct fs_attr a;
	if (!rc)
		rc = fs_resolve(c, &f->cr, f->dir, &a, &e);
	if (!rc && !a.is_dir)
		rc = err_set(&e, COVE_EINVAL, "'%.200s' is not a directory", f->dir);
	db_put(f->db, c);
	if (rc) {
		reply_err(r, &e);
		return 1;
	}
	f->pp = MHD_create_post_processor(r->conn, 64 * 1024, form_part, f);
	if (!f->pp) {
		reply_problem(r, 400, "cannot read this multipart/form-data body");
		return 1;
	}
	return 0;
}

static int post_data(struct req *r, const char *buf, size_t len)
{
	struct form_ctx *f = r->stream_ctx;
	if (!f->is_form) {
		if (r->body.len + len > (size_t)r->srv->cfg->max_body) {
			reply_problem(r, 413, "request body is larger than %lld bytes",
				      (long long)r->srv->cfg->max_body);
			return 1;
		}
		buf_add(&r->body, buf, len);
		return 0;
	}
	if (MHD_post_process(f->pp, buf, len) != MHD_YES || f->failed) {
		if (!f->failed)
			err_set(&f->e, COVE_EINVAL, "malformed multipart/form-data body");
		reply_err(r, &f->e);
		return 1;
	}
	return 0;
}

static void post_fs(struct req *r);

static void post_end(struct req *r)
{
	struct form_ctx *f = r->stream_ctx;
	if (!f->is_form) {
		post_fs(r);
		return;
	}
	form_commit(f);
	if (f->failed) {
		reply_err(r, &f->e);
		return;
	}
	if (json_array_size(f->made) == 0) {
		reply_problem(r, 400, "the form holds no file");
		return;
	}
	reply_json(r, 201, json_pack("{s:O}", "items", f->made));
}

static void post_cleanup(struct req *r)
{
	struct form_ctx *f = r->stream_ctx;
	if (!f)
		return;
	if (f->pp)
		MHD_destroy_post_processor(f->pp);
	fs_upload_abort(f->u);
	json_decref(f->made);
	free(f->cr.gids);
	free(f->dir);
	free(f->cur_path);
	free(f);
	r->stream_ctx = NULL;
}

static const struct stream_ops post_ops = {post_begin, post_data, post_end, post_cleanup};

/* ---- PATCH: mode, owner, group -------------------------------------------------- */

static void patch_fs(struct req *r)
{
	static const char *const fields[] = {"mode", "owner", "group", "recursive", NULL};
	struct err e = {0};
	json_t *b = req_json(r, &e);
	const char *mode, *owner, *group;
	int recursive = 0;
	char *path = NULL;
	if (!b || json_only_fields(b, fields, &e) || json_opt_str(b, "mode", &mode, &e) ||
	    json_opt_str(b, "owner", &owner, &e) || json_opt_str(b, "group", &group, &e) ||
	    json_opt_bool(b, "recursive", &recursive, NULL, &e) || !(path = req_path(r, &e))) {
		reply_err(r, &e);
		return;
	}
	if (!mode && !owner && !group) {
		reply_problem(r, 400, "nothing to change: give mode, owner or group");
		free(path);
		return;
	}
	struct fs_cred cr;
	struct fs_attr a;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	int64_t uid = -1, gid = -1;
	if (!rc && owner && db_query_int(c, &e, &uid, "SELECT uid FROM users WHERE username = ?",
					 "s", owner) != 1)
		rc = err_set(&e, COVE_EINVAL, "no such user '%.64s'", owner);
	if (!rc && group && db_query_int(c, &e, &gid, "SELECT gid FROM groups WHERE name = ?",
					 "s", group) != 1)
		rc = err_set(&e, COVE_EINVAL, "no such group '%.64s'", group);
	if (!rc && (owner || group))
		rc = fs_chown(c, &cr, path, uid, gid, recursive, &e);
	if (!rc && mode)
		rc = fs_chmod(c, &cr, path, mode, recursive, &e);
	if (!rc)
		rc = fs_resolve(c, &cr, path, &a, &e);
	json_t *o = rc ? NULL : fs_entry_json(c, &a, base_name(path));
	db_put(DB(r), c);
	free(cr.gids);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
	free(path);
}

static void delete_fs(struct req *r)
{
	struct err e = {0};
	char *path = req_path(r, &e);
	if (!path) {
		reply_err(r, &e);
		return;
	}
	struct fs_cred cr;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = fs_remove(r->srv->files, c, &cr, path, query_bool(r, "recursive"), &e);
	db_put(DB(r), c);
	free(cr.gids);
	free(path);
	if (rc)
		reply_err(r, &e);
	else
		reply_empty(r, 204);
}

static void get_df(struct req *r)
{
	struct err e = {0};
	struct fs_cred cr;
	json_t *o = NULL;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		fs_usage(c, &cr, &o, &e);
	db_put(DB(r), c);
	free(cr.gids);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
}

/* ---- share links ------------------------------------------------------------- */

static char *base_url(struct req *r)
{
	const char *pub = r->srv->cfg->public_url;
	if (pub && *pub)
		return xstrdup(pub);
	const char *host = req_header(r, "Host");
	return xasprintf("%s://%s", r->srv->tls ? "https" : "http",
			 host ? host : r->srv->cfg->listen);
}

static void post_shares(struct req *r)
{
	static const char *const fields[] = {"path", "expires_in", NULL};
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	const char *raw;
	if (!b || json_only_fields(b, fields, &e) || json_req_str(b, "path", &raw, &e)) {
		reply_err(r, &e);
		return;
	}
	int64_t exp = 7 * 86400;
	json_t *je = json_object_get(b, "expires_in");
	if (je && !json_is_null(je)) {
		exp = json_is_string(je) ? duration_parse(json_string_value(je))
		      : json_is_integer(je) ? json_integer_value(je) : -1;
		if (exp < 0) {
			reply_problem(r, 400, "expires_in must be a duration like 1h or 7d, or 0 for never");
			return;
		}
	}
	char *path = fs_path_clean(raw, &e);
	if (!path) {
		reply_err(r, &e);
		return;
	}
	char *base = base_url(r);
	struct fs_cred cr;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = shares_create(c, &cr, path, exp, base, &o, &e);
	auth_audit(c, &r->actor, "share.create", path, rc == 0,
		   rc ? e.msg : json_string_value(json_object_get(o, "id")));
	db_put(DB(r), c);
	free(cr.gids);
	free(base);
	free(path);
	if (o)
		reply_json(r, 201, o);
	else
		reply_err(r, &e);
}

static void get_shares(struct req *r)
{
	struct err e = {0};
	struct fs_cred cr;
	json_t *o = NULL;
	char *base = base_url(r);
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		shares_list(c, &cr, base, &o, &e);
	db_put(DB(r), c);
	free(cr.gids);
	free(base);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
}

static void delete_share(struct req *r)
{
	struct err e = {0};
	struct fs_cred cr;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = shares_revoke(c, &cr, req_param(r, "id"), &e);
	auth_audit(c, &r->actor, "share.revoke", req_param(r, "id"), rc == 0, rc ? e.msg : NULL);
	db_put(DB(r), c);
	free(cr.gids);
	if (rc)
		reply_err(r, &e);
	else
		reply_empty(r, 204);
}

/* GET /s/{token}[/{sub}]: the public side of a link. */
static void get_share_link(struct req *r)
{
	struct err e = {0};
	const char *token = req_param(r, "token");
	const char *subp = req_param(r, "sub");
	char *sub = NULL;
	if (subp && *subp) {
		char *raw = xasprintf("/%s", subp);
		sub = fs_path_clean(raw, &e);
		free(raw);
		if (!sub) {
			reply_err(r, &e);
			return;
		}
	}
	struct fs_attr a;
	char id[32] = "", name[FS_NAME_MAX + 1] = "";
	json_t *o = NULL;
	int fd = -1;
	struct dbconn *c = db_get(DB(r));
	int rc = strlen(token) > 128 ? err_set(&e, COVE_ENOENT, "no such link")
				     : shares_resolve(c, token, sub, &a, id, &e);
	if (!rc && a.is_dir)
		rc = fs_list_node(c, &a, sub ? sub : "/", &o, &e);
	else if (!rc && !(rc = fs_node_name(c, a.id, name, &e)))
		fd = fs_open_attr(r->srv->files, &a, &e);
	auth_audit(c, &r->actor, "share.access", id[0] ? id : "unknown", rc == 0 && (o || fd >= 0),
		   sub ? sub : "/");
	db_put(DB(r), c);
	free(sub);
	if (rc || (!o && fd < 0)) {
		reply_err(r, &e);
	} else if (o) {
		reply_json(r, 200, o);
		reply_user_content(r, NULL, 0);
	} else {
		send_file(r, &a, fd, name, query_bool(r, "download"));
	}
}

/* ---- resumable uploads ----------------------------------------------------------- */

static int valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'Z')))
			return 0;
	return 1;
}

static void post_uploads(struct req *r)
{
	static const char *const fields[] = {"path", "size", "mode", NULL};
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	const char *raw, *ms;
	int64_t size = -1;
	int have_size = 0;
	if (!b || json_only_fields(b, fields, &e) || json_req_str(b, "path", &raw, &e) ||
	    json_opt_int(b, "size", &size, &have_size, &e) || json_opt_str(b, "mode", &ms, &e)) {
		reply_err(r, &e);
		return;
	}
	if (!have_size)
		size = -1;
	else if (size < 0) {
		reply_problem(r, 400, "size must not be negative");
		return;
	}
	int mode = -1;
	unsigned m;
	if (ms) {
		if (ms[0] < '0' || ms[0] > '7' || fs_mode_apply(ms, 0, 0, &m)) {
			reply_problem(r, 400, "mode must be octal, like 0640");
			return;
		}
		mode = (int)m;
	}
	char *path = fs_path_clean(raw, &e);
	if (!path) {
		reply_err(r, &e);
		return;
	}
	struct fs_cred cr;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		uploads_create(r->srv->files, c, &cr, path, size, mode, &o, &e);
	db_put(DB(r), c);
	free(cr.gids);
	free(path);
	if (o)
		reply_json(r, 201, o);
	else
		reply_err(r, &e);
}

static void get_upload(struct req *r)
{
	struct err e = {0};
	struct fs_cred cr;
	json_t *o = NULL;
	if (!valid_id(req_param(r, "id"))) {
		reply_problem(r, 404, "no such upload session");
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		uploads_get(r->srv->files, c, &cr, req_param(r, "id"), &o, &e);
	db_put(DB(r), c);
	free(cr.gids);
	if (o) {
		char off[32];
		snprintf(off, sizeof(off), "%lld",
			 (long long)json_integer_value(json_object_get(o, "offset")));
		reply_json(r, 200, o);
		reply_header(r, "Upload-Offset", off);
	} else {
		reply_err(r, &e);
	}
}

static int append_begin(struct req *r)
{
	struct err e = {0};
	const char *id = req_param(r, "id");
	const char *off = req_header(r, "Upload-Offset");
	char *end = NULL;
	long long offset = off ? strtoll(off, &end, 10) : -1;
	if (!valid_id(id)) {
		reply_problem(r, 404, "no such upload session");
		return 1;
	}
	if (!off || *end || offset < 0) {
		reply_problem(r, 400, "send the Upload-Offset header (the offset to append at)");
		return 1;
	}
	struct fs_cred cr;
	struct upload_append *a = NULL;
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = uploads_append_begin(r->srv->files, c, &cr, id, offset, &a, &e);
	db_put(DB(r), c);
	free(cr.gids);
	if (rc) {
		reply_err(r, &e);
		return 1;
	}
	r->stream_ctx = a;
	return 0;
}

static int append_data(struct req *r, const char *buf, size_t len)
{
	struct err e = {0};
	if (uploads_append_data(r->stream_ctx, buf, len, &e)) {
		/* keep what came before, durably, before the answer: a client
		 * asking for the offset next must get the final one */
		uploads_append_end(r->stream_ctx);
		r->stream_ctx = NULL;
		reply_err(r, &e);
		return 1;
	}
	return 0;
}

static void append_end(struct req *r)
{
	int64_t off = uploads_append_end(r->stream_ctx);
	r->stream_ctx = NULL;
	char s[32];
	snprintf(s, sizeof(s), "%lld", (long long)off);
	reply_json(r, 200, json_pack("{s:s,s:I}", "id", req_param(r, "id"), "offset",
				     (json_int_t)off));
	reply_header(r, "Upload-Offset", s);
}

static void append_cleanup(struct req *r)
{
	/* a dropped connection keeps what arrived, durably */
	uploads_append_end(r->stream_ctx);
	r->stream_ctx = NULL;
}

static const struct stream_ops append_ops = {append_begin, append_data, append_end,
					      append_cleanup};

static void post_upload_complete(struct req *r)
{
	struct err e = {0};
	struct fs_cred cr;
	struct fs_attr a;
	char *path = NULL;
	json_t *o = NULL;
	if (!valid_id(req_param(r, "id"))) {
		reply_problem(r, 404, "no such upload session");
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = uploads_complete(r->srv->files, c, &cr, req_param(r, "id"), &a, &path, &e);
	if (!rc) {
		o = fs_entry_json(c, &a, base_name(path));
		json_object_set_new(o, "path", json_string(path));
	}
	db_put(DB(r), c);
	free(cr.gids);
	free(path);
	if (o)
		reply_json(r, 201, o);
	else
		reply_err(r, &e);
}

static void delete_upload(struct req *r)
{
	struct err e = {0};
	struct fs_cred cr;
	if (!valid_id(req_param(r, "id"))) {
		reply_problem(r, 404, "no such upload session");
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = cred_load(r, c, &cr, &e);
	if (!rc)
		rc = uploads_delete(r->srv->files, c, &cr, req_param(r, "id"), &e);
	db_put(DB(r), c);
	free(cr.gids);
	if (rc)
		reply_err(r, &e);
	else
		reply_empty(r, 204);
}

/* ---- volumes (admin) -------------------------------------------------------------- */

static void post_volumes(struct req *r)
{
	static const char *const fields[] = {"name", "capacity_bytes", "group", NULL};
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	const char *name, *group;
	int64_t cap = 0;
	if (!b || json_only_fields(b, fields, &e) || json_req_str(b, "name", &name, &e) ||
	    json_opt_int(b, "capacity_bytes", &cap, NULL, &e) ||
	    json_opt_str(b, "group", &group, &e)) {
		reply_err(r, &e);
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int64_t gid = 0;
	int rc = 0;
	if (group && db_query_int(c, &e, &gid, "SELECT gid FROM groups WHERE name = ?", "s",
				  group) != 1)
		rc = err_set(&e, COVE_EINVAL, "no such group '%.64s'", group);
	if (!rc)
		rc = volumes_create(c, name, cap, gid, &o, &e);
	auth_audit(c, &r->actor, "volume.create", name, rc == 0, rc ? e.msg : NULL);
	db_put(DB(r), c);
	if (o)
		reply_json(r, 201, o);
	else
		reply_err(r, &e);
}

static void get_volumes(struct req *r)
{
	struct err e = {0};
	json_t *o = NULL;
	struct dbconn *c = db_get(DB(r));
	volumes_list(c, &o, &e);
	db_put(DB(r), c);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
}

static void patch_volume(struct req *r)
{
	static const char *const fields[] = {"capacity_bytes", NULL};
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	int64_t cap = 0;
	int set = 0;
	if (!b || json_only_fields(b, fields, &e) ||
	    json_opt_int(b, "capacity_bytes", &cap, &set, &e)) {
		reply_err(r, &e);
		return;
	}
	if (!set) {
		reply_problem(r, 400, "give capacity_bytes");
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = volumes_update(c, req_param(r, "name"), cap, &o, &e);
	auth_audit(c, &r->actor, "volume.update", req_param(r, "name"), rc == 0, rc ? e.msg : NULL);
	db_put(DB(r), c);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
}

static void delete_volume(struct req *r)
{
	struct err e = {0};
	struct dbconn *c = db_get(DB(r));
	int rc = volumes_delete(r->srv->files, c, req_param(r, "name"), &e);
	auth_audit(c, &r->actor, "volume.delete", req_param(r, "name"), rc == 0, rc ? e.msg : NULL);
	db_put(DB(r), c);
	if (rc)
		reply_err(r, &e);
	else
		reply_empty(r, 204);
}

/* ---- administration ------------------------------------------------------------ */

static void post_fsck(struct req *r)
{
	struct err e = {0};
	json_t *o = NULL;
	struct dbconn *c = db_get(DB(r));
	int repair = query_bool(r, "repair");
	int rc = files_fsck(r->srv->files, c, repair, query_bool(r, "verify"), &o, &e);
	char detail[64];
	snprintf(detail, sizeof(detail), "%zu problems, %lld repaired",
		 json_array_size(json_object_get(o, "problems")),
		 (long long)json_integer_value(json_object_get(o, "repaired")));
	auth_audit(c, &r->actor, repair ? "files.fsck_repair" : "files.fsck", "/", rc == 0,
		   rc ? e.msg : detail);
	db_put(DB(r), c);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
}

static void post_gc(struct req *r)
{
	struct err e = {0};
	json_t *o = NULL;
	int64_t grace = 3600;
	const char *g = req_query(r, "grace");
	if (g && (grace = duration_parse(g)) < 0) {
		reply_problem(r, 400, "grace must be a duration like 10m or 0s");
		return;
	}
	struct dbconn *c = db_get(DB(r));
	int rc = files_gc(r->srv->files, c, grace, &o, &e);
	auth_audit(c, &r->actor, "files.gc", "/", rc == 0, NULL);
	db_put(DB(r), c);
	if (o)
		reply_json(r, 200, o);
	else
		reply_err(r, &e);
}

/* POST /v1/admin/backup {"dir": ABS, "link": bool}: a consistent backup of
 * the running server into a directory on its own machine. Synchronous: the
 * answer is the manifest, once everything is on disk. */
static void post_backup(struct req *r)
{
	struct err e = {0};
	json_t *b = req_json(r, &e), *o = NULL;
	const char *dir = NULL;
	int link_ok = 0;
	static const char *const allowed[] = {"dir", "link", NULL};
	int rc = b ? 0 : COVE_EINVAL;
	if (!rc)
		rc = json_only_fields(b, allowed, &e);
	if (!rc)
		rc = json_req_str(b, "dir", &dir, &e);
	if (!rc)
		rc = json_opt_bool(b, "link", &link_ok, NULL, &e);
	if (!rc)
		rc = files_backup(r->srv->files, DB(r), r->srv->cfg->data_dir, dir, link_ok,
				  &o, &e);
	struct dbconn *c = db_get(DB(r));
	char detail[128] = "";
	if (o)
		snprintf(detail, sizeof(detail), "%lld blobs, %lld bytes",
			 (long long)json_integer_value(json_object_get(o, "blobs")),
			 (long long)json_integer_value(json_object_get(o, "blob_bytes")));
	auth_audit(c, &r->actor, "admin.backup", dir ? dir : "", rc == 0, rc ? e.msg : detail);
	db_put(DB(r), c);
	if (rc)
		reply_err(r, &e);
	else
		reply_json(r, 200, o);
}

const struct route files_routes[] = {
	{"GET", "/v1/fs/{path*}", get_fs, ROUTE_AUTH, NULL},
	{"PUT", "/v1/fs/{path*}", NULL, ROUTE_AUTH, &put_ops},
	{"POST", "/v1/fs/{path*}", NULL, ROUTE_AUTH, &post_ops},
	{"PATCH", "/v1/fs/{path*}", patch_fs, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/fs/{path*}", delete_fs, ROUTE_AUTH, NULL},
	{"GET", "/v1/df", get_df, ROUTE_AUTH, NULL},
	{"POST", "/v1/uploads", post_uploads, ROUTE_AUTH, NULL},
	{"GET", "/v1/uploads/{id}", get_upload, ROUTE_AUTH, NULL},
	{"PATCH", "/v1/uploads/{id}", NULL, ROUTE_AUTH, &append_ops},
	{"POST", "/v1/uploads/{id}/complete", post_upload_complete, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/uploads/{id}", delete_upload, ROUTE_AUTH, NULL},
	{"POST", "/v1/shares", post_shares, ROUTE_AUTH, NULL},
	{"GET", "/v1/shares", get_shares, ROUTE_AUTH, NULL},
	{"DELETE", "/v1/shares/{id}", delete_share, ROUTE_AUTH, NULL},
	{"GET", "/v1/volumes", get_volumes, ROUTE_AUTH, NULL},
	{"POST", "/v1/volumes", post_volumes, ROUTE_ADMIN, NULL},
	{"PATCH", "/v1/volumes/{name}", patch_volume, ROUTE_ADMIN, NULL},
	{"DELETE", "/v1/volumes/{name}", delete_volume, ROUTE_ADMIN, NULL},
	{"POST", "/v1/admin/fsck", post_fsck, ROUTE_ADMIN, NULL},
	{"POST", "/v1/admin/gc", post_gc, ROUTE_ADMIN, NULL},
	{"POST", "/v1/admin/backup", post_backup, ROUTE_ADMIN, NULL},
	{"GET", "/s/{token}", get_share_link, ROUTE_PUBLIC, NULL},
	{"GET", "/s/{token}/{sub*}", get_share_link, ROUTE_PUBLIC, NULL},
	{NULL, NULL, NULL, 0, NULL},
};
