/*
 * io_cmds.c - export and import in the Unix text formats (passwd lines
 * for users, group lines for groups), shared by `cove user` and
 * `cove group`. The server parses and validates; this only moves text
 * and reports what was created and what was skipped.
 */
#include "cli/internal.h"

int cli_text_export(struct client *c, const char *path, struct err *e)
{
	struct buf out = {0};
	int rc = cli_call_raw(c, "GET", path, NULL, NULL, &out, e);
	if (rc == 0)
		fwrite(buf_str(&out), 1, out.len, stdout);
	buf_free(&out);
	return rc;
}

int cli_text_import(struct client *c, const char *path, const char *file,
		    struct err *e)
{
	struct buf in = {0}, out = {0};
	json_t *report = NULL;
	int rc;
	if ((rc = cli_file_read(file, &in, e)) ||
	    (rc = cli_call_raw(c, "POST", path, "text/plain; charset=utf-8", &in,
			       &out, e)))
		goto out;
	if (!(report = json_loadb(buf_str(&out), out.len, 0, NULL))) {
		rc = err_set(e, CLI_EFAIL, "the server's answer is not JSON");
		goto out;
	}
	if (c->json)
		cli_print_json(report);
	else
		cli_print_import(report);
out:
	json_decref(report);
	buf_free(&in);
	buf_free(&out);
	return rc;
}
