/*
 * main.c - command dispatch: `cove serve` runs the platform, `cove routes`
 * lists the HTTP routes, every other subcommand is the client (cli/).
 * This is the one place that decides how errors reach the terminal.
 */
#include "auth/auth.h"
#include "cli/cli.h"
#include "core/core.h"
#include "db/db.h"
#include "exec/exec.h"
#include "files/files.h"
#include "http/http.h"
#include "http/tls.h"
#include "jobs/jobs.h"
#include "registry/registry.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int rc = 0;
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				rc = -1;
			*s = '/';
		}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

/* ---- hooks: the file space follows users and projects ---- */

static int hook_user_created(void *ctx, struct dbconn *c, const char *name,
			     int64_t uid, int64_t gid, struct err *e)
{
	return fs_home_create(ctx, c, name, uid, gid, e);
}

static int hook_user_deleted(void *ctx, struct dbconn *c, const char *name,
			     struct err *e)
{
	int rc = registry_namespace_release(c, name, e);
	if (rc)
		return rc;
	char *path = xasprintf("/home/%s", name);
	rc = fs_area_remove(ctx, c, path, e);
	free(path);
	return rc;
}

static int hook_project_created(void *ctx, struct dbconn *c, const char *name,
				int64_t gid, struct err *e)
{
	return fs_project_create(c, name, gid, e);
}

static int hook_project_deleted(void *ctx, struct dbconn *c, const char *name,
				struct err *e)
{
	int rc = jobs_project_release(c, name, e);
	if (rc)
		return rc;
	rc = registry_namespace_release(c, name, e);
	if (rc)
		return rc;
	char *path = xasprintf("/projects/%s", name);
	rc = fs_area_remove(ctx, c, path, e);
	free(path);
	return rc;
}

/* A job changed state: wake log followers and long polls at once. */
static void on_job_change(void *arg)
{
	http_streams_wake(arg);
}

/* Where a browser on this machine finds the portal: --public-url, or the
 * listen address (a wildcard one reached through loopback). */
static void portal_url(const struct config *cfg, char *out, size_t n)
{
	if (*cfg->public_url) {
		size_t l = strlen(cfg->public_url);
		snprintf(out, n, "%s%s", cfg->public_url,
			 l && cfg->public_url[l - 1] == '/' ? "" : "/");
		return;
	}
	const char *colon = strrchr(cfg->listen, ':');
	const char *port = colon ? colon + 1 : "8080";
	size_t hl = colon ? (size_t)(colon - cfg->listen) : 0;
	const char *scheme = *cfg->tls_cert ? "https" : "http";
	if (hl == 0 || (hl == 7 && !strncmp(cfg->listen, "0.0.0.0", 7)))
		snprintf(out, n, "%s://127.0.0.1:%s/", scheme, port);
	else if (hl == 4 && !strncmp(cfg->listen, "[::]", 4))
		snprintf(out, n, "%s://[::1]:%s/", scheme, port);
	else
		snprintf(out, n, "%s://%.*s:%s/", scheme, (int)hl, cfg->listen, port);
}

static int cmd_serve(int argc, char **argv)
{
	struct config cfg;
	struct err e = {0};
	struct server srv;
	char *generated = NULL;
	int status = 1;
	memset(&srv, 0, sizeof(srv));
	/* Buffers of 256 KiB and more (upload stages, archive blocks) come from
	 * mmap and go back to the system when freed. glibc's default moves
	 * this threshold up after the first such free, and from then on each
	 * of its per-thread arenas keeps freed megabytes for good: resident
	 * memory climbed in 20 MiB steps under bench/soak.sh, never falling. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	int rc = config_load(&cfg, argc, argv, &e);
	if (rc == 1) {
		config_usage(stdout);
		config_free(&cfg);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		config_free(&cfg);
		return 2;
	}
	log_setup(log_level_parse(cfg.log_level), 2);
	if (cfg.log_file[0] && log_open_file(cfg.log_file, &e)) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		config_free(&cfg);
		return 2;
	}

	/* Signals are taken synchronously by this thread: block them before
	 * any other thread exists so that every thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	umask(077);
	if (mkdir_p(cfg.data_dir, 0700) < 0) {
		fprintf(stderr, "cove serve: cannot create data directory %s: %s\n",
			cfg.data_dir, strerror(errno));
		goto out;
	}
	/* Everything below (jobs' directories above all, which the sandbox
	 * binds) needs an absolute path: a relative --data (the default
	 * ./.cove-data is one) is taken from where the server was started. */
	char *absdata = realpath(cfg.data_dir, NULL);
	if (!absdata) {
		fprintf(stderr, "cove serve: cannot resolve data directory %s: %s\n",
			cfg.data_dir, strerror(errno));
		goto out;
	}
	free(cfg.data_dir);
	cfg.data_dir = absdata;
	if (files_restore_pending(cfg.data_dir, &e)) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		goto out;
	}
	char *dbpath = xasprintf("%s/cove.db", cfg.data_dir);
	rc = db_open(&srv.db, dbpath, (int)(cfg.threads + cfg.io_workers) + 2, &e);
	free(dbpath);
	if (rc) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		goto out;
	}
	unsigned home_mode = 0;
	for (const char *p = cfg.home_mode; *p; p++)
		home_mode = home_mode * 8 + (unsigned)(*p - '0');
	if ((rc = files_open(&srv.files, srv.db, cfg.data_dir, home_mode, &e))) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		goto out;
	}
	struct auth_hooks hooks = {
		.ctx = srv.files,
		.user_created = hook_user_created,
		.user_deleted = hook_user_deleted,
		.project_created = hook_project_created,
		.project_deleted = hook_project_deleted,
	};
	rc = auth_open(&srv.auth, srv.db, &cfg, &hooks, getenv("COVE_ADMIN_PASSWORD"),
		       &generated, &e);
	if (rc) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		goto out;
	}
	if (!strcmp(cfg.tls, "auto")) {
		struct tls_auto ta;
		if ((rc = tls_auto_prepare(cfg.data_dir, cfg.tls_san, &ta, &e))) {
			fprintf(stderr, "cove serve: --tls auto: %s\n", e.msg);
			goto out;
		}
		free(cfg.tls_cert);
		free(cfg.tls_key);
		cfg.tls_cert = xstrdup(ta.cert_file);
		cfg.tls_key = xstrdup(ta.key_file);
		printf("cove: %s the private CA %s\n"
		       "cove: its SHA-256 fingerprint: %s\n"
		       "cove: clients trust it with: curl --cacert %s, cove --ca-file %s\n",
		       ta.ca_made ? "made" : "using", ta.ca_file, ta.ca_sha256, ta.ca_file,
		       ta.ca_file);
		if (ta.server_made)
			printf("cove: made the server certificate %s\n", ta.cert_file);
		fflush(stdout);
		tls_auto_clear(&ta);
	}
	char portal[512];
	portal_url(&cfg, portal, sizeof(portal));
	if (generated) {
		printf("cove: created the administrator 'admin' with the one-time "
		       "password: %s\n"
		       "cove: log in as admin at %s (or with 'cove login --username "
		       "admin') and change it under Account (or with 'cove passwd'); it "
		       "will not be shown again.\n",
		       generated, portal);
		fflush(stdout);
		free(generated);
	}
	char self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[sl > 0 ? sl : 0] = '\0';
	if ((rc = registry_open(&srv.registry, srv.db, srv.files, srv.auth, &cfg, &e))) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		goto out;
	}
	struct jobs_options jo = {
		.data_dir = cfg.data_dir,
		.self_exe = self,
		.cpus = (double)cfg.job_cpus,
		.memory = cfg.job_memory,
		.max_queued = cfg.max_queued,
		.max_queued_user = cfg.max_queued_user,
		.user_running = cfg.user_running,
		.host_uid_base = cfg.job_uid_base,
		.registry = srv.registry,
		.image_cache_age = cfg.image_cache_age,
		.image_cache_bytes = cfg.image_cache_bytes,
	};
	if ((rc = jobs_open(&srv.jobs, srv.db, srv.files, &jo, &e))) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		goto out;
	}
	log_event(LOG_INFO, "jobs", "{s:s}", "sandbox", jobs_limits(srv.jobs));
	srv.cfg = &cfg;
	if ((rc = server_start(&srv, &e))) {
		fprintf(stderr, "cove serve: %s\n", e.msg);
		goto out;
	}
	jobs_set_notify(srv.jobs, on_job_change, &srv);
	log_event(LOG_INFO, "cove serving", "{s:s,s:s,s:I}", "listen", cfg.listen,
		  "data", cfg.data_dir, "threads", (json_int_t)cfg.threads);
	printf("cove: serving on %s://%s (data in %s)\n", srv.tls ? "https" : "http",
	       cfg.listen, cfg.data_dir);
	printf("cove: the portal: %s\n", portal);
	printf("cove: jobs: %s\n", jobs_limits(srv.jobs));
	fflush(stdout);

	int sig = 0;
	/* SIGHUP: open the log file again (after rotation) and, under TLS, read
	 * the certificate files again (connections stay; a bad new certificate
	 * leaves the old one). SIGTERM, SIGINT: stop. */
	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
		struct err he = {0};
		if (log_reopen(&he))
			fprintf(stderr, "cove serve: %s\n", he.msg);
		else
			log_event(LOG_INFO, "log file reopened", NULL);
		if (!srv.tls)
			continue;
		struct err re = {0};
		struct tls_auto ta = {0};
		/* --tls auto: renew the server certificate first if it is due */
		if (!strcmp(cfg.tls, "auto") &&
		    !tls_auto_prepare(cfg.data_dir, cfg.tls_san, &ta, &re) && ta.server_made)
			log_event(LOG_INFO, "tls auto: made a new server certificate", "{s:s}",
				  "cert", ta.cert_file);
		tls_auto_clear(&ta);
		if (re.msg[0] || server_reload_tls(&srv, &re))
			log_event(LOG_ERROR, "tls reload failed, keeping the old certificate",
				  "{s:s}", "error", re.msg);
		else
			log_event(LOG_INFO, "tls certificate reloaded", "{s:s}",
				  "cert", cfg.tls_cert);
	}
	log_event(LOG_INFO, "shutting down", "{s:i}", "signal", sig);
	server_stop(&srv);
	status = 0;
out:
	server_stop(&srv);
	jobs_close(srv.jobs);
	registry_close(srv.registry);
	auth_close(srv.auth);
	files_close(srv.files);
	db_close(srv.db);
	config_free(&cfg);
	if (status == 0)
		log_event(LOG_INFO, "stopped", NULL);
	return status;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: cove <command> [flags]\n\n"
		     "server:\n"
		     "  serve            run the platform (cove serve --help)\n"
		     "  routes           list the HTTP routes\n\n"
		     "client:\n");
	cli_usage(out);
	fprintf(out, "\nEvery command takes --help.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("cove %s\n", COVE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	/* hidden: the job supervisor, and DuckDB inside a sandbox */
	if (!strcmp(argv[1], "__shim"))
		return exec_shim_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "__duckdb"))
		return exec_duckdb_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "routes")) {
		server_print_routes(stdout);
		return 0;
	}
	if (cli_known(argv[1]))
		return cli_main(argc - 1, argv + 1);
	fprintf(stderr, "cove: unknown command '%s' (see cove --help)\n", argv[1]);
	return 2;
}
