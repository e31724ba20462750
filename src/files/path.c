/*
 * path.c - turning user-supplied paths into canonical ones, refusing
 * anything that could escape or confuse the namespace: "..", ".", NUL
 * bytes, invalid UTF-8, control characters, overlong names and paths.
 * Pure: no SQL, no I/O.
 */
#include "files/files.h"

#include <stdlib.h>
#include <string.h>

char *fs_path_clean(const char *in, struct err *e)
{
	size_t n = strlen(in);
	if (n > FS_PATH_MAX) {
		err_set(e, COVE_EINVAL, "path is longer than %d bytes", FS_PATH_MAX);
		return NULL;
	}
	if (!utf8_valid(in, n)) {
		err_set(e, COVE_EINVAL, "path is not valid UTF-8");
		return NULL;
	}
	struct buf out = {0};
	int depth = 0;
	const char *p = in;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			buf_free(&out);
			err_set(e, COVE_EINVAL, "path must not contain '.' or '..' components");
			return NULL;
		}
		if (len > FS_NAME_MAX) {
			buf_free(&out);
			err_set(e, COVE_EINVAL, "a name in the path is longer than %d bytes",
				FS_NAME_MAX);
			return NULL;
		}
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
				buf_free(&out);
				err_set(e, COVE_EINVAL,
					"path must not contain control characters");
				return NULL;
			}
		if (++depth > FS_DEPTH_MAX) {
			buf_free(&out);
			err_set(e, COVE_EINVAL, "path is deeper than %d levels", FS_DEPTH_MAX);
			return NULL;
		}
		/* "//" inside a path is refused rather than silently merged: a
		 * client that sends it has built the path wrongly. */
		if (out.len && p > in + 1 && p[-2] == '/' && p[-1] == '/') {
			buf_free(&out);
			err_set(e, COVE_EINVAL, "path must not contain empty components ('//')");
			return NULL;
		}
		buf_addc(&out, '/');
		buf_add(&out, p, len);
		p += len;
	}
	if (!out.len)
		buf_addc(&out, '/');
	return buf_detach(&out);
}

int fs_path_split(const char *path, char **parent, char **name)
{
	const char *slash = strrchr(path, '/');
	if (!slash || !strcmp(path, "/"))
		return COVE_EINVAL;
	*parent = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	*name = xstrdup(slash + 1);
	return 0;
}

int fs_mode_apply(const char *spec, unsigned old, int is_dir, unsigned *out)
{
	if (!spec || !*spec)
		return COVE_EINVAL;
	if (spec[0] >= '0' && spec[0] <= '7') {
		unsigned v = 0;
		size_t n = 0;
		for (const char *p = spec; *p; p++, n++) {
			if (*p < '0' || *p > '7' || n >= 4)
				return COVE_EINVAL;
			v = v * 8 + (unsigned)(*p - '0');
		}
		*out = v;
		return 0;
	}
	/* [ugoa]*[+-=][rwxXst]* , ... */
	unsigned mode = old & 07777;
	const char *p = spec;
	while (*p) {
		unsigned who = 0;
		for (; *p && strchr("ugoa", *p); p++)
			who |= *p == 'u' ? 04700u : *p == 'g' ? 02070u : *p == 'o' ? 01007u : 07777u;
		if (!who)
			who = 07777u;
		if (!*p || !strchr("+-=", *p))
			return COVE_EINVAL;
		while (*p && strchr("+-=", *p)) {
			char op = *p++;
			unsigned bits = 0;
			for (; *p && strchr("rwxXst", *p); p++) {
				switch (*p) {
				case 'r': bits |= 0444; break;
				case 'w': bits |= 0222; break;
				case 'x': bits |= 0111; break;
				case 'X':
					if (is_dir || (old & 0111))
						bits |= 0111;
					break;
				case 's': bits |= 06000; break;
				case 't': bits |= 01000; break;
				}
			}
			bits &= who;
			if (op == '+')
				mode |= bits;
			else if (op == '-')
				mode &= ~bits;
			else
				mode = (mode & ~(who & 0777)) | bits;
		}
		if (*p == ',')
			p++;
		else if (*p)
			return COVE_EINVAL;
	}
	*out = mode;
	return 0;
}
