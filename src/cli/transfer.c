/*
 * transfer.c - moving file bytes between the local disk and the file
 * space, streamed: curl's read callback feeds an upload from the open
 * file (or stdin, chunked), its write callback pours a download into a
 * temporary file or stdout. No file is ever held whole in memory; only
 * JSON answers and problem documents are collected (up to 1 MiB).
 * Large files go up through a resumable upload session so a dropped
 * connection or a restarted server costs a retry, not the whole file.
 * A progress bar is drawn on stderr when the caller asks (a terminal).
 * No command logic here: files_cmds.c decides what to move where.
 */
#include "cli/internal.h"
#include "core/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define XFER_MAX_ANSWER (1 << 20)      /* bytes of a JSON/problem answer kept */
#define XFER_BUFFER (512L * 1024)      /* curl's buffers for file bytes */
#define XFER_RESUMABLE (64LL << 20)    /* files from this size use a session */
#define XFER_BULK (1LL << 20)          /* bodies from this size ask to continue */
#define XFER_RESUME_TRIES 8

/* ---- paths ------------------------------------------------------------- */

char *cli_fs_url(struct client *c, const char *path, const char *query)
{
	struct buf b = {0};
	buf_adds(&b, "/v1/fs");
	const char *p = path;
	while (*p == '/')
		p++;
	if (!*p)
		buf_addc(&b, '/');
	while (*p) {
		size_t len = strcspn(p, "/");
		char *seg = xstrndup(p, len);
		char *esc = cli_path(c, "/%s", seg);
		buf_adds(&b, esc);
		free(esc);
		free(seg);
		p += len;
		while (*p == '/')
			p++;
	}
	if (query)
		buf_adds(&b, query);
	return buf_detach(&b);
}

/* ---- one streamed exchange ------------------------------------------- */

struct xfer {
	FILE *in;          /* upload source, or NULL */
	int64_t in_size;   /* bytes to send from in; -1: until EOF, chunked */
	off_t in_start;    /* where in was when we started (for a retry) */
	int in_rewind;     /* in can be rewound to in_start */
	FILE *out;         /* where the bytes of a 2xx answer go; NULL: body */
	struct blob_sink *sink; /* ... or, for a download to a file, here */
	int want_file;     /* out expects file bytes: refuse a listing */
	struct buf body;   /* any other answer: entry JSON or a problem */
	int64_t got;       /* bytes written to out */
	int64_t limit;     /* at most this many to out; -1: no limit */
	int stopped;       /* stopped at limit (not an error) */
	long status;       /* of the answer being received */
	int etag;          /* that answer has an ETag (file bytes do) */
	int json;          /* ... and a JSON Content-Type (listings do) */
	int is_dir;        /* stopped: the answer was a directory listing */
	int write_errno;   /* stopped: writing to out failed */
	const char *label; /* the file's name, for the progress bar */
	int progress;
	double t0, drawn;
};

static size_t xfer_read(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t got = fread(buf, size, n, x->in);
	if (got == 0 && ferror(x->in))
		return CURL_READFUNC_ABORT;
	return got;
}

static size_t xfer_write(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (x->out && x->status >= 200 && x->status < 300) {
		/* a directory answers a GET with its listing: no ETag, JSON */
		if (x->want_file && !x->etag && x->json) {
			x->is_dir = 1;
			return 0;
		}
		size_t take = len;
		if (x->limit >= 0 && (int64_t)take > x->limit - x->got)
			take = (size_t)(x->limit - x->got);
		if (take && x->sink) {
			int err = sink_write(x->sink, data, take);
			if (err) {
				x->write_errno = err;
				return 0;
			}
		} else if (take && fwrite(data, 1, take, x->out) != take) {
			x->write_errno = errno ? errno : EIO;
			return 0;
		}
		x->got += (int64_t)take;
		if (take < len)
			x->stopped = 1; /* curl ends the transfer here */
		return take;
	}
	if (x->body.len + len > XFER_MAX_ANSWER)
		return 0;
	buf_add(&x->body, data, len);
	return len;
}

/* 1 if the header line h (len bytes) is "name: ..." */
static int header_is(const char *h, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len > n && h[n] == ':' && !strncasecmp(h, name, n);
}

static size_t xfer_header(char *h, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (len > 9 && !strncmp(h, "HTTP/", 5)) {
		/* a new answer (after a 100 Continue, say): forget the last */
		const char *sp = memchr(h, ' ', len);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->etag = x->json = 0;
	} else if (header_is(h, len, "ETag")) {
		x->etag = 1;
	} else if (header_is(h, len, "Content-Type")) {
		const char *v = h + 13;
		while (v < h + len && (*v == ' ' || *v == '\t'))
			v++;
		x->json = (size_t)(h + len - v) >= 16 &&
			  !strncasecmp(v, "application/json", 16);
	}
	return len;
}

/* ---- the progress bar ---------------------------------------------------- */

/* label cut to at most cols columns (whole UTF-8 characters), control
 * characters shown as '?', padded with spaces to cols. */
static void progress_label(struct buf *b, const char *s, size_t cols)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = 1;
		while ((p[n] & 0xc0) == 0x80)
			n++;
		if (w == cols)
			break;
		if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			buf_addc(b, '?');
		else
			buf_add(b, p, n);
		w++;
		p += n;
	}
	for (; w < cols; w++)
		buf_addc(b, ' ');
}

/* "12.3 MB" (decimal units, as transfer rates are usually told). */
static void progress_bytes(struct buf *b, double v)
{
	static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
	int i = 0;
	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	buf_addf(b, i ? "%6.1f %-2s" : "%6.0f %-2s", v, unit[i]);
}

/* One frame: now bytes of total (0: unknown) moved; done draws the
 * finished bar whatever the counts. */
static void progress_draw(struct xfer *x, int64_t now, int64_t total, int done)
{
	struct buf b = {0};
	double dt = time_mono() - x->t0;
	buf_addc(&b, '\r');
	progress_label(&b, x->label ? x->label : "", 24);
	if (total > 0 || done) {
		int pct = done ? 100 : (int)(now * 100 / total);
		int fill = done ? 20 : (int)(now * 20 / total);
		buf_adds(&b, " [");
		for (int i = 0; i < 20; i++)
			buf_addc(&b, i < fill ? '#' : '.');
		buf_addf(&b, "] %3d%% ", pct);
	} else {
		buf_adds(&b, " [        ...         ]      ");
	}
	progress_bytes(&b, (double)now);
	buf_adds(&b, "  ");
	progress_bytes(&b, dt > 0 ? (double)now / dt : 0);
	buf_adds(&b, "/s ");
	fwrite(b.data, 1, b.len, stderr);
	buf_free(&b);
}

static int xfer_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			 curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	double t = time_mono();
	int up = x->in != NULL;
	curl_off_t now = up ? ulnow : dlnow, total = up ? ultotal : dltotal;
	if (up && !total && x->in_size > 0)
		total = x->in_size;
	/* ten frames a second is plenty for a person; none before there is
	 * anything to tell */
	if ((now || total) && t - x->drawn >= 0.1) {
		x->drawn = t;
		progress_draw(x, now, total, 0);
	}
	return 0;
}

/* ---- sending ----------------------------------------------------------- */

/* Send method on url (a path from the root, escaped) once with token:
 * the body from x->in when set, the answer into x->out or x->body. */
static CURLcode xfer_send(struct client *c, const char *method, const char *url,
			  const char *token, const char *extra, struct xfer *x,
			  char errbuf[CURL_ERROR_SIZE])
{
	CURL *h = c->curl;
	char *full = xasprintf("%s%s", c->server, url);
	char *auth = xasprintf("Authorization: Bearer %s", token ? token : "");
	struct curl_slist *hdr = curl_slist_append(NULL, auth);
	cli_secret_free(auth);
	/* A big body waits for the server's "100 Continue" on a connection of
	 * its own: the server then reads it straight from the socket, off its
	 * event loop (http/bulk.c). A small one goes at once. */
	int big = x->in && x->in_size >= XFER_BULK;
	hdr = curl_slist_append(hdr, big ? "Expect: 100-continue" : "Expect:");
	if (extra)
		hdr = curl_slist_append(hdr, extra);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, full);
	cli_client_tls(c, h);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cove-cli/0.1");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* no overall time limit for a big file, but give up on a stalled one */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, XFER_BUFFER);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, xfer_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, xfer_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (x->in) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, xfer_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, XFER_BUFFER);
		if (x->in_size >= 0)
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)x->in_size);
		if (big)
			curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	}
	if (strcmp(method, x->in ? "PUT" : "GET"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (x->progress) {
		x->t0 = time_mono();
		x->drawn = 0;
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	}
	errbuf[0] = '\0';
	x->status = 0;
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status < 200)
		x->status = 0; /* a 100 Continue and then nothing: no answer */
	curl_slist_free_all(hdr);
	free(full);
	return cc;
}

/*
 * One streamed request: method on url, uploading x->in and/or receiving
 * into x->out. The token is renewed before it expires, and once more
 * after a 401 when the request can be sent again (its body rewound).
 * Fails with the reason: the server's problem detail, "... is a
 * directory", a local write error, or the network's.
 */
static int xfer_run(struct client *c, const char *method, const char *url,
		    const char *extra, struct xfer *x, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	const char *token = NULL;
	int rc;
	if ((rc = cli_token(c, 0, &token, e)))
		return rc;
	if (x->in) {
		x->in_start = ftello(x->in);
		x->in_rewind = x->in_start >= 0;
	}
	CURLcode cc = xfer_send(c, method, url, token, extra, x, errbuf);
	if (x->status == 401 && !c->env_token && x->got == 0 &&
	    (!x->in || (x->in_rewind &&
			fseeko(x->in, x->in_start, SEEK_SET) == 0))) {
		buf_reset(&x->body);
		if ((rc = cli_token(c, 1, &token, e)))
			return rc;
		cc = xfer_send(c, method, url, token, extra, x, errbuf);
	}
	if (x->progress && x->status >= 200 && x->status < 300 && cc == CURLE_OK) {
		curl_off_t now = 0;
		curl_easy_getinfo(c->curl,
				  x->in ? CURLINFO_SIZE_UPLOAD_T : CURLINFO_SIZE_DOWNLOAD_T,
				  &now);
		progress_draw(x, now, now, 1);
		x->drawn = 1;
	}
	if (x->progress && x->drawn > 0)
		fputc('\n', stderr);
	if (x->is_dir)
		return err_set(e, CLI_EFAIL, "is a directory");
	if (x->write_errno)
		return err_set(e, CLI_EFAIL, "cannot write: %s", strerror(x->write_errno));
	if (x->status == 401 && !c->env_token)
		return err_set(e, CLI_EFAIL, "session expired, run 'cove login'");
	if (x->status >= 300 || (x->status && x->status < 200)) {
		struct cli_response rs = {.status = x->status, .body = x->body};
		return cli_problem(&rs, e);
	}
	if (!x->status)
		return cli_client_reach_err(c, cc, errbuf, e);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && x->stopped))
		return err_set(e, CLI_EFAIL, "the transfer with %s broke off: %s",
			       c->server, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	return 0;
}

/* ---- uploads --------------------------------------------------------- */

/* The answer of an upload as JSON into *entry (when wanted). */
static void xfer_entry(struct xfer *x, json_t **entry)
{
	if (entry)
		*entry = x->body.len ? json_loadb(x->body.data, x->body.len, 0, NULL)
				     : NULL;
}

/* An answer worth retrying a session's upload after: none at all (the
 * connection dropped, the server is restarting), a server error, or a
 * conflict about the offset. Anything else (denied, over quota) stays. */
static int xfer_retryable(long status)
{
	return status == 0 || status >= 500 || status == 409 || status == 412;
}

/* The offset the server holds durably for session url, or -1. */
static int64_t session_offset(struct client *c, const char *url)
{
	struct err ignore = {0};
	json_t *o = NULL;
	int64_t off = -1;
	if (cli_call(c, "GET", url, NULL, &o, &ignore) == 0 &&
	    json_is_integer(json_object_get(o, "offset")))
		off = json_integer_value(json_object_get(o, "offset"));
	json_decref(o);
	return off;
}

/*
 * A large file goes up through a resumable session: when the connection
 * drops (or the server restarts), ask for the offset the server holds
 * durably and send the rest from there, waiting a little longer each
 * time. A session given up on is deleted, so it holds no space.
 */
static int upload_resumable(struct client *c, FILE *in, int64_t size,
			    const char *label, const char *remote, int progress,
			    json_t **entry, struct err *e)
{
	json_t *o = NULL;
	char *url = NULL, *done = NULL;
	int rc = cli_call(c, "POST", "/v1/uploads",
			  json_pack("{s:s,s:I}", "path", remote, "size", (json_int_t)size),
			  &o, e);
	if (rc)
		return rc;
	const char *id = json_string_value(json_object_get(o, "id"));
	if (!id) {
		json_decref(o);
		return err_set(e, CLI_EFAIL, "the server's upload answer has no id");
	}
	url = cli_path(c, "/v1/uploads/%s", id);
	done = cli_path(c, "/v1/uploads/%s/complete", id);
	json_decref(o);
	int64_t off = 0;
	for (int attempt = 0;; attempt++) {
		struct xfer x = {.in = in, .in_size = size - off, .limit = -1,
				 .label = label, .progress = progress};
		char hdr[64];
		if (fseeko(in, (off_t)off, SEEK_SET) != 0) {
			rc = err_set(e, CLI_EFAIL, "cannot read %s: %s", label, strerror(errno));
			break;
		}
		snprintf(hdr, sizeof(hdr), "Upload-Offset: %lld", (long long)off);
		rc = xfer_run(c, "PATCH", url, hdr, &x, e);
		buf_free(&x.body);
		if (!rc || !xfer_retryable(x.status) || attempt + 1 >= XFER_RESUME_TRIES)
			break;
		unsigned wait = 1u << (attempt < 5 ? attempt : 5);
		fprintf(stderr, "cove: upload interrupted (%s); resuming in %us\n", e->msg,
			wait);
		sleep(wait);
		int64_t held = session_offset(c, url);
		if (held >= 0)
			off = held; /* else the server may still be starting */
	}
	if (!rc) {
		rc = cli_call(c, "POST", done, NULL, entry, e);
	} else {
		struct err ignore = {0};
		cli_call(c, "DELETE", url, NULL, NULL, &ignore);
	}
	free(done);
	free(url);
	return rc;
}

int cli_fs_upload(struct client *c, const char *local, const char *remote,
		  int progress, json_t **entry, struct err *e)
{
	struct xfer x = {.in_size = -1, .limit = -1, .progress = progress};
	const char *slash = strrchr(local, '/');
	int rc;
	if (entry)
		*entry = NULL;
	x.label = slash && slash[1] ? slash + 1 : local;
	if (!strcmp(local, "-")) {
		x.in = stdin;
		x.label = "(stdin)";
	} else if (!(x.in = fopen(local, "rb"))) {
		return err_set(e, CLI_EFAIL, "cannot read %s: %s", local, strerror(errno));
	} else {
		struct stat st;
		if (fstat(fileno(x.in), &st) == 0 && S_ISREG(st.st_mode))
			x.in_size = st.st_size;
		posix_fadvise(fileno(x.in), 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	if (x.in_size >= XFER_RESUMABLE) {
		rc = upload_resumable(c, x.in, x.in_size, x.label, remote, progress,
				      entry, e);
	} else {
		char *url = cli_fs_url(c, remote, NULL);
		if ((rc = xfer_run(c, "PUT", url, NULL, &x, e)) == 0)
			xfer_entry(&x, entry);
		free(url);
	}
	if (x.in != stdin)
		fclose(x.in);
	else if (ferror(stdin) && !rc)
		rc = err_set(e, CLI_EFAIL, "cannot read standard input");
	buf_free(&x.body);
	return rc;
}

/* ---- downloads ------------------------------------------------------- */

/* Open a temporary file next to local (so the rename stays on one file
 * system), with the mode a new file would get. On success the caller
 * frees *tmp; on failure it is NULL. */
static int download_open(const char *local, char **tmp, FILE **out,
			 struct err *e)
{
	const char *slash = strrchr(local, '/');
	const char *base = slash ? slash + 1 : local;
	int dirlen = slash ? (int)(slash - local) + 1 : 0;
	*tmp = xasprintf("%.*s.%.200s.cove-XXXXXX", dirlen, local, base);
	int fd = mkstemp(*tmp), rc;
	if (fd < 0) {
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", local, strerror(errno));
		goto fail;
	}
	mode_t um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) < 0 || !(*out = fdopen(fd, "wb"))) {
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", local, strerror(errno));
		close(fd);
		unlink(*tmp);
		goto fail;
	}
	return 0;
fail:
	free(*tmp);
	*tmp = NULL;
	return rc;
}

int cli_fs_download(struct client *c, const char *remote, const char *local,
		    int progress, struct err *e)
{
	struct xfer x = {.want_file = 1, .limit = -1, .progress = progress};
	struct blob_sink sink;
	const char *slash = strrchr(remote, '/');
	char *tmp = NULL, *url = NULL;
	int rc = 0;
	x.label = slash && slash[1] ? slash + 1 : remote;
	if (!strcmp(local, "-"))
		x.out = stdout;
	else if ((rc = download_open(local, &tmp, &x.out, e)))
		return rc;
	else {
		/* big downloads go to disk from threads of their own (sink.c) */
		sink_init(&sink, fileno(x.out), 0, NULL);
		x.sink = &sink;
	}
	url = cli_fs_url(c, remote, NULL);
	rc = xfer_run(c, "GET", url, NULL, &x, e);
	if (x.sink) {
		int err = sink_end(&sink, rc != 0);
		if (err && !rc) {
			x.write_errno = err;
			rc = CLI_EFAIL;
		}
	}
	if (rc && x.is_dir)
		err_set(e, CLI_EFAIL, "'%s' is a directory", remote);
	else if (rc && x.write_errno)
		err_set(e, CLI_EFAIL, "cannot write %s: %s",
			x.out == stdout ? "standard output" : local, strerror(x.write_errno));
	if (x.out == stdout) {
		if (fflush(stdout) != 0 && !rc)
			rc = err_set(e, CLI_EFAIL, "cannot write standard output: %s",
				     strerror(errno));
		goto out;
	}
	if (!rc && (fflush(x.out) != 0 || fsync(fileno(x.out)) != 0))
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", local, strerror(errno));
	if (fclose(x.out) != 0 && !rc)
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", local, strerror(errno));
	if (!rc && rename(tmp, local) < 0)
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", local, strerror(errno));
	if (rc)
		unlink(tmp);
out:
	buf_free(&x.body);
	free(url);
	free(tmp);
	return rc;
}

int cli_fs_range(struct client *c, const char *remote, int64_t from,
		 int64_t len, FILE *out, int64_t *got, struct err *e)
{
	struct xfer x = {.want_file = 1, .out = out, .limit = len};
	char hdr[80];
	if (got)
		*got = 0;
	if (len <= 0)
		return 0;
	snprintf(hdr, sizeof(hdr), "Range: bytes=%lld-%lld", (long long)from,
		 (long long)(from + len - 1));
	char *url = cli_fs_url(c, remote, NULL);
	int rc = xfer_run(c, "GET", url, hdr, &x, e);
	if (rc && x.status == 416) {
		rc = 0; /* nothing there: the file ends before from */
		e->code = 0;
		e->msg[0] = '\0';
	} else if (rc && x.is_dir) {
		err_set(e, CLI_EFAIL, "'%s' is a directory", remote);
	} else if (rc && x.write_errno) {
		err_set(e, CLI_EFAIL, "cannot write: %s", strerror(x.write_errno));
	}
	/* a server that ignored Range sends from byte 0: cut off at len
	 * bytes (x.limit), and useless past the first range */
	if (!rc && x.status == 200 && from > 0)
		rc = err_set(e, CLI_EFAIL, "the server ignored the Range request");
	if (got)
		*got = x.got;
	buf_free(&x.body);
	free(url);
	return rc;
}
