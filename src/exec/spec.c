/*
 * spec.c - checking a job's exec_spec and carrying it to the shim as
 * DIR/run.json (written by the server, read back by the shim).
 *
 * The check is the executor's own line of defence: whatever the jobs module
 * sends, names that become paths, hostnames or /etc/passwd entries are
 * validated here. Must not: decide policy (which mounts a user may have);
 * that is the jobs module's business.
 */
#include "exec/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static int spec_name_ok(const char *s, size_t max, int dots)
{
	size_t n = 0;
	if (!s || !*s || *s == '.' || *s == '-')
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      (dots && c == '.')))
			return 0;
	}
	return n <= max;
}

/* Absolute, no "." or ".." components, no empty components, no newline. */
static int spec_path_ok(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 4000 || strchr(p, '\n'))
		return 0;
	for (const char *s = p; *s;) {
		const char *c = s + 1;
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if ((len == 0 && end) || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (!end)
			break;
		s = end;
	}
	return 1;
}

static int spec_id_ok(int64_t id)
{
	return id >= 0 && id < 4294967295LL;
}

int exec_spec_check(const struct exec_spec *s, struct err *e)
{
	if (!spec_name_ok(s->job_id, 64, 0))
		return err_set(e, COVE_EINVAL, "job id must be 1-64 letters, digits, "
					      "'-' or '_'");
	if (!spec_path_ok(s->dir))
		return err_set(e, COVE_EINVAL, "job directory must be an absolute path");
	if (!s->argv || !s->argv[0] || !s->argv[0][0])
		return err_set(e, COVE_EINVAL, "no command to run");
	for (char *const *v = s->env; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		if (!eq || eq == *v)
			return err_set(e, COVE_EINVAL,
				       "environment entry '%.64s' is not KEY=VALUE", *v);
	}
	for (int i = 0; i < s->nmounts; i++) {
		const struct exec_mount *m = &s->mounts[i];
		if (!spec_path_ok(m->host) || !spec_path_ok(m->inside))
			return err_set(e, COVE_EINVAL, "mount %d: paths must be absolute "
						      "without '.' or '..'", i);
		if (!strcmp(m->inside, "/"))
			return err_set(e, COVE_EINVAL, "mount %d: cannot replace '/'", i);
	}
	if (s->nmounts < 0 || (s->nmounts && !s->mounts))
		return err_set(e, COVE_EINVAL, "bad mount list");
	if (s->rootfs && !spec_path_ok(s->rootfs))
		return err_set(e, COVE_EINVAL, "root file system must be an absolute path");
	if (s->image) {
		const struct exec_image *im = s->image;
		if (!spec_path_ok(im->cache_dir) || !im->digest ||
		    strlen(im->digest) > 200 || im->nlayers < 0 || im->nlayers > 1000 ||
		    (im->nlayers && (!im->layers || !im->media_types)))
			return err_set(e, COVE_EINVAL, "bad image (cache, digest or layers)");
		for (int i = 0; i < im->nlayers; i++)
			if (!spec_path_ok(im->layers[i]) || !im->media_types[i])
				return err_set(e, COVE_EINVAL, "image layer %d: bad path or "
							      "media type", i + 1);
	}
	if (s->cwd && !spec_path_ok(s->cwd))
		return err_set(e, COVE_EINVAL, "working directory must be absolute");
	if (!spec_id_ok(s->uid_inside) || !spec_id_ok(s->gid_inside))
		return err_set(e, COVE_EINVAL, "bad uid or gid inside the sandbox");
	/* The job must never run as host root (or any id 0). */
	if (!spec_id_ok(s->host_uid) || !spec_id_ok(s->host_gid) ||
	    s->host_uid == 0 || s->host_gid == 0)
		return err_set(e, COVE_EINVAL,
			       "host uid and gid must be unprivileged (not 0)");
	if (!spec_name_ok(s->user_name, 32, 1) ||
	    (s->group_name && !spec_name_ok(s->group_name, 32, 1)))
		return err_set(e, COVE_EINVAL, "bad user or group name");
	if (s->cpus < 0 || s->cpus > 4096 || s->mem_bytes < 0 || s->pids < 0 ||
	    s->tmp_bytes < 0 || s->time_limit < 0 || s->file_bytes < 0 ||
	    s->log_bytes < 0)
		return err_set(e, COVE_EINVAL, "limits must not be negative");
	return 0;
}

static json_t *spec_strv(char *const *v)
{
	json_t *a = json_array();
	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

json_t *exec_spec_to_json(const struct exec_spec *s,
			  const struct cgroup_set *cg_base)
{
	json_t *mounts = json_array();
	for (int i = 0; i < s->nmounts; i++)
		json_array_append_new(mounts,
				      json_pack("{s:s,s:s,s:b}", "host", s->mounts[i].host,
						"inside", s->mounts[i].inside, "writable",
						s->mounts[i].writable));
	json_t *cg = json_object();
	for (int i = 0; i < CG_N; i++)
		if (cg_base->dir[i])
			json_object_set_new(cg, cgroup_ctrl_names[i],
					    json_string(cg_base->dir[i]));
	json_t *image = json_null();
	if (s->image) {
		json_t *l = json_array(), *mt = json_array();
		for (int i = 0; i < s->image->nlayers; i++) {
			json_array_append_new(l, json_string(s->image->layers[i]));
			json_array_append_new(mt, json_string(s->image->media_types[i]));
		}
		image = json_pack("{s:s,s:s,s:o,s:o}", "cache_dir", s->image->cache_dir,
				  "digest", s->image->digest, "layers", l, "media_types", mt);
	}
	return json_pack(
		"{s:s,s:s,s:o,s:o,s:o,s:s,s:I,s:I,s:s,s:s,s:I,s:I,s:f,s:I,s:I,s:I,"
		"s:I,s:b,s:I,s:I,s:o,s:o,s:o}",
		"job_id", s->job_id, "dir", s->dir, "argv", spec_strv(s->argv), "env",
		spec_strv(s->env), "mounts", mounts, "cwd", s->cwd ? s->cwd : "/",
		"uid_inside", (json_int_t)s->uid_inside, "gid_inside",
		(json_int_t)s->gid_inside, "user_name", s->user_name, "group_name",
		s->group_name ? s->group_name : s->user_name, "host_uid",
		(json_int_t)s->host_uid, "host_gid", (json_int_t)s->host_gid, "cpus",
		s->cpus, "mem_bytes", (json_int_t)s->mem_bytes, "pids",
		(json_int_t)s->pids, "tmp_bytes", (json_int_t)s->tmp_bytes,
		"time_limit", (json_int_t)s->time_limit, "network", s->network,
		"file_bytes", (json_int_t)s->file_bytes, "log_bytes",
		(json_int_t)s->log_bytes, "cgroups", cg, "rootfs",
		s->rootfs ? json_string(s->rootfs) : json_null(), "image", image);
}

static char **run_strv(json_t *a)
{
	size_t n = json_array_size(a);
	char **v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = (char *)json_string_value(json_array_get(a, i));
	return v;
}

int exec_run_load(int dirfd, struct exec_run *run, struct err *e)
{
	struct buf b = {0};
	json_error_t je;
	json_t *argv = NULL, *env = NULL, *mounts = NULL, *cg = NULL;
	int network = 0;
	int rc = 0;
	memset(run, 0, sizeof *run);
	struct exec_spec *s = &run->spec;
	int r = exec_read_file_at(dirfd, "run.json", &b, 16 << 20);
	if (r < 0) {
		rc = err_set(e, COVE_EIO, "cannot read run.json: %s", strerror(-r));
		goto out;
	}
	run->root = json_loads(buf_str(&b), 0, &je);
	json_int_t uid_in, gid_in, huid, hgid, mem, pids, tmp, tl, fb, lb;
	if (!run->root ||
	    json_unpack_ex(run->root, &je, 0,
			   "{s:s,s:s,s:o,s:o,s:o,s:s,s:I,s:I,s:s,s:s,s:I,s:I,s:F,s:I,"
			   "s:I,s:I,s:I,s:b,s:I,s:I,s:o}",
			   "job_id", &s->job_id, "dir", &s->dir, "argv", &argv, "env",
			   &env, "mounts", &mounts, "cwd", &s->cwd, "uid_inside",
			   &uid_in, "gid_inside", &gid_in, "user_name", &s->user_name,
			   "group_name", &s->group_name, "host_uid", &huid, "host_gid",
			   &hgid, "cpus", &s->cpus, "mem_bytes", &mem, "pids", &pids,
			   "tmp_bytes", &tmp, "time_limit", &tl, "network", &network,
			   "file_bytes", &fb, "log_bytes", &lb, "cgroups", &cg) < 0 ||
	    !json_is_array(argv) || !json_is_array(env) || !json_is_array(mounts) ||
	    !json_is_object(cg)) {
		rc = err_set(e, COVE_EINVAL, "bad run.json: %s", je.text);
		goto out;
	}
	s->uid_inside = uid_in;
	s->gid_inside = gid_in;
	s->host_uid = huid;
	s->host_gid = hgid;
	s->mem_bytes = mem;
	s->pids = pids;
	s->tmp_bytes = tmp;
	s->time_limit = tl;
	s->file_bytes = fb;
	s->log_bytes = lb;
	s->network = network;
	run->argv = run_strv(argv);
	run->env = run_strv(env);
	s->argv = run->argv;
	s->env = run->env;
	s->nmounts = (int)json_array_size(mounts);
	run->mounts = xcalloc((size_t)s->nmounts + 1, sizeof *run->mounts);
	for (int i = 0; i < s->nmounts; i++) {
		struct exec_mount *m = &run->mounts[i];
		if (json_unpack(json_array_get(mounts, (size_t)i), "{s:s,s:s,s:b}",
				"host", &m->host, "inside", &m->inside, "writable",
				&m->writable) < 0) {
			rc = err_set(e, COVE_EINVAL, "bad mount %d in run.json", i);
			goto out;
		}
	}
	s->mounts = run->mounts;
	/* rootfs and image came with images: absent in older run.json */
	s->rootfs = json_string_value(json_object_get(run->root, "rootfs"));
	json_t *im = json_object_get(run->root, "image");
	if (im && !json_is_null(im)) {
		json_t *l = NULL, *mt = NULL;
		if (json_unpack(im, "{s:s,s:s,s:o,s:o}", "cache_dir", &run->image.cache_dir,
				"digest", &run->image.digest, "layers", &l, "media_types",
				&mt) < 0 ||
		    !json_is_array(l) || !json_is_array(mt) ||
		    json_array_size(l) != json_array_size(mt)) {
			rc = err_set(e, COVE_EINVAL, "bad image in run.json");
			goto out;
		}
		run->layers = run_strv(l);
		run->media_types = run_strv(mt);
		run->image.layers = run->layers;
		run->image.media_types = run->media_types;
		run->image.nlayers = (int)json_array_size(l);
		for (int i = 0; i < run->image.nlayers; i++)
			if (!run->layers[i] || !run->media_types[i]) {
				rc = err_set(e, COVE_EINVAL, "bad image layer in run.json");
				goto out;
			}
		s->image = &run->image;
	}
	for (int i = 0; i < CG_N; i++) {
		const char *d = json_string_value(json_object_get(cg, cgroup_ctrl_names[i]));
		if (d)
			run->cg_base.dir[i] = xstrdup(d);
	}
	for (size_t i = 0; i < json_array_size(argv); i++)
		if (!run->argv[i])
			rc = err_set(e, COVE_EINVAL, "argv must hold strings");
	for (size_t i = 0; i < json_array_size(env); i++)
		if (!run->env[i])
			rc = err_set(e, COVE_EINVAL, "env must hold strings");
	if (!rc)
		rc = exec_spec_check(s, e);
out:
	buf_free(&b);
	if (rc)
		exec_run_free(run);
	return rc;
}

void exec_run_free(struct exec_run *run)
{
	free(run->argv);
	free(run->env);
	free(run->mounts);
	free(run->layers);
	free(run->media_types);
	cgroup_set_free(&run->cg_base);
	json_decref(run->root);
	memset(run, 0, sizeof *run);
}
