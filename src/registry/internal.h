/*
 * internal.h - what the registry's sources share: the context, the
 * principal a request acts as, and the domain functions api.c calls.
 * Not for other modules.
 */
#ifndef COVE_REGISTRY_INTERNAL_H
#define COVE_REGISTRY_INTERNAL_H

#include "registry/registry.h"

#include <pthread.h>

/* Who writes an upload session now: the latest request to open it. A
 * request that was superseded (its client vanished, or raced) may not
 * write again: every write and the final save check the generation under
 * the slot's mutex. */
struct writer_slot {
	char id[32];
	uint64_t gen;
	int refs;
	pthread_mutex_t mu;
	struct writer_slot *next;
};

struct registry {
	struct db *db;
	struct files *files;
	struct auth *auth;
	const struct config *cfg;
	char *uploads; /* $DATA/registry/uploads: staged bytes of sessions */
	pthread_mutex_t slots_mu;
	struct writer_slot *slots;
	/* the periodic collection (gc.c) */
	pthread_t gc_thread;
	pthread_mutex_t gc_mu;
	pthread_cond_t gc_cv;
	int gc_inited, gc_running, gc_stop;
};

#define REG_AUDIENCE "cove-registry"
#define ROBOT_PREFIX "cove_robot_"

enum reg_action { ACT_PULL = 1, ACT_PUSH = 2, ACT_DELETE = 4 };

enum principal_kind { PR_ANON = 0, PR_USER, PR_ROBOT };

/* Who a registry request acts as. */
struct principal {
	int kind;
	int64_t uid;      /* users */
	int admin;
	unsigned scopes;  /* a cove token's scopes (SCOPE_*) */
	int64_t robot_id; /* robots */
	char project[AUTH_NAME_MAX + 1]; /* a robot's project */
	unsigned robot_actions;
	char name[2 * AUTH_NAME_MAX + 2]; /* username or project+robot */
	json_t *access; /* from a registry token: what it grants; NULL: anything */
	struct actor act; /* for the audit log */
};

/* ---- access.c ---- */
/* What p may do on repository name now (ACT_* bits), by role. *ns: 1 when
 * the namespace (a project or a user) exists. */
unsigned reg_allowed(struct dbconn *c, const struct principal *p,
		     const char *name, int *ns);
/* What p's registry token grants on name (everything without a token). */
unsigned reg_token_grants(const struct principal *p, const char *type,
			  const char *name);
/* "<project>+<robot>" and its secret: fills p. */
int reg_robot_login(struct dbconn *c, const char *login, const char *secret,
		    struct principal *p, struct err *e);
/* A registry token from its claims (verified already). */
int reg_principal_from_claims(struct dbconn *c, json_t *claims,
			      struct principal *p, struct err *e);
/* Issue a token for p with the scopes asked (array of strings, each
 * "repository:<name>:<actions>" or "registry:catalog:*"): granted =
 * asked ∩ allowed. *out: the token response. */
int reg_token_issue(struct registry *rg, struct dbconn *c,
		    const struct principal *p, json_t *scopes, json_t **out,
		    struct err *e);
int reg_robots_create(struct dbconn *c, const struct actor *act,
		      const char *project, json_t *body, json_t **out,
		      struct err *e);
int reg_robots_list(struct dbconn *c, const struct actor *act,
		    const char *project, json_t **out, struct err *e);
int reg_robots_delete(struct dbconn *c, const struct actor *act,
		      const char *project, const char *robot, struct err *e);
/* May act see (manage = 0: any member, or an admin) or change (manage = 1:
 * owners, maintainers, admins) project's registry settings; what names them
 * in the refusal ("robots", "tag rules"). 0, COVE_ENOENT when act is not in
 * the project (it stays invisible), or COVE_EPERM. */
int reg_project_access(struct dbconn *c, const struct actor *act,
		       const char *project, int manage, const char *what,
		       struct err *e);
/* Delete row id of project from table (a constant of ours), audited as
 * action; COVE_ENOENT "no such <noun>" when there is none. */
int reg_project_row_delete(struct dbconn *c, const struct actor *act,
			   const char *project, const char *table, const char *noun,
			   int64_t id, const char *action, struct err *e);
/* A repository or tag pattern: letters, digits, . _ - / * ?, 1-255 bytes. */
int reg_glob_ok(const char *g);
/* The principal string that owns upload sessions ("u:<uid>", "r:<id>"). */
void reg_principal_key(const struct principal *p, char out[40]);
/* Actions of a project role. */
unsigned reg_role_actions(const char *role);

#endif

/* ---- repo.c: repositories, blob links, manifests, tags, sessions ---- */

/* Find repository name: 1 and *id, 0 when it does not exist. */
int reg_repo_find(struct dbconn *c, const char *name, int64_t *id);
/* 1 when blob hex is usable in repo (linked there), with its size. */
int reg_blob_linked(struct dbconn *c, int64_t repo, const char *hex,
		    int64_t *size);
/* Record that the bytes of hex (already durable in the store) belong to
 * repository name, creating the repository; checks the namespace's
 * storage quota (bytes counted once per project). Runs its own
 * transaction. */
int reg_blob_link(struct registry *rg, struct dbconn *c, const char *name,
		  const char *hex, int64_t size, struct err *e);
/* The storage quota of the namespace of name (INT64_MAX: none): a blob
 * larger than it can never be recorded, so its upload stops early. (The
 * room left is checked when the blob completes: a layer the project holds
 * already costs nothing, which is not known while bytes arrive.) */
int64_t reg_quota_limit(struct dbconn *c, const char *name);
/* Unlink a blob from a repository (COVE_ENOENT when not linked). */
int reg_blob_unlink(struct dbconn *c, const char *name, const char *hex,
		    struct err *e);

/* A manifest being put: its bytes (durable in the store already) and
 * what was parsed from them. */
struct reg_manifest {
	char hex[65];
	int64_t size;
	const char *media_type;
	char subject[65]; /* "" when none */
	char *artifact_type;
	char *annotations; /* JSON text or NULL */
	/* referenced digests (hex), is_manifest flags */
	char (*refs)[65];
	int64_t *ref_sizes;
	int *ref_is_manifest;
	int nrefs;
};
/* Record manifest m in repository name, tagging it with tag (NULL: by
 * digest only) as pushed by pushed_by (a principal's name, kept with the
 * tag): every referenced blob or manifest must be in the
 * repository (COVE_ENOENT naming it in missing, for MANIFEST_BLOB_UNKNOWN)
 * with the size the manifest gives (COVE_ECONFLICT, SIZE_INVALID); an
 * immutable tag that already points elsewhere is refused (COVE_EPERM). */
int reg_manifest_put(struct registry *rg, struct dbconn *c, const char *name,
		     const struct reg_manifest *m, const char *tag,
		     const char *pushed_by, char missing[72], struct err *e);
/* Find a manifest by tag or digest: 1 with hex, media type (caller
 * frees) and size; 0 when unknown. */
int reg_manifest_find(struct dbconn *c, int64_t repo, const char *ref,
		      char hex[65], char **media_type, int64_t *size);
/* Delete by digest (the manifest and the tags on it) or by tag (the tag
 * only). COVE_ENOENT when unknown; COVE_EPERM for an immutable tag. */
int reg_manifest_delete(struct dbconn *c, const struct actor *act,
			const char *name, const char *ref, struct err *e);
/* 1 when tag in repository name is immutable (repository flag or a rule
 * of its project). */
int reg_tag_immutable(struct dbconn *c, const char *name, int64_t repo,
		      const char *tag);

/* Repositories act may pull, by name, from after cursor, at most limit:
 * {"items":[{name, namespace, immutable_tags, tags, manifests,
 * created_at, updated_at}], "next_cursor"}. */
int reg_repos_list(struct dbconn *c, const struct principal *p,
		   const char *cursor, int limit, json_t **out, struct err *e);
/* One repository as in the list (pull needed). */
int reg_repo_get(struct dbconn *c, const struct principal *p, const char *name,
		 json_t **out, struct err *e);
/* Set a repository's immutable_tags flag (delete permission needed). */
int reg_repo_set_immutable(struct dbconn *c, const struct principal *p,
			   const char *name, int on, struct err *e);
/* Tag rules of a project: list, add ({"repository","tag"} globs), remove. */
int reg_rules_list(struct dbconn *c, const struct actor *act, const char *project,
		   json_t **out, struct err *e);
int reg_rules_add(struct dbconn *c, const struct actor *act, const char *project,
		  json_t *body, json_t **out, struct err *e);
int reg_rules_delete(struct dbconn *c, const struct actor *act,
		     const char *project, int64_t id, struct err *e);

/* ---- gc.c: garbage collection and retention ---- */

/* Collect the repositories of namespace ns (a project or a user; NULL:
 * every repository, administrators only; act NULL: the server itself):
 * retention, untagged unreferenced manifests and unreferenced blob links
 * older than grace seconds. dry_run: report only. *out: the report. */
int reg_gc_run(struct registry *rg, struct dbconn *c, const struct actor *act,
	       const char *ns, int64_t grace, int dry_run, json_t **out,
	       struct err *e);
/* Start (when configured) and stop the periodic collection thread. */
int reg_gc_start(struct registry *rg);
void reg_gc_stop(struct registry *rg);
/* Retention policies of a project: list (members), add ({"repository",
 * "tag","keep","older_than"}) and remove (owners, maintainers, admins). */
int reg_retention_list(struct dbconn *c, const struct actor *act,
		       const char *project, json_t **out, struct err *e);
int reg_retention_add(struct dbconn *c, const struct actor *act,
		      const char *project, json_t *body, json_t **out,
		      struct err *e);
int reg_retention_delete(struct dbconn *c, const struct actor *act,
			 const char *project, int64_t id, struct err *e);
/* Tags of a repository with digest, size, push time and who pushed them
 * (pull needed). */
int reg_tags_list(struct dbconn *c, const struct principal *p, const char *name,
		  json_t **out, struct err *e);
