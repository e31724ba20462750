/*
 * test_jobs.c - the scheduler's decisions: priorities, fair share between
 * users, queue/user/project limits, and placement only where CPU and
 * memory fit. sched_pick is pure, so every case is a table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jobs/internal.h"
#include "jobs/jobs.h"

#define GiB (1LL << 30)

struct world {
	struct sched_queue queues[4];
	struct sched_project projects[2];
	struct sched_user users[8];
	struct sched_state st;
};

static void world_init(struct world *w, int64_t cpu_milli, int64_t mem)
{
	memset(w, 0, sizeof(*w));
	w->st.free_cpu_milli = cpu_milli;
	w->st.free_memory = mem;
	w->st.queues = w->queues;
	w->st.nqueues = 2;
	w->st.projects = w->projects;
	w->st.nprojects = 2;
	w->st.users = w->users;
	w->st.nusers = 3;
	for (int i = 0; i < 3; i++)
		w->users[i].uid = 1000 + i;
}

static struct sched_job job(int64_t seq, int64_t uid, int queue, int prio,
			    int64_t cpu, int64_t mem)
{
	struct sched_job j = {.seq = seq, .uid = uid, .project = -1, .queue = queue,
			      .priority = prio, .cpu_milli = cpu, .memory = mem};
	return j;
}

/* One user's 10,000 queued jobs do not starve another user's one. */
static void test_fair_share(void **state)
{
	struct world w;
	world_init(&w, 2000, 8 * GiB);
	int n = 10001;
	struct sched_job *jobs = calloc((size_t)n, sizeof(*jobs));
	for (int i = 0; i < 10000; i++)
		jobs[i] = job(i + 1, 1000, 0, 0, 1000, GiB);
	jobs[10000] = job(10001, 1001, 0, 0, 1000, GiB); /* bob's one job, last */
	int picks[8];
	int np = sched_pick(&w.st, jobs, n, picks, 8, 1);
	assert_int_equal(np, 2); /* two CPUs: two jobs */
	int bob = 0;
	for (int i = 0; i < np; i++)
		bob += jobs[picks[i]].uid == 1001;
	assert_int_equal(bob, 1);
	/* alice already runs one: when a CPU frees up with bob's job still
	 * waiting in a fresh round, bob goes first */
	struct world w2;
	world_init(&w2, 1000, 8 * GiB);
	w2.users[0].running = 1;
	np = sched_pick(&w2.st, jobs, n, picks, 8, 2);
	assert_int_equal(np, 1);
	assert_int_equal(jobs[picks[0]].uid, 1001);
	free(jobs);
}

/* Within a user: priority first, then submission order. Across users the
 * user's own priority does not jump the fair-share order. */
static void test_priorities(void **state)
{
	struct world w;
	world_init(&w, 8000, 64 * GiB);
	struct sched_job jobs[] = {
		job(1, 1000, 0, 0, 1000, GiB),
		job(2, 1000, 0, 50, 1000, GiB),
		job(3, 1000, 0, -5, 1000, GiB),
		job(4, 1000, 0, 50, 1000, GiB),
	};
	int picks[4];
	int np = sched_pick(&w.st, jobs, 4, picks, 4, 1);
	assert_int_equal(np, 4);
	assert_int_equal(jobs[picks[0]].seq, 2);
	assert_int_equal(jobs[picks[1]].seq, 4);
	assert_int_equal(jobs[picks[2]].seq, 1);
	assert_int_equal(jobs[picks[3]].seq, 3);
}

/* A higher-priority queue goes first, whoever submitted. */
static void test_queue_priority(void **state)
{
	struct world w;
	world_init(&w, 1000, 8 * GiB);
	w.queues[1].priority = 10;
	struct sched_job jobs[] = {
		job(1, 1000, 0, 100, 1000, GiB),
		job(2, 1001, 1, -100, 1000, GiB),
	};
	int picks[2];
	int np = sched_pick(&w.st, jobs, 2, picks, 2, 1);
	assert_int_equal(np, 1);
	assert_int_equal(jobs[picks[0]].seq, 2);
}

/* Placement: only where CPU and memory fit; a user's big head job is not
 * overtaken by the same user's small ones, but other users go on. */
static void test_fit(void **state)
{
	struct world w;
	world_init(&w, 1500, 4 * GiB);
	struct sched_job jobs[] = {
		job(1, 1000, 0, 0, 2000, GiB),     /* does not fit: 2 CPUs */
		job(2, 1000, 0, 0, 500, GiB),      /* alice's, behind her big one */
		job(3, 1001, 0, 0, 1000, 8 * GiB), /* does not fit: memory */
		job(4, 1002, 0, 0, 1000, GiB),     /* fits */
	};
	int picks[4];
	int np = sched_pick(&w.st, jobs, 4, picks, 4, 1);
	assert_int_equal(np, 1);
	assert_int_equal(jobs[picks[0]].seq, 4);
	assert_int_equal(w.st.free_cpu_milli, 500);
	assert_int_equal(w.st.free_memory, 3 * GiB);
}

/* Limits: queue max_running, per-user running, project jobs and CPU. */
static void test_limits(void **state)
{
	struct world w;
	world_init(&w, 16000, 64 * GiB);
	w.queues[0].max_running = 2;
	struct sched_job jobs[] = {
		job(1, 1000, 0, 0, 100, GiB), job(2, 1001, 0, 0, 100, GiB),
		job(3, 1002, 0, 0, 100, GiB), job(4, 1000, 1, 0, 100, GiB),
	};
	int picks[4];
	int np = sched_pick(&w.st, jobs, 4, picks, 4, 1);
	assert_int_equal(np, 3); /* two from queue 0, one from queue 1 */
	assert_int_equal(w.queues[0].running, 2);

	world_init(&w, 16000, 64 * GiB);
	w.st.user_max_running = 1;
	w.users[0].running = 1;
	np = sched_pick(&w.st, jobs, 4, picks, 4, 1);
	assert_int_equal(np, 2); /* alice is at her limit */
	for (int i = 0; i < np; i++)
		assert_int_not_equal(jobs[picks[i]].uid, 1000);

	world_init(&w, 16000, 64 * GiB);
	w.projects[0].max_jobs = 1;
	w.projects[1].max_cpu_milli = 1500;
	struct sched_job pj[] = {
		job(1, 1000, 0, 0, 1000, GiB), job(2, 1001, 0, 0, 1000, GiB),
		job(3, 1000, 1, 0, 1000, GiB), job(4, 1001, 1, 0, 1000, GiB),
	};
	pj[0].project = pj[1].project = 0;
	pj[2].project = pj[3].project = 1;
	np = sched_pick(&w.st, pj, 4, picks, 4, 1);
	assert_int_equal(np, 2); /* one of project 0, one of project 1 (CPU) */
	assert_int_equal(w.projects[0].running, 1);
	assert_int_equal(w.projects[1].cpu_milli, 1000);
}

/* Ties between users with the same running count: the one who started a
 * job least recently goes first; max caps the number of picks. */
static void test_ties_and_max(void **state)
{
	struct world w;
	world_init(&w, 16000, 64 * GiB);
	w.users[0].last_start_ms = 50;
	w.users[1].last_start_ms = 10;
	struct sched_job jobs[] = {job(1, 1000, 0, 0, 100, GiB), job(2, 1001, 0, 0, 100, GiB)};
	int picks[2];
	int np = sched_pick(&w.st, jobs, 2, picks, 1, 100);
	assert_int_equal(np, 1);
	assert_int_equal(jobs[picks[0]].uid, 1001);
	assert_int_equal(sched_pick(&w.st, jobs, 0, picks, 1, 100), 0);
}

/* The submission answer is written as text (jobrec_json_buf): it must be
 * the very object jobrec_json builds, for records with and without the
 * optional parts. */
static void check_same_json(const struct jobrec *r)
{
	json_t *o = jobrec_json(r);
	char *want = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct buf b = {0};
	jobrec_json_buf(r, &b);
	assert_string_equal(b.data, want);
	json_error_t je;
	json_t *back = json_loads(b.data, 0, &je);
	assert_non_null(back); /* valid JSON, not only equal text */
	json_decref(back);
	buf_free(&b);
	free(want);
}

static void test_record_text(void **state)
{
	(void)state;
	struct jobrec r;
	memset(&r, 0, sizeof r);
	snprintf(r.id, sizeof r.id, "01ABCDEFGHJKMNPQRSTVWXYZ12");
	r.user = "ada";
	r.name = "quote \" and \\ and \n ünïcode";
	r.app = "bash";
	r.queue = "default";
	r.priority = -3;
	snprintf(r.state, sizeof r.state, "queued");
	r.cpu_milli = 1000;
	r.memory = 1 << 30;
	r.cpu_ms = r.peak_memory = r.output_files = -1;
	r.submitted_ms = 1764400000123;
	r.spec = json_pack("{s:[s,s],s:[s],s:s,s:b,s:{s:s},s:I,s:I}", "args", "-c",
			   "echo hi", "inputs", "/home/ada/x.csv", "output", "/home/ada/out",
			   "overwrite", 0, "env", "K", "v\u00e9", "time", (json_int_t)60,
			   "pids", (json_int_t)64);
	check_same_json(&r);
	/* finished, with every optional part present and odd numbers */
	r.project = "lab";
	r.reason = "exit code 3";
	r.has_exit = 1;
	r.exit_code = 3;
	r.signal = 9;
	r.cpu_milli = 250;
	r.cpu_ms = 1234;
	r.peak_memory = 987654321;
	r.output_files = 7;
	r.output_error = "quota exceeded: \"x\"";
	r.started_ms = r.submitted_ms + 13;
	r.finished_ms = r.submitted_ms + 2000;
	r.attempt = 2;
	check_same_json(&r);
	r.cpu_milli = 100; /* 0.1: a real with 17 digits */
	r.cpu_ms = 0;
	check_same_json(&r);
	json_decref(r.spec);
	r.spec = json_object(); /* nothing in the spec */
	check_same_json(&r);
	json_decref(r.spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_text),
		cmocka_unit_test(test_fair_share),  cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_queue_priority), cmocka_unit_test(test_fit),
		cmocka_unit_test(test_limits),       cmocka_unit_test(test_ties_and_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
