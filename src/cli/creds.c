/*
 * creds.c - the saved session: $HOME/.config/cove/credentials.json with
 * {"server","username","access_token","refresh_token","access_expires_at",
 * "ca_file"}.
 * The directory is 0700 and the file 0600, written through a temporary
 * file and rename so that a reader never sees half a file. Tokens are
 * never printed from here; no network.
 */
#include "cli/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_creds_path(char **out, struct err *e)
{
	const char *home = getenv("HOME");
	if (!home || !*home)
		return err_set(e, CLI_EFAIL,
			       "HOME is not set: cannot find the credentials file");
	*out = xasprintf("%s/.config/cove/credentials.json", home);
	return 0;
}

void cli_creds_clear(struct creds *cr)
{
	free(cr->server);
	free(cr->ca_file);
	free(cr->username);
	cli_secret_free(cr->access_token);
	cli_secret_free(cr->refresh_token);
	memset(cr, 0, sizeof(*cr));
}

/* "2026-11-23T10:00:00Z" (or a number of seconds) -> Unix seconds; 0 when
 * unreadable, which makes the client refresh before the next request. */
static int64_t creds_time(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	const char *s = json_string_value(v);
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end)
		return 0;
	return (int64_t)timegm(&tm);
}

static char *creds_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? xstrdup(s) : NULL;
}

int cli_creds_load(const char *path, struct creds *cr, struct err *e)
{
	json_error_t je;
	memset(cr, 0, sizeof(*cr));
	json_t *o = json_load_file(path, 0, &je);
	if (!o) {
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return 0;
		return err_set(e, CLI_EFAIL,
			       "cannot read %s: %s (remove it and run 'cove login')",
			       path, je.text);
	}
	cr->server = creds_str(o, "server");
	cr->username = creds_str(o, "username");
	cr->access_token = creds_str(o, "access_token");
	cr->refresh_token = creds_str(o, "refresh_token");
	cr->ca_file = creds_str(o, "ca_file");
	cr->access_expires_at = creds_time(json_object_get(o, "access_expires_at"));
	json_decref(o);
	return 0;
}

/* mkdir path with mode, or tighten an existing directory to mode. */
static int creds_mkdir(const char *path, mode_t mode, int tighten,
		       struct err *e)
{
	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return err_set(e, CLI_EFAIL, "cannot create %s: %s", path,
			       strerror(errno));
	if (tighten && chmod(path, mode) < 0)
		return err_set(e, CLI_EFAIL, "cannot protect %s: %s", path,
			       strerror(errno));
	return 0;
}

/* Create the parents of path: ~/.config (if missing) and ~/.config/cove,
 * which holds secrets and so is made 0700 even if it existed. */
static int creds_dirs(const char *path, struct err *e)
{
	char *dir = xstrdup(path);
	int rc;
	*strrchr(dir, '/') = '\0';
	char *parent = xstrdup(dir);
	*strrchr(parent, '/') = '\0';
	if (!(rc = creds_mkdir(parent, 0700, 0, e)))
		rc = creds_mkdir(dir, 0700, 1, e);
	free(parent);
	free(dir);
	return rc;
}

static json_t *creds_json(const struct creds *cr)
{
	char at[32];
	time_format(cr->access_expires_at, at);
	return json_pack("{s:s?,s:s?,s:s?,s:s?,s:s,s:s*}", "server", cr->server,
			 "username", cr->username, "access_token",
			 cr->access_token, "refresh_token", cr->refresh_token,
			 "access_expires_at", at, "ca_file", cr->ca_file);
}

int cli_creds_save(const char *path, const struct creds *cr, struct err *e)
{
	int rc, fd = -1;
	char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	char *text = NULL;
	json_t *o = NULL;
	if ((rc = creds_dirs(path, e)))
		goto out;
	if ((fd = mkstemp(tmp)) < 0) {
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", path,
			     strerror(errno));
		goto out;
	}
	o = creds_json(cr);
	text = json_dumps(o, JSON_INDENT(2));
	size_t len = strlen(text);
	if (fchmod(fd, 0600) < 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", path,
			     strerror(errno));
		goto out;
	}
	int closed = close(fd);
	fd = -1;
	if (closed < 0 || rename(tmp, path) < 0)
		rc = err_set(e, CLI_EFAIL, "cannot write %s: %s", path,
			     strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	json_decref(o);
	free(tmp);
	return rc;
}

int cli_creds_remove(const char *path, struct err *e)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(e, CLI_EFAIL, "cannot remove %s: %s", path,
			       strerror(errno));
	return 0;
}

int cli_creds_lock(const char *path)
{
	struct err e = {0};
	if (creds_dirs(path, &e))
		return -1;
	/* Lock the directory itself: no lock file is left behind. */
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void cli_creds_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
