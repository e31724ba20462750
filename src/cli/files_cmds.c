/*
 * files_cmds.c - the file space from the command line: ls, stat, mkdir,
 * put, get, cat, head, cp, mv, rm, chmod, chown, chgrp, umask, df and
 * share links. Remote paths are resolved here (a relative one starts at
 * the user's home, /home/<username>); the bytes themselves move in
 * transfer.c. The server decides what is allowed and its refusals are
 * reported as it worded them ("permission denied: ...").
 *
 * A command over several paths goes on after a failure and reports the
 * first one at the end (one line, non-zero exit), as ls and rm do.
 */
#include "cli/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- remote paths ------------------------------------------------------ */

/* Where relative remote paths start: the caller's home, asked of the
 * server (GET /v1/me) once, and only when a relative path needs it. */
struct fs_paths {
	struct client *c;
	char *home;
};

static void paths_free(struct fs_paths *p)
{
	free(p->home);
	p->home = NULL;
}

static int paths_home(struct fs_paths *p, struct err *e)
{
	json_t *me = NULL;
	if (p->home)
		return 0;
	int rc = cli_call(p->c, "GET", "/v1/me", NULL, &me, e);
	if (rc)
		return rc;
	const char *u = json_string_value(json_object_get(me, "username"));
	if (u && *u && !strchr(u, '/'))
		p->home = xasprintf("/home/%s", u);
	else
		rc = err_set(e, CLI_EFAIL, "the server did not say who you are");
	json_decref(me);
	return rc;
}

/* 1 if arg names a directory by its form: "dir/", ".", "a/..". */
static int path_names_dir(const char *arg)
{
	size_t n = strlen(arg);
	return n && (arg[n - 1] == '/' || !strcmp(arg, ".") || !strcmp(arg, "..") ||
		     (n >= 2 && !strcmp(arg + n - 2, "/.")) ||
		     (n >= 3 && !strcmp(arg + n - 3, "/..")));
}

/*
 * The absolute, normalised remote path for arg: relative to home; empty
 * and "." components dropped; ".." goes up one (never above "/"), as a
 * shell would (the file space has no symbolic links). Caller frees *out.
 */
static int paths_abs(struct fs_paths *p, const char *arg, char **out,
		     struct err *e)
{
	struct buf b = {0};
	int rc;
	if (arg[0] != '/') {
		if ((rc = paths_home(p, e)))
			return rc;
		buf_adds(&b, p->home);
	}
	for (const char *s = arg; *s;) {
		while (*s == '/')
			s++;
		size_t n = strcspn(s, "/");
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			char *up = b.len ? strrchr(b.data, '/') : NULL;
			if (up)
				b.len = (size_t)(up - b.data), b.data[b.len] = '\0';
		} else if (n && !(n == 1 && s[0] == '.')) {
			buf_addc(&b, '/');
			buf_add(&b, s, n);
		}
		s += n;
	}
	if (!b.len)
		buf_addc(&b, '/');
	*out = buf_detach(&b);
	return 0;
}

/* dir + "/" + name, without doubling the root's slash. Caller frees. */
static char *path_join(const char *dir, const char *name)
{
	return xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", name);
}

/* A local path in dir (its trailing slashes dropped). Caller frees. */
static char *local_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return xasprintf("%.*s%s%s", (int)n, dir, dir[n - 1] == '/' ? "" : "/", name);
}

/* The last component of a normalised absolute path ("" for "/"). */
static const char *path_base(const char *p)
{
	return strrchr(p, '/') + 1;
}

/* The entry at path (GET ?stat=true) into *out. */
static int remote_stat(struct client *c, const char *path, json_t **out,
		       struct err *e)
{
	char *url = cli_fs_url(c, path, "?stat=true");
	int rc = cli_call(c, "GET", url, NULL, out, e);
	free(url);
	if (!rc && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = err_set(e, CLI_EFAIL, "the server's answer is not an entry");
	}
	return rc;
}

static int entry_is_dir(const json_t *o)
{
	const char *t = json_string_value(json_object_get(o, "type"));
	return t && !strcmp(t, "directory");
}

/* 1 if path exists and is a directory (any failure counts as no). */
static int remote_is_dir(struct client *c, const char *path)
{
	struct err ignore = {0};
	json_t *o = NULL;
	int dir = remote_stat(c, path, &o, &ignore) == 0 && entry_is_dir(o);
	json_decref(o);
	return dir;
}

/* ---- shared pieces of output ------------------------------------------- */

/* Keep the first failure of a command that goes on after one. */
static void keep_first(int *first, struct err *kept, int rc,
		       const struct err *e)
{
	if (rc && !*first) {
		*first = rc;
		*kept = *e;
	}
}

/* With --json: the one entry, or an array when there were several. */
static void print_results(const json_t *arr)
{
	if (json_array_size(arr) == 1)
		cli_print_json(json_array_get(arr, 0));
	else
		cli_print_json(arr);
}

/* A name from the server on a line of its own, with control characters
 * shown as '?' so that a name cannot drive the terminal. */
static void print_name(const char *s, const char *suffix)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			putchar('?');
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			putchar('?'), p++;
		else
			putchar(*p);
	}
	fputs(suffix, stdout);
	putchar('\n');
}

/* "drwxr-s---" from an entry's type and octal mode; "d?????????" when
 * the listing gave names only (no search permission). */
static void mode_string(const json_t *it, char out[11])
{
	const char *ms = json_string_value(json_object_get(it, "mode"));
	const char *t = json_string_value(json_object_get(it, "type"));
	static const char rwx[] = "rwxrwxrwx";
	out[0] = !t ? '?' : !strcmp(t, "directory") ? 'd' : '-';
	out[10] = '\0';
	if (!ms) {
		memset(out + 1, '?', 9);
		return;
	}
	unsigned m = (unsigned)strtoul(ms, NULL, 8);
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (0400u >> i)) ? rwx[i] : '-';
	if (m & 04000)
		out[3] = out[3] == 'x' ? 's' : 'S';
	if (m & 02000)
		out[6] = out[6] == 'x' ? 's' : 'S';
	if (m & 01000)
		out[9] = out[9] == 'x' ? 't' : 'T';
}

/* An RFC 3339 UTC time as local "2026-03-01 14:05", or "-". */
static void time_string(const json_t *v, char out[32])
{
	const char *s = json_string_value(v);
	struct tm tm = {0}, local;
	snprintf(out, 32, "-");
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || !localtime_r(&t, &local))
		return;
	strftime(out, 32, "%Y-%m-%d %H:%M", &local);
}

/* Bytes as a person reads them: "512B", "1.5K", "381.8M", "2G". */
static void size_human(int64_t v, char out[32])
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	int i = -1;
	while (d >= 1024 && i < 5) {
		d /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(out, 32, "%lldB", (long long)v);
	else if (d - (int64_t)d < 0.05 || d >= 100)
		snprintf(out, 32, "%.0f%c", d, units[i]);
	else
		snprintf(out, 32, "%.1f%c", d, units[i]);
}

/* ---- ls ------------------------------------------------------------------ */

static const struct cli_flag ls_flags[] = {
	{"l", NULL, CLI_FLAG_BOOL, "long listing: mode, owner, group, size, time"},
	{"R", NULL, CLI_FLAG_BOOL, "list subdirectories recursively"},
	{0},
};

struct ls_run {
	struct client *c;
	int longfmt, recurse;
	int tag;       /* several listings: headers (text), "path" (JSON) */
	int sections;  /* listings printed so far (text) */
	json_t *all;   /* --json: every entry shown */
	int first;     /* the first failure, reported at the end */
	struct err kept;
};

static void ls_print(const json_t *items, int longfmt)
{
	size_t i;
	json_t *it;
	if (!longfmt) {
		json_array_foreach(items, i, it)
		{
			const char *n = json_string_value(json_object_get(it, "name"));
			print_name(n ? n : "?", entry_is_dir(it) ? "/" : "");
		}
		return;
	}
	if (!json_array_size(items))
		return;
	struct cli_table t;
	cli_table_init(&t, 6, "MODE", "OWNER", "GROUP", "SIZE", "MODIFIED", "NAME");
	json_array_foreach(items, i, it)
	{
		char mode[11], when[32];
		const char *n = json_string_value(json_object_get(it, "name"));
		mode_string(it, mode);
		time_string(json_object_get(it, "modified_at"), when);
		cli_table_add(&t, mode);
		cli_table_add_json(&t, json_object_get(it, "owner"));
		cli_table_add_json(&t, json_object_get(it, "group"));
		cli_table_add_json(&t, json_object_get(it, "size"));
		cli_table_add(&t, when);
		cli_table_addf(&t, "%s%s", n ? n : "?", entry_is_dir(it) ? "/" : "");
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

/* Show one listing (text) or collect it (JSON). */
static void ls_show(struct ls_run *r, const char *path, json_t *items)
{
	size_t i;
	json_t *it;
	if (r->all) {
		json_array_foreach(items, i, it)
		{
			if (r->tag) {
				const char *n = json_string_value(json_object_get(it, "name"));
				char *full = path_join(path, n ? n : "");
				json_object_set_new(it, "path", json_string(full));
				free(full);
			}
			json_array_append(r->all, it);
		}
		return;
	}
	if (r->sections++)
		putchar('\n');
	if (r->tag)
		print_name(path, ":");
	ls_print(items, r->longfmt);
}

/* List the directory at path (every page), then with -R its
 * subdirectories, depth first in the server's order. */
static void ls_dir(struct ls_run *r, const char *path)
{
	struct err e = {0};
	json_t *list = NULL;
	char *url = cli_fs_url(r->c, path, NULL);
	int rc = cli_call_list(r->c, url, "", &list, &e);
	free(url);
	if (rc) {
		keep_first(&r->first, &r->kept, rc, &e);
		return;
	}
	json_t *items = json_object_get(list, "items");
	ls_show(r, path, items);
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		const char *n = json_string_value(json_object_get(it, "name"));
		if (!r->recurse || !entry_is_dir(it) || !n || !*n || strchr(n, '/'))
			continue;
		char *sub = path_join(path, n);
		ls_dir(r, sub);
		free(sub);
	}
	json_decref(list);
}

/* ls of one argument: a directory is listed, a file shows its entry. */
static void ls_arg(struct ls_run *r, const char *path, const char *shown)
{
	struct err e = {0};
	json_t *st = NULL;
	int rc = remote_stat(r->c, path, &st, &e);
	if (rc) {
		keep_first(&r->first, &r->kept, rc, &e);
	} else if (entry_is_dir(st)) {
		ls_dir(r, path);
	} else if (r->all) {
		if (r->tag)
			json_object_set_new(st, "path", json_string(path));
		json_array_append(r->all, st);
	} else {
		/* as ls does: the file under the name it was given */
		json_object_set_new(st, "name", json_string(shown));
		json_t *one = json_pack("[O]", st);
		if (r->sections++)
			putchar('\n');
		ls_print(one, r->longfmt);
		json_decref(one);
	}
	json_decref(st);
}

static int cmd_ls(struct client *c, const struct cli_args *a, struct err *e)
{
	struct fs_paths p = {c, NULL};
	struct ls_run r = {c, cli_arg_has(a, "l"), cli_arg_has(a, "R")};
	int n = a->npos ? a->npos : 1;
	r.tag = n > 1 || r.recurse;
	r.all = c->json ? json_array() : NULL;
	for (int i = 0; i < n; i++) {
		const char *arg = a->npos ? a->pos[i] : ".";
		char *path = NULL;
		int rc = paths_abs(&p, arg, &path, e);
		if (rc)
			keep_first(&r.first, &r.kept, rc, e);
		else
			ls_arg(&r, path, arg);
		free(path);
	}
	if (r.all)
		cli_print_json(r.all);
	json_decref(r.all);
	paths_free(&p);
	if (r.first)
		*e = r.kept;
	return r.first;
}

/* ---- stat ---------------------------------------------------------------- */

static void stat_print(const char *path, const json_t *o)
{
	struct cli_table t;
	char mode[11];
	const char *ms = json_string_value(json_object_get(o, "mode"));
	cli_table_init_kv(&t);
	cli_table_add(&t, "path");
	cli_table_add(&t, path);
	cli_table_kv(&t, "type", o, "type");
	cli_table_kv(&t, "size", o, "size");
	mode_string(o, mode);
	cli_table_add(&t, "mode");
	cli_table_addf(&t, "%s (%s)", ms ? ms : "-", mode);
	cli_table_add(&t, "owner");
	cli_table_addf(&t, "%s (uid %lld)",
		       json_string_value(json_object_get(o, "owner"))
			       ? json_string_value(json_object_get(o, "owner"))
			       : "-",
		       (long long)json_integer_value(json_object_get(o, "uid")));
	cli_table_add(&t, "group");
	cli_table_addf(&t, "%s (gid %lld)",
		       json_string_value(json_object_get(o, "group"))
			       ? json_string_value(json_object_get(o, "group"))
			       : "-",
		       (long long)json_integer_value(json_object_get(o, "gid")));
	cli_table_kv(&t, "sha256", o, "sha256");
	cli_table_kv(&t, "modified", o, "modified_at");
	cli_table_kv(&t, "created", o, "created_at");
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int cmd_stat(struct client *c, const struct cli_args *a, struct err *e)
{
	struct fs_paths p = {c, NULL};
	struct err kept = {0};
	json_t *all = json_array();
	int first = 0, shown = 0;
	for (int i = 0; i < a->npos; i++) {
		char *path = NULL;
		json_t *o = NULL;
		int rc = paths_abs(&p, a->pos[i], &path, e);
		if (!rc)
			rc = remote_stat(c, path, &o, e);
		keep_first(&first, &kept, rc, e);
		if (!rc) {
			json_object_set_new(o, "path", json_string(path));
			if (c->json) {
				json_array_append(all, o);
			} else {
				if (shown++)
					putchar('\n');
				stat_print(path, o);
			}
		}
		json_decref(o);
		free(path);
	}
	if (c->json && json_array_size(all))
		print_results(all);
	json_decref(all);
	paths_free(&p);
	if (first)
		*e = kept;
	return first;
}

/* ---- mkdir ----------------------------------------------------------------- */

static const struct cli_flag mkdir_flags[] = {
	{"p", NULL, CLI_FLAG_BOOL,
	 "make parent directories as needed; no error if it exists"},
	{"m", "MODE", CLI_FLAG_VALUE, "octal mode such as 0750 (default: 0777 less your umask)"},
	{0},
};

static int remote_mkdir(struct client *c, const char *path, int parents,
			const char *mode, json_t **out, struct err *e)
{
	char *url = cli_fs_url(c, path, NULL);
	json_t *b = json_pack("{s:s,s:b}", "op", "mkdir", "parents", parents);
	if (mode)
		json_object_set_new(b, "mode", json_string(mode));
	int rc = cli_call(c, "POST", url, b, out, e);
	free(url);
	return rc;
}

static int cmd_mkdir(struct client *c, const struct cli_args *a, struct err *e)
{
	struct fs_paths p = {c, NULL};
	struct err kept = {0};
	json_t *all = json_array();
	int first = 0;
	for (int i = 0; i < a->npos; i++) {
		char *path = NULL;
		json_t *o = NULL;
		int rc = paths_abs(&p, a->pos[i], &path, e);
		if (!rc)
			rc = remote_mkdir(c, path, cli_arg_has(a, "p"), cli_arg_get(a, "m"),
					  &o, e);
		keep_first(&first, &kept, rc, e);
		if (o)
			json_array_append(all, o);
		json_decref(o);
		free(path);
	}
	if (c->json && json_array_size(all))
		print_results(all);
	json_decref(all);
	paths_free(&p);
	if (first)
		*e = kept;
	return first;
}

/* ---- put ------------------------------------------------------------------ */

/* The name a local path goes by when copied into a directory: its last
 * component ("data" for "./data/", the current directory's for "."). */
static char *local_base(const char *local)
{
	size_t n = strlen(local);
	while (n > 1 && local[n - 1] == '/')
		n--;
	char *s = xstrndup(local, n);
	char *slash = strrchr(s, '/');
	char *base = xstrdup(slash ? slash + 1 : s);
	free(s);
	if (*base && strcmp(base, ".") && strcmp(base, ".."))
		return base;
	free(base);
	char *real = realpath(local, NULL);
	if (!real)
		return NULL;
	base = strcmp(real, "/") ? xstrdup(strrchr(real, '/') + 1) : NULL;
	free(real);
	return base;
}

struct put_run {
	struct client *c;
	int progress;
	json_t *done; /* --json: the entries uploaded */
};

static int put_file(struct put_run *r, const char *local, const char *remote,
		    struct err *e)
{
	json_t *entry = NULL;
	int rc = cli_fs_upload(r->c, local, remote, r->progress, &entry, e);
	if (!rc && r->done && entry) {
		json_object_set_new(entry, "path", json_string(remote));
		json_array_append(r->done, entry);
	}
	json_decref(entry);
	return rc;
}

/* The tree at local into remote: mkdir -p each directory, upload each
 * file. Other kinds of file (links, devices) are skipped with a note. */
static int put_tree(struct put_run *r, const char *local, const char *remote,
		    struct err *e)
{
	int rc = remote_mkdir(r->c, remote, 1, NULL, NULL, e);
	if (rc)
		return rc;
	DIR *d = opendir(local);
	if (!d)
		return err_set(e, CLI_EFAIL, "cannot read %s: %s", local, strerror(errno));
	struct dirent *de;
	while (!rc && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *lp = local_join(local, de->d_name);
		char *rp = path_join(remote, de->d_name);
		struct stat st;
		if (lstat(lp, &st) < 0)
			rc = err_set(e, CLI_EFAIL, "cannot read %s: %s", lp, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = put_tree(r, lp, rp, e);
		else if (S_ISREG(st.st_mode))
			rc = put_file(r, lp, rp, e);
		else
			fprintf(stderr, "cove: skipped %s (not a regular file or directory)\n",
				lp);
		free(lp);
		free(rp);
	}
	if (!rc && errno)
		rc = err_set(e, CLI_EFAIL, "cannot read %s: %s", local, strerror(errno));
	closedir(d);
	return rc;
}

static int cmd_put(struct client *c, const struct cli_args *a, struct err *e)
{
	struct fs_paths p = {c, NULL};
	struct put_run r = {c, isatty(2), c->json ? json_array() : NULL};
	const char *local = a->pos[0];
	const char *rarg = a->npos > 1 ? a->pos[1] : ".";
	char *remote = NULL, *base = NULL;
	int from_stdin = !strcmp(local, "-"), local_dir = 0, rc;
	struct stat st;
	if (from_stdin && a->npos < 2) {
		rc = cli_usage_err(a, e, "reading standard input needs a REMOTE path");
		goto out;
	}
	if (!from_stdin) {
		if (stat(local, &st) < 0) {
			rc = err_set(e, CLI_EFAIL, "cannot read %s: %s", local, strerror(errno));
			goto out;
		}
		local_dir = S_ISDIR(st.st_mode);
	}
	if ((rc = paths_abs(&p, rarg, &remote, e)))
		goto out;
	/* into an existing directory, or one named so ("dir/"): keep the name */
	if (path_names_dir(rarg) || remote_is_dir(c, remote)) {
		if (from_stdin || !(base = local_base(local))) {
			rc = err_set(e, CLI_EFAIL, "'%s' is a directory: name the file to write",
				     remote);
			goto out;
		}
		char *into = path_join(remote, base);
		free(remote);
		remote = into;
	}
	rc = local_dir ? put_tree(&r, local, remote, e) : put_file(&r, local, remote, e);
	if (!rc && r.done)
		print_results(r.done);
out:
	json_decref(r.done);
	paths_free(&p);
	free(remote);
	free(base);
	return rc;
}

/* ---- get, cat, head ------------------------------------------------------------ */

/* The tree at remote into the local directory local (made if needed). */
static int get_tree(struct client *c, const char *remote, const char *local,
		    int progress, struct err *e)
{
	struct stat st;
	if (mkdir(local, 0777) < 0 &&
	    (errno != EEXIST || stat(local, &st) < 0 || !S_ISDIR(st.st_mode)))
		return err_set(e, CLI_EFAIL, "cannot create directory %s: %s", local,
			       strerror(errno == EEXIST ? ENOTDIR : errno));
	char *url = cli_fs_url(c, remote, NULL);
	json_t *list = NULL;
	int rc = cli_call_list(c, url, "", &list, e);
	free(url);
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(list, "items"), i, it)
	{
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *type = json_string_value(json_object_get(it, "type"));
		if (rc)
			break;
		/* never write outside the target, whatever the server says */
		if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") ||
		    !strcmp(name, "..") || !type)
			continue;
		char *rp = path_join(remote, name);
		char *lp = local_join(local, name);
		if (!strcmp(type, "directory"))
			rc = get_tree(c, rp, lp, progress, e);
		else if (!strcmp(type, "file"))
			rc = cli_fs_download(c, rp, lp, progress, e);
		free(rp);
		free(lp);
	}
	json_decref(list);
	return rc;
}

static int cmd_get(struct client *c, const struct cli_args *a, struct err *e)
{
	struct fs_paths p = {c, NULL};
	char *remote = NULL, *local = NULL;
	json_t *src = NULL;
	struct stat st;
	int rc;
	if ((rc = paths_abs(&p, a->pos[0], &remote, e)) ||
	    (rc = remote_stat(c, remote, &src, e)))
		goto out;
	const char *name = path_base(remote);
	const char *larg = a->npos > 1 ? a->pos[1] : NULL;
	int to_stdout = larg && !strcmp(larg, "-");
	if (to_stdout && entry_is_dir(src)) {
		rc = err_set(e, CLI_EFAIL, "'%s' is a directory", remote);
		goto out;
	}
	if (!*name && (!larg || path_names_dir(larg))) {
		rc = err_set(e, CLI_EFAIL, "name a local directory to copy '/' into");
		goto out;
	}
	if (!larg)
		local = xstrdup(name);
	else if (!to_stdout && (path_names_dir(larg) ||
				(stat(larg, &st) == 0 && S_ISDIR(st.st_mode))))
		local = local_join(larg, name);
	else
		local = xstrdup(larg);
	/* a bar on the terminal, unless the bytes are going there too */
	int progress = isatty(2) && !(to_stdout && isatty(1));
	rc = entry_is_dir(src) ? get_tree(c, remote, local, progress, e)
			       : cli_fs_download(c, remote, local, progress, e);
out:
	json_decref(src);
	paths_free(&p);
	free(remote);
	free(local);
	return rc;
}

static int cmd_cat(struct client *c, const struct cli_args *a, struct err *e)
{
	struct fs_paths p = {c, NULL};
	struct err kept = {0};
	int first = 0;
	for (int i = 0; i < a->npos; i++) {
		char *path = NULL;
		int rc = paths_abs(&p, a->pos[i], &path, e);
		if (!rc)
			rc = cli_fs_download(c, path, "-", 0, e);
		keep_first(&first, &kept, rc, e);
		free(path);
	}
	paths_free(&p);
	if (first)
		*e = kept;
	return first;
}

static const struct cli_flag head_flags[] = {
	{"n", "LINES", CLI_FLAG_VALUE, "the first LINES lines (default 10)"},
	{"c", "BYTES", CLI_FLAG_VALUE, "the first BYTES bytes"},
	{0},
};

#define HEAD_CHUNK (64 * 1024)

/* The first lines lines of the file at path on stdout, fetched 64 KiB
 * at a time (Range requests) until there are enough. */
static int head_lines(struct client *c, const char *path, int64_t lines,
		      struct err *e)
{
	int64_t off = 0, seen = 0;
	int rc = 0;
	for (;;) {
		char *data = NULL;
		size_t len = 0;
		int64_t got = 0;
		FILE *mem = open_memstream(&data, &len);
		if (!mem)
			return err_set(e, CLI_EFAIL, "out of memory");
		rc = cli_fs_range(c, path, off, HEAD_CHUNK, mem, &got, e);
		fclose(mem);
		size_t take = 0;
		while (!rc && take < len && seen < lines)
			if (data[take++] == '\n')
				seen++;
		fwrite(data, 1, take, stdout);
		free(data);
		if (rc || seen >= lines || got < HEAD_CHUNK)
			break;
		off += got;
	}
	return rc;
}

static int cmd_head(struct client *c, const struct cli_args *a, struct err *e)
{
	struct fs_paths p = {c, NULL};
	int64_t lines = 10, bytes = -1;
	const char *nv = cli_arg_get(a, "n"), *cv = cli_arg_get(a, "c");
	char *path = NULL;
	int rc;
	if (nv && cv)
		return cli_usage_err(a, e, "give -n or -c, not both");
	if ((nv && cli_count_parse(nv, &lines)) || (cv && cli_count_parse(cv, &bytes)))
		return cli_usage_err(a, e, "-n and -c take a whole number");
	if ((rc = paths_abs(&p, a->pos[0], &path, e)))
		goto out;
	if (bytes > 0) {
		rc = cli_fs_range(c, path, 0, bytes, stdout, NULL, e);
	} else if (bytes == 0) {
		/* nothing to print, but say whether the file is there */
		rc = head_lines(c, path, 0, e);
	} else {
		rc = head_lines(c, path, lines, e);
	}
	if (fflush(stdout) != 0 && !rc)
		rc = err_set(e, CLI_EFAIL, "cannot write standard output: %s",
			     strerror(errno));
out:
	paths_free(&p);
	free(path);
	return rc;
}

/* ---- cp, mv, rm ----------------------------------------------------------------- */

/* POST {"op":op,"to":DST} on SRC; into DST/<name> when DST is a
 * directory (or written as one, "dir/"). */
static int copy_or_move(struct client *c, const struct cli_args *a,
			const char *op, int recursive, struct err *e)
{
	struct fs_paths p = {c, NULL};
	char *src = NULL, *dst = NULL, *url = NULL;
	json_t *out = NULL;
	int rc;
	if ((rc = paths_abs(&p, a->pos[0], &src, e)) ||
	    (rc = paths_abs(&p, a->pos[1], &dst, e)))
		goto out;
	if (path_names_dir(a->pos[1]) || remote_is_dir(c, dst)) {
		char *into = path_join(dst, path_base(src));
		free(dst);
		dst = into;
	}
	url = cli_fs_url(c, src, NULL);
	json_t *body = json_pack("{s:s,s:s}", "op", op, "to", dst);
	if (recursive)
		json_object_set_new(body, "recursive", json_true());
	if ((rc = cli_call(c, "POST", url, body, &out, e)) == 0 && c->json)
		cli_print_json(out);
out:
	json_decref(out);
	paths_free(&p);
	free(url);
	free(src);
	free(dst);
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
	struct fs_paths p = {c, NULL};
	struct err kept = {0};
	int first = 0;
	for (int i = 0; i < a->npos; i++) {
		char *path = NULL, *url = NULL;
		int rc = paths_abs(&p, a->pos[i], &path, e);
		if (!rc) {
			url = cli_fs_url(c, path,
					 cli_arg_has(a, "r") ? "?recursive=true" : NULL);
			rc = cli_call(c, "DELETE", url, NULL, NULL, e);
		}
		if (rc && cli_arg_has(a, "f") && !strncmp(e->msg, "no such file", 12))
			rc = 0;
		keep_first(&first, &kept, rc, e);
		free(url);
		free(path);
	}
	paths_free(&p);
	if (first) {
		*e = kept;
		return first;
	}
	if (c->json)
		printf("{}\n");
	return 0;
}

/* ---- chmod, chown, chgrp ----------------------------------------------------------- */

static const struct cli_flag change_flags[] = {
	{"R", NULL, CLI_FLAG_BOOL, "change directories and everything in them"},
	{0},
};

/* PATCH body (taken over) on each of a's paths after the first argument. */
static int patch_paths(struct client *c, const struct cli_args *a, json_t *body,
		       struct err *e)
{
	struct fs_paths p = {c, NULL};
	struct err kept = {0};
	json_t *all = json_array();
	int first = 0;
	if (cli_arg_has(a, "R"))
		json_object_set_new(body, "recursive", json_true());
	for (int i = 1; i < a->npos; i++) {
		char *path = NULL, *url = NULL;
		json_t *out = NULL;
		int rc = paths_abs(&p, a->pos[i], &path, e);
		if (!rc) {
			url = cli_fs_url(c, path, NULL);
			rc = cli_call(c, "PATCH", url, json_incref(body), &out, e);
		}
		keep_first(&first, &kept, rc, e);
		if (out) {
			json_object_set_new(out, "path", json_string(path));
			json_array_append(all, out);
		}
		json_decref(out);
		free(url);
		free(path);
	}
	if (c->json && json_array_size(all))
		print_results(all);
	json_decref(all);
	json_decref(body);
	paths_free(&p);
	if (first)
		*e = kept;
	return first;
}

static int cmd_chmod(struct client *c, const struct cli_args *a, struct err *e)
{
	return patch_paths(c, a, json_pack("{s:s}", "mode", a->pos[0]), e);
}

static int cmd_chown(struct client *c, const struct cli_args *a, struct err *e)
{
	const char *spec = a->pos[0], *colon = strchr(spec, ':');
	json_t *body = json_object();
	if (colon && colon[1])
		json_object_set_new(body, "group", json_string(colon + 1));
	if (colon != spec)
		json_object_set_new(body, "owner",
				    json_stringn(spec, colon ? (size_t)(colon - spec)
							     : strlen(spec)));
	if (!json_object_size(body)) {
		json_decref(body);
		return cli_usage_err(a, e, "'%s' names neither a user nor a group", spec);
	}
	return patch_paths(c, a, body, e);
}

static int cmd_chgrp(struct client *c, const struct cli_args *a, struct err *e)
{
	return patch_paths(c, a, json_pack("{s:s}", "group", a->pos[0]), e);
}

/* ---- umask, df ------------------------------------------------------------------ */

static int cmd_umask(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *me = NULL;
	int rc = a->npos ? cli_call(c, "PATCH", "/v1/me",
				    json_pack("{s:s}", "umask", a->pos[0]), &me, e)
			 : cli_call(c, "GET", "/v1/me", NULL, &me, e);
	if (rc)
		return rc;
	json_t *um = json_object_get(me, "umask");
	if (c->json) {
		json_t *o = json_pack("{s:O}", "umask", um ? um : json_null());
		cli_print_json(o);
		json_decref(o);
	} else {
		printf("%s\n", json_is_string(um) ? json_string_value(um) : "-");
	}
	json_decref(me);
	return 0;
}

static int cmd_df(struct client *c, const struct cli_args *a, struct err *e)
{
	json_t *o = NULL;
	int rc = cli_call(c, "GET", "/v1/df", NULL, &o, e);
	if (rc)
		return rc;
	if (c->json) {
		cli_print_json(o);
		json_decref(o);
		return 0;
	}
	struct cli_table t;
	size_t i;
	json_t *it;
	cli_table_init(&t, 4, "SCOPE", "USED", "LIMIT", "USE%");
	json_array_foreach(json_object_get(o, "items"), i, it)
	{
		int64_t used = json_integer_value(json_object_get(it, "used"));
		int64_t limit = json_integer_value(json_object_get(it, "limit"));
		char u[32], l[32];
		size_human(used, u);
		size_human(limit, l);
		cli_table_add_json(&t, json_object_get(it, "scope"));
		cli_table_add(&t, u);
		cli_table_add(&t, limit > 0 ? l : "unlimited");
		if (limit > 0)
			cli_table_addf(&t, "%.0f%%", (double)used * 100 / (double)limit);
		else
			cli_table_add(&t, "-");
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	json_decref(o);
	return 0;
}

/* ---- share links ----------------------------------------------------------------- */

static const struct cli_flag share_create_flags[] = {
	{"expires", "DURATION", CLI_FLAG_VALUE,
	 "lifetime such as 1h or 7d (default 7d; 0: never)"},
	{0},
};

static int share_create(struct client *c, const struct cli_args *a,
			struct err *e)
{
	struct fs_paths p = {c, NULL};
	char *path = NULL;
	json_t *o = NULL;
	int rc = paths_abs(&p, a->pos[0], &path, e);
	if (rc)
		goto out;
	json_t *body = json_pack("{s:s}", "path", path);
	const char *exp = cli_arg_get(a, "expires");
	if (exp)
		json_object_set_new(body, "expires_in", json_string(exp));
	if ((rc = cli_call(c, "POST", "/v1/shares", body, &o, e)))
		goto out;
	if (c->json)
		cli_print_json(o);
	else
		printf("%s\n", json_string_value(json_object_get(o, "url"))
				       ? json_string_value(json_object_get(o, "url"))
				       : "-");
out:
	json_decref(o);
	paths_free(&p);
	free(path);
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
	{"ls", "[PATH]...", 0, 64, ls_flags, cmd_ls, NULL,
	 "list directories (default: your home)"},
	{"stat", "PATH...", 1, 64, NULL, cmd_stat, NULL,
	 "show a file's or directory's metadata"},
	{"mkdir", "PATH...", 1, 64, mkdir_flags, cmd_mkdir, NULL, "make directories"},
	{"put", "LOCAL [REMOTE]", 1, 2, NULL, cmd_put, NULL,
	 "upload a file or a directory tree (LOCAL - reads stdin)"},
	{"get", "REMOTE [LOCAL]", 1, 2, NULL, cmd_get, NULL,
	 "download a file or a directory tree (LOCAL - writes stdout)"},
	{"cat", "PATH...", 1, 64, NULL, cmd_cat, NULL, "print files"},
	{"head", "PATH", 1, 1, head_flags, cmd_head, NULL,
	 "print the start of a file without downloading all of it"},
	{"cp", "SRC DST", 2, 2, cp_flags, cmd_cp, NULL,
	 "copy on the server (files share their bytes)"},
	{"mv", "SRC DST", 2, 2, NULL, cmd_mv, NULL, "move or rename"},
	{"rm", "PATH...", 1, 64, rm_flags, cmd_rm, NULL, "remove files or directories"},
	{"chmod", "MODE PATH...", 2, 64, change_flags, cmd_chmod, NULL,
	 "change mode: octal (0640) or symbolic (g+w,o-rwx; '--' before -w)"},
	{"chown", "USER[:GROUP] PATH...", 2, 64, change_flags, cmd_chown, NULL,
	 "change owner (administrators) and group"},
	{"chgrp", "GROUP PATH...", 2, 64, change_flags, cmd_chgrp, NULL,
	 "change group (to one you belong to)"},
	{"umask", "[MODE]", 0, 1, NULL, cmd_umask, NULL, "show or set your umask"},
	{"df", "", 0, 0, NULL, cmd_df, NULL, "storage used against quotas"},
	{"share", NULL, 0, 0, NULL, NULL, share_cmds, "share links"},
	{0},
};
