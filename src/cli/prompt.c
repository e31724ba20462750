/*
 * prompt.c - reading what the user types or pipes in: passwords from the
 * terminal with echo off (or one line of stdin for scripts), and whole
 * files for the import commands. Secrets are wiped before they are freed
 * and never echoed or printed.
 */
#include "cli/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

void cli_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Strip the line ending; refuse an empty secret. */
static int secret_finish(struct buf *b, char **out, struct err *e)
{
	while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->data[--b->len] = '\0';
	if (!b->len) {
		buf_free(b);
		return err_set(e, CLI_EFAIL, "the password is empty");
	}
	*out = buf_detach(b);
	return 0;
}

static int secret_from_stdin(char **out, struct err *e)
{
	struct buf b = {0};
	int ch;
	while ((ch = getchar()) != EOF && ch != '\n')
		buf_addc(&b, (char)ch);
	if (ch == EOF && !b.len) {
		buf_free(&b);
		return err_set(e, CLI_EFAIL, "no password on standard input");
	}
	return secret_finish(&b, out, e);
}

/* Only there so that SIGINT interrupts read() instead of killing us with
 * the terminal's echo still off. */
static void secret_on_signal(int sig)
{
	(void)sig;
}

/* Read a line from fd byte by byte; -1 with errno on failure. */
static int secret_read_line(int fd, struct buf *b)
{
	char ch;
	for (;;) {
		ssize_t n = read(fd, &ch, 1);
		if (n < 0)
			return -1;
		if (n == 0 || ch == '\n')
			return 0;
		buf_addc(b, ch);
	}
}

static int secret_from_tty(const char *prompt, char **out, struct err *e)
{
	struct termios old, quiet;
	struct sigaction sa = {0}, old_int;
	struct buf b = {0};
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), rc = 0, err;
	if (fd < 0 || tcgetattr(fd, &old) < 0) {
		if (fd >= 0)
			close(fd);
		return err_set(e, CLI_EUSAGE,
			       "no terminal to ask for the password on; "
			       "use --password-stdin");
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	sa.sa_handler = secret_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int); /* no SA_RESTART: read stops */
	if (write(fd, prompt, strlen(prompt)) < 0 ||
	    tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		rc = err_set(e, CLI_EFAIL, "cannot use the terminal: %s",
			     strerror(errno));
		goto out;
	}
	int got = secret_read_line(fd, &b);
	err = errno;
	tcsetattr(fd, TCSAFLUSH, &old);
	ssize_t nl = write(fd, "\n", 1); /* cosmetic: echo was off */
	(void)nl;
	if (got < 0 && err == EINTR) {
		sigaction(SIGINT, &old_int, NULL);
		close(fd);
		buf_free(&b);
		raise(SIGINT);
		return err_set(e, CLI_EFAIL, "interrupted");
	}
	if (got < 0)
		rc = err_set(e, CLI_EFAIL, "cannot read the password: %s",
			     strerror(err));
	else
		rc = secret_finish(&b, out, e);
out:
	sigaction(SIGINT, &old_int, NULL);
	close(fd);
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	return rc;
}

int cli_secret_read(int from_stdin, const char *prompt, char **out,
		    struct err *e)
{
	*out = NULL;
	return from_stdin ? secret_from_stdin(out, e)
			  : secret_from_tty(prompt, out, e);
}

int cli_secret_read_new(int from_stdin, const char *prompt,
			const char *again_prompt, char **out, struct err *e)
{
	char *again = NULL;
	int rc = cli_secret_read(from_stdin, prompt, out, e);
	if (rc || from_stdin)
		return rc;
	rc = cli_secret_read(0, again_prompt, &again, e);
	if (!rc && strcmp(*out, again))
		rc = err_set(e, CLI_EFAIL, "the passwords do not match");
	cli_secret_free(again);
	if (rc) {
		cli_secret_free(*out);
		*out = NULL;
	}
	return rc;
}

int cli_file_read(const char *path, struct buf *out, struct err *e)
{
	int stdin_ = !strcmp(path, "-");
	FILE *f = stdin_ ? stdin : fopen(path, "r");
	char chunk[8192];
	size_t n;
	if (!f)
		return err_set(e, CLI_EFAIL, "cannot read %s: %s", path,
			       strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(out, chunk, n);
	int bad = ferror(f), rc = 0;
	if (bad)
		rc = err_set(e, CLI_EFAIL, "cannot read %s: %s",
			     stdin_ ? "standard input" : path, strerror(errno));
	if (!stdin_)
		fclose(f);
	return rc;
}
