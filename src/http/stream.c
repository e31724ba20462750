/*
 * stream.c - responses produced while they are sent: Server-Sent Events,
 * long polls, and downloads made by a producer thread (archives). A stream
 * with nothing to say is suspended (taken off the event loop, costing no
 * thread) and woken by a ticker every 100 ms, or at once by
 * http_streams_wake (all) or http_stream_wake (one: its producer has bytes
 * again), to ask its producer again. No knowledge of what is streamed.
 */
#include "http/http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct stream {
	struct server *srv;
	struct MHD_Connection *conn;
	stream_fill_fn fill;
	void (*free_fn)(void *ctx);
	void *ctx;
	int sleeping; /* suspended, waiting for a wake (under streams.mu) */
	/* a wake came while not sleeping: ask fill again rather than sleep
	 * (under streams.mu), so a producer's wake between an empty fill and
	 * the suspension is not lost until the next tick */
	int wake_pending;
	int download; /* reply_stream_download: cut, not ended, at a stop */
	int ended;
	struct stream *prev, *next;
};

struct streams {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct stream *head;
	int stop;
	pthread_t ticker;
};

/* Resume every sleeping stream; called with mu held. */
static void wake_locked(struct streams *ss)
{
	for (struct stream *st = ss->head; st; st = st->next)
		if (st->sleeping) {
			st->sleeping = 0;
			MHD_resume_connection(st->conn);
		}
}

static void *ticker_main(void *arg)
{
	struct streams *ss = arg;
	pthread_mutex_lock(&ss->mu);
	while (!ss->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ss->cv, &ss->mu, &ts);
		wake_locked(ss);
	}
	pthread_mutex_unlock(&ss->mu);
	return NULL;
}

int http_streams_start(struct server *s)
{
	struct streams *ss = xcalloc(1, sizeof(*ss));
	pthread_mutex_init(&ss->mu, NULL);
	pthread_cond_init(&ss->cv, NULL);
	if (pthread_create(&ss->ticker, NULL, ticker_main, ss)) {
		free(ss);
		return COVE_EINTERNAL;
	}
	s->streams = ss;
	return 0;
}

/* Before the daemon stops: end every stream (their producers see
 * s->stopping) and stop the ticker. Streams still registered are freed by
 * MHD's completion of their responses. */
void http_streams_stop(struct server *s)
{
	struct streams *ss = s->streams;
	if (!ss)
		return;
	pthread_mutex_lock(&ss->mu);
	int was = ss->stop;
	ss->stop = 1;
	wake_locked(ss);
	pthread_cond_broadcast(&ss->cv);
	pthread_mutex_unlock(&ss->mu);
	if (!was)
		pthread_join(ss->ticker, NULL);
}

void http_streams_wake(struct server *s)
{
	struct streams *ss = s->streams;
	if (!ss)
		return;
	pthread_mutex_lock(&ss->mu);
	wake_locked(ss);
	pthread_mutex_unlock(&ss->mu);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	struct streams *ss = st->srv->streams;
	if (st->ended)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* A download cut short must look cut short: a clean end would hand
	 * the client a truncated archive as if it were whole. */
	ssize_t stop_end = st->download ? MHD_CONTENT_READER_END_WITH_ERROR
					: MHD_CONTENT_READER_END_OF_STREAM;
	for (;;) {
		if (st->download && st->srv->stopping) {
			st->ended = 1;
			return stop_end;
		}
		long n = st->fill(st->ctx, buf, max);
		if (n > 0)
			return (ssize_t)n;
		if (n == STREAM_ABORT) {
			st->ended = 1;
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (n < 0) {
			st->ended = 1;
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (st->srv->stopping) {
			st->ended = 1;
			return stop_end;
		}
		/* Nothing yet: sleep off the event loop until a wake. */
		pthread_mutex_lock(&ss->mu);
		if (ss->stop) {
			pthread_mutex_unlock(&ss->mu);
			st->ended = 1;
			return stop_end;
		}
		if (st->wake_pending) {
			st->wake_pending = 0;
			pthread_mutex_unlock(&ss->mu);
			continue;
		}
		st->sleeping = 1;
		MHD_suspend_connection(st->conn);
		pthread_mutex_unlock(&ss->mu);
		return 0;
	}
}

void http_stream_wake(struct stream *st)
{
	struct streams *ss = st->srv->streams;
	pthread_mutex_lock(&ss->mu);
	if (st->sleeping) {
		st->sleeping = 0;
		MHD_resume_connection(st->conn);
	} else {
		st->wake_pending = 1;
	}
	pthread_mutex_unlock(&ss->mu);
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	struct streams *ss = st->srv->streams;
	pthread_mutex_lock(&ss->mu);
	if (st->prev)
		st->prev->next = st->next;
	else
		ss->head = st->next;
	if (st->next)
		st->next->prev = st->prev;
	pthread_mutex_unlock(&ss->mu);
	if (st->free_fn)
		st->free_fn(st->ctx);
	free(st);
}

static struct stream *stream_reply(struct req *r, int status, const char *ctype,
				   stream_fill_fn fill, void (*free_fn)(void *ctx),
				   void *ctx, int download)
{
	struct streams *ss = r->srv->streams;
	if (r->replied || !ss) {
		if (free_fn)
			free_fn(ctx);
		if (!r->replied)
			reply_problem(r, 503, "streaming is not available");
		return NULL;
	}
	struct stream *st = xcalloc(1, sizeof(*st));
	st->srv = r->srv;
	st->conn = r->conn;
	st->fill = fill;
	st->free_fn = free_fn;
	st->ctx = ctx;
	st->download = download;
	r->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
						    stream_read, st, stream_free);
	if (!r->resp) {
		if (free_fn)
			free_fn(ctx);
		free(st);
		reply_problem(r, 500, "cannot create a streamed response");
		return NULL;
	}
	/* libmicrohttpd 0.9.75 ends a HEAD answer of unknown length with the
	 * chunked encoding's last chunk, "0\r\n\r\n", which a client then
	 * reads as the start of the next answer on that connection: HEAD is
	 * answered without chunks, and the connection closes after it. */
	if (!strcmp(r->method, "HEAD"))
		MHD_set_response_options(r->resp, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
	pthread_mutex_lock(&ss->mu);
	st->next = ss->head;
	if (ss->head)
		ss->head->prev = st;
	ss->head = st;
	pthread_mutex_unlock(&ss->mu);
	r->replied = 1;
	r->status = status;
	MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r->resp, "X-Request-Id", r->actor.request_id);
	MHD_add_response_header(r->resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r->resp, "Cache-Control", "no-store");
	MHD_add_response_header(r->resp, "X-Accel-Buffering", "no");
	return st;
}

void reply_stream(struct req *r, int status, const char *ctype,
		  stream_fill_fn fill, void (*free_fn)(void *ctx), void *ctx)
{
	stream_reply(r, status, ctype, fill, free_fn, ctx, 0);
}

struct stream *reply_stream_download(struct req *r, int status, const char *ctype,
				     stream_fill_fn fill, void (*free_fn)(void *ctx),
				     void *ctx)
{
	return stream_reply(r, status, ctype, fill, free_fn, ctx, 1);
}
