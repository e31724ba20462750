/*
 * batch.c - group commit (see db.h): many writers, one transaction, one
 * fsync. Only the leader touches the database; the others sleep on a
 * condition variable until their request is done. No knowledge of what
 * the requests write.
 */
#include "db/db.h"

#include <pthread.h>
#include <stdlib.h>

#define BATCH_MAX 256

struct batch_req {
	int (*fn)(struct dbconn *c, void *arg, struct err *e);
	void *arg;
	int rc;
	struct err e;
	int done;
	struct batch_req *next;
};

struct db_batcher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch_req *head, **tail;
	int committing;
};

struct db_batcher *db_batcher_new(void)
{
	struct db_batcher *b = xcalloc(1, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->tail = &b->head;
	return b;
}

void db_batcher_free(struct db_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

/* Run one batch as the leader (called without the mutex held). */
static void batch_lead(struct dbconn *c, struct batch_req *batch)
{
	struct err te = {0};
	int trc = db_begin(c, &te);
	for (struct batch_req *q = batch; q; q = q->next) {
		if (trc) {
			q->rc = trc;
			q->e = te;
			continue;
		}
		db_exec(c, NULL, "SAVEPOINT batch", NULL);
		q->rc = q->fn(c, q->arg, &q->e);
		if (q->rc)
			db_exec(c, NULL, "ROLLBACK TO batch", NULL);
		db_exec(c, NULL, "RELEASE batch", NULL);
	}
	if (!trc && (trc = db_commit(c, &te)))
		for (struct batch_req *q = batch; q; q = q->next)
			if (!q->rc) {
				q->rc = trc;
				q->e = te;
			}
}

int db_batch_run(struct db_batcher *b, struct dbconn *c,
		 int (*fn)(struct dbconn *c, void *arg, struct err *e), void *arg,
		 struct err *e)
{
	struct batch_req r = {.fn = fn, .arg = arg};
	pthread_mutex_lock(&b->mu);
	*b->tail = &r;
	b->tail = &r.next;
	while (!r.done) {
		if (b->committing) {
			pthread_cond_wait(&b->cv, &b->mu);
			continue;
		}
		b->committing = 1;
		struct batch_req *batch = b->head, *q = batch, *last = NULL;
		for (int n = 0; q && n < BATCH_MAX; n++, q = q->next)
			last = q;
		b->head = last->next;
		if (!b->head)
			b->tail = &b->head;
		last->next = NULL;
		pthread_mutex_unlock(&b->mu);

		batch_lead(c, batch);

		pthread_mutex_lock(&b->mu);
		for (q = batch; q; q = q->next)
			q->done = 1;
		b->committing = 0;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	if (r.rc && e)
		*e = r.e;
	return r.rc;
}
