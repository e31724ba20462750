/*
 * sink.c - writing a stream of bytes into a file while hashing it, as fast
 * as a big upload or download can go. Used by the blob writer and the
 * resumable uploads of the file space, and by the CLI's downloads. Knows
 * nothing of blobs, SQL or HTTP.
 *
 * Bytes are staged and written a stage (1 MiB) at a time: libmicrohttpd
 * hands them over in pieces of a few KiB, and one write per piece is
 * costly. Each stage is hashed when it is full, still in the CPU's cache.
 *
 * A sink that fills its first stage is a big one, and from then on its full
 * stages go through a pipeline: one thread hashes them in order (when the
 * sink hashes at all), another writes them, while the receiving thread
 * fills the next ones (NSTAGES in flight). Sinks under one stage never
 * start a thread. The tail that does not fill a stage is hashed and
 * written by sink_end.
 *
 * Writes go through the page cache with write-back started every few MiB
 * and, a little further behind, the written range waited for and dropped
 * from the cache (sink_writeback). A third thread makes what is written
 * durable every FLUSH_STAGES stages (fdatasync), while the stream goes on. On the virtual machines we measure on,
 * a page the guest has not touched lately costs the host a fault, and a
 * 1 GiB upload into fresh pages spent most of its time there: 375-530 MB/s
 * to disk, where recycling the same few MiB of pages writes 1.4-1.8 GB/s
 * (and O_DIRECT, tried too, 600-700 MB/s). Nobody reads a blob right after
 * its upload, so nothing is lost by not caching it.
 *
 * The flusher is there because the disk's own cache is the last step: an
 * fsync does not end until the device has its cache written, and on those
 * machines the final fsync of a 1 GiB upload waited 0.6-0.7 s for it (a
 * third of the upload's time) when nothing had been flushed before. With
 * a flush every 64 MiB on the side, the final fsync has at most that much
 * left to wait for. A flush's error stops the sink: the error is reported
 * once per open file, so the caller's final fsync might not see it again.
 */
#include "core/sink.h"
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STAGE_SIZE ((size_t)1 << 20)
#define NSTAGES 4 /* stages per big sink: 4 MiB in flight */
#define STAGE_ALIGN 4096
/* A stream's first buffer when its first piece is small: most uploads
 * are small, and a 1 MiB buffer for each was a mmap and munmap (or a heap
 * trim) per upload. A stream that outgrows it moves to a whole stage. */
#define FIRST_STAGE ((size_t)64 << 10)

struct pipeline {
	pthread_t hasher, writer, flusher; /* no hasher without sha */
	int flushing;           /* the flusher runs */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t flush_cv; /* FLUSH_STAGES more stages are written */
	char *stage[NSTAGES];
	unsigned filled;  /* stages handed over, in order */
	unsigned hashed;  /* stages the hasher is done with */
	unsigned written; /* stages the writer is done with */
	int closing;      /* no more stages will come */
	int err;          /* errno of a failed write, or ECANCELED: both stop */
	int fd;
	int64_t base;           /* file offset of stage 0 */
	struct sha256_ctx *sha; /* the sink's; the hasher's until the end */
};

/* pwrite all of p at off; 0 or an errno */
static int write_all(int fd, const char *p, size_t len, int64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

#define FLUSH_STAGES 64 /* stages between two flushes: 64 MiB */
#define WRITEBACK_STEP (8LL << 20)
#define DROP_LAG (32LL << 20)

/*
 * Bytes of fd up to size are written (in the cache): once WRITEBACK_STEP
 * of them wait, start their write-back without waiting; once write-back
 * runs DROP_LAG ahead of what was dropped, wait for the older range to be
 * on disk and drop it from the cache, so that its pages are reused hot.
 * wb[0]: write-back started up to there, wb[1]: dropped up to there.
 */
static void sink_writeback(int fd, int64_t size, int64_t wb[2])
{
	if (size - wb[0] < WRITEBACK_STEP)
		return;
	sync_file_range(fd, wb[0], size - wb[0], SYNC_FILE_RANGE_WRITE);
	wb[0] = size;
	if (wb[0] - wb[1] <= DROP_LAG)
		return;
	int64_t upto = wb[0] - DROP_LAG;
	if (sync_file_range(fd, wb[1], upto - wb[1],
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				    SYNC_FILE_RANGE_WAIT_AFTER) == 0)
		posix_fadvise(fd, wb[1], upto - wb[1], POSIX_FADV_DONTNEED);
	wb[1] = upto;
}

/* The body of both threads: the hasher's when done is &pl->hashed. */
static void pipeline_run(struct pipeline *pl, unsigned *done)
{
	int hasher = done == &pl->hashed;
	int64_t wb[2] = {pl->base, pl->base};
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (*done == pl->filled && !pl->closing && !pl->err)
			pthread_cond_wait(&pl->cv, &pl->mu);
		if (*done == pl->filled || pl->err)
			break;
		char *buf = pl->stage[*done % NSTAGES];
		int64_t off = pl->base + (int64_t)*done * (int64_t)STAGE_SIZE;
		pthread_mutex_unlock(&pl->mu);
		int err = 0;
		if (hasher) {
			sha256_update(pl->sha, STAGE_SIZE, (const uint8_t *)buf);
		} else {
			err = write_all(pl->fd, buf, STAGE_SIZE, off);
			if (!err)
				sink_writeback(pl->fd, off + (int64_t)STAGE_SIZE, wb);
		}
		pthread_mutex_lock(&pl->mu);
		(*done)++;
		if (err && !pl->err)
			pl->err = err;
		pthread_cond_broadcast(&pl->cv);
		if (!hasher && (pl->written % FLUSH_STAGES == 0 || pl->err))
			pthread_cond_signal(&pl->flush_cv);
	}
	pthread_mutex_unlock(&pl->mu);
}

static void *pipeline_hasher(void *arg)
{
	struct pipeline *pl = arg;
	pipeline_run(pl, &pl->hashed);
	return NULL;
}

static void *pipeline_writer(void *arg)
{
	struct pipeline *pl = arg;
	pipeline_run(pl, &pl->written);
	return NULL;
}

/* Make the written stages durable every FLUSH_STAGES, until the end. */
static void *pipeline_flusher(void *arg)
{
	struct pipeline *pl = arg;
	unsigned flushed = 0;
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (pl->written - flushed < FLUSH_STAGES && !pl->closing && !pl->err)
			pthread_cond_wait(&pl->flush_cv, &pl->mu);
		if (pl->closing || pl->err)
			break;
		unsigned upto = pl->written;
		pthread_mutex_unlock(&pl->mu);
		int rc = fdatasync(pl->fd);
		int err = rc < 0 ? errno : 0;
		pthread_mutex_lock(&pl->mu);
		if (err == EINVAL || err == EROFS)
			break; /* nothing to flush here (not a regular file) */
		if (err && err != EINTR && !pl->err) {
			pl->err = err;
			pthread_cond_broadcast(&pl->cv);
		}
		flushed = upto;
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static char *stage_alloc(void)
{
	void *p = NULL;
	if (posix_memalign(&p, STAGE_ALIGN, STAGE_SIZE))
		abort(); /* out of memory, as xmalloc does */
	return p;
}

/* Free pl and every stage but the sink's current one. */
static void pipeline_free(struct blob_sink *k, struct pipeline *pl)
{
	for (int i = 0; i < NSTAGES; i++)
		if (pl->stage[i] != k->stage)
			free(pl->stage[i]);
	pthread_mutex_destroy(&pl->mu);
	pthread_cond_destroy(&pl->cv);
	pthread_cond_destroy(&pl->flush_cv);
	free(pl);
}

/*
 * Start the pipeline at the sink's offset, with k->stage as its first stage
 * (not yet handed over). -1 when its threads cannot be started: the sink
 * then goes on without one.
 */
static int pipeline_start(struct blob_sink *k)
{
	struct pipeline *pl = xcalloc(1, sizeof(*pl));
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->cv, NULL);
	pthread_cond_init(&pl->flush_cv, NULL);
	pl->fd = k->fd;
	pl->sha = k->sha;
	pl->base = k->base + k->done;
	pl->stage[0] = k->stage;
	for (int i = 1; i < NSTAGES; i++)
		pl->stage[i] = stage_alloc();
	if (pl->sha && pthread_create(&pl->hasher, NULL, pipeline_hasher, pl)) {
		pipeline_free(k, pl);
		return -1;
	}
	if (pthread_create(&pl->writer, NULL, pipeline_writer, pl)) {
		pthread_mutex_lock(&pl->mu);
		pl->closing = 1; /* nothing was handed over: the hasher ends */
		pthread_cond_broadcast(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
		if (pl->sha)
			pthread_join(pl->hasher, NULL);
		pipeline_free(k, pl);
		return -1;
	}
	/* without a flusher the stream is only slower to end */
	pl->flushing = pthread_create(&pl->flusher, NULL, pipeline_flusher, pl) == 0;
	k->pl = pl;
	return 0;
}

/* Hand the full stage over and wait for a free one; 0 or an errno. */
static int pipeline_push(struct blob_sink *k)
{
	struct pipeline *pl = k->pl;
	pthread_mutex_lock(&pl->mu);
	pl->filled++;
	pthread_cond_broadcast(&pl->cv);
	for (;;) {
		unsigned slowest = pl->sha && pl->hashed < pl->written ? pl->hashed
								       : pl->written;
		if (pl->filled - slowest < NSTAGES || pl->err)
			break;
		pthread_cond_wait(&pl->cv, &pl->mu);
	}
	int err = pl->err;
	k->stage = pl->stage[pl->filled % NSTAGES];
	pthread_mutex_unlock(&pl->mu);
	return err;
}

/*
 * End the pipeline: when cancel, drop what is in flight, otherwise wait
 * until every stage handed over is hashed and written. Leaves k->stage
 * usable. 0 or the errno of a failed write.
 */
static int pipeline_stop(struct blob_sink *k, int cancel)
{
	struct pipeline *pl = k->pl;
	pthread_mutex_lock(&pl->mu);
	pl->closing = 1;
	if (cancel && !pl->err)
		pl->err = ECANCELED;
	pthread_cond_broadcast(&pl->cv);
	pthread_cond_signal(&pl->flush_cv);
	pthread_mutex_unlock(&pl->mu);
	if (pl->sha)
		pthread_join(pl->hasher, NULL);
	pthread_join(pl->writer, NULL);
	if (pl->flushing)
		pthread_join(pl->flusher, NULL);
	int err = pl->err;
	pipeline_free(k, pl);
	k->pl = NULL;
	return err;
}

/* The stage is full: hash and write it, through the pipeline if possible. */
static int stage_full(struct blob_sink *k)
{
	int err = 0;
	if (k->pl || pipeline_start(k) == 0) {
		err = pipeline_push(k);
	} else {
		if (k->sha)
			sha256_update(k->sha, STAGE_SIZE, (const uint8_t *)k->stage);
		err = write_all(k->fd, k->stage, STAGE_SIZE, k->base + k->done);
		if (!err)
			sink_writeback(k->fd, k->base + k->done + (int64_t)STAGE_SIZE,
					k->wb);
	}
	k->done += (int64_t)STAGE_SIZE;
	k->staged = 0;
	return err;
}

void sink_init(struct blob_sink *k, int fd, int64_t base, struct sha256_ctx *sha)
{
	memset(k, 0, sizeof(*k));
	k->fd = fd;
	k->base = k->wb[0] = k->wb[1] = base;
	k->sha = sha;
}

int sink_write(struct blob_sink *k, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		if (!k->stage) {
			k->cap = len < FIRST_STAGE ? FIRST_STAGE : STAGE_SIZE;
			k->stage = k->cap < STAGE_SIZE ? xmalloc(k->cap) : stage_alloc();
		} else if (k->staged == k->cap && k->cap < STAGE_SIZE) {
			char *whole = stage_alloc();
			memcpy(whole, k->stage, k->staged);
			free(k->stage);
			k->stage = whole;
			k->cap = STAGE_SIZE;
		}
		size_t n = k->cap - k->staged < len ? k->cap - k->staged : len;
		memcpy(k->stage + k->staged, p, n);
		k->staged += n;
		p += n;
		len -= n;
		if (k->staged == STAGE_SIZE) {
			int err = stage_full(k);
			if (err)
				return err;
		}
	}
	return 0;
}

int64_t sink_bytes(const struct blob_sink *k)
{
	return k->done + (int64_t)k->staged;
}

int sink_end(struct blob_sink *k, int cancel)
{
	int err = k->pl ? pipeline_stop(k, cancel) : 0;
	if (!err && !cancel && k->staged) {
		if (k->sha)
			sha256_update(k->sha, k->staged, (const uint8_t *)k->stage);
		err = write_all(k->fd, k->stage, k->staged, k->base + k->done);
		if (!err)
			k->done += (int64_t)k->staged;
	}
	k->staged = 0;
	free(k->stage);
	k->stage = NULL;
	k->cap = 0;
	return err;
}
