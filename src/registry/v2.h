/*
 * v2.h - what the registry's HTTP files share (v2.c, push.c, api.c): OCI
 * error replies and the Bearer challenge, the parsed /v2/ path, who is
 * asking and whether they may, and upload sessions. Not for other modules.
 */
#ifndef COVE_REGISTRY_V2_H
#define COVE_REGISTRY_V2_H

#include "http/http.h"
#include "registry/internal.h"

#include <nettle/sha2.h>

#define RG(r) ((r)->srv->registry)

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* ---- replies (v2.c) ---- */
/* Docker-Distribution-API-Version on the reply made. */
void v2_api_version(struct req *r);
/* An OCI error body {"errors":[{"code","message","detail"?}]}; detail is
 * a JSON string value or NULL. */
void oci_error(struct req *r, int status, const char *code, const char *detail,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* 401 UNAUTHORIZED with the Bearer challenge naming the token endpoint
 * and scope (NULL: none). */
void v2_challenge(struct req *r, const char *scope, const char *why);
/* A domain error as the OCI code that fits; unknown is the code for
 * COVE_ENOENT. */
void oci_from_err(struct req *r, const struct err *e, const char *unknown);

/* ---- the path (v2.c) ---- */
enum v2_kind { V2_BASE, V2_CATALOG, V2_TAGS, V2_MANIFEST, V2_BLOB, V2_UPLOAD, V2_REFERRERS };

struct v2path {
	int kind;
	char name[REG_NAME_MAX + 1];
	char ref[160]; /* tag, digest or upload id ("" for a new upload) */
};

/* A tag or a sha256 digest. */
int v2_ref_valid(const char *ref);
/* Parse what follows /v2/ into p. 0 ok; -1 not a registry route; -2 bad name. */
int v2_parse(const char *rest, struct v2path *p);
/* A blob GET's Range header against size: 1 with [*from, *to] inside the
 * blob, 0 none, -1 unsatisfiable or malformed. */
int v2_range_parse(const char *h, int64_t size, int64_t *from, int64_t *to);
/* A chunk's Content-Range "<start>-<end>" (push.c): 0 with *a <= *b, or -1. */
int v2_chunk_range_parse(const char *h, int64_t *a, int64_t *b);
/* Parse and check a manifest or index document (push.c) into m (zeroed by
 * the caller; its hex and size are the caller's), its media type from
 * ctype (the Content-Type; NULL or "": the document's own); COVE_EINVAL
 * with e set when malformed. v2_manifest_free releases what m holds. */
int v2_manifest_parse(const char *ctype, json_t *doc, struct reg_manifest *m,
		      struct err *e);
void v2_manifest_free(struct reg_manifest *m);

/* ---- who is asking (v2.c) ---- */
/* The principal of a request: Bearer registry token, Bearer cove token
 * (verified by the HTTP layer already), HTTP Basic, or nobody. */
int v2_principal_load(struct req *r, struct dbconn *c, struct principal *p,
		      struct err *e);
void v2_principal_free(struct principal *p);
/* 0 when p may do need on name; otherwise replies (401 with a challenge
 * when a token could help, 403 DENIED or 404 NAME_UNKNOWN) and returns 1. */
int v2_authorize(struct req *r, struct dbconn *c, const struct principal *p,
		 const char *name, unsigned need);
/* Parse the path and load the principal of a /v2 request; on failure
 * replies and returns 1. */
int v2_enter(struct req *r, struct dbconn *c, struct v2path *vp,
	     struct principal *p);

/* ---- handlers (v2.c: GET, HEAD, DELETE; push.c: POST, PATCH, PUT) ---- */
void v2_get(struct req *r);
void v2_delete(struct req *r);
void v2_unused(struct req *r);
extern const struct stream_ops reg_push_ops;

/* ---- upload sessions (push.c) ---- */
struct session {
	char id[32];
	int64_t received;
	struct sha256_ctx sha;
	int sha_ok;
};
char *v2_part_path(struct registry *rg, const char *id);
/* Load session id of p for repository name: 1 found, 0 not. */
int v2_session_load(struct dbconn *c, const char *id, const char *name,
		    const struct principal *p, struct session *s);
void v2_upload_status(struct req *r, struct dbconn *c, const struct v2path *vp,
		      const struct principal *p);
void v2_upload_cancel(struct req *r, struct dbconn *c, const struct v2path *vp,
		      const struct principal *p);

#endif
