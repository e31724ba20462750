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

/* /metrics tells who uses which routes how often: an administrator's
 * token (a read-scoped API token is what a scraper should hold) unless the
 * operator opened it with --metrics-public. */
static void get_metrics(struct req *r)
{
	if (!r->srv->cfg->metrics_public) {
		if (!r->actor.authenticated) {
			struct err e = {0};
			err_set(&e, COVE_EAUTH, "authentication required: send an "
						"administrator's token (or start the server "
						"with --metrics-public)");
			reply_err(r, &e);
			return;
		}
		if (!r->actor.admin || !(r->actor.scopes & SCOPE_READ)) {
			reply_problem(r, 403, "permission denied: administrators only");
			return;
		}
	}
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
