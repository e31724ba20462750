/*
 * push.c - the writing side of /v2/: upload sessions (POST starts one,
 * PATCH appends, PUT ?digest= completes, GET tells the offset, DELETE
 * cancels), monolithic uploads, cross-repository mounts and manifest PUTs.
 * Bodies stream: a blob is written to a temporary file while it is
 * hashed, fsynced and moved into the blob store before its metadata
 * commits, on the I/O workers; only a manifest (at most 4 MiB) is held in
 * memory. A session's part file, its offset and SHA-256 state survive a
 * crash; bytes of a request that did not finish are cut off on resumption.
 */
#include "registry/v2.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- upload sessions ------------------------------------------------------------------- */

char *v2_part_path(struct registry *rg, const char *id)
{
	return xasprintf("%s/%s.part", rg->uploads, id);
}

static char *sha_hex(const struct sha256_ctx *s)
{
	const unsigned char *b = (const unsigned char *)s;
	char *out = xmalloc(2 * sizeof(*s) + 1);
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(*s); i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * sizeof(*s)] = '\0';
	return out;
}

static int sha_unhex(const char *h, struct sha256_ctx *s)
{
	if (!h || strlen(h) != 2 * sizeof(*s))
		return 0;
	unsigned char *b = (unsigned char *)s;
	for (size_t i = 0; i < sizeof(*s); i++) {
		int hi = h[2 * i], lo = h[2 * i + 1];
		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return 0;
		b[i] = (unsigned char)(hi * 16 + lo);
	}
	return 1;
}

/* Load session id of p for repository name: 1 found, 0 not. */
int v2_session_load(struct dbconn *c, const char *id, const char *name,
			const struct principal *p, struct session *s)
{
	char key[40];
	reg_principal_key(p, key);
	struct stmt *st;
	if (strlen(id) >= sizeof(s->id) ||
	    db_query(c, &st, NULL,
		     "SELECT received, hash_state FROM registry_uploads WHERE id = ? AND "
		     "repo_name = ? AND principal = ?",
		     "sss", id, name, key))
		return 0;
	int found = db_step(st, NULL) == 1;
	if (found) {
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->received = db_int(st, 0);
		s->sha_ok = sha_unhex(db_text(st, 1), &s->sha);
	}
	db_done(st);
	return found;
}

static void upload_headers(struct req *r, const char *name, const char *id,
			   int64_t received)
{
	char *loc = xasprintf("/v2/%s/blobs/uploads/%s", name, id);
	reply_header(r, "Location", loc);
	free(loc);
	char range[48];
	snprintf(range, sizeof(range), "0-%lld", (long long)(received > 0 ? received - 1 : 0));
	reply_header(r, "Range", range);
	reply_header(r, "Docker-Upload-UUID", id);
	v2_api_version(r);
}

void v2_upload_status(struct req *r, struct dbconn *c, const struct v2path *vp,
			     const struct principal *p)
{
	struct session s;
	if (!vp->ref[0] || !v2_session_load(c, vp->ref, vp->name, p, &s)) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "no such upload session");
		return;
	}
	reply_empty(r, 204);
	upload_headers(r, vp->name, s.id, s.received);
}

void v2_upload_cancel(struct req *r, struct dbconn *c, const struct v2path *vp,
			     const struct principal *p)
{
	struct session s;
	if (!vp->ref[0] || !v2_session_load(c, vp->ref, vp->name, p, &s)) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "no such upload session");
		return;
	}
	db_exec(c, NULL, "DELETE FROM registry_uploads WHERE id = ?", "s", s.id);
	char *part = v2_part_path(RG(r), s.id);
	unlink(part);
	free(part);
	reply_empty(r, 204);
	v2_api_version(r);
}

/* ---- streamed bodies: POST, PATCH, PUT ------------------------------------------------------ */

enum v2_op { OP_NONE, OP_MONOLITHIC, OP_START, OP_CHUNK, OP_FINISH, OP_MANIFEST };

struct v2ctx {
	struct v2path vp;
	struct principal p;
	int op;
	char want[65];             /* digest asked for (hex) */
	struct blob_writer *w;     /* monolithic */
	int fd;                    /* session part, appending */
	struct session s;
	int64_t start;             /* Content-Range start */
	int64_t room;              /* the namespace's quota: no blob is larger */
	struct writer_slot *slot;  /* sessions: who writes it now */
	uint64_t gen;              /* this request's turn as its writer */
	int64_t expect;            /* bytes Content-Range announces, or -1 */
	int64_t began_at;          /* the session's offset when this began */
	int64_t mono_bytes;        /* a monolithic upload's bytes so far */
	struct buf body;           /* a manifest */
	char *stage;               /* session bytes, written 1 MiB at a time */
	size_t staged;
	int64_t kicked;            /* write-back started up to here */
	struct err e;
	int failed;                /* data refused: e says why */
	int status;                /* for failures found while data arrives */
	const char *code;
};

static void slot_put(struct registry *rg, struct writer_slot *w);

/* part_open's answer for a chunk that does not start at the offset (a
 * code of this file only, never returned elsewhere) */
#define COVE_ERANGE_OFFSET (-100)

static void ctx_free(struct registry *rg, struct v2ctx *x)
{
	if (!x)
		return;
	slot_put(rg, x->slot);
	files_blob_abort(x->w);
	if (x->fd >= 0)
		close(x->fd);
	buf_free(&x->body);
	v2_principal_free(&x->p);
	free(x->stage);
	free(x);
}

static void v2_stream_cleanup(struct req *r)
{
	ctx_free(RG(r), r->stream_ctx);
	r->stream_ctx = NULL;
}

static struct writer_slot *slot_get(struct registry *rg, const char *id)
{
	pthread_mutex_lock(&rg->slots_mu);
	struct writer_slot *w = rg->slots;
	while (w && strcmp(w->id, id))
		w = w->next;
	if (!w) {
		w = xcalloc(1, sizeof(*w));
		snprintf(w->id, sizeof(w->id), "%s", id);
		pthread_mutex_init(&w->mu, NULL);
		w->next = rg->slots;
		rg->slots = w;
	}
	w->refs++;
	pthread_mutex_unlock(&rg->slots_mu);
	return w;
}

static void slot_put(struct registry *rg, struct writer_slot *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&rg->slots_mu);
	if (--w->refs == 0) {
		struct writer_slot **pp = &rg->slots;
		while (*pp != w)
			pp = &(*pp)->next;
		*pp = w->next;
		pthread_mutex_destroy(&w->mu);
		free(w);
	}
	pthread_mutex_unlock(&rg->slots_mu);
}

/* Become the writer of session s and open its part for appending at its
 * durable length. The session is loaded again as the writer: one that
 * completed or was cancelled meanwhile is gone (COVE_ENOENT). A request
 * still writing it is superseded (a client that retries after a broken
 * connection must not wait for the server to notice the break). */
static int part_open(struct registry *rg, struct dbconn *c, const char *name,
		     const struct principal *p, struct v2ctx *x, struct err *e)
{
	struct session *s = &x->s;
	x->slot = slot_get(rg, s->id);
	pthread_mutex_lock(&x->slot->mu);
	int fd = -1;
	char id[32];
	snprintf(id, sizeof(id), "%s", s->id);
	char *path = v2_part_path(rg, id);
	if (!v2_session_load(c, id, name, p, s)) {
		err_set(e, COVE_ENOENT, "no such upload session");
		goto out;
	}
	if (x->op == OP_CHUNK && x->start >= 0 && x->start != s->received) {
		/* an out-of-order chunk does not take the session over */
		err_set(e, COVE_ERANGE_OFFSET, "upload is at offset %lld, not %lld",
			(long long)s->received, (long long)x->start);
		goto out;
	}
	x->gen = ++x->slot->gen;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		err_set(e, COVE_ENOENT, "no such upload session");
		goto out;
	}
	/* bytes after the durable offset came from a request that did not
	 * finish: they are dropped, and the client resumes at the offset */
	struct stat st;
	if (fstat(fd, &st) < 0 || (st.st_size != s->received &&
				   ftruncate(fd, s->received) < 0) ||
	    lseek(fd, s->received, SEEK_SET) < 0) {
		err_set(e, COVE_EIO, "cannot resume the upload: %s", strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	if (!s->sha_ok && s->received == 0) {
		sha256_init(&s->sha);
		s->sha_ok = 1;
	}
out:
	pthread_mutex_unlock(&x->slot->mu);
	free(path);
	return fd < 0 ? (e->code ? e->code : COVE_EIO) : fd;
}

/* Sessions untouched for a week are abandoned: their rows and bytes go. */
static void sessions_sweep(struct registry *rg, struct dbconn *c)
{
	struct stmt *st;
	int64_t cutoff = time_now() - 7 * 86400;
	if (db_query(c, &st, NULL, "SELECT id FROM registry_uploads WHERE updated_at < ?",
		     "i", cutoff))
		return;
	while (db_step(st, NULL) == 1) {
		char *part = v2_part_path(rg, db_text(st, 0));
		unlink(part);
		free(part);
	}
	db_done(st);
	db_exec(c, NULL, "DELETE FROM registry_uploads WHERE updated_at < ?", "i", cutoff);
}

#define SESSIONS_MAX 100 /* open upload sessions per principal */

static int start_session(struct req *r, struct dbconn *c, struct v2ctx *x)
{
	sessions_sweep(RG(r), c);
	char id[27];
	id_new(id);
	char key[40];
	reg_principal_key(&x->p, key);
	int64_t open_now = 0;
	db_query_int(c, NULL, &open_now,
		     "SELECT count(*) FROM registry_uploads WHERE principal = ?", "s", key);
	if (open_now >= SESSIONS_MAX) {
		oci_error(r, 429, "TOOMANYREQUESTS", NULL,
			  "%d upload sessions are open: finish or cancel some first",
			  SESSIONS_MAX);
		reply_header(r, "Retry-After", "60");
		return 1;
	}
	int64_t now = time_now();
	struct err e = {0};
	/* the part first: a row never names a file that does not exist */
	char *path = v2_part_path(RG(r), id);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(path);
		err_set(&e, COVE_EIO, "cannot start an upload: %s", strerror(errno));
		oci_from_err(r, &e, "BLOB_UPLOAD_UNKNOWN");
		return 1;
	}
	close(fd);
	struct sha256_ctx sha;
	sha256_init(&sha);
	char *hs = sha_hex(&sha);
	int rc = db_exec(c, &e,
			 "INSERT INTO registry_uploads(id, repo_name, principal, received, "
			 "hash_state, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
			 "ssssii", id, x->vp.name, key, hs, now, now);
	free(hs);
	if (rc < 0) {
		unlink(path);
		free(path);
		oci_from_err(r, &e, "BLOB_UPLOAD_UNKNOWN");
		return 1;
	}
	free(path);
	reply_empty(r, 202);
	upload_headers(r, x->vp.name, id, 0);
	return 1;
}

/* Cross-repository mount: 1 when replied (mounted, or refused). */
static int try_mount(struct req *r, struct dbconn *c, struct v2ctx *x,
		     const char *mount, const char *from)
{
	char hex[65];
	if (!reg_digest_parse(mount, hex)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid digest in mount");
		return 1;
	}
	int ns;
	int64_t repo, size;
	if (!from || !reg_name_valid(from) ||
	    !(reg_allowed(c, &x->p, from, &ns) & reg_token_grants(&x->p, "repository", from) &
	      ACT_PULL) ||
	    !reg_repo_find(c, from, &repo) || !reg_blob_linked(c, repo, hex, &size))
		return 0; /* not mountable: start an ordinary session */
	struct err e = {0};
	if (reg_blob_link(RG(r), c, x->vp.name, hex, size, &e)) {
		oci_from_err(r, &e, "BLOB_UNKNOWN");
		return 1;
	}
	reply_empty(r, 201);
	char *loc = xasprintf("/v2/%s/blobs/%s", x->vp.name, mount);
	reply_header(r, "Location", loc);
	free(loc);
	reply_header(r, "Docker-Content-Digest", mount);
	v2_api_version(r);
	return 1;
}

/* "<start>-<end>" of a chunk, both decimal, without overflow. */
int v2_chunk_range_parse(const char *h, int64_t *a, int64_t *b)
{
	char *end;
	if (*h < '0' || *h > '9')
		return -1;
	errno = 0;
	long long x = strtoll(h, &end, 10);
	if (errno || *end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	long long y = strtoll(end + 1, &end, 10);
	if (errno || *end || y < x)
		return -1;
	*a = x;
	*b = y;
	return 0;
}

static int v2_stream_begin(struct req *r)
{
	struct v2ctx *x = xcalloc(1, sizeof(*x));
	x->fd = -1;
	x->start = x->expect = -1;
	r->stream_ctx = x;
	struct dbconn *c = db_get(r->srv->db);
	int replied = 1;
	if (v2_enter(r, c, &x->vp, &x->p))
		goto out;
	const char *m = r->method;
	if (x->vp.kind == V2_MANIFEST && !strcmp(m, "PUT")) {
		if (!v2_ref_valid(x->vp.ref)) {
			oci_error(r, 400, "MANIFEST_INVALID", NULL, "invalid tag or digest");
			goto out;
		}
		if (v2_authorize(r, c, &x->p, x->vp.name, ACT_PUSH))
			goto out;
		const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoll(cl, NULL, 10) > REG_MANIFEST_MAX) {
			oci_error(r, 413, "MANIFEST_INVALID", NULL,
				  "manifest is larger than %d bytes", REG_MANIFEST_MAX);
			goto out;
		}
		x->op = OP_MANIFEST;
		replied = 0;
		goto out;
	}
	if (x->vp.kind != V2_UPLOAD || (!strcmp(m, "POST") && x->vp.ref[0]) ||
	    (strcmp(m, "POST") && !x->vp.ref[0])) {
		oci_error(r, 405, "UNSUPPORTED", NULL, "%s is not supported here", m);
		goto out;
	}
	if (v2_authorize(r, c, &x->p, x->vp.name, ACT_PUSH))
		goto out;
	struct err e = {0};
	if (!strcmp(m, "POST")) {
		const char *mount = req_query(r, "mount");
		if (mount && try_mount(r, c, x, mount, req_query(r, "from")))
			goto out;
		const char *dig = req_query(r, "digest");
		if (!dig) {
			/* the row's commit waits on the disk: at the end, off the loop */
			x->op = OP_START;
			replied = 0;
			goto out;
		}
		if (!reg_digest_parse(dig, x->want)) {
			oci_error(r, 400, "DIGEST_INVALID", NULL, "invalid digest (want sha256:<hex>)");
			goto out;
		}
		if (files_blob_writer(RG(r)->files, &x->w, &e)) {
			oci_from_err(r, &e, "BLOB_UPLOAD_INVALID");
			goto out;
		}
		x->op = OP_MONOLITHIC;
		x->room = reg_quota_limit(c, x->vp.name);
		replied = 0;
		goto out;
	}
	/* PATCH or PUT on a session */
	if (!v2_session_load(c, x->vp.ref, x->vp.name, &x->p, &x->s)) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "no such upload session");
		goto out;
	}
	if (!strcmp(m, "PUT")) {
		const char *dig = req_query(r, "digest");
		if (!dig || !reg_digest_parse(dig, x->want)) {
			oci_error(r, 400, "DIGEST_INVALID", NULL,
				  "completing an upload needs ?digest=sha256:<hex>");
			goto out;
		}
		x->op = OP_FINISH;
	} else if (!strcmp(m, "PATCH")) {
		x->op = OP_CHUNK;
		const char *cr = req_header(r, "Content-Range");
		if (cr && (!strncmp(cr, "bytes=", 6) || !strncmp(cr, "bytes ", 6)))
			cr += 6; /* some clients write it as for responses */
		if (cr) {
			int64_t a, b;
			if (v2_chunk_range_parse(cr, &a, &b)) {
				oci_error(r, 400, "BLOB_UPLOAD_INVALID", NULL,
					  "Content-Range must be <start>-<end>");
				goto out;
			}
			x->start = a; /* compared with the offset as the writer, below */
			x->expect = b - a + 1;
			const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
			if (cl && strtoll(cl, NULL, 10) != x->expect) {
				oci_error(r, 416, "BLOB_UPLOAD_INVALID", NULL,
					  "Content-Range announces %lld bytes, Content-Length %s",
					  (long long)x->expect, cl);
				goto out;
			}
		}
	} else {
		oci_error(r, 405, "UNSUPPORTED", NULL, "%s is not supported here", m);
		goto out;
	}
	if ((x->fd = part_open(RG(r), c, x->vp.name, &x->p, x, &e)) < 0) {
		x->fd = -1;
		if (e.code == COVE_ERANGE_OFFSET) {
			oci_error(r, 416, "BLOB_UPLOAD_INVALID", NULL, "%s", e.msg);
			upload_headers(r, x->vp.name, x->s.id, x->s.received);
		} else {
			oci_from_err(r, &e, "BLOB_UPLOAD_UNKNOWN");
		}
		goto out;
	}
	x->began_at = x->s.received;
	x->kicked = x->s.received;
	x->room = reg_quota_limit(c, x->vp.name);
	replied = 0;
out:
	db_put(r->srv->db, c);
	return replied;
}

#define STAGE_SIZE (1 << 20)

static int stage_write(struct v2ctx *x);

/* Write the staged bytes of a session; start write-back every 8 MiB so
 * that the fsync at the end has little left to do. */
static int stage_flush(struct v2ctx *x)
{
	pthread_mutex_lock(&x->slot->mu);
	int rc = stage_write(x);
	pthread_mutex_unlock(&x->slot->mu);
	return rc;
}

/* Write the staged bytes, as the session's writer (slot mutex held). */
static int stage_write(struct v2ctx *x)
{
	if (x->slot->gen != x->gen)
		return err_set(&x->e, COVE_ECONFLICT,
			       "a later request on this upload session took it over");
	const char *p = x->stage;
	size_t n = x->staged;
	while (n) {
		ssize_t k = write(x->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_set(&x->e, errno == ENOSPC ? COVE_ETOOBIG : COVE_EIO,
				       "cannot store bytes: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
	x->staged = 0;
	off_t at = lseek(x->fd, 0, SEEK_CUR);
	if (at - x->kicked >= (8 << 20)) {
		sync_file_range(x->fd, x->kicked, at - x->kicked, SYNC_FILE_RANGE_WRITE);
		x->kicked = at;
	}
	return 0;
}

/* Refuse a blob larger than the whole quota while it arrives (total: its
 * bytes so far, with these); what is left is checked when it completes. */
static int quota_exceeded(struct v2ctx *x, int64_t total)
{
	if (x->op == OP_MONOLITHIC) { /* total is this piece's length */
		x->mono_bytes += total;
		total = x->mono_bytes;
	}
	if (total <= x->room)
		return 0;
	x->failed = 1;
	x->status = 403;
	x->code = "DENIED";
	err_set(&x->e, COVE_ETOOBIG,
		"storage quota exceeded: this blob is larger than the quota of %lld "
		"bytes", (long long)x->room);
	return 1;
}

static int v2_stream_data(struct req *r, const char *buf, size_t len)
{
	struct v2ctx *x = r->stream_ctx;
	if (x->failed)
		return 1;
	switch (x->op) {
	case OP_MANIFEST:
		if (x->body.len + len > REG_MANIFEST_MAX) {
			x->failed = 1;
			x->status = 413;
			x->code = "MANIFEST_INVALID";
			err_set(&x->e, COVE_ETOOBIG, "manifest is larger than %d bytes",
				REG_MANIFEST_MAX);
			return 1;
		}
		buf_add(&x->body, buf, len);
		return 0;
	case OP_MONOLITHIC:
		if (quota_exceeded(x, (int64_t)len))
			return 1;
		if (files_blob_write(x->w, buf, len, &x->e)) {
			x->failed = 1;
			return 1;
		}
		return 0;
	case OP_CHUNK:
	case OP_FINISH:
		/* libmicrohttpd hands bytes over in small pieces: gather them
		 * and write a megabyte at a time */
		if (quota_exceeded(x, x->s.received + (int64_t)len))
			return 1;
		if (x->s.sha_ok)
			sha256_update(&x->s.sha, len, (const uint8_t *)buf);
		x->s.received += (int64_t)len;
		while (len) {
			if (!x->stage)
				x->stage = xmalloc(STAGE_SIZE);
			size_t n = STAGE_SIZE - x->staged < len ? STAGE_SIZE - x->staged : len;
			memcpy(x->stage + x->staged, buf, n);
			x->staged += n;
			buf += n;
			len -= n;
			if (x->staged == STAGE_SIZE && stage_flush(x)) {
				x->failed = 1;
				return 1;
			}
		}
		return 0;
	default:
		return 0;
	}
}

/* Reply with the failure noted while data arrived. */
static void data_failed(struct req *r, struct v2ctx *x)
{
	if (x->status)
		oci_error(r, x->status, x->code, NULL, "%s", x->e.msg);
	else if (x->e.code == COVE_ECONFLICT)
		oci_error(r, 409, "BLOB_UPLOAD_INVALID", NULL, "%s", x->e.msg);
	else
		oci_from_err(r, &x->e, "BLOB_UPLOAD_INVALID");
}

static void blob_created(struct req *r, const char *name, const char *hex)
{
	reply_empty(r, 201);
	char *loc = xasprintf("/v2/%s/blobs/sha256:%s", name, hex);
	reply_header(r, "Location", loc);
	free(loc);
	char dig[80];
	snprintf(dig, sizeof(dig), "sha256:%s", hex);
	reply_header(r, "Docker-Content-Digest", dig);
	v2_api_version(r);
}

/* Bytes are durable in the store: check the digest, link, answer. */
static void blob_commit(struct req *r, struct dbconn *c, struct v2ctx *x,
			const char *got, int64_t size)
{
	if (strcmp(got, x->want)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL,
			  "the bytes hash to sha256:%s, not sha256:%s", got, x->want);
		return;
	}
	struct err e = {0};
	if (reg_blob_link(RG(r), c, x->vp.name, got, size, &e)) {
		oci_from_err(r, &e, "BLOB_UPLOAD_INVALID");
		return;
	}
	blob_created(r, x->vp.name, got);
}

static void finish_monolithic(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	char got[65];
	int64_t size;
	struct blob_writer *w = x->w;
	x->w = NULL;
	if (files_blob_finish(RG(r)->files, w, got, &size, &x->e)) {
		oci_from_err(r, &x->e, "BLOB_UPLOAD_INVALID");
		return;
	}
	struct dbconn *c = db_get(r->srv->db);
	blob_commit(r, c, x, got, size);
	db_put(r->srv->db, c);
}

/* As the session's writer (slot mutex held): make this request's bytes
 * durable and record the new offset and hash state. */
static int chunk_save_locked(struct req *r, struct dbconn *c, struct v2ctx *x)
{
	if (x->slot->gen != x->gen) {
		oci_error(r, 409, "BLOB_UPLOAD_INVALID", NULL,
			  "a later request on this upload session took it over");
		return 1;
	}
	if (x->expect >= 0 && x->s.received - x->began_at != x->expect) {
		/* nothing recorded: the next request starts at the old offset */
		oci_error(r, 416, "BLOB_UPLOAD_INVALID", NULL,
			  "Content-Range announced %lld bytes, the body had %lld",
			  (long long)x->expect, (long long)(x->s.received - x->began_at));
		return 1;
	}
	if (x->staged && stage_write(x)) {
		oci_from_err(r, &x->e, "BLOB_UPLOAD_INVALID");
		return 1;
	}
	if (fsync(x->fd) < 0) {
		oci_error(r, 500, "UNKNOWN", NULL, "cannot flush bytes to disk");
		return 1;
	}
	char *hs = x->s.sha_ok ? sha_hex(&x->s.sha) : NULL;
	struct err e = {0};
	int rc = db_exec(c, &e,
			 "UPDATE registry_uploads SET received = ?, hash_state = ?, "
			 "updated_at = ? WHERE id = ?",
			 "isis", x->s.received, hs, time_now(), x->s.id);
	free(hs);
	if (rc <= 0) {
		oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", NULL, "the upload session ended");
		return 1;
	}
	return 0;
}

static void finish_chunk(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct dbconn *c = db_get(r->srv->db);
	pthread_mutex_lock(&x->slot->mu);
	int bad = chunk_save_locked(r, c, x);
	pthread_mutex_unlock(&x->slot->mu);
	close(x->fd);
	x->fd = -1;
	if (!bad) {
		reply_empty(r, 202);
		upload_headers(r, x->vp.name, x->s.id, x->s.received);
	}
	db_put(r->srv->db, c);
}

static void finish_upload(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct dbconn *c = db_get(r->srv->db);
	pthread_mutex_lock(&x->slot->mu);
	int bad = chunk_save_locked(r, c, x);
	if (!bad) {
		/* the session ends here, whatever the digest says; its row
		 * goes while this request is its writer, and a later one finds
		 * no session */
		db_exec(c, NULL, "DELETE FROM registry_uploads WHERE id = ?", "s", x->s.id);
		x->slot->gen++;
	}
	pthread_mutex_unlock(&x->slot->mu);
	if (bad)
		goto out;
	close(x->fd);
	x->fd = -1;
	char *part = v2_part_path(RG(r), x->s.id);
	char got[65];
	struct err e = {0};
	int rc = files_blob_adopt(RG(r)->files, part, x->s.sha_ok ? &x->s.sha : NULL,
				  x->s.received, got, &e);
	unlink(part);
	free(part);
	if (rc) {
		oci_from_err(r, &e, "BLOB_UPLOAD_INVALID");
		goto out;
	}
	blob_commit(r, c, x, got, x->s.received);
out:
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	db_put(r->srv->db, c);
}

/* ---- manifests: PUT ------------------------------------------------------------------------ */

static const char *media_type_of(const char *ct, json_t *doc)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	static const char *const known[] = {MT_OCI_MANIFEST, MT_OCI_INDEX,
					    MT_DOCKER_MANIFEST, MT_DOCKER_LIST, NULL};
	const char *want = ct && *ct ? ct : mt;
	if (!want)
		want = json_object_get(doc, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
	for (int i = 0; known[i]; i++) {
		size_t n = strlen(known[i]);
		if (!strncmp(want, known[i], n) && (want[n] == '\0' || want[n] == ';'))
			return known[i];
	}
	return NULL;
}

/* Add a descriptor's digest to m; COVE_EINVAL when malformed. */
static int add_ref(struct reg_manifest *m, json_t *desc, int is_manifest,
		   struct err *e)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	json_t *sz = json_object_get(desc, "size");
	char hex[65];
	if (!json_is_object(desc) || !reg_digest_parse(d, hex) ||
	    !json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    !json_is_string(json_object_get(desc, "mediaType")))
		return err_set(e, COVE_EINVAL,
			       "a descriptor needs mediaType, size and a sha256 digest");
	int n = m->nrefs++;
	m->refs = xrealloc(m->refs, (size_t)m->nrefs * sizeof(*m->refs));
	m->ref_sizes = xrealloc(m->ref_sizes, (size_t)m->nrefs * sizeof(int64_t));
	m->ref_is_manifest = xrealloc(m->ref_is_manifest, (size_t)m->nrefs * sizeof(int));
	memcpy(m->refs[n], hex, 65);
	m->ref_sizes[n] = json_integer_value(sz);
	m->ref_is_manifest[n] = is_manifest;
	return 0;
}

void v2_manifest_free(struct reg_manifest *m)
{
	free(m->refs);
	free(m->ref_sizes);
	free(m->ref_is_manifest);
	free(m->artifact_type);
	free(m->annotations);
}

int v2_manifest_parse(const char *ctype, json_t *doc, struct reg_manifest *m,
		      struct err *e)
{
	if (!json_is_object(doc))
		return err_set(e, COVE_EINVAL, "a manifest is a JSON object");
	if (json_integer_value(json_object_get(doc, "schemaVersion")) != 2)
		return err_set(e, COVE_EINVAL, "schemaVersion must be 2");
	m->media_type = media_type_of(ctype, doc);
	if (!m->media_type)
		return err_set(e, COVE_EINVAL, "unsupported manifest media type");
	const char *inner = json_string_value(json_object_get(doc, "mediaType"));
	if (inner && strcmp(inner, m->media_type))
		return err_set(e, COVE_EINVAL, "mediaType %s does not match Content-Type %s",
			       inner, m->media_type);
	int is_index = !strcmp(m->media_type, MT_OCI_INDEX) ||
		       !strcmp(m->media_type, MT_DOCKER_LIST);
	int rc;
	const char *at = json_string_value(json_object_get(doc, "artifactType"));
	if (is_index) {
		json_t *list = json_object_get(doc, "manifests");
		if (!json_is_array(list))
			return err_set(e, COVE_EINVAL, "an index needs a manifests array");
		size_t i;
		json_t *d;
		json_array_foreach(list, i, d)
			if ((rc = add_ref(m, d, 1, e)))
				return rc;
	} else {
		json_t *config = json_object_get(doc, "config");
		json_t *layers = json_object_get(doc, "layers");
		if (!json_is_object(config) || !json_is_array(layers))
			return err_set(e, COVE_EINVAL, "an image manifest needs config and layers");
		if ((rc = add_ref(m, config, 0, e)))
			return rc;
		size_t i;
		json_t *d;
		json_array_foreach(layers, i, d) {
			const char *lmt = json_string_value(json_object_get(d, "mediaType"));
			if (lmt && strstr(lmt, "foreign") && json_object_get(d, "urls")) {
				/* a layer fetched from elsewhere: not stored here */
				continue;
			}
			if ((rc = add_ref(m, d, 0, e)))
				return rc;
		}
		if (!at)
			at = json_string_value(json_object_get(config, "mediaType"));
	}
	json_t *subject = json_object_get(doc, "subject");
	if (subject) {
		const char *sd = json_string_value(json_object_get(subject, "digest"));
		if (!json_is_object(subject) || !reg_digest_parse(sd, m->subject))
			return err_set(e, COVE_EINVAL, "subject needs a sha256 digest");
	}
	if (at)
		m->artifact_type = xstrdup(at);
	json_t *an = json_object_get(doc, "annotations");
	if (an && json_is_object(an))
		m->annotations = json_dumps(an, JSON_COMPACT);
	return 0;
}

static void finish_manifest(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct reg_manifest m;
	memset(&m, 0, sizeof(m));
	struct err e = {0};
	char want[65];
	int by_digest = reg_digest_parse(x->vp.ref, want);
	sha256_hex(x->body.data ? x->body.data : "", x->body.len, m.hex);
	m.size = (int64_t)x->body.len;
	struct dbconn *c = NULL;
	if (by_digest && strcmp(want, m.hex)) {
		oci_error(r, 400, "DIGEST_INVALID", NULL,
			  "the manifest hashes to sha256:%s, not %s", m.hex, x->vp.ref);
		goto out;
	}
	json_error_t je;
	json_t *doc = json_loadb(x->body.data ? x->body.data : "", x->body.len,
				 JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		oci_error(r, 400, "MANIFEST_INVALID", NULL, "malformed JSON: %s", je.text);
		goto out;
	}
	int rc = v2_manifest_parse(req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE), doc, &m, &e);
	json_decref(doc);
	if (rc) {
		oci_error(r, 400, "MANIFEST_INVALID", NULL, "%s", e.msg);
		goto out;
	}
	/* the bytes first, durable in the store; then the metadata */
	struct blob_writer *w;
	char got[65];
	int64_t size;
	if (files_blob_writer(RG(r)->files, &w, &e) ||
	    files_blob_write(w, x->body.data ? x->body.data : "", x->body.len, &e) ||
	    files_blob_finish(RG(r)->files, w, got, &size, &e)) {
		oci_from_err(r, &e, "MANIFEST_INVALID");
		goto out;
	}
	c = db_get(r->srv->db);
	char missing[72];
	rc = reg_manifest_put(RG(r), c, x->vp.name, &m, by_digest ? NULL : x->vp.ref,
			      x->p.name, missing, &e);
	char *target = xasprintf("%s@sha256:%s%s%s", x->vp.name, m.hex,
				 by_digest ? "" : " tag ", by_digest ? "" : x->vp.ref);
	auth_audit(c, &x->p.act, "registry.push", target, rc == 0, rc ? e.msg : NULL);
	free(target);
	if (rc == COVE_ENOENT) {
		oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN", missing, "%s", e.msg);
		goto out;
	}
	if (rc == COVE_ECONFLICT && missing[0]) {
		oci_error(r, 400, "SIZE_INVALID", missing, "%s", e.msg);
		goto out;
	}
	if (rc) {
		oci_from_err(r, &e, "MANIFEST_INVALID");
		goto out;
	}
	reply_empty(r, 201);
	char *loc = xasprintf("/v2/%s/manifests/sha256:%s", x->vp.name, m.hex);
	reply_header(r, "Location", loc);
	free(loc);
	char dig[80];
	snprintf(dig, sizeof(dig), "sha256:%s", m.hex);
	reply_header(r, "Docker-Content-Digest", dig);
	if (m.subject[0]) {
		snprintf(dig, sizeof(dig), "sha256:%s", m.subject);
		reply_header(r, "OCI-Subject", dig);
	}
	v2_api_version(r);
out:
	if (c)
		db_put(r->srv->db, c);
	v2_manifest_free(&m);
}

static void finish_start(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	struct dbconn *c = db_get(r->srv->db);
	start_session(r, c, x);
	db_put(r->srv->db, c);
}

static void v2_stream_end(struct req *r)
{
	struct v2ctx *x = r->stream_ctx;
	if (x->failed) {
		if (x->fd >= 0)
			close(x->fd);
		x->fd = -1;
		data_failed(r, x);
		return;
	}
	switch (x->op) {
	case OP_MANIFEST: req_offload(r, finish_manifest); break;
	case OP_MONOLITHIC: req_offload(r, finish_monolithic); break;
	case OP_CHUNK: req_offload(r, finish_chunk); break;
	case OP_FINISH: req_offload(r, finish_upload); break;
	case OP_START: req_offload(r, finish_start); break;
	default: oci_error(r, 405, "UNSUPPORTED", NULL, "not supported");
	}
}

const struct stream_ops reg_push_ops = {v2_stream_begin, v2_stream_data,
					    v2_stream_end, v2_stream_cleanup};

void v2_unused(struct req *r)
{
	oci_error(r, 405, "UNSUPPORTED", NULL, "not supported");
}
