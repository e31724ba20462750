/*
 * image.c - jobs that run inside registry images.
 *
 * At submission the image reference ("proj/repo:tag", "proj/repo@sha256:..")
 * is resolved with the submitter's identity (pull permission) and pinned:
 * the job record keeps the reference as given and the manifest digest it
 * resolved to, so that a start, a restart or a retry runs that same image
 * even if the tag moves. At start the engine resolves the pinned digest
 * again (the permission was checked at submission: the engine acts for
 * the system), reads the image's config blob (Env, WorkingDir, Entrypoint,
 * Cmd) and hands the layers to the executor, whose shim unpacks them into
 * $DATA/images (exec/image.c) while the job is 'starting'.
 *
 * How apps relate to images: with an image, an application's command
 * template runs unchanged, but on the image's files (its /usr, /bin,
 * /etc) instead of the host's; the built-in app "image" runs the image's
 * own command: its Entrypoint followed by the job's arguments, or by its
 * Cmd when the job gives none, in its WorkingDir.
 *
 * No SQL here besides what the registry does; no sandboxing.
 */
#include "jobs/internal.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMAGE_REF_MAX 512
#define IMAGE_DOC_MAX (4 << 20)

/* Does every layer have a media type the executor can unpack? */
static int layers_supported(char **types, int n, const char *ref, struct err *e)
{
	for (int i = 0; i < n; i++)
		if (!image_layer_type_ok(types[i]))
			return err_set(e, COVE_EINVAL,
				       "image %.200s: layer %d has media type '%.100s', which "
				       "jobs cannot unpack (tar, tar+gzip and tar+zstd layers only)",
				       ref, i + 1, types[i]);
	return 0;
}

int job_image_check(struct jobs *j, struct dbconn *c, const struct actor *act,
		    const char *ref, json_t *spec, struct err *e)
{
	if (!j->opt.registry)
		return err_set(e, COVE_EUNAVAIL, "this server has no image registry");
	if (!*ref || strlen(ref) > IMAGE_REF_MAX)
		return err_set(e, COVE_EINVAL, "'image' must be PROJECT/REPO[:TAG] or "
					       "PROJECT/REPO@sha256:<hex>");
	char digest[72];
	char **paths = NULL, **types = NULL;
	int n = 0;
	int rc = registry_image_resolve(j->opt.registry, c, act, ref, digest, &paths, &types,
					&n, e);
	if (rc == COVE_ENOENT)
		return err_set(e, COVE_ENOENT,
			       "image not found: %.200s (or you may not pull it)", ref);
	if (rc)
		return rc;
	rc = layers_supported(types, n, ref, e);
	registry_image_free(paths, types, n);
	if (rc)
		return rc;
	json_object_set_new(spec, "image", json_string(ref));
	json_object_set_new(spec, "image_digest", json_string(digest));
	return 0;
}

/* The repository part of ref (what precedes :tag or @digest). */
static char *ref_repo(const char *ref)
{
	const char *at = strchr(ref, '@');
	const char *colon = strrchr(ref, ':');
	size_t n = strlen(ref);
	if (at)
		n = (size_t)(at - ref);
	else if (colon && !strchr(colon, '/'))
		n = (size_t)(colon - ref);
	return xstrndup(ref, n);
}

/* The bytes of blob hex (at most IMAGE_DOC_MAX), for manifests and configs. */
static int blob_read(struct jobs *j, const char *hex, struct buf *out, struct err *e)
{
	int64_t size = 0;
	int fd = files_blob_open(j->files, hex, &size, e);
	if (fd < 0)
		return err_set(e, COVE_ENOENT, "image not found: blob sha256:%.12s is gone", hex);
	if (size > IMAGE_DOC_MAX) {
		close(fd);
		return err_set(e, COVE_ETOOBIG, "image metadata sha256:%.12s is too large", hex);
	}
	buf_grow(out, (size_t)size + 1);
	int64_t off = 0;
	while (off < size) {
		ssize_t n = read(fd, out->data + off, (size_t)(size - off));
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	if (off != size)
		return err_set(e, COVE_EIO, "image metadata sha256:%.12s is unreadable", hex);
	out->len = (size_t)size;
	out->data[out->len] = '\0';
	return 0;
}

/* Read the config of the image manifest digest into cfg. */
static int image_config_read(struct jobs *j, const char *digest, struct image_config *cfg,
		       struct err *e)
{
	struct buf b = {0};
	json_t *man = NULL;
	int rc;
	memset(cfg, 0, sizeof(*cfg));
	if (strncmp(digest, "sha256:", 7))
		return err_set(e, COVE_EINVAL, "bad image digest %.80s", digest);
	if ((rc = blob_read(j, digest + 7, &b, e)))
		goto out;
	man = json_loadb(b.data, b.len, 0, NULL);
	json_t *cd = json_object_get(json_object_get(man, "config"), "digest");
	const char *cdig = json_string_value(cd);
	if (!cdig || strncmp(cdig, "sha256:", 7) || strlen(cdig) != 71 ||
	    strspn(cdig + 7, "0123456789abcdef") != 64) {
		rc = err_set(e, COVE_EINVAL, "image %.80s: its manifest names no config", digest);
		goto out;
	}
	buf_reset(&b);
	if ((rc = blob_read(j, cdig + 7, &b, e)))
		goto out;
	rc = image_config_parse(b.data ? b.data : "", b.len, cfg, e);
out:
	json_decref(man);
	buf_free(&b);
	return rc;
}

int job_image_load(struct jobs *j, struct dbconn *c, const struct jobrec *rec,
		   struct job_image *ji, struct err *e)
{
	memset(ji, 0, sizeof(*ji));
	const char *ref = json_string_value(json_object_get(rec->spec, "image"));
	const char *pinned = json_string_value(json_object_get(rec->spec, "image_digest"));
	if (!ref || !pinned)
		return 0; /* the host's environment */
	if (!j->opt.registry)
		return err_set(e, COVE_EUNAVAIL, "this server has no image registry");
	char *repo = ref_repo(ref);
	char *by_digest = xasprintf("%s@%s", repo, pinned);
	free(repo);
	/* permission was checked at submission, with the submitter's identity */
	struct actor sys;
	memset(&sys, 0, sizeof(sys));
	sys.authenticated = 1;
	sys.uid = rec->uid;
	sys.gid = rec->uid;
	sys.admin = 1;
	snprintf(sys.username, sizeof(sys.username), "%s", rec->user ? rec->user : "");
	int rc = registry_image_resolve(j->opt.registry, c, &sys, by_digest, ji->digest,
					&ji->layers, &ji->types, &ji->n, e);
	if (rc == COVE_ENOENT)
		rc = err_set(e, COVE_ENOENT, "image not found: %.200s (%.80s) is no longer in "
					     "the registry", ref, pinned);
	free(by_digest);
	if (rc)
		return rc;
	if ((rc = layers_supported(ji->types, ji->n, ref, e)) ||
	    (rc = image_config_read(j, ji->digest, &ji->cfg, e))) {
		job_image_free(ji);
		return rc;
	}
	ji->ex.cache_dir = j->images_dir;
	ji->ex.digest = ji->digest;
	ji->ex.layers = ji->layers;
	ji->ex.media_types = ji->types;
	ji->ex.nlayers = ji->n;
	ji->present = 1;
	return 0;
}

void job_image_free(struct job_image *ji)
{
	registry_image_free(ji->layers, ji->types, ji->n);
	image_config_free(&ji->cfg);
	memset(ji, 0, sizeof(*ji));
}

void job_images_evict(struct jobs *j)
{
	struct image_evict_stats st = {0};
	struct err e = {0};
	if (image_cache_evict(j->images_dir, j->opt.image_cache_age, j->opt.image_cache_bytes,
			      &st, &e))
		log_event(LOG_WARN, "image cache eviction", "{s:s}", "error", e.msg);
	if (st.removed)
		log_event(LOG_INFO, "image cache eviction", "{s:i,s:I,s:i,s:I}", "removed",
			  st.removed, "removed_bytes", (json_int_t)st.removed_bytes, "kept",
			  st.kept, "kept_bytes", (json_int_t)st.kept_bytes);
}
