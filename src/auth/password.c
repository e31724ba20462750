/*
 * password.c - the password and username policies, and Argon2id hashing.
 * Policy: 8 to 256 characters; three character classes below 16
 * characters, two from 16 on; not the username; not a common password.
 * Hashes are PHC strings ("$argon2id$v=19$m=..,t=..,p=..$salt$hash") so
 * the parameters travel with each hash; verify reports when they differ
 * from the current ones so login can re-hash. Never log a password.
 */
#include "auth/auth.h"

#include <argon2.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const reserved_names[] = {
	"root", "admin", "administrator", "system", "daemon", "bin", "sys",
	"sync", "nobody", "nogroup", "operator", "www-data", "cove", "guest",
	"support", "security", "postmaster", "hostmaster", "webmaster", "sudo",
	"wheel", "staff", "users", "projects", "home", "api", "me", NULL,
};

int auth_username_check(const char *name, int allow_reserved, struct err *e)
{
	size_t n = strlen(name);
	if (n == 0 || n > AUTH_NAME_MAX)
		return err_set(e, COVE_EINVAL,
			       "name must be 1 to %d characters long", AUTH_NAME_MAX);
	if (!(islower((unsigned char)name[0]) || name[0] == '_'))
		return err_set(e, COVE_EINVAL,
			       "name must start with a lowercase letter or '_'");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(islower(c) || isdigit(c) || c == '_' || c == '-'))
			return err_set(e, COVE_EINVAL,
				       "name may contain only lowercase letters, digits, "
				       "'_' and '-'");
	}
	if (!allow_reserved)
		for (const char *const *r = reserved_names; *r; r++)
			if (!strcmp(*r, name))
				return err_set(e, COVE_EINVAL, "the name '%s' is reserved",
					       name);
	return 0;
}

static const char *const common_passwords[] = {
	"password", "password1", "password123", "passw0rd", "p@ssw0rd",
	"qwerty123", "qwertyuiop", "123456789", "1234567890", "letmein1",
	"iloveyou1", "welcome1", "welcome123", "admin123", "changeme",
	"changeme1", NULL,
};

int auth_password_check(const char *username, const char *password,
			struct err *e)
{
	size_t n = strlen(password);
	if (n < 8)
		return err_set(e, COVE_EINVAL,
			       "password must be at least 8 characters long");
	if (n > 256)
		return err_set(e, COVE_EINVAL,
			       "password must be at most 256 characters long");
	if (!utf8_valid(password, n))
		return err_set(e, COVE_EINVAL, "password is not valid UTF-8");
	int lower = 0, upper = 0, digit = 0, other = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)password[i];
		if (c < 0x20 || c == 0x7f)
			return err_set(e, COVE_EINVAL,
				       "password must not contain control characters");
		if (islower(c))
			lower = 1;
		else if (isupper(c))
			upper = 1;
		else if (isdigit(c))
			digit = 1;
		else
			other = 1;
	}
	/* Long passphrases need less variety than short passwords. */
	int classes = lower + upper + digit + other;
	if (classes < (n >= 16 ? 2 : 3))
		return err_set(e, COVE_EINVAL,
			       "password must mix at least three of: lowercase, "
			       "uppercase, digits, other characters (two for 16 or "
			       "more characters)");
	if (username && *username && !strcasecmp(password, username))
		return err_set(e, COVE_EINVAL, "password must not be the username");
	for (const char *const *c = common_passwords; *c; c++)
		if (!strcasecmp(password, *c))
			return err_set(e, COVE_EINVAL, "password is too common");
	return 0;
}

int auth_password_hash(const struct pw_params *pp, const char *password,
		       char **out, struct err *e)
{
	unsigned char salt[16];
	if (rand_bytes(salt, sizeof(salt)))
		return err_set(e, COVE_EIO, "no randomness available");
	size_t len = argon2_encodedlen(pp->t, pp->m_kib, pp->p, sizeof(salt), 32,
				       Argon2_id);
	char *enc = xmalloc(len + 1);
	int rc = argon2id_hash_encoded(pp->t, pp->m_kib, pp->p, password,
				       strlen(password), salt, sizeof(salt), 32, enc,
				       len);
	if (rc != ARGON2_OK) {
		free(enc);
		return err_set(e, COVE_EINTERNAL, "password hashing failed: %s",
			       argon2_error_message(rc));
	}
	*out = enc;
	return 0;
}

int auth_password_verify(const char *encoded, const char *password,
			 const struct pw_params *want, int *rehash)
{
	if (rehash)
		*rehash = 0;
	if (!encoded || !str_has_prefix(encoded, "$argon2id$"))
		return 0;
	unsigned v, m, t, p;
	if (sscanf(encoded, "$argon2id$v=%u$m=%u,t=%u,p=%u$", &v, &m, &t, &p) != 4)
		return 0;
	/* Refuse absurd stored costs rather than burn a worker on them. */
	if (m > 4u * 1024 * 1024 || t > 64 || p > 64)
		return 0;
	int rc = argon2id_verify(encoded, password, strlen(password));
	if (rc == ARGON2_OK) {
		if (rehash && want &&
		    (m != want->m_kib || t != want->t || p != want->p ||
		     v != ARGON2_VERSION_NUMBER))
			*rehash = 1;
		return 1;
	}
	return rc == ARGON2_VERIFY_MISMATCH ? 0 : COVE_EINTERNAL;
}
