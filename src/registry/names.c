/*
 * names.c - the grammars of the distribution specification: repository
 * names, tags and digests, and the glob used by tag rules. Pure functions,
 * no I/O; every name that reaches SQL or a path has passed through here.
 */
#include "registry/registry.h"

#include <string.h>

static int lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*; returns its
 * length or 0 when malformed. */
static size_t component(const char *s)
{
	size_t i = 0;
	if (!lower_alnum(s[i]))
		return 0;
	while (lower_alnum(s[i]))
		i++;
	while (s[i] && s[i] != '/') {
		if (s[i] == '.' || (s[i] == '_' && s[i + 1] != '_')) {
			i++;
		} else if (s[i] == '_') {
			i += 2;
		} else if (s[i] == '-') {
			while (s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (!lower_alnum(s[i]))
			return 0;
		while (lower_alnum(s[i]))
			i++;
	}
	return i;
}

int reg_name_valid(const char *name)
{
	if (!name || strlen(name) > REG_NAME_MAX)
		return 0;
	int parts = 0;
	const char *p = name;
	for (;;) {
		size_t n = component(p);
		if (!n)
			return 0;
		parts++;
		p += n;
		if (!*p)
			break;
		p++; /* '/' */
	}
	return parts >= 2;
}

int reg_tag_valid(const char *tag)
{
	if (!tag)
		return 0;
	size_t n = strlen(tag);
	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = tag[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' ||
			 (i > 0 && (c == '.' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

int reg_digest_parse(const char *digest, char hex[65])
{
	if (!digest || strncmp(digest, "sha256:", 7) || strlen(digest) != 71)
		return 0;
	for (int i = 0; i < 64; i++) {
		char c = digest[7 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
		hex[i] = c;
	}
	hex[64] = '\0';
	return 1;
}

int reg_glob(const char *p, const char *s)
{
	for (; *p; p++, s++) {
		if (*p == '*') {
			int deep = p[1] == '*';
			const char *rest = p + (deep ? 2 : 1);
			for (const char *t = s;; t++) {
				if (reg_glob(rest, t))
					return 1;
				if (!*t || (!deep && *t == '/'))
					return 0;
			}
		}
		if (!*s)
			return 0;
		if (*p != '?' && *p != *s)
			return 0;
		if (*p == '?' && *s == '/')
			return 0;
	}
	return *s == '\0';
}
