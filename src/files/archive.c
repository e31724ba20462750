/*
 * archive.c - a folder of the file space as a tar.gz (pax) or zip archive,
 * made while it is sent.
 *
 * A producer thread walks the folder and writes the archive through
 * libarchive into a ring of RING_BYTES; the HTTP side takes bytes out as
 * the client reads them, and the producer wakes it when the ring was
 * empty. A slow client therefore holds the producer back (nothing piles
 * up), and a vanished one makes fs_archive_free stop and join it. The
 * thread, not the event loop, waits on the disk and compresses: an event
 * loop serves many connections, and gzip at 30-60 MB/s would stall every
 * one of them for the length of the archive.
 *
 * The walk reads the tree PAGE entries at a time, each page one statement,
 * keeping one page and, per level, the last name it took: no read
 * transaction spans the download (a long one would keep SQLite's WAL from
 * being checkpointed for as long as a slow client takes). Memory is the
 * ring, libarchive's buffers, one page and the depth limit, whatever the
 * folder's size; except that a zip ends with an index of every entry,
 * which libarchive keeps in memory until then: a zip whose index would
 * pass ZIP_INDEX_MAX is refused before the first byte, and one whose
 * folder grew past twice that meanwhile is cut off.
 *
 * What goes in is decided as the listing and a read decide it: a
 * directory with its contents only when the caller may list (read) and
 * search it, a file only when they may read it; the rest is left out,
 * silently, as `tar` run as that user would leave it (with a complaint).
 * As with tar over a live file system, an entry moved during the walk may
 * appear twice or not at all, and a file is as it was when its page was
 * read.
 *
 * No HTTP here: api.c turns the errors into statuses and adds headers.
 */
#include "files/files.h"
#include "files/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_BYTES (512 * 1024)
#define PAGE 128
#define READ_BYTES (64 * 1024)
/* archives being made at once: each is a thread and about 1 MiB (plus a
 * zip's index) */
#define ARCHIVES_MAX 16
/* the zip index libarchive keeps: 46 bytes per entry, the name, the UT
 * and ux extra fields (24) and room for a zip64 one (28) */
#define ZIP_INDEX_MAX (16L * 1024 * 1024)
#define ZIP_ENTRY_INDEX(pathlen) ((int64_t)(pathlen) + 1 + 46 + 24 + 28)

/* ---- the walk ---------------------------------------------------------------- */

struct level {
	int64_t id;
	size_t plen; /* length of this directory's archive path in walk.path */
	char after[FS_NAME_MAX + 1]; /* the last name taken from it */
};

struct walk {
	struct files *f;
	struct dbconn *c; /* the caller's, or NULL: one from the pool per page */
	const struct fs_cred *cr;
	struct level lv[FS_DEPTH_MAX + 1];
	int depth;
	struct fs_child page[PAGE]; /* children of the deepest level */
	int n, i;
	int fetched; /* page holds what followed the deepest level's 'after' */
	/* the archive path of cur: the folder's name, then the path below it */
	char path[FS_PATH_MAX + FS_NAME_MAX + 2];
	struct fs_child cur;
};

static void walk_init(struct walk *w, struct files *f, struct dbconn *c,
		      const struct fs_cred *cr, const struct fs_child *top)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->c = c;
	w->cr = cr;
	w->depth = 1;
	w->lv[0].id = top->a.id;
	w->lv[0].plen = strlen(top->name);
	memcpy(w->path, top->name, w->lv[0].plen + 1);
	w->cur = *top;
}

static void walk_pop(struct walk *w)
{
	w->depth--;
	if (w->depth > 0)
		w->path[w->lv[w->depth - 1].plen] = '\0';
	w->n = w->i = w->fetched = 0;
}

static int walk_fetch(struct walk *w, const struct level *l, struct err *e)
{
	struct dbconn *c = w->c ? w->c : db_get(w->f->db);
	int n = fs_children(c, l->id, l->after, w->page, PAGE, e);
	if (!w->c)
		db_put(w->f->db, c);
	return n;
}

/* The next entry the caller may have, into w->cur, its archive path in
 * w->path: 1, 0 at the end, or a negative code. */
static int walk_next(struct walk *w, struct err *e)
{
	while (w->depth > 0) {
		struct level *l = &w->lv[w->depth - 1];
		if (w->i == w->n) {
			if (w->fetched && w->n < PAGE) { /* a short page was the last */
				walk_pop(w);
				continue;
			}
			int n = walk_fetch(w, l, e);
			if (n < 0)
				return n;
			w->n = n;
			w->i = 0;
			w->fetched = 1;
			if (n == 0) {
				walk_pop(w);
				continue;
			}
		}
		const struct fs_child *ch = &w->page[w->i++];
		size_t nl = strlen(ch->name);
		memcpy(l->after, ch->name, nl + 1);
		/* paths are at most FS_PATH_MAX long and FS_DEPTH_MAX deep, so
		 * neither check can fail on what ns.c stored */
		if (l->plen + 1 + nl >= sizeof(w->path) ||
		    (ch->a.is_dir && w->depth > FS_DEPTH_MAX))
			continue;
		if (!perm_may(w->cr, &ch->a, ch->a.is_dir ? PERM_R | PERM_X : PERM_R))
			continue; /* left out (a directory with its contents) */
		w->path[l->plen] = '/';
		memcpy(w->path + l->plen + 1, ch->name, nl + 1);
		w->cur = *ch;
		if (ch->a.is_dir) {
			struct level *d = &w->lv[w->depth++];
			d->id = ch->a.id;
			d->plen = l->plen + 1 + nl;
			d->after[0] = '\0';
			w->n = w->i = w->fetched = 0;
		}
		return 1;
	}
	return 0;
}

/* ---- the archive ------------------------------------------------------------- */

struct fs_archive {
	struct files *f;
	struct fs_cred cr; /* owns its gids */
	enum fs_archive_format fmt;
	char *path; /* the folder, for the log */
	struct fs_child top; /* the folder, named as the archive's top entry */
	void (*ready)(void *arg);
	void *ready_arg;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	char *ring;
	size_t head, used;
	int reader_waiting;   /* a read found the ring empty: call ready */
	int producer_waiting; /* the ring was full: signal cv at half */
	int done;             /* the producer finished the archive */
	int failed;           /* ... or gave up: no further byte is good */
	int cancel;           /* fs_archive_free: stop now */
};

int fs_archive_format_parse(const char *s, enum fs_archive_format *out, struct err *e)
{
	if (s && !strcmp(s, "tar.gz"))
		*out = FS_ARCHIVE_TAR_GZ;
	else if (s && !strcmp(s, "zip"))
		*out = FS_ARCHIVE_ZIP;
	else
		return err_set(e, COVE_EINVAL, "unknown archive format '%.32s': ask for "
					       "archive=tar.gz or archive=zip", s ? s : "");
	return 0;
}

const char *fs_archive_ext(enum fs_archive_format fmt)
{
	return fmt == FS_ARCHIVE_ZIP ? ".zip" : ".tar.gz";
}

static void notify(struct fs_archive *ar, int wake)
{
	if (wake && ar->ready)
		ar->ready(ar->ready_arg);
}

/* libarchive's output: into the ring, waiting while it is full. */
static la_ssize_t out_write(struct archive *a, void *cls, const void *buf, size_t len)
{
	struct fs_archive *ar = cls;
	const char *p = buf;
	size_t left = len;
	pthread_mutex_lock(&ar->mu);
	while (left) {
		while (ar->used == RING_BYTES && !ar->cancel && !ar->failed) {
			ar->producer_waiting = 1;
			pthread_cond_wait(&ar->cv, &ar->mu);
		}
		if (ar->cancel || ar->failed) {
			/* Nothing more goes out. A zip takes its remaining bytes
			 * as written, since its writer leaks its compressor when
			 * an entry cannot end; its producer notices the stop by
			 * itself. A tar fails at once: ending its entry would
			 * otherwise compress the zeros that pad a cut file. */
			pthread_mutex_unlock(&ar->mu);
			if (ar->fmt == FS_ARCHIVE_ZIP)
				return (la_ssize_t)len;
			archive_set_error(a, ECANCELED, "the download was stopped");
			return -1;
		}
		size_t tail = (ar->head + ar->used) % RING_BYTES;
		size_t k = RING_BYTES - ar->used;
		if (k > RING_BYTES - tail)
			k = RING_BYTES - tail; /* up to the ring's end; then around */
		if (k > left)
			k = left;
		memcpy(ar->ring + tail, p, k);
		ar->used += k;
		p += k;
		left -= k;
		int wake = ar->reader_waiting;
		ar->reader_waiting = 0;
		if (wake) {
			pthread_mutex_unlock(&ar->mu);
			notify(ar, 1);
			pthread_mutex_lock(&ar->mu);
		}
	}
	pthread_mutex_unlock(&ar->mu);
	return (la_ssize_t)len;
}

static int cancelled(struct fs_archive *ar)
{
	pthread_mutex_lock(&ar->mu);
	int c = ar->cancel;
	pthread_mutex_unlock(&ar->mu);
	return c;
}

static int archive_fail(struct archive *a, struct err *e, const char *what)
{
	const char *why = archive_error_string(a);
	return err_set(e, COVE_EIO, "%s: %s", what, why ? why : "libarchive failed");
}

/* Open the bytes of a file as the walk found it: an fd whose size is the
 * file's, 0 when the file went away meanwhile (it is then left out, as if
 * the walk had come later), or a negative code. */
static int blob_open(struct fs_archive *ar, const struct fs_attr *a, int *fd, struct err *e)
{
	*fd = store_open_read(&ar->f->store, a->sha256, NULL, e);
	if (*fd < 0) {
		/* gone because the file was removed or replaced and its bytes
		 * collected since its page was read, or lost from the store */
		struct fs_attr now;
		struct err ne = {0};
		struct dbconn *c = db_get(ar->f->db);
		int rc = fs_node_get(c, a->id, &now, &ne);
		db_put(ar->f->db, c);
		if (rc == COVE_ENOENT || (!rc && strcmp(now.sha256, a->sha256)))
			return 0;
		return *fd;
	}
	struct stat st;
	if (fstat(*fd, &st) || st.st_size != a->size) {
		close(*fd);
		*fd = -1;
		return err_set(e, COVE_EIO, "stored bytes of '%.64s' are not %lld bytes long (run "
					    "cove admin fsck)", a->sha256, (long long)a->size);
	}
	return 1;
}

/* Write one entry (a directory's header, or a file's header and bytes). */
static int put_entry(struct fs_archive *ar, struct archive *a, struct archive_entry *ent,
		     const char *path, const struct fs_child *ch, char *buf, struct err *e)
{
	const struct fs_attr *at = &ch->a;
	int fd = -1, rc = 0;
	if (!at->is_dir && (rc = blob_open(ar, at, &fd, e)) <= 0)
		return rc;
	archive_entry_clear(ent);
	archive_entry_set_pathname_utf8(ent, path);
	archive_entry_set_filetype(ent, at->is_dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(ent, at->mode & 07777);
	archive_entry_set_size(ent, at->is_dir ? 0 : at->size);
	archive_entry_set_mtime(ent, at->mtime_ms / 1000, (long)(at->mtime_ms % 1000) * 1000000);
	archive_entry_set_uid(ent, at->uid);
	archive_entry_set_gid(ent, at->gid);
	const char *owner = ch->owner[0] ? ch->owner : at->uid == 0 ? "root" : NULL;
	const char *group = ch->group[0] ? ch->group : at->gid == 0 ? "root" : NULL;
	if (owner)
		archive_entry_set_uname_utf8(ent, owner);
	if (group)
		archive_entry_set_gname_utf8(ent, group);
	rc = 0;
	if (archive_write_header(a, ent) != ARCHIVE_OK)
		rc = cancelled(ar) ? COVE_ECONFLICT
				   : archive_fail(a, e, "cannot write an archive header");
	int64_t left = at->is_dir ? 0 : at->size;
	while (!rc && left > 0) {
		ssize_t n = read(fd, buf, left < READ_BYTES ? (size_t)left : READ_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(e, COVE_EIO, "cannot read the stored bytes of '%.64s': %s",
				     at->sha256, n ? strerror(errno) : "shorter than recorded");
			break;
		}
		for (ssize_t off = 0; !rc && off < n;) {
			la_ssize_t w = archive_write_data(a, buf + off, (size_t)(n - off));
			if (w <= 0)
				rc = cancelled(ar) ? COVE_ECONFLICT
						   : archive_fail(a, e, "cannot write to the archive");
			else
				off += w;
		}
		left -= n;
		if (!rc && cancelled(ar))
			rc = COVE_ECONFLICT;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static struct archive *archive_begin(struct fs_archive *ar, struct err *e)
{
	struct archive *a = archive_write_new();
	int ok;
	if (ar->fmt == FS_ARCHIVE_ZIP)
		ok = archive_write_set_format_zip(a) == ARCHIVE_OK &&
		     /* the UTF-8 flag on every non-ASCII name; zip64 records
		      * where a size or offset needs them (libarchive decides
		      * from the entry's size, known before its bytes) */
		     archive_write_set_options(a, "zip:hdrcharset=UTF-8") == ARCHIVE_OK;
	else
		/* pax: ustar headers, with a pax header where a name is long
		 * or not ASCII, a size passes 8 GiB or a time has a fraction */
		ok = archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
		     archive_write_add_filter_gzip(a) == ARCHIVE_OK;
	/* no padding to 10 KiB records: nothing may follow the gzip stream */
	ok = ok && archive_write_set_bytes_per_block(a, 0) == ARCHIVE_OK &&
	     archive_write_open2(a, ar, NULL, out_write, NULL, NULL) == ARCHIVE_OK;
	if (!ok) {
		archive_fail(a, e, "cannot start the archive");
		archive_write_free(a);
		return NULL;
	}
	return a;
}

static void *producer_main(void *arg)
{
	struct fs_archive *ar = arg;
	struct err e = {0};
	int rc = 0;
	struct archive *a = NULL;
	struct archive_entry *ent = archive_entry_new();
	struct walk *w = xmalloc(sizeof(*w));
	char *buf = xmalloc(READ_BYTES);
	/* libarchive converts names through the thread's locale: the
	 * server's is "C", in which it cannot write a non-ASCII name */
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (loc == (locale_t)0)
		rc = err_set(&e, COVE_EINTERNAL, "no C.UTF-8 locale: cannot write UTF-8 names");
	else
		uselocale(loc);
	if (!rc && !(a = archive_begin(ar, &e)))
		rc = COVE_EIO;
	int64_t index = 0;
	walk_init(w, ar->f, NULL, &ar->cr, &ar->top);
	if (!rc)
		rc = put_entry(ar, a, ent, w->path, &ar->top, buf, &e);
	while (!rc && (rc = walk_next(w, &e)) == 1) {
		index += ZIP_ENTRY_INDEX(strlen(w->path));
		if (cancelled(ar))
			rc = COVE_ECONFLICT;
		else if (ar->fmt == FS_ARCHIVE_ZIP && index > 2 * ZIP_INDEX_MAX)
			rc = err_set(&e, COVE_ETOOBIG, "the folder grew past what a zip can index");
		else
			rc = put_entry(ar, a, ent, w->path, &w->cur, buf, &e);
	}
	if (!rc && archive_write_close(a) != ARCHIVE_OK)
		rc = cancelled(ar) ? COVE_ECONFLICT : archive_fail(a, &e, "cannot end the archive");
	pthread_mutex_lock(&ar->mu);
	/* before the close that frees the compressors, which would end the
	 * archive as if it were whole: the output refuses bytes from now */
	ar->failed = rc != 0;
	pthread_mutex_unlock(&ar->mu);
	if (a) {
		/* after a failure too: libarchive's free skips the close (and
		 * leaks the gzip or deflate state) once an error was fatal */
		if (rc)
			archive_write_close(a);
		archive_write_free(a);
	}
	archive_entry_free(ent);
	if (loc != (locale_t)0) {
		uselocale(LC_GLOBAL_LOCALE);
		freelocale(loc);
	}
	if (rc && rc != COVE_ECONFLICT)
		log_event(LOG_WARN, "archive cut off", "{s:s,s:s}", "path", ar->path, "error",
			  e.msg);
	free(w);
	free(buf);
	pthread_mutex_lock(&ar->mu);
	ar->done = 1;
	int wake = ar->reader_waiting;
	ar->reader_waiting = 0;
	pthread_mutex_unlock(&ar->mu);
	notify(ar, wake);
	return NULL;
}

/* The index a zip of the folder would need, counted by the same walk
 * (stopping once past the limit). */
static int zip_index_check(struct fs_archive *ar, struct dbconn *c, struct err *e)
{
	struct walk *w = xmalloc(sizeof(*w));
	walk_init(w, ar->f, c, &ar->cr, &ar->top);
	int64_t index = ZIP_ENTRY_INDEX(strlen(w->path));
	int rc;
	while ((rc = walk_next(w, e)) == 1 && index <= ZIP_INDEX_MAX)
		index += ZIP_ENTRY_INDEX(strlen(w->path));
	free(w);
	if (rc < 0)
		return rc;
	if (index > ZIP_INDEX_MAX)
		return err_set(e, COVE_EINVAL,
			       "'%.200s' holds too many entries for a zip (a zip ends with an index "
			       "of every entry, and this one would pass %ld MiB): download it as "
			       "tar.gz, which has no such limit",
			       ar->path, ZIP_INDEX_MAX >> 20);
	return 0;
}

int fs_archive_open(struct files *f, struct dbconn *c, const struct fs_cred *cr,
		    const char *path, enum fs_archive_format fmt, void (*ready)(void *arg),
		    void *arg, struct fs_archive **out, struct err *e)
{
	struct fs_attr a;
	int rc = fs_resolve(c, cr, path, &a, e);
	if (rc)
		return rc;
	if (!a.is_dir)
		return err_set(e, COVE_EINVAL, "'%.200s' is a file: only folders are downloaded "
					       "as archives (download the file itself)", path);
	/* the listing needs read; an archive needs search too, since without
	 * it not one entry could be read and the archive would be empty */
	if (!perm_may(cr, &a, PERM_R))
		return err_set(e, COVE_EPERM, "permission denied: cannot list '%.200s'", path);
	if (!perm_may(cr, &a, PERM_X))
		return err_set(e, COVE_EPERM, "permission denied: cannot search '%.200s'", path);
	if (__atomic_add_fetch(&f->archives, 1, __ATOMIC_SEQ_CST) > ARCHIVES_MAX) {
		__atomic_sub_fetch(&f->archives, 1, __ATOMIC_SEQ_CST);
		err_set(e, COVE_EUNAVAIL, "%d archives are being made right now, the most at "
					  "once: try again in a few seconds", ARCHIVES_MAX);
		e->retry_after = 5;
		return COVE_EUNAVAIL;
	}
	struct fs_archive *ar = xcalloc(1, sizeof(*ar));
	ar->f = f;
	ar->cr = *cr;
	ar->cr.gids = xmalloc(sizeof(int64_t) * (size_t)(cr->ngids ? cr->ngids : 1));
	memcpy(ar->cr.gids, cr->gids, sizeof(int64_t) * (size_t)cr->ngids);
	ar->fmt = fmt;
	ar->path = xstrdup(path);
	ar->ready = ready;
	ar->ready_arg = arg;
	pthread_mutex_init(&ar->mu, NULL);
	pthread_cond_init(&ar->cv, NULL);
	ar->top.a = a;
	const char *base = strrchr(path, '/');
	snprintf(ar->top.name, sizeof(ar->top.name), "%s", base && base[1] ? base + 1 : "root");
	fs_owner_names(c, &a, ar->top.owner, ar->top.group);
	if (fmt == FS_ARCHIVE_ZIP && (rc = zip_index_check(ar, c, e))) {
		fs_archive_free(ar);
		return rc;
	}
	*out = ar;
	return 0;
}

const char *fs_archive_name(const struct fs_archive *ar)
{
	return ar->top.name;
}

long fs_archive_read(struct fs_archive *ar, char *buf, size_t max)
{
	if (!ar->started && !ar->failed) {
		/* at the first read, not at open: a HEAD request never reads */
		ar->ring = xmalloc(RING_BYTES);
		if (pthread_create(&ar->thread, NULL, producer_main, ar)) {
			log_event(LOG_ERROR, "cannot start an archive's thread", "{s:s}", "path",
				  ar->path);
			ar->failed = 1;
			return FS_ARCHIVE_FAILED;
		}
		ar->started = 1;
	}
	pthread_mutex_lock(&ar->mu);
	long n;
	if (ar->failed) {
		n = FS_ARCHIVE_FAILED;
	} else if (ar->used == 0) {
		n = ar->done ? FS_ARCHIVE_END : 0;
		ar->reader_waiting = !ar->done;
	} else {
		size_t k = ar->used < max ? ar->used : max;
		if (k > RING_BYTES - ar->head)
			k = RING_BYTES - ar->head; /* the rest at the next call */
		memcpy(buf, ar->ring + ar->head, k);
		ar->head = (ar->head + k) % RING_BYTES;
		ar->used -= k;
		/* wake a waiting producer only once half the ring is free:
		 * fewer, bigger turns than one per read */
		if (ar->producer_waiting && ar->used <= RING_BYTES / 2) {
			ar->producer_waiting = 0;
			pthread_cond_signal(&ar->cv);
		}
		n = (long)k;
	}
	pthread_mutex_unlock(&ar->mu);
	return n;
}

void fs_archive_free(struct fs_archive *ar)
{
	if (!ar)
		return;
	pthread_mutex_lock(&ar->mu);
	ar->cancel = 1;
	pthread_cond_broadcast(&ar->cv);
	pthread_mutex_unlock(&ar->mu);
	if (ar->started)
		pthread_join(ar->thread, NULL);
	__atomic_sub_fetch(&ar->f->archives, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_destroy(&ar->mu);
	pthread_cond_destroy(&ar->cv);
	free(ar->ring);
	free(ar->cr.gids);
	free(ar->path);
	free(ar);
}
