/*
 * log.c - JSON-lines logging: one object per line with time, level and
 * message, plus fields the caller packs. A single write(2) per line keeps
 * lines whole when threads log at once. Callers must never pass secrets.
 */
#include "core.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>

static int log_min = LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(int level, int fd)
{
	log_min = level;
	log_fd = fd;
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
	line[n] = '\n'; /* json_dumps leaves room: overwrite NUL, write n+1 */
	ssize_t w = write(log_fd, line, n + 1);
	(void)w;
	free(line);
}
