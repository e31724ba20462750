/*
 * jobs.c - opening and closing the jobs module: directories, the executor
 * probe, the catalog, and the engine. When the executor cannot run jobs on
 * this machine, the server still serves: jobs wait in their queues and the
 * log says why.
 */
#include "jobs/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int jobs_open(struct jobs **out, struct db *db, struct files *files,
	      const struct jobs_options *opt, struct err *e)
{
	struct jobs *j = xcalloc(1, sizeof(*j));
	j->db = db;
	j->files = files;
	j->opt = *opt;
	j->wake_fd = j->epfd = -1;
	pthread_mutex_init(&j->mu, NULL);
	j->batch = db_batcher_new();
	j->jobs_dir = xasprintf("%s/jobs", opt->data_dir);
	j->logs_dir = xasprintf("%s/logs", opt->data_dir);
	j->images_dir = xasprintf("%s/images", opt->data_dir);
	int rc = 0;
	/* Private to the server: the shim stages what a sandbox may see as
	 * root, so no job uid ever needs to pass through these. */
	if ((mkdir(j->jobs_dir, 0700) < 0 && errno != EEXIST) || chmod(j->jobs_dir, 0700) < 0 ||
	    (mkdir(j->logs_dir, 0700) < 0 && errno != EEXIST)) {
		rc = err_set(e, COVE_EIO, "cannot prepare %s: %s", j->jobs_dir, strerror(errno));
		goto fail;
	}
	struct err xe = {0};
	double cpus = 1;
	int64_t mem = 1LL << 30;
	if (exec_local_open(&j->exec, opt->self_exe, &xe) == 0) {
		j->limits = xstrdup(exec_local_limits(j->exec));
		exec_local_capacity(j->exec, &cpus, &mem);
	} else {
		j->exec = NULL;
		j->limits = xasprintf("jobs cannot run on this machine: %s", xe.msg);
	}
	j->cpus = opt->cpus > 0 ? opt->cpus : cpus;
	j->memory = opt->memory > 0 ? opt->memory : mem;
	j->memory = j->memory >> 20 << 20; /* whole MiB: reads better in limits */
	j->free_cpu_milli = (int64_t)(j->cpus * 1000);
	j->free_memory = j->memory;
	if ((rc = catalog_seed(j, e)) || (rc = catalog_load(j, e)) || (rc = engine_start(j, e)) ||
	    (rc = committer_start(j, e)))
		goto fail;
	*out = j;
	return 0;
fail:
	jobs_close(j);
	return rc;
}

void jobs_set_notify(struct jobs *j, void (*fn)(void *arg), void *arg)
{
	j->on_change = fn;
	j->on_change_arg = arg;
}

const char *jobs_limits(const struct jobs *j)
{
	return j->limits;
}

const char *jobs_unavailable(const struct jobs *j)
{
	return j->exec ? NULL : j->limits;
}

void jobs_close(struct jobs *j)
{
	if (!j)
		return;
	committer_stop(j);
	if (j->epfd >= 0)
		engine_stop(j);
	exec_local_close(j->exec);
	for (int i = 0; i < j->nqueues; i++) {
		json_decref(j->queues[i].users);
		json_decref(j->queues[i].groups);
	}
	json_decref(j->apps);
	free(j->queues);
	free(j->projects);
	free(j->users);
	for (int i = 0; i < j->nlines; i++)
		free(j->lines[i].v);
	free(j->lines);
	free(j->running);
	free(j->finishing);
	db_batcher_free(j->batch);
	pthread_mutex_destroy(&j->mu);
	free(j->limits);
	free(j->jobs_dir);
	free(j->logs_dir);
	free(j->images_dir);
	free(j);
}
