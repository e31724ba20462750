/*
 * cli.h - the client side of the cove binary: every subcommand except
 * `serve` and `routes` talks HTTP to a cove server (see docs/api.md).
 * main.c only dispatches here; nothing in cli/ touches the database or the
 * server's modules.
 */
#ifndef COVE_CLI_H
#define COVE_CLI_H

#include <stdio.h>

/* Run a client subcommand (argv[0] is the subcommand name, e.g. "login"); returns the process exit status. */
int cli_main(int argc, char **argv);
/* 1 if name is a client subcommand cli_main knows. */
int cli_known(const char *name);
void cli_usage(FILE *out); /* one line per command, for `cove --help` */

#endif
