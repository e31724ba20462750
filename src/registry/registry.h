/*
 * registry.h - the project image registry: the OCI Distribution
 * Specification v1.1 under /v2/, with repositories per project
 * (<project>/<repo>) and per user (<username>/<repo>), access by project
 * role, a token endpoint for standard clients, robot accounts, storage
 * quotas and tag immutability.
 *
 * Bytes (layers, configs, manifests) live in the file space's
 * content-addressed store and count in its reference counts (files.h);
 * metadata in migration 5 (src/db/schema.c). No HTTP in the domain files;
 * api.c translates.
 */
#ifndef COVE_REGISTRY_H
#define COVE_REGISTRY_H

#include "auth/auth.h"
#include "core/core.h"
#include "db/db.h"
#include "files/files.h"

struct registry;

/* Open the registry on db, storing bytes through files; upload sessions
 * stage their bytes under data_dir/registry/uploads. */
int registry_open(struct registry **out, struct db *db, struct files *files,
		  struct auth *auth, const struct config *cfg, struct err *e);
void registry_close(struct registry *rg);

/*
 * Resolve an image reference ("proj/repo:tag", "proj/repo@sha256:<hex>",
 * "proj/repo" meaning :latest) for act, who needs pull permission. An
 * index resolves to its linux/amd64 image (else the first image). Fills
 * digest_out ("sha256:<hex>") with the image manifest's digest and the
 * host paths and media types of its layers, in order; the caller frees
 * them with registry_image_free.
 */
int registry_image_resolve(struct registry *rg, struct dbconn *c,
			   const struct actor *act, const char *ref,
			   char digest_out[72], char ***layer_paths,
			   char ***layer_media_types, int *nlayers, struct err *e);
void registry_image_free(char **layer_paths, char **layer_media_types, int n);

/* A project or user is being deleted (caller holds the transaction):
 * remove its empty repositories, or refuse (COVE_ECONFLICT, naming one)
 * while any still holds images or blobs. */
int registry_namespace_release(struct dbconn *c, const char *ns, struct err *e);

/* For the admin overview: sets out's "registry": {"repositories" (a
 * count), "bytes" (each blob and manifest once, from a counter)}. */
int registry_overview(struct dbconn *c, json_t *out, struct err *e);

/* One collection of every repository with the configured grace period,
 * then files_gc (what the server runs every registry_gc_interval). */
void registry_gc_periodic(struct registry *rg);

/* ---- pure checks (names.c, gc.c), exposed for unit tests ----------------- */

/* A tag as retention sees it. */
struct reg_tag_info {
	const char *name;
	char hex[65];
	int64_t pushed_ms;
	int immutable;
};
/* A retention policy: keep the keep newest tags matching tag_pattern; with
 * older_than (seconds, 0: none) tags pushed more recently stay too. */
struct reg_retention_rule {
	const char *tag_pattern;
	int64_t keep;
	int64_t older_than;
};
/* Which tags the rules remove: remove[i] = 1 when some rule matches tag i,
 * no rule matching it keeps it (among its keep newest by push time, ties
 * by name, or younger than its older_than), and it is not immutable.
 * Tags no rule matches stay. Returns how many go. */
int reg_retention_select(const struct reg_tag_info *tags, int ntags,
			 const struct reg_retention_rule *rules, int nrules,
			 int64_t now_ms, int *remove);


#define REG_NAME_MAX 255
#define REG_MANIFEST_MAX (4 << 20)

/* OCI repository name grammar, at least two components (namespace/repo). */
int reg_name_valid(const char *name);
/* Tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
int reg_tag_valid(const char *tag);
/* "sha256:<64 lowercase hex>": 1 and the hex copied into hex (65 bytes). */
int reg_digest_parse(const char *digest, char hex[65]);
/* Glob match for tag rules: '*' any run without '/', '**' any run,
 * '?' one character. */
int reg_glob(const char *pattern, const char *s);

#endif
