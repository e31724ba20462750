/*
 * cli.c - entry point of the client: finds the command (and subcommand)
 * in the tables the other files export, parses its flags, prints --help,
 * runs it with a struct client, and reports a failure as exactly one line
 * "cove: <reason>" on stderr with the exit status the command returned.
 * No HTTP here and no knowledge of any particular command.
 */
#include "cli/cli.h"
#include "cli/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct cli_cmd *const cli_tables[] = {
	cli_auth_cmds,	  cli_user_cmds,  cli_group_cmds,
	cli_project_cmds, cli_token_cmds, cli_admin_cmds, cli_files_cmds,
	cli_job_cmds,	  cli_queue_app_cmds, cli_image_cmds,
};

#define CLI_NTABLES (sizeof(cli_tables) / sizeof(cli_tables[0]))

static const struct cli_cmd *cli_find(const struct cli_cmd *t,
				      const char *name)
{
	for (; t && t->name; t++)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

static const struct cli_cmd *cli_find_top(const char *name)
{
	for (size_t i = 0; i < CLI_NTABLES; i++) {
		const struct cli_cmd *c = cli_find(cli_tables[i], name);
		if (c)
			return c;
	}
	return NULL;
}

int cli_known(const char *name)
{
	return name && cli_find_top(name) != NULL;
}

/* "NAME [flags]" as the synopsis of cmd. */
static void cli_synopsis(struct buf *b, const struct cli_cmd *cmd)
{
	if (cmd->subs)
		buf_adds(b, " <command>");
	else if (cmd->args && *cmd->args)
		buf_addf(b, " %s", cmd->args);
	buf_adds(b, " [flags]");
}

void cli_usage(FILE *out)
{
	for (size_t i = 0; i < CLI_NTABLES; i++)
		for (const struct cli_cmd *c = cli_tables[i]; c->name; c++)
			fprintf(out, "  %-16s %s\n", c->name, c->summary);
}

static void cli_help_flag(FILE *out, const char *name, const char *metavar,
			  const char *help, int repeat)
{
	/* one-letter flags are written the short way: -l, -n LINES */
	const char *dashes = strlen(name) == 1 ? "-" : "--";
	char *left = metavar ? xasprintf("%s%s %s", dashes, name, metavar)
			     : xasprintf("%s%s", dashes, name);
	fprintf(out, "  %-24s %s%s\n", left, help, repeat ? " (repeatable)" : "");
	free(left);
}

/* The --help text of a command or of a group of subcommands. */
static void cli_help(FILE *out, const char *prog, const struct cli_cmd *cmd)
{
	struct buf syn = {0};
	cli_synopsis(&syn, cmd);
	fprintf(out, "usage: %s%s\n\n%s\n", prog, buf_str(&syn), cmd->summary);
	buf_free(&syn);
	if (cmd->subs) {
		fprintf(out, "\ncommands:\n");
		for (const struct cli_cmd *s = cmd->subs; s->name; s++) {
			char *left = xasprintf("%s %s", s->name, s->args ? s->args : "");
			fprintf(out, "  %-28s %s\n", left, s->summary);
			free(left);
		}
	}
	fprintf(out, "\nflags:\n");
	for (const struct cli_flag *f = cmd->flags; f && f->name; f++)
		cli_help_flag(out, f->name, f->metavar, f->help,
			      f->kind == CLI_FLAG_LIST);
	cli_help_flag(out, "json", NULL, "print the server's JSON answer", 0);
	cli_help_flag(out, "server", "URL",
		      "server to talk to (default: $COVE_SERVER, the saved one, "
		      CLI_DEFAULT_SERVER ")", 0);
	cli_help_flag(out, "ca-file", "FILE",
		      "trust this CA for https (default: $COVE_CA, the login's; "
		      "certificates are always checked)", 0);
	cli_help_flag(out, "help, -h", NULL, "show this help", 0);
	if (cmd->subs)
		fprintf(out, "\nSee '%s <command> --help' for each command.\n", prog);
}

/* 1 if --help or -h comes before any "--". */
static int cli_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

/*
 * For a group (`cove user ...`), find the subcommand: the first argument
 * that is neither a flag nor the value of --server or --ca-file. Its
 * index, or -1.
 */
static int cli_sub_index(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return i + 1 < argc ? i + 1 : -1;
		if (!strcmp(argv[i], "--server") || !strcmp(argv[i], "--ca-file"))
			i++;
		else if (argv[i][0] != '-' || !argv[i][1])
			return i;
	}
	return -1;
}

/* Descend from a group to its subcommand, removing the subcommand's name
 * from argv. Fills *cmd, *prog and returns 0; -1 when the group's help
 * was printed; or a usage error in e. */
static int cli_resolve(const struct cli_cmd **cmd, char **prog, int *argc,
		       char **argv, struct err *e)
{
	while ((*cmd)->subs) {
		int i = cli_sub_index(*argc, argv);
		if (cli_wants_help(i < 0 ? *argc : i, argv)) {
			cli_help(stdout, *prog, *cmd);
			return -1;
		}
		if (i < 0)
			return err_set(e, CLI_EUSAGE,
				       "'%s' needs a command (see '%s --help')",
				       *prog, *prog);
		const struct cli_cmd *sub = cli_find((*cmd)->subs, argv[i]);
		if (!sub)
			return err_set(e, CLI_EUSAGE,
				       "unknown command '%s' for '%s' (see '%s --help')",
				       argv[i], *prog, *prog);
		char *longer = xasprintf("%s %s", *prog, sub->name);
		free(*prog);
		*prog = longer;
		memmove(argv + i, argv + i + 1, (size_t)(*argc - i - 1) * sizeof(*argv));
		(*argc)--;
		*cmd = sub;
	}
	return 0;
}

/* Check the positional arguments against cmd's bounds. */
static int cli_check_args(const struct cli_cmd *cmd, const struct cli_args *a,
			  struct err *e)
{
	if (a->npos < cmd->min_args)
		return cli_usage_err(a, e, "missing argument: '%s' needs %s",
				     a->prog, cmd->args);
	if (a->npos > cmd->max_args)
		return cli_usage_err(a, e, "unexpected argument '%s'",
				     a->pos[cmd->max_args]);
	for (int i = 0; i < a->npos; i++)
		if (!a->pos[i][0])
			return cli_usage_err(a, e, "empty argument");
	return 0;
}

/* Parse, check and run a leaf command; -1 when its help was printed
 * (--help wins over any mistake elsewhere on the line). */
static int cli_run(const struct cli_cmd *cmd, const char *prog, int argc,
		   char **argv, struct err *e)
{
	struct cli_args a;
	struct client c = {0};
	if (cli_wants_help(argc, argv)) {
		cli_help(stdout, prog, cmd);
		return -1;
	}
	int rc = cli_args_parse(&a, prog, cmd->flags, argc, argv, e);
	if (rc)
		goto out;
	if ((rc = cli_check_args(cmd, &a, e)) ||
	    (rc = cli_client_open(&c, &a, e)))
		goto out;
	rc = cmd->run(&c, &a, e);
out:
	cli_client_close(&c);
	cli_args_free(&a);
	return rc;
}

/* One line on stderr, whatever the server put in its detail. */
static void cli_report(const struct err *e)
{
	char msg[sizeof(e->msg)];
	snprintf(msg, sizeof(msg), "%s", e->msg[0] ? e->msg : "failed");
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	fprintf(stderr, "cove: %s\n", msg);
}

int cli_main(int argc, char **argv)
{
	struct err e = {0};
	const struct cli_cmd *cmd = argc > 0 ? cli_find_top(argv[0]) : NULL;
	if (!cmd) {
		fprintf(stderr, "cove: unknown command '%s' (see cove --help)\n",
			argc > 0 ? argv[0] : "");
		return CLI_EUSAGE;
	}
	char *prog = xasprintf("cove %s", cmd->name);
	char **rest = xcalloc((size_t)argc, sizeof(*rest));
	int n = argc - 1, rc;
	memcpy(rest, argv + 1, (size_t)n * sizeof(*rest));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cli_resolve(&cmd, &prog, &n, rest, &e);
	if (rc == 0)
		rc = cli_run(cmd, prog, n, rest, &e);
	if (rc < 0)
		rc = 0; /* help was printed */
	/* output that did not arrive (a full disk) is a failure too */
	if ((fflush(stdout) != 0 || ferror(stdout)) && !rc)
		rc = err_set(&e, CLI_EFAIL, "cannot write standard output: %s",
			     strerror(errno ? errno : EIO));
	if (rc)
		cli_report(&e);
	curl_global_cleanup();
	free(rest);
	free(prog);
	return rc;
}
