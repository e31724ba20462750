/*
 * fuzz_manifest.c - OCI/Docker manifests and indexes as a PUT sends them
 * (v2_manifest_parse, src/registry/push.c), and the /v2/ paths that name
 * them (v2_parse, v2_ref_valid). Input: a Content-Type line, then the body;
 * the body is loaded exactly as finish_manifest does (JSON_REJECT_DUPLICATES).
 * Invariants: an accepted manifest has a known media type and every
 * reference is 64 lowercase hex with a size >= 0; a parsed path's name is a
 * valid repository name.
 */
#include "registry/v2.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t clen = nl ? (size_t)(nl - data) : 0;
	char *ctype = fuzz_str(data, clen);
	const char *body = (const char *)data + (nl ? clen + 1 : 0);
	size_t blen = size - (nl ? clen + 1 : 0);

	json_error_t je;
	json_t *doc = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &je);
	if (doc) {
		struct reg_manifest m;
		memset(&m, 0, sizeof m);
		struct err e = {0};
		if (v2_manifest_parse(ctype, doc, &m, &e) == 0) {
			FUZZ_CHECK(m.media_type && (!strcmp(m.media_type, MT_OCI_MANIFEST) ||
						    !strcmp(m.media_type, MT_OCI_INDEX) ||
						    !strcmp(m.media_type, MT_DOCKER_MANIFEST) ||
						    !strcmp(m.media_type, MT_DOCKER_LIST)),
				   "media type %s", m.media_type ? m.media_type : "(none)");
			for (int i = 0; i < m.nrefs; i++) {
				FUZZ_CHECK(strlen(m.refs[i]) == 64 &&
						   strspn(m.refs[i], "0123456789abcdef") == 64,
					   "ref %d '%s'", i, m.refs[i]);
				FUZZ_CHECK(m.ref_sizes[i] >= 0, "size %lld",
					   (long long)m.ref_sizes[i]);
			}
		} else {
			FUZZ_CHECK(e.code == COVE_EINVAL && e.msg[0], "refused without a reason");
		}
		v2_manifest_free(&m);
		json_decref(doc);
	}

	/* the Content-Type line as what follows /v2/ */
	struct v2path p;
	if (v2_parse(ctype, &p) == 0 && p.kind != V2_BASE && p.kind != V2_CATALOG)
		FUZZ_CHECK(reg_name_valid(p.name), "name '%s' from '%s'", p.name, ctype);
	(void)v2_ref_valid(ctype);
	free(ctype);
	return 0;
}
