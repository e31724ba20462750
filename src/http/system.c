/*
 * system.c - the routes that describe the server itself: liveness,
 * readiness, metrics and the OpenAPI document (linked in by embed.S).
 */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

extern const char cove_openapi_json[];
extern const char cove_openapi_json_end[];

static void get_healthz(struct req *r)
{
	reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void get_readyz(struct req *r)
{
	if (r->srv->stopping || db_ping(r->srv->db) != 0) {
		reply_problem(r, 503, "not ready: %s",
			      r->srv->stopping ? "shutting down" : "database unavailable");
		return;
	}
	reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}

static void get_metrics(struct req *r)
{
	struct buf b = {0};
	metrics_render(r->srv->metrics, r->srv, &b);
	reply_text(r, 200, "text/plain; version=0.0.4", buf_str(&b), b.len);
	buf_free(&b);
}

static void get_openapi(struct req *r)
{
	reply_text(r, 200, "application/json", cove_openapi_json,
		   (size_t)(cove_openapi_json_end - cove_openapi_json));
}

const struct route system_routes[] = {
	{"GET", "/healthz", get_healthz, ROUTE_PUBLIC | ROUTE_QUIET},
	{"GET", "/readyz", get_readyz, ROUTE_PUBLIC | ROUTE_QUIET},
	{"GET", "/metrics", get_metrics, ROUTE_PUBLIC | ROUTE_QUIET},
	{"GET", "/v1/openapi.json", get_openapi, ROUTE_PUBLIC},
	{NULL, NULL, NULL, 0},
};
