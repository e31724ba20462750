/*
 * image.c - images for jobs: resolve "proj/repo:tag" (or @digest) to the
 * host paths of its layers in the blob store, for the local executor to
 * unpack. Pull permission is checked for the submitting user. An index
 * resolves to its linux/amd64 image, else its first image.
 */
#include "registry/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *load_doc(struct registry *rg, const char *hex, int64_t size,
			struct err *e)
{
	int64_t got;
	int fd = files_blob_open(rg->files, hex, &got, e);
	if (fd < 0)
		return NULL;
	char *buf = xmalloc((size_t)size + 1);
	int64_t off = 0;
	while (off < size) {
		ssize_t n = read(fd, buf + off, (size_t)(size - off));
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	json_t *doc = off == size ? json_loadb(buf, (size_t)size, 0, NULL) : NULL;
	free(buf);
	if (!doc)
		err_set(e, COVE_EIO, "stored manifest sha256:%s is unreadable", hex);
	return doc;
}

void registry_image_free(char **paths, char **types, int n)
{
	for (int i = 0; i < n; i++) {
		if (paths)
			free(paths[i]);
		if (types)
			free(types[i]);
	}
	free(paths);
	free(types);
}

int registry_image_resolve(struct registry *rg, struct dbconn *c,
			   const struct actor *act, const char *ref,
			   char digest_out[72], char ***layer_paths,
			   char ***layer_media_types, int *nlayers, struct err *e)
{
	*layer_paths = *layer_media_types = NULL;
	*nlayers = 0;
	char name[REG_NAME_MAX + 1];
	const char *at = strchr(ref, '@');
	const char *colon = strrchr(ref, ':');
	const char *tagref = "latest";
	size_t n;
	if (at) {
		n = (size_t)(at - ref);
		tagref = at + 1;
	} else if (colon && !strchr(colon, '/')) {
		n = (size_t)(colon - ref);
		tagref = colon + 1;
	} else {
		n = strlen(ref);
	}
	if (n > REG_NAME_MAX)
		return err_set(e, COVE_EINVAL, "image name is too long");
	memcpy(name, ref, n);
	name[n] = '\0';
	char hex[65];
	if (!reg_name_valid(name) ||
	    (at ? !reg_digest_parse(tagref, hex) : !reg_tag_valid(tagref)))
		return err_set(e, COVE_EINVAL,
			       "image must be PROJECT/REPO[:TAG] or PROJECT/REPO@sha256:<hex>");
	struct principal p;
	memset(&p, 0, sizeof(p));
	p.kind = PR_USER;
	p.uid = act->uid;
	p.admin = act->admin;
	p.scopes = act->scopes ? act->scopes : SCOPE_ALL;
	p.act = *act;
	int ns;
	int64_t repo, size;
	char *mt = NULL;
	if (!(reg_allowed(c, &p, name, &ns) & ACT_PULL) || !reg_repo_find(c, name, &repo) ||
	    !reg_manifest_find(c, repo, tagref, hex, &mt, &size))
		return err_set(e, COVE_ENOENT, "no image %s that you may pull", ref);
	json_t *doc = load_doc(rg, hex, size, e);
	if (!doc) {
		free(mt);
		return COVE_EIO;
	}
	json_t *list = json_object_get(doc, "manifests");
	if (json_is_array(list)) {
		/* an index: pick the image for this machine */
		json_t *pick = NULL, *d;
		size_t i;
		json_array_foreach(list, i, d) {
			json_t *pl = json_object_get(d, "platform");
			const char *os = json_string_value(json_object_get(pl, "os"));
			const char *arch = json_string_value(json_object_get(pl, "architecture"));
			if (os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64")) {
				pick = d;
				break;
			}
			if (!pick)
				pick = d;
		}
		const char *dg = json_string_value(json_object_get(pick, "digest"));
		char *cmt = NULL;
		if (!dg || !reg_manifest_find(c, repo, dg, hex, &cmt, &size)) {
			json_decref(doc);
			free(mt);
			return err_set(e, COVE_ENOENT, "index %s has no image for linux/amd64", ref);
		}
		free(cmt);
		json_decref(doc);
		if (!(doc = load_doc(rg, hex, size, e))) {
			free(mt);
			return COVE_EIO;
		}
	}
	free(mt);
	json_t *layers = json_object_get(doc, "layers");
	if (!json_is_array(layers)) {
		json_decref(doc);
		return err_set(e, COVE_EINVAL, "%s is not an image manifest", ref);
	}
	int count = (int)json_array_size(layers);
	char **paths = xcalloc((size_t)count + 1, sizeof(char *));
	char **types = xcalloc((size_t)count + 1, sizeof(char *));
	for (int i = 0; i < count; i++) {
		json_t *l = json_array_get(layers, (size_t)i);
		char lhex[65];
		const char *lmt = json_string_value(json_object_get(l, "mediaType"));
		if (!reg_digest_parse(json_string_value(json_object_get(l, "digest")), lhex)) {
			registry_image_free(paths, types, count);
			json_decref(doc);
			return err_set(e, COVE_EINVAL, "layer %d of %s has a bad digest", i, ref);
		}
		paths[i] = files_blob_host_path(rg->files, lhex);
		types[i] = xstrdup(lmt ? lmt : "");
	}
	json_decref(doc);
	snprintf(digest_out, 72, "sha256:%s", hex);
	*layer_paths = paths;
	*layer_media_types = types;
	*nlayers = count;
	return 0;
}
