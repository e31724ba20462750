/*
 * files_cmds.c - the file space from the command line: ls, stat, mkdir,
 * put, get, cat, head, cp, mv, rm, chmod, chown, chgrp, umask, df and
 * share links. Transfers stream between disk and network (curl read and
 * write callbacks): a file is never held whole in memory. Relative remote
 * paths are relative to the user's home, /home/<username>.
 */
#include "cli/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- paths --------------------------------------------------------------- */

/* The caller's home directory (this also renews the session if needed,
 * so a streamed request that follows has a fresh token). */
static int home_dir(struct client *c, char **out, struct err *e)
{
	json_t *me = NULL;
	int rc = cli_call(c, "GET", "/v1/me", NULL, &me, e);
	if (rc)
		return rc;
	const char *u = json_string_value(json_object_get(me, "username"));
	*out = xasprintf("/home/%s", u ? u : "");
	json_decref(me);
	return 0;
}

/* Absolute remote path for arg (relative to home). Caller frees. */
static char *abs_path(const char *home, const char *arg)
{
	if (arg[0] == '/')
		return xstrdup(arg);
	if (!strcmp(arg, ".") || !*arg)
		return xstrdup(home);
	return xasprintf("%s/%s", home, arg);
}

/* "/v1/fs" + each segment of path URL-escaped; query appended as is. */
static char *fs_url(struct client *c, const char *path, const char *query)
{
	struct buf b = {0};
	buf_adds(&b, "/v1/fs");
	const char *p = path;
	while (*p == '/')
		p++;
	if (!*p)
		buf_addc(&b, '/');
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
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

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s && s[1] ? s + 1 : p;
}

/* The entry at path (stat), or NULL with e set. */
static json_t *remote_stat(struct client *c, const char *path, struct err *e)
{
	char *url = fs_url(c, path, "?stat=true");
	json_t *o = NULL;
	cli_call(c, "GET", url, NULL, &o, e);
	free(url);
	return o;
}

static int is_dir_entry(const json_t *o)
{
	const char *t = json_string_value(json_object_get(o, "type"));
	return t && !strcmp(t, "directory");
}

/* ---- streaming transfers --------------------------------------------------- */

static const char *bearer(struct client *c)
{
	return c->env_token ? c->env_token : c->creds.access_token;
}

struct xfer {
	FILE *in;   /* upload source */
	FILE *out;  /* download target (NULL: collect into body) */
	struct buf body; /* answer (JSON or problem), or small downloads */
	long status;
	const char *label;
	int progress;
	double t0;
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
	/* Only a successful answer goes to the file; an error answer is a
	 * problem document we want to read. */
	if (x->out && x->status >= 200 && x->status < 300)
		return fwrite(data, 1, len, x->out) == len ? len : 0;
	if (x->body.len + len > 1 << 20)
		return 0;
	buf_add(&x->body, data, len);
	return len;
}

static size_t xfer_header(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	/* the status line of the final answer */
	if (size * n > 9 && !strncmp(data, "HTTP/", 5)) {
		const char *sp = memchr(data, ' ', size * n);
		if (sp)
			x->status = strtol(sp + 1, NULL, 10);
	}
	return size * n;
}

static int xfer_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			 curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	curl_off_t total = ultotal ? ultotal : dltotal;
	curl_off_t now = ultotal ? ulnow : dlnow;
	double dt = time_mono() - x->t0;
	double mbs = dt > 0 ? (double)now / dt / 1e6 : 0;
	if (total > 0)
		fprintf(stderr, "\r%-40.40s %3d%%  %8.1f MB  %7.1f MB/s", x->label,
			(int)(now * 100 / total), (double)now / 1e6, mbs);
	else
		fprintf(stderr, "\r%-40.40s %8.1f MB  %7.1f MB/s", x->label,
			(double)now / 1e6, mbs);
	return 0;
}

/* One streamed request: method on url, uploading from x->in (size bytes,
 * -1: chunked) and/or downloading into x->out. extra: a header or NULL. */
static int xfer_run(struct client *c, const char *method, const char *url,
		    int64_t size, const char *extra, struct xfer *x, struct err *e)
{
	CURL *h = c->curl;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *full = xasprintf("%s%s", c->server, url);
	struct curl_slist *hdr = NULL;
	char *auth = xasprintf("Authorization: Bearer %s", bearer(c) ? bearer(c) : "");
	hdr = curl_slist_append(hdr, auth);
	cli_secret_free(auth);
	hdr = curl_slist_append(hdr, "Expect:");
	if (extra)
		hdr = curl_slist_append(hdr, extra);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cove-cli/0.1");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* no overall time limit for big files, but give up on a stalled one */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, xfer_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, xfer_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (x->in) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, xfer_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
		if (size >= 0)
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	}
	if (strcmp(method, x->in ? "PUT" : "GET"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (x->progress) {
		x->t0 = time_mono();
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	}
	CURLcode cc = curl_easy_perform(h);
	if (x->progress)
		fputc('\n', stderr);
	int rc = 0;
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	x->status = status;
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status >= 300))
		rc = err_set(e, CLI_EFAIL, "cannot reach server at %s: %s", c->server,
			     errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else if (status < 200 || status >= 300) {
		struct cli_response rs = {.status = status, .body = x->body};
		rc = cli_problem(&rs, e);
	}
	curl_slist_free_all(hdr);
	free(full);
	return rc;
}

/* ---- put ------------------------------------------------------------------ */

#define RESUMABLE_MIN (64LL << 20) /* files from this size upload in a session */
#define RESUME_TRIES 8

/* The durable offset of upload session id, or -1. */
static int64_t session_offset(struct client *c, const char *id, struct err *e)
{
	char *p = cli_path(c, "/v1/uploads/%s", id);
	json_t *o = NULL;
	int64_t off = -1;
	if (cli_call(c, "GET", p, NULL, &o, e) == 0)
		off = json_integer_value(json_object_get(o, "offset"));
	json_decref(o);
	free(p);
	return off;
}

/*
 * A large file goes up through a resumable session: when the connection
 * drops (or the server restarts), ask for the offset the server holds
 * durably and send the rest from there, waiting a little longer each time.
 */
static int put_resumable(struct client *c, FILE *in, int64_t size, const char *label,
			 const char *remote, int quiet, struct err *e)
{
	json_t *o = NULL;
	int rc = cli_call(c, "POST", "/v1/uploads",
			  json_pack("{s:s,s:I}", "path", remote, "size", (json_int_t)size), &o, e);
	if (rc)
		return rc;
	char *id = xstrdup(json_string_value(json_object_get(o, "id")));
	json_decref(o);
	char *url = cli_path(c, "/v1/uploads/%s", id);
	int64_t off = 0;
	for (int attempt = 0;; attempt++) {
		if (fseeko(in, (off_t)off, SEEK_SET) != 0) {
			rc = err_set(e, CLI_EFAIL, "cannot read %s: %s", label, strerror(errno));
			break;
		}
		struct xfer x = {.in = in, .label = label, .progress = !quiet && isatty(2)};
		char hdr[64];
		snprintf(hdr, sizeof(hdr), "Upload-Offset: %lld", (long long)off);
		rc = xfer_run(c, "PATCH", url, size - off, hdr, &x, e);
		buf_free(&x.body);
		if (!rc || attempt + 1 >= RESUME_TRIES)
			break;
		/* dropped, refused or raced: learn where the server is and resume */
		unsigned wait = 1u << (attempt < 5 ? attempt : 5);
		if (!quiet)
			fprintf(stderr, "cove: upload interrupted (%s); resuming in %us\n", e->msg,
				wait);
		sleep(wait);
		struct err oe = {0};
		int64_t got = session_offset(c, id, &oe);
		if (got < 0) {
			/* the server may still be starting: try again later */
			continue;
		}
		off = got;
	}
	if (!rc) {
		char *done = cli_path(c, "/v1/uploads/%s/complete", id);
		json_t *entry = NULL;
		rc = cli_call(c, "POST", done, NULL, &entry, e);
		if (!rc && c->json)
			cli_print_json(entry);
		json_decref(entry);
		free(done);
	}
	free(url);
	free(id);
	return rc;
}

static int put_file(struct client *c, const char *local, const char *remote,
		    int quiet, struct err *e)
{
	struct xfer x = {0};
	int64_t size = -1;
	if (!strcmp(local, "-")) {
		x.in = stdin;
	} else {
		x.in = fopen(local, "rb");
		if (!x.in)
			return err_set(e, CLI_EFAIL, "cannot read %s: %s", local, strerror(errno));
		struct stat st;
		if (fstat(fileno(x.in), &st) == 0)
			size = st.st_size;
		if (size >= RESUMABLE_MIN) {
			int rc = put_resumable(c, x.in, size, base_name(local), remote, quiet, e);
			fclose(x.in);
			return rc;
		}
	}
	x.label = base_name(local);
	x.progress = !quiet && isatty(2);
	char *url = fs_url(c, remote, NULL);
	int rc = xfer_run(c, "PUT", url, size, NULL, &x, e);
	free(url);
	if (x.in != stdin)
		fclose(x.in);
	if (!rc && c->json) {
		json_t *o = json_loadb(x.body.data ? x.body.data : "{}", x.body.len, 0, NULL);
		if (o)
			cli_print_json(o);
		json_decref(o);
	}
	buf_free(&x.body);
	return rc;
}

static int remote_mkdir(struct client *c, const char *path, int parents, const char *mode,
			struct err *e)
{
	char *url = fs_url(c, path, NULL);
	json_t *b = json_pack("{s:s,s:b}", "op", "mkdir", "parents", parents);
	if (mode)
		json_object_set_new(b, "mode", json_string(mode));
	int rc = cli_call(c, "POST", url, b, NULL, e);
	free(url);
	return rc;
}

static int put_tree(struct client *c, const char *local, const char *remote,
		    int quiet, struct err *e)
{
	int rc = remote_mkdir(c, remote, 1, NULL, e);
	if (rc)
		return rc;
	DIR *d = opendir(local);
	if (!d)
		return err_set(e, CLI_EFAIL, "cannot read %s: %s", local, strerror(errno));
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *lp = xasprintf("%s/%s", local, de->d_name);
		char *rp = xasprintf("%s/%s", remote, de->d_name);
		struct stat st;
		if (lstat(lp, &st) < 0)
			rc = err_set(e, CLI_EFAIL, "cannot read %s: %s", lp, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = put_tree(c, lp, rp, quiet, e);
		else if (S_ISREG(st.st_mode))
			rc = put_file(c, lp, rp, quiet, e);
		free(lp);
		free(rp);
	}
	closedir(d);
	return rc;
}

static int cmd_put(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL, *remote = NULL;
	int rc = home_dir(c, &home, e);
	if (rc)
		return rc;
	const char *local = a->pos[0];
	const char *rarg = a->npos > 1 ? a->pos[1] : ".";
	remote = abs_path(home, rarg);
	struct stat st;
	int local_dir = strcmp(local, "-") && stat(local, &st) == 0 && S_ISDIR(st.st_mode);
	if (strcmp(local, "-") && stat(local, &st) < 0) {
		rc = err_set(e, CLI_EFAIL, "cannot read %s: %s", local, strerror(errno));
		goto out;
	}
	/* Into an existing directory (or a path ending in '/'): keep the name. */
	struct err ignore = {0};
	json_t *dst = remote_stat(c, remote, &ignore);
	size_t rl = strlen(rarg);
	if ((dst && is_dir_entry(dst)) || (rl && rarg[rl - 1] == '/')) {
		char *in = xasprintf("%s/%s", strcmp(remote, "/") ? remote : "", base_name(local));
		free(remote);
		remote = in;
	}
	json_decref(dst);
	rc = local_dir ? put_tree(c, local, remote, c->json, e) : put_file(c, local, remote, c->json, e);
out:
	free(home);
	free(remote);
	return rc;
}

/* ---- get, cat, head ---------------------------------------------------------- */

static int get_file(struct client *c, const char *remote, const char *local,
		    int quiet, struct err *e)
{
	struct xfer x = {0};
	char *tmp = NULL;
	if (!strcmp(local, "-")) {
		x.out = stdout;
	} else {
		tmp = xasprintf("%s.cove-part", local);
		x.out = fopen(tmp, "wb");
		if (!x.out) {
			int rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", tmp, strerror(errno));
			free(tmp);
			return rc;
		}
	}
	x.status = 200; /* until the status line says otherwise */
	x.label = base_name(remote);
	x.progress = !quiet && x.out != stdout && isatty(2);
	char *url = fs_url(c, remote, NULL);
	int rc = xfer_run(c, "GET", url, -1, NULL, &x, e);
	free(url);
	buf_free(&x.body);
	if (x.out == stdout) {
		fflush(stdout);
		return rc;
	}
	if (!rc && (fflush(x.out) != 0 || fsync(fileno(x.out)) != 0))
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", local, strerror(errno));
	fclose(x.out);
	if (!rc && rename(tmp, local) < 0)
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", local, strerror(errno));
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int get_tree(struct client *c, const char *remote, const char *local,
		    int quiet, struct err *e)
{
	if (mkdir(local, 0777) < 0 && errno != EEXIST)
		return err_set(e, CLI_EFAIL, "cannot create %s: %s", local, strerror(errno));
	char *url = fs_url(c, remote, NULL);
	json_t *list = NULL;
	int rc = cli_call_list(c, url, "", &list, e);
	free(url);
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(list, "items"), i, it)
	{
		if (rc)
			break;
		const char *name = json_string_value(json_object_get(it, "name"));
		if (!name || strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
			continue; /* never write outside the target */
		char *rp = xasprintf("%s/%s", strcmp(remote, "/") ? remote : "", name);
		char *lp = xasprintf("%s/%s", local, name);
		rc = is_dir_entry(it) ? get_tree(c, rp, lp, quiet, e) : get_file(c, rp, lp, quiet, e);
		free(rp);
		free(lp);
	}
	json_decref(list);
	return rc;
}

static int cmd_get(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	if (rc)
		return rc;
	char *remote = abs_path(home, a->pos[0]);
	char *local = xstrdup(a->npos > 1 ? a->pos[1] : base_name(remote));
	json_t *src = remote_stat(c, remote, e);
	if (!src) {
		rc = e->code ? e->code : CLI_EFAIL;
		goto out;
	}
	struct stat st;
	if (strcmp(local, "-") && stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
		char *in = xasprintf("%s/%s", local, base_name(remote));
		free(local);
		local = in;
	}
	rc = is_dir_entry(src) ? get_tree(c, remote, local, c->json, e)
			       : get_file(c, remote, local, c->json, e);
	json_decref(src);
out:
	free(home);
	free(remote);
	free(local);
	return rc;
}

static int cmd_cat(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	for (int i = 0; !rc && i < a->npos; i++) {
		char *p = abs_path(home, a->pos[i]);
		rc = get_file(c, p, "-", 1, e);
		free(p);
	}
	free(home);
	return rc;
}

static const struct cli_flag head_flags[] = {
	{"n", "LINES", CLI_FLAG_VALUE, "first LINES lines (default 10)"},
	{"c", "BYTES", CLI_FLAG_VALUE, "first BYTES bytes"},
	{0},
};

/* Fetch bytes [from, from+len) into out. */
static int get_range(struct client *c, const char *url, int64_t from, int64_t len,
		     struct buf *out, struct err *e)
{
	struct xfer x = {0};
	char range[64];
	snprintf(range, sizeof(range), "Range: bytes=%lld-%lld", (long long)from,
		 (long long)(from + len - 1));
	int rc = xfer_run(c, "GET", url, -1, range, &x, e);
	if (!rc)
		buf_add(out, x.body.data ? x.body.data : "", x.body.len);
	buf_free(&x.body);
	return rc;
}

static int cmd_head(struct client *c, const struct cli_args *a, struct err *e)
{
	int64_t lines = 10, bytes = -1;
	const char *nv = cli_arg_get(a, "n"), *cv = cli_arg_get(a, "c");
	if ((nv && cli_count_parse(nv, &lines)) || (cv && cli_count_parse(cv, &bytes)))
		return cli_usage_err(a, e, "-n and -c take a whole number");
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	if (rc)
		return rc;
	char *p = abs_path(home, a->pos[0]);
	json_t *st = remote_stat(c, p, e);
	if (!st) {
		rc = e->code ? e->code : CLI_EFAIL;
		goto out;
	}
	int64_t size = json_integer_value(json_object_get(st, "size"));
	json_decref(st);
	char *url = fs_url(c, p, NULL);
	struct buf got = {0};
	if (bytes >= 0) {
		if (bytes > 0 && size > 0)
			rc = get_range(c, url, 0, bytes < size ? bytes : size, &got, e);
	} else {
		/* 64 KiB at a time until enough lines */
		int64_t off = 0, seen = 0;
		while (!rc && off < size && seen < lines) {
			int64_t n = size - off < 65536 ? size - off : 65536;
			size_t before = got.len;
			rc = get_range(c, url, off, n, &got, e);
			for (size_t i = before; i < got.len; i++)
				if (got.data[i] == '\n' && ++seen == lines) {
					got.len = i + 1;
					break;
				}
			off += n;
		}
	}
	if (!rc && got.len)
		fwrite(got.data, 1, got.len, stdout);
	buf_free(&got);
	free(url);
out:
	free(home);
	free(p);
	return rc;
}

/* ---- ls, stat ------------------------------------------------------------------ */

static const struct cli_flag ls_flags[] = {
	{"l", NULL, CLI_FLAG_BOOL, "long listing: mode, owner, group, size, time"},
	{"R", NULL, CLI_FLAG_BOOL, "list subdirectories recursively"},
	{0},
};

static void mode_string(const json_t *it, char out[12])
{
	const char *ms = json_string_value(json_object_get(it, "mode"));
	unsigned m = ms ? (unsigned)strtoul(ms, NULL, 8) : 0;
	const char *rwx = "rwxrwxrwx";
	out[0] = is_dir_entry(it) ? 'd' : '-';
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (0400u >> i)) ? rwx[i] : '-';
	if (m & 04000)
		out[3] = out[3] == 'x' ? 's' : 'S';
	if (m & 02000)
		out[6] = out[6] == 'x' ? 's' : 'S';
	if (m & 01000)
		out[9] = out[9] == 'x' ? 't' : 'T';
	out[10] = '\0';
}

static void ls_print(const json_t *items, int longfmt)
{
	size_t i;
	json_t *it;
	if (!longfmt) {
		json_array_foreach(items, i, it)
		{
			const char *n = json_string_value(json_object_get(it, "name"));
			printf("%s%s\n", n ? n : "?", is_dir_entry(it) ? "/" : "");
		}
		return;
	}
	struct cli_table t;
	cli_table_init(&t, 6, "MODE", "OWNER", "GROUP", "SIZE", "MODIFIED", "NAME");
	json_array_foreach(items, i, it)
	{
		char mode[12];
		mode_string(it, mode);
		cli_table_add(&t, mode);
		cli_table_add_json(&t, json_object_get(it, "owner"));
		cli_table_add_json(&t, json_object_get(it, "group"));
		cli_table_addf(&t, "%lld", (long long)json_integer_value(json_object_get(it, "size")));
		cli_table_add_json(&t, json_object_get(it, "modified_at"));
		const char *n = json_string_value(json_object_get(it, "name"));
		cli_table_addf(&t, "%s%s", n ? n : "?", is_dir_entry(it) ? "/" : "");
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

/* List path (all pages); recurse into directories with -R. Entries of
 * every directory visited are appended to all (for --json). */
static int ls_one(struct client *c, const char *path, int longfmt, int recurse,
		  int header, json_t *all, struct err *e)
{
	json_t *st = remote_stat(c, path, e);
	if (!st)
		return e->code ? e->code : CLI_EFAIL;
	if (!is_dir_entry(st)) {
		if (all)
			json_array_append(all, st);
		else {
			json_t *one = json_pack("[O]", st);
			ls_print(one, longfmt);
			json_decref(one);
		}
		json_decref(st);
		return 0;
	}
	json_decref(st);
	char *url = fs_url(c, path, NULL);
	json_t *list = NULL;
	int rc = cli_call_list(c, url, "", &list, e);
	free(url);
	if (rc)
		return rc;
	json_t *items = json_object_get(list, "items");
	if (all) {
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it)
		{
			if (recurse) {
				const char *n = json_string_value(json_object_get(it, "name"));
				char *full = xasprintf("%s/%s", strcmp(path, "/") ? path : "", n);
				json_object_set_new(it, "path", json_string(full));
				free(full);
			}
			json_array_append(all, it);
		}
	} else {
		if (header)
			printf("%s:\n", path);
		ls_print(items, longfmt);
	}
	if (recurse) {
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it)
		{
			if (rc || !is_dir_entry(it))
				continue;
			const char *n = json_string_value(json_object_get(it, "name"));
			char *sub = xasprintf("%s/%s", strcmp(path, "/") ? path : "", n);
			if (!all)
				printf("\n");
			rc = ls_one(c, sub, longfmt, 1, 1, all, e);
			free(sub);
		}
	}
	json_decref(list);
	return rc;
}

static int cmd_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	if (rc)
		return rc;
	int longfmt = cli_arg_has(a, "l"), recurse = cli_arg_has(a, "R");
	json_t *all = c->json ? json_array() : NULL;
	int n = a->npos ? a->npos : 1;
	for (int i = 0; !rc && i < n; i++) {
		char *p = abs_path(home, a->npos ? a->pos[i] : ".");
		if (!all && i)
			printf("\n");
		rc = ls_one(c, p, longfmt, recurse, !all && (n > 1 || recurse), all, e);
		free(p);
	}
	if (!rc && all)
		cli_print_json(all);
	json_decref(all);
	free(home);
	return rc;
}

static int cmd_stat(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	for (int i = 0; !rc && i < a->npos; i++) {
		char *p = abs_path(home, a->pos[i]);
		json_t *o = remote_stat(c, p, e);
		if (!o) {
			rc = e->code ? e->code : CLI_EFAIL;
		} else if (c->json) {
			json_object_set_new(o, "path", json_string(p));
			cli_print_json(o);
		} else {
			struct cli_table t;
			char mode[12];
			cli_table_init_kv(&t);
			cli_table_add(&t, "path");
			cli_table_add(&t, p);
			cli_table_kv(&t, "type", o, "type");
			mode_string(o, mode);
			cli_table_add(&t, "mode");
			cli_table_addf(&t, "%s (%s)", json_string_value(json_object_get(o, "mode")), mode);
			cli_table_kv(&t, "owner", o, "owner");
			cli_table_kv(&t, "group", o, "group");
			cli_table_kv(&t, "size", o, "size");
			cli_table_kv(&t, "sha256", o, "sha256");
			cli_table_kv(&t, "modified", o, "modified_at");
			cli_table_kv(&t, "created", o, "created_at");
			cli_table_print(&t, stdout);
			cli_table_free(&t);
		}
		json_decref(o);
		free(p);
	}
	free(home);
	return rc;
}

/* ---- mkdir, cp, mv, rm ---------------------------------------------------------- */

static const struct cli_flag mkdir_flags[] = {
	{"p", NULL, CLI_FLAG_BOOL, "make parent directories as needed; no error if it exists"},
	{"m", "MODE", CLI_FLAG_VALUE, "octal mode, such as 0750"},
	{0},
};

static int cmd_mkdir(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	for (int i = 0; !rc && i < a->npos; i++) {
		char *p = abs_path(home, a->pos[i]);
		rc = remote_mkdir(c, p, cli_arg_has(a, "p"), cli_arg_get(a, "m"), e);
		free(p);
	}
	free(home);
	if (!rc && c->json)
		printf("{}\n");
	return rc;
}

static int copy_or_move(struct client *c, const struct cli_args *a, const char *op,
			int recursive, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	if (rc)
		return rc;
	char *src = abs_path(home, a->pos[0]);
	char *dst = abs_path(home, a->pos[1]);
	struct err ignore = {0};
	json_t *d = remote_stat(c, dst, &ignore);
	if (d && is_dir_entry(d)) {
		char *in = xasprintf("%s/%s", strcmp(dst, "/") ? dst : "", base_name(src));
		free(dst);
		dst = in;
	}
	json_decref(d);
	char *url = fs_url(c, src, NULL);
	json_t *body = json_pack("{s:s,s:s,s:b}", "op", op, "to", dst, "recursive", recursive);
	json_t *out = NULL;
	rc = cli_call(c, "POST", url, body, &out, e);
	if (!rc && c->json)
		cli_print_json(out);
	json_decref(out);
	free(url);
	free(src);
	free(dst);
	free(home);
	return rc;
}

static const struct cli_flag cp_flags[] = {
	{"r", NULL, CLI_FLAG_BOOL, "copy directories recursively"},
	{0},
};

static int cmd_cp(struct client *c, const struct cli_args *a, struct err *e)
{
	return copy_or_move(c, a, "copy", cli_arg_has(a, "r"), e);
}

static int cmd_mv(struct client *c, const struct cli_args *a, struct err *e)
{
	return copy_or_move(c, a, "move", 0, e);
}

static const struct cli_flag rm_flags[] = {
	{"r", NULL, CLI_FLAG_BOOL, "remove directories and their contents"},
	{"f", NULL, CLI_FLAG_BOOL, "ignore paths that do not exist"},
	{0},
};

static int cmd_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	for (int i = 0; !rc && i < a->npos; i++) {
		char *p = abs_path(home, a->pos[i]);
		char *url = fs_url(c, p, cli_arg_has(a, "r") ? "?recursive=true" : NULL);
		rc = cli_call(c, "DELETE", url, NULL, NULL, e);
		if (rc && cli_arg_has(a, "f") && strstr(e->msg, "no such file")) {
			rc = 0;
			e->msg[0] = '\0';
		}
		free(url);
		free(p);
	}
	free(home);
	if (!rc && c->json)
		printf("{}\n");
	return rc;
}

/* ---- chmod, chown, chgrp, umask, df ------------------------------------------------ */

static const struct cli_flag chmod_flags[] = {
	{"R", NULL, CLI_FLAG_BOOL, "change directories and everything in them"},
	{0},
};

static int patch_paths(struct client *c, const struct cli_args *a, json_t *body,
		       struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	if (cli_arg_has(a, "R"))
		json_object_set_new(body, "recursive", json_true());
	for (int i = 1; !rc && i < a->npos; i++) {
		char *p = abs_path(home, a->pos[i]);
		char *url = fs_url(c, p, NULL);
		json_t *out = NULL;
		rc = cli_call(c, "PATCH", url, json_incref(body), &out, e);
		if (!rc && c->json)
			cli_print_json(out);
		json_decref(out);
		free(url);
		free(p);
	}
	json_decref(body);
	free(home);
	return rc;
}

static int cmd_chmod(struct client *c, const struct cli_args *a, struct err *e)
{
	return patch_paths(c, a, json_pack("{s:s}", "mode", a->pos[0]), e);
}

static int cmd_chown(struct client *c, const struct cli_args *a, struct err *e)
{
	char *spec = xstrdup(a->pos[0]);
	char *colon = strchr(spec, ':');
	json_t *body = json_object();
	if (colon) {
		*colon = '\0';
		if (colon[1])
			json_object_set_new(body, "group", json_string(colon + 1));
	}
	if (*spec)
		json_object_set_new(body, "owner", json_string(spec));
	free(spec);
	return patch_paths(c, a, body, e);
}

static int cmd_chgrp(struct client *c, const struct cli_args *a, struct err *e)
{
	return patch_paths(c, a, json_pack("{s:s}", "group", a->pos[0]), e);
}

static int cmd_umask(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *me = NULL;
	int rc;
	if (a->npos)
		rc = cli_call(c, "PATCH", "/v1/me", json_pack("{s:s}", "umask", a->pos[0]), &me, e);
	else
		rc = cli_call(c, "GET", "/v1/me", NULL, &me, e);
	if (!rc) {
		if (c->json)
			cli_print_json(json_pack("{s:O}", "umask", json_object_get(me, "umask")));
		else
			printf("%s\n", json_string_value(json_object_get(me, "umask")));
	}
	json_decref(me);
	return rc;
}

static int cmd_df(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	int rc = cli_call(c, "GET", "/v1/df", NULL, &o, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		struct cli_table t;
		cli_table_init(&t, 4, "SCOPE", "USED", "LIMIT", "USE%");
		size_t i;
		json_t *it;
		json_array_foreach(json_object_get(o, "items"), i, it)
		{
			int64_t used = json_integer_value(json_object_get(it, "used"));
			int64_t limit = json_integer_value(json_object_get(it, "limit"));
			char u[32], l[32];
			cli_size_format(used, u);
			cli_size_format(limit, l);
			cli_table_add_json(&t, json_object_get(it, "scope"));
			cli_table_add(&t, used ? u : "0");
			cli_table_add(&t, l);
			if (limit > 0)
				cli_table_addf(&t, "%d%%", (int)(used * 100 / limit));
			else
				cli_table_add(&t, "-");
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(o);
	return 0;
}

/* ---- share links ------------------------------------------------------------------ */

static const struct cli_flag share_create_flags[] = {
	{"expires", "DURATION", CLI_FLAG_VALUE, "lifetime such as 1h or 7d (default 7d; 0: never)"},
	{0},
};

static int share_create(struct client *c, const struct cli_args *a, struct err *e)
{
	char *home = NULL;
	int rc = home_dir(c, &home, e);
	if (rc)
		return rc;
	char *p = abs_path(home, a->pos[0]);
	json_t *body = json_pack("{s:s}", "path", p);
	const char *exp = cli_arg_get(a, "expires");
	if (exp)
		json_object_set_new(body, "expires_in", json_string(exp));
	json_t *o = NULL;
	rc = cli_call(c, "POST", "/v1/shares", body, &o, e);
	if (!rc) {
		if (c->json)
			cli_print_json(o);
		else
			printf("%s\n", json_string_value(json_object_get(o, "url")));
	}
	json_decref(o);
	free(p);
	free(home);
	return rc;
}

static int share_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	int rc = cli_call(c, "GET", "/v1/shares", NULL, &o, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
	} else {
		struct cli_table t;
		cli_table_init(&t, 5, "ID", "PATH", "CREATED", "EXPIRES", "USES");
		size_t i;
		json_t *it;
		json_array_foreach(json_object_get(o, "items"), i, it)
		{
			cli_table_add_json(&t, json_object_get(it, "id"));
			cli_table_add_json(&t, json_object_get(it, "path"));
			cli_table_add_json(&t, json_object_get(it, "created_at"));
			cli_table_add_json(&t, json_object_get(it, "expires_at"));
			cli_table_add_json(&t, json_object_get(it, "uses"));
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(o);
	return 0;
}

static int share_rm(struct client *c, const struct cli_args *a, struct err *e)
{
	char *path = cli_path(c, "/v1/shares/%s", a->pos[0]);
	int rc = cli_call(c, "DELETE", path, NULL, NULL, e);
	free(path);
	if (!rc)
		cli_print_done(c, NULL, "Share link %s revoked", a->pos[0]);
	return rc;
}

static const struct cli_cmd share_cmds[] = {
	{"create", "PATH", 1, 1, share_create_flags, share_create, NULL,
	 "make a read-only link that works without an account"},
	{"ls", "", 0, 0, NULL, share_ls, NULL, "list your share links"},
	{"rm", "ID", 1, 1, NULL, share_rm, NULL, "revoke a share link"},
	{0},
};

const struct cli_cmd cli_files_cmds[] = {
	{"ls", "[PATH]...", 0, 64, ls_flags, cmd_ls, NULL, "list directories"},
	{"stat", "PATH...", 1, 64, NULL, cmd_stat, NULL, "show a file's or directory's metadata"},
	{"mkdir", "PATH...", 1, 64, mkdir_flags, cmd_mkdir, NULL, "make directories"},
	{"put", "LOCAL [REMOTE]", 1, 2, NULL, cmd_put, NULL,
	 "upload a file or a directory tree (LOCAL - reads stdin)"},
	{"get", "REMOTE [LOCAL]", 1, 2, NULL, cmd_get, NULL,
	 "download a file or a directory tree (LOCAL - writes stdout)"},
	{"cat", "PATH...", 1, 64, NULL, cmd_cat, NULL, "print files"},
	{"head", "PATH", 1, 1, head_flags, cmd_head, NULL,
	 "print the start of a file without downloading all of it"},
	{"cp", "SRC DST", 2, 2, cp_flags, cmd_cp, NULL, "copy (files share their bytes)"},
	{"mv", "SRC DST", 2, 2, NULL, cmd_mv, NULL, "move or rename"},
	{"rm", "PATH...", 1, 64, rm_flags, cmd_rm, NULL, "remove files or directories"},
	{"chmod", "MODE PATH...", 2, 64, chmod_flags, cmd_chmod, NULL,
	 "change mode (octal such as 0640, or symbolic such as g+w,o-rwx)"},
	{"chown", "USER[:GROUP] PATH...", 2, 64, chmod_flags, cmd_chown, NULL,
	 "change owner (administrators) and group"},
	{"chgrp", "GROUP PATH...", 2, 64, chmod_flags, cmd_chgrp, NULL,
	 "change group (to one you belong to)"},
	{"umask", "[MODE]", 0, 1, NULL, cmd_umask, NULL, "show or set your umask"},
	{"df", "", 0, 0, NULL, cmd_df, NULL, "storage used against quotas"},
	{"share", NULL, 0, 0, NULL, NULL, share_cmds, "share links"},
	{0},
};
