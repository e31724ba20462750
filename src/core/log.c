/*
 * log.c - JSON-lines logging: one object per line with time, level and
 * message, plus fields the caller packs. A single write(2) per line keeps
 * lines whole when threads log at once. Callers must never pass secrets.
 * The last warnings and errors are also kept in memory (a ring), for
 * `cove admin diagnose`.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int log_min = LOG_INFO;
static int log_fd = 2;
static char *log_path; /* NULL: log_fd is standard error */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

#define RECENT 100
static struct {
	pthread_mutex_t mu;
	char *lines[RECENT]; /* the newest at (next - 1) % RECENT */
	unsigned next;
} recent = {PTHREAD_MUTEX_INITIALIZER, {NULL}, 0};

static void remember(const char *line, size_t n)
{
	char *copy = xstrndup(line, n);
	pthread_mutex_lock(&recent.mu);
	char *old = recent.lines[recent.next % RECENT];
	recent.lines[recent.next % RECENT] = copy;
	recent.next++;
	pthread_mutex_unlock(&recent.mu);
	free(old);
}

json_t *log_recent(void)
{
	json_t *a = json_array();
	pthread_mutex_lock(&recent.mu);
	unsigned n = recent.next < RECENT ? recent.next : RECENT;
	for (unsigned i = recent.next - n; i != recent.next; i++) {
		json_t *o = json_loads(recent.lines[i % RECENT], 0, NULL);
		if (o)
			json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&recent.mu);
	return a;
}

void log_setup(int level, int fd)
{
	log_min = level;
	log_fd = fd;
}

static int open_log(const char *path, struct err *e)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		err_set(e, COVE_EIO, "cannot open the log file %s: %s", path, strerror(errno));
	return fd;
}

int log_open_file(const char *path, struct err *e)
{
	int fd = open_log(path, e);
	if (fd < 0)
		return COVE_EIO;
	free(log_path);
	log_path = xstrdup(path);
	log_fd = fd;
	return 0;
}

int log_reopen(struct err *e)
{
	if (!log_path)
		return 0;
	int fd = open_log(log_path, e);
	if (fd < 0)
		return COVE_EIO;
	/* dup2 swaps the file under the same descriptor at once: a writer
	 * never sees it closed */
	int rc = dup2(fd, log_fd) < 0 ? err_set(e, COVE_EIO, "cannot reopen the log file: %s",
						 strerror(errno))
				       : 0;
	close(fd);
	return rc;
}

int log_level_parse(const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(s, level_names[i]))
			return i;
	if (!strcasecmp(s, "off"))
		return LOG_OFF;
	return -1;
}

int log_enabled(int level)
{
	return level >= log_min && level < LOG_OFF;
}

void log_event(int level, const char *msg, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	json_t *o = NULL;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		o = json_vpack_ex(NULL, 0, fmt, ap);
		va_end(ap);
	}
	if (!o || !json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	char ts[32];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	time_format(now.tv_sec, ts);
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "level", json_string(level_names[level]));
	json_object_set_new(o, "msg", json_string(msg));
	char *line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!line)
		return;
	size_t n = strlen(line);
	if (level >= LOG_WARN)
		remember(line, n);
	line[n] = '\n'; /* json_dumps leaves room: overwrite NUL, write n+1 */
	ssize_t w = write(log_fd, line, n + 1);
	(void)w;
	free(line);
}
