/*
 * metrics.c - Prometheus metrics: per-route request counters by status
 * class and latency histograms, updated with atomic adds on the hot path
 * (no locks), rendered in the text exposition format on /metrics.
 */
#include "http/http.h"

#include <stdlib.h>

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1,   0.25,   0.5,   1,    2.5,   5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct route_metrics {
	uint64_t by_class[6]; /* 0: other, 1..5: 1xx..5xx */
	uint64_t hist[NBUCKETS];
	uint64_t count;
	uint64_t sum_us;
};

struct metrics {
	size_t n; /* routes + 1 for unmatched requests */
	struct route_metrics *rm;
	int64_t started;
};

struct metrics *metrics_new(size_t nroutes)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->n = nroutes + 1;
	m->rm = xcalloc(m->n, sizeof(*m->rm));
	m->started = time_now();
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->rm);
	free(m);
}

void metrics_observe(struct metrics *m, int route_index, int status,
		     double seconds)
{
	if (!m || route_index < 0 || (size_t)route_index >= m->n)
		return;
	struct route_metrics *rm = &m->rm[route_index];
	int cls = status / 100;
	if (cls < 1 || cls > 5)
		cls = 0;
	__atomic_add_fetch(&rm->by_class[cls], 1, __ATOMIC_RELAXED);
	for (size_t b = 0; b < NBUCKETS; b++)
		if (seconds <= buckets[b]) {
			__atomic_add_fetch(&rm->hist[b], 1, __ATOMIC_RELAXED);
			break;
		}
	__atomic_add_fetch(&rm->count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&rm->sum_us, (uint64_t)(seconds * 1e6), __ATOMIC_RELAXED);
}

static const char *const class_names[] = {"other", "1xx", "2xx",
					   "3xx",   "4xx", "5xx"};

void metrics_render(struct metrics *m, struct server *s, struct buf *out)
{
	buf_adds(out, "# HELP cove_http_requests_total HTTP requests by route and status class.\n"
		      "# TYPE cove_http_requests_total counter\n");
	for (size_t i = 0; i < m->n; i++) {
		const char *method = i < s->nroutes ? s->routes[i]->method : "";
		const char *route = i < s->nroutes ? s->routes[i]->pattern : "unmatched";
		for (int c = 0; c < 6; c++) {
			uint64_t v = __atomic_load_n(&m->rm[i].by_class[c], __ATOMIC_RELAXED);
			if (v)
				buf_addf(out,
					 "cove_http_requests_total{method=\"%s\",route=\"%s\",code=\"%s\"} %llu\n",
					 method, route, class_names[c], (unsigned long long)v);
		}
	}
	buf_adds(out, "# HELP cove_http_request_duration_seconds Time to answer a request.\n"
		      "# TYPE cove_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < m->n; i++) {
		struct route_metrics *rm = &m->rm[i];
		uint64_t count = __atomic_load_n(&rm->count, __ATOMIC_RELAXED);
		if (!count)
			continue;
		const char *method = i < s->nroutes ? s->routes[i]->method : "";
		const char *route = i < s->nroutes ? s->routes[i]->pattern : "unmatched";
		uint64_t cum = 0;
		for (size_t b = 0; b < NBUCKETS; b++) {
			cum += __atomic_load_n(&rm->hist[b], __ATOMIC_RELAXED);
			buf_addf(out,
				 "cove_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n",
				 method, route, buckets[b], (unsigned long long)cum);
		}
		buf_addf(out,
			 "cove_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n"
			 "cove_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n"
			 "cove_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
			 method, route, (unsigned long long)count, method, route,
			 (double)__atomic_load_n(&rm->sum_us, __ATOMIC_RELAXED) / 1e6,
			 method, route, (unsigned long long)count);
	}
	buf_addf(out, "# HELP cove_start_time_seconds When this server started.\n"
		      "# TYPE cove_start_time_seconds gauge\n"
		      "cove_start_time_seconds %lld\n",
		 (long long)m->started);
	buf_addf(out, "# HELP cove_http_requests_in_flight Requests being served.\n"
		      "# TYPE cove_http_requests_in_flight gauge\n"
		      "cove_http_requests_in_flight %d\n",
		 __atomic_load_n(&s->inflight, __ATOMIC_RELAXED));
	buf_addf(out, "# HELP cove_http_bulk_bodies_total Request bodies read straight "
		      "from the socket, off the event loop.\n"
		      "# TYPE cove_http_bulk_bodies_total counter\n"
		      "cove_http_bulk_bodies_total %lld\n",
		 (long long)__atomic_load_n(&s->bulk_bodies, __ATOMIC_RELAXED));
}
