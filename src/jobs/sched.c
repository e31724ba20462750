/*
 * sched.c - the scheduler's decision, as a pure function over a snapshot:
 * which queued jobs start now, in which order. No I/O, no locks, no clock:
 * the engine builds the snapshot and applies the picks.
 *
 * Policy (see jobs.h): queue priority, then fair share between users
 * (fewest running first, then the longest since a start), then the user's
 * own job priority, then submission order; limits per queue, user and
 * project; a job starts only where its CPU and memory request fits. The
 * head of each (user, queue) line blocks that line when it cannot start,
 * so a user's big job is not overtaken forever by the same user's small
 * ones; other users' lines are unaffected.
 */
#include "jobs/jobs.h"

#include <stdlib.h>
#include <string.h>

static struct sched_user *user_of(struct sched_state *st, int64_t uid)
{
	for (int i = 0; i < st->nusers; i++)
		if (st->users[i].uid == uid)
			return &st->users[i];
	return NULL;
}

/* Within one (user, queue) line: does a come before b? */
static int line_before(const struct sched_job *a, const struct sched_job *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return a->seq < b->seq;
}

/* May job j start with the state as it is? */
static int allowed(const struct sched_state *st, const struct sched_job *j,
		   const struct sched_user *u)
{
	const struct sched_queue *q = &st->queues[j->queue];
	if (q->max_running > 0 && q->running >= q->max_running)
		return 0;
	if (st->user_max_running > 0 && u && u->running >= st->user_max_running)
		return 0;
	if (j->project >= 0) {
		const struct sched_project *p = &st->projects[j->project];
		if (p->max_jobs > 0 && p->running >= p->max_jobs)
			return 0;
		if (p->max_cpu_milli > 0 && p->cpu_milli + j->cpu_milli > p->max_cpu_milli)
			return 0;
		if (p->max_memory > 0 && p->memory + j->memory > p->max_memory)
			return 0;
	}
	return j->cpu_milli <= st->free_cpu_milli && j->memory <= st->free_memory;
}

/* Across lines: does candidate a (of user ua) go before b (of user ub)? */
static int pick_before(const struct sched_state *st, const struct sched_job *a,
		       const struct sched_user *ua, const struct sched_job *b,
		       const struct sched_user *ub)
{
	int qa = st->queues[a->queue].priority, qb = st->queues[b->queue].priority;
	if (qa != qb)
		return qa > qb;
	int ra = ua ? ua->running : 0, rb = ub ? ub->running : 0;
	if (ra != rb)
		return ra < rb;
	int64_t la = ua ? ua->last_start_ms : 0, lb = ub ? ub->last_start_ms : 0;
	if (la != lb)
		return la < lb;
	if (a->uid == b->uid && a->priority != b->priority)
		return a->priority > b->priority;
	return a->seq < b->seq;
}

int sched_pick(struct sched_state *st, const struct sched_job *jobs, int n,
	       int *picks, int max, int64_t now_ms)
{
	if (n <= 0 || max <= 0)
		return 0;
	/* taken[i]: already picked in this call */
	unsigned char *taken = calloc((size_t)n, 1);
	if (!taken)
		return 0;
	int npicks = 0;
	while (npicks < max) {
		/* The head of every (user, queue) line, found in one pass: a job
		 * is a head when no other untaken job of its line comes first. To
		 * keep this O(n) per pick, remember per line the best seen so far
		 * in a small open-addressing table keyed by (uid, queue). */
		size_t cap = 16;
		while (cap < (size_t)n * 2)
			cap <<= 1;
		int *head = malloc(cap * sizeof(int));
		if (!head)
			break;
		for (size_t i = 0; i < cap; i++)
			head[i] = -1;
		for (int i = 0; i < n; i++) {
			if (taken[i])
				continue;
			uint64_t h = (uint64_t)jobs[i].uid * 0x9E3779B97F4A7C15ull ^
				     (uint64_t)jobs[i].queue * 0xC2B2AE3D27D4EB4Full;
			size_t s = (size_t)(h >> 17) & (cap - 1);
			for (;; s = (s + 1) & (cap - 1)) {
				int k = head[s];
				if (k < 0) {
					head[s] = i;
					break;
				}
				if (jobs[k].uid == jobs[i].uid && jobs[k].queue == jobs[i].queue) {
					if (line_before(&jobs[i], &jobs[k]))
						head[s] = i;
					break;
				}
			}
		}
		int best = -1;
		struct sched_user *best_u = NULL;
		for (size_t s = 0; s < cap; s++) {
			int k = head[s];
			if (k < 0)
				continue;
			struct sched_user *u = user_of(st, jobs[k].uid);
			if (!allowed(st, &jobs[k], u))
				continue;
			if (best < 0 || pick_before(st, &jobs[k], u, &jobs[best], best_u)) {
				best = k;
				best_u = u;
			}
		}
		free(head);
		if (best < 0)
			break;
		/* apply it */
		const struct sched_job *j = &jobs[best];
		taken[best] = 1;
		picks[npicks++] = best;
		st->free_cpu_milli -= j->cpu_milli;
		st->free_memory -= j->memory;
		st->queues[j->queue].running++;
		if (j->project >= 0) {
			struct sched_project *p = &st->projects[j->project];
			p->running++;
			p->cpu_milli += j->cpu_milli;
			p->memory += j->memory;
		}
		if (best_u) {
			best_u->running++;
			best_u->last_start_ms = now_ms;
		}
	}
	free(taken);
	return npicks;
}
