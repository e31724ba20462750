/*
 * perm.c - POSIX permission decisions, as the Linux kernel makes them, for
 * cove's file space. Pure functions over credentials and attributes: no
 * SQL, no I/O, so they are unit-tested exhaustively and compared with the
 * kernel by the integration tests.
 *
 * The rules (generic_permission, may_delete, chmod/chown in fs/attr.c):
 * - the owner class applies if uid matches, else the group class if any of
 *   the caller's groups matches, else other; classes do not fall through;
 * - admin acts as root: read and write always, search always on
 *   directories, execute on files only if some x bit is set;
 * - create or remove an entry: write and search on the directory; in a
 *   sticky directory only the entry's owner, the directory's owner or
 *   admin may remove or rename it;
 * - chmod: owner or admin; a non-admin setting setgid on a file whose
 *   group they are not in loses the setgid bit;
 * - chown to another user: admin only; chgrp: admin, or the owner to a
 *   group they belong to.
 */
#include "files/files.h"

static int in_groups(const struct fs_cred *c, int64_t gid)
{
	for (int i = 0; i < c->ngids; i++)
		if (c->gids[i] == gid)
			return 1;
	return 0;
}

int perm_may(const struct fs_cred *c, const struct fs_attr *a, unsigned want)
{
	if (c->admin) {
		if (!(want & PERM_X) || a->is_dir)
			return 1;
		return (a->mode & 0111) != 0;
	}
	unsigned bits;
	if (c->uid == a->uid)
		bits = (a->mode >> 6) & 7;
	else if (in_groups(c, a->gid))
		bits = (a->mode >> 3) & 7;
	else
		bits = a->mode & 7;
	return (bits & want) == want;
}

int perm_may_unlink(const struct fs_cred *c, const struct fs_attr *dir,
		    const struct fs_attr *entry)
{
	if (!perm_may(c, dir, PERM_W | PERM_X))
		return 0;
	if ((dir->mode & S_STICKY) && !c->admin && c->uid != entry->uid &&
	    c->uid != dir->uid)
		return 0;
	return 1;
}

int perm_may_chmod(const struct fs_cred *c, const struct fs_attr *a)
{
	return c->admin || c->uid == a->uid;
}

unsigned perm_chmod_result(const struct fs_cred *c, const struct fs_attr *a,
			   unsigned mode)
{
	mode &= 07777;
	/* Linux drops setgid when a non-privileged owner sets it on a file
	 * whose group they are not a member of. */
	if (!c->admin && !a->is_dir && (mode & S_SETGID) && !in_groups(c, a->gid))
		mode &= ~(unsigned)S_SETGID;
	return mode;
}

int perm_may_chown(const struct fs_cred *c, const struct fs_attr *a,
		   int64_t new_uid, int64_t new_gid)
{
	if (c->admin)
		return 1;
	/* Naming a uid at all (even the current one) needs ownership. */
	if (new_uid >= 0 && !(c->uid == a->uid && new_uid == a->uid))
		return 0;
	if (new_gid >= 0 &&
	    !(c->uid == a->uid && (new_gid == a->gid || in_groups(c, new_gid))))
		return 0;
	return 1;
}

unsigned perm_chown_mode(const struct fs_attr *a)
{
	unsigned mode = a->mode;
	/* As the kernel does on chown of a regular file: setuid goes, and
	 * setgid goes when it means "setgid" (group execute set). */
	if (!a->is_dir) {
		mode &= ~(unsigned)S_SETUID;
		if ((mode & S_SETGID) && (mode & 0010))
			mode &= ~(unsigned)S_SETGID;
	}
	return mode;
}

unsigned perm_create_mode(const struct fs_attr *parent, int is_dir,
			  unsigned mode, unsigned umask)
{
	mode = mode & ~umask & 07777;
	/* A setgid directory passes its setgid bit to new subdirectories. */
	if (is_dir && (parent->mode & S_SETGID))
		mode |= S_SETGID;
	return mode;
}

int64_t perm_create_gid(const struct fs_attr *parent, int64_t primary_gid)
{
	return (parent->mode & S_SETGID) ? parent->gid : primary_gid;
}
