"""Batch jobs through the `cove` client, as a person uses them: run a script
and see its output, get its exit status back, read and follow its log,
cancel it, and be kept away from other people's jobs and files.

Every test talks to a real `cove serve` (one per module) and bounds its own
time: jobs are tiny, and each waiting command has a timeout.
"""
import json
import os
import selectors
import subprocess
import time

from conftest import ADMIN_PASSWORD, COVE, unique

PASSWORD = "Job-pass-2026"


def login_new_user(s, cli_factory, prefix="j"):
    name = unique(prefix)
    s.register(name, PASSWORD)
    cli = cli_factory(s, "h" + name)
    cli.login(name, PASSWORD)
    return name, cli


def one_line_error(p):
    """A failure is reported as exactly one line 'cove: ...' on stderr (the
    job's own stderr, if any, comes before it)."""
    lines = p.stderr.strip().splitlines()
    assert p.returncode != 0, p.stdout + p.stderr
    assert lines and lines[-1].startswith("cove: "), p.stderr
    return lines[-1]


def submit(cli, *args):
    """`cove run --json ...` without --wait: the new job's id. (--json goes
    before "--": after it, it would be part of the script.)"""
    job = json.loads(cli.run("run", "--json", *args, check=True, timeout=30).stdout)
    assert job["id"], job
    return job["id"]


def start(cli, *args):
    """Start a cove client command in the background, as cli.run would."""
    env = dict(os.environ, HOME=cli.home, ASAN_OPTIONS="detect_leaks=1")
    env.pop("COVE_TOKEN", None)
    env.pop("COVE_SERVER", None)
    return subprocess.Popen([COVE] + list(args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def read_until(proc, text, timeout):
    """Read proc's stdout until text has appeared; what was read so far."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    got = b""
    deadline = time.time() + timeout
    while text.encode() not in got:
        left = deadline - time.time()
        assert left > 0, "%r did not appear within %ss; got %r" % (text, timeout, got)
        if sel.select(left):
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, "output ended before %r appeared; got %r" % (text, got)
            got += chunk
    sel.close()
    return got.decode()


def finish(proc, timeout):
    """Wait for proc; (exit status, rest of stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("cove did not finish within %ss" % timeout)
    return proc.returncode, out.decode(), err.decode()


def upload(cli, tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    cli.run("put", str(f), name, check=True)


DATA = "x,y\n1,2\n3,4\n5,6\n"


# ---- running, output and exit status -----------------------------------------

def test_run_wait_prints_the_output_and_exits_0(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    p = cli.run("run", "bash", "--wait", "--", "echo hello from a job; echo to stderr >&2",
                timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello from a job\n"
    assert "to stderr" in p.stderr


def test_run_wait_exits_with_the_jobs_exit_code(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    p = cli.run("run", "bash", "--wait", "--", "echo before; exit 3", timeout=60)
    assert p.returncode == 3, p.stderr
    assert p.stdout == "before\n"
    assert "failed" in one_line_error(p)


def test_submit_then_show_wait_and_read_the_log(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    p = cli.run("run", "bash", "--", "echo out; echo err >&2", timeout=30)
    assert p.returncode == 0, p.stderr
    jid = p.stdout.strip()
    assert jid and "\n" not in jid  # just the id on a line
    job = cli.json("job", jid)
    assert {"id", "state", "exit_code", "reason"} <= set(job)
    assert job["id"] == jid and job["app"] == "bash" and job["user"] == name
    w = cli.run("wait", jid, "--timeout", "60s", timeout=90)
    assert w.returncode == 0, w.stderr
    assert w.stdout.strip() == "%s succeeded" % jid
    job = cli.json("job", jid)
    assert job["state"] == "succeeded" and job["exit_code"] == 0
    assert [h["state"] for h in job["history"]][-1] == "succeeded"
    assert "queued" in [h["state"] for h in job["history"]]
    shown = cli.run("job", jid, check=True).stdout
    assert jid in shown and "succeeded" in shown
    logs = cli.run("logs", jid, check=True)
    assert logs.stdout == "out\n" and logs.stderr == "err\n"
    raw = cli.run("logs", "--timestamps", jid, check=True).stdout.splitlines()
    assert [l.split(" ", 1)[1] for l in raw] == ["O out", "E err"]
    assert raw[0].split(" ")[0].endswith("Z")  # RFC 3339 UTC


def test_jobs_lists_my_jobs(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    jid = submit(cli, "bash", "--name", "listed", "--", "true")
    assert cli.run("wait", jid, "--timeout", "60s", timeout=90).returncode == 0
    items = cli.json("jobs")["items"]
    mine = [j for j in items if j["id"] == jid]
    assert len(mine) == 1 and mine[0]["name"] == "listed" and mine[0]["user"] == name
    assert all(j["user"] == name for j in items)
    done = cli.json("jobs", "--state", "succeeded")["items"]
    assert jid in [j["id"] for j in done] and all(j["state"] == "succeeded" for j in done)
    assert jid not in [j["id"] for j in cli.json("jobs", "--state", "failed")["items"]]
    table = cli.run("jobs", check=True).stdout
    assert table.splitlines()[0].split() == ["ID", "NAME", "APP", "USER", "PROJECT", "QUEUE", "STATE",
                                              "SUBMITTED", "DURATION"]
    assert jid in table and "succeeded" in table


# ---- applications on data ------------------------------------------------------

def test_pandas_reads_an_uploaded_csv_and_writes_a_result(shared_server, cli_factory,
                                                          tmp_path):
    name, cli = login_new_user(shared_server, cli_factory)
    upload(cli, tmp_path, "data.csv", DATA)
    script = ("import pandas as pd\n"
              "df = pd.read_csv('{input}')\n"
              "df['z'] = df.x * df.y\n"
              "df.to_csv('{output}/result.csv', index=False)\n"
              "print(int(df.z.sum()))\n")
    p = cli.run("run", "python", "-i", "data.csv", "-o", "out", "--wait", "--", script,
                timeout=90)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "44"
    assert cli.run("cat", "out/result.csv", check=True).stdout == "x,y,z\n1,2,2\n3,4,12\n5,6,30\n"
    st = cli.json("stat", "out/result.csv")
    assert st["owner"] == name  # the output belongs to the submitter


def test_duckdb_queries_a_csv_into_the_output(shared_server, cli_factory, tmp_path):
    name, cli = login_new_user(shared_server, cli_factory)
    upload(cli, tmp_path, "data.csv", DATA)
    sql = ("COPY (SELECT sum(x) AS sx, sum(y) AS sy FROM read_csv('{input}')) "
           "TO '{output}/r.csv' (HEADER, DELIMITER ',')")
    p = cli.run("run", "duckdb", "-i", "data.csv", "-o", "dout", "--wait", "--", sql,
                timeout=90)
    assert p.returncode == 0, p.stderr
    assert cli.run("cat", "dout/r.csv", check=True).stdout.splitlines() == ["sx,sy", "9,12"]


def test_sqlite_imports_a_csv_and_sums_it(shared_server, cli_factory, tmp_path):
    name, cli = login_new_user(shared_server, cli_factory)
    upload(cli, tmp_path, "data.csv", DATA)
    sql = ".import --csv {input} t\nSELECT sum(x) * 100 + sum(y) FROM t;\n"
    p = cli.run("run", "sqlite", "-i", "data.csv", "--wait", "--", sql, timeout=90)
    assert p.returncode == 0, p.stderr
    # results print as CSV with a header line
    assert p.stdout.strip().splitlines()[-1] == "912", p.stdout


def test_octave_prints_a_sum(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    p = cli.run("run", "octave", "--wait", "--", "disp(sum([1 2 3]))", timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "6"


def test_ffmpeg_renders_a_test_video(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    p = cli.run("run", "ffmpeg", "-o", "video", "--wait", "--",
                "-nostdin", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=10",
                "{output}/t.mp4", timeout=120)
    assert p.returncode == 0, p.stderr
    st = cli.json("stat", "video/t.mp4")
    assert st["type"] == "file" and st["size"] > 0
    head = cli.run("head", "-c", "12", "video/t.mp4", check=True).stdout
    assert "ftyp" in head  # an MP4 container


# ---- ending badly ---------------------------------------------------------------

def test_cancel_ends_a_running_job_and_run_wait_fails(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    proc = start(cli, "run", "bash", "--wait", "--", "echo started; sleep 100")
    try:
        read_until(proc, "started", 60)
        running = cli.json("jobs", "--state", "running")["items"]
        assert len(running) == 1, running
        jid = running[0]["id"]
        c = cli.run("cancel", jid, timeout=30)
        assert c.returncode == 0, c.stderr
        code, out, err = finish(proc, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code != 0
    assert "cancelled" in err.strip().splitlines()[-1]
    job = cli.json("job", jid)
    assert job["state"] == "cancelled"
    w = cli.run("wait", jid, timeout=30)
    assert w.returncode != 0 and w.stdout.strip() == "%s cancelled" % jid


def test_a_job_over_its_time_limit_is_timed_out(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    t0 = time.time()
    p = cli.run("run", "bash", "--time", "1s", "--wait", "--", "sleep 30", timeout=60)
    assert time.time() - t0 < 25
    assert p.returncode != 0
    assert "timed_out" in one_line_error(p)
    jobs = cli.json("jobs")["items"]
    assert [j["state"] for j in jobs] == ["timed_out"]


def test_logs_follow_streams_lines_as_they_come(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    jid = submit(cli, "bash", "--", "echo one; sleep 2; echo two")
    proc = start(cli, "logs", "-f", jid)
    try:
        first = read_until(proc, "one\n", 60)
        t_first = time.time()
        assert "two" not in first
        code, rest, err = finish(proc, 60)
        t_end = time.time()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 0, err
    assert first + rest == "one\ntwo\n"
    assert t_end - t_first > 1.0  # the first line came while the job still ran
    assert cli.json("job", jid)["state"] == "succeeded"


# ---- refusals ---------------------------------------------------------------------

def test_another_user_cannot_see_or_cancel_my_job(shared_server, cli_factory):
    s = shared_server
    alice, ca = login_new_user(s, cli_factory, "ja")
    bob, cb = login_new_user(s, cli_factory, "jb")
    jid = submit(ca, "bash", "--", "sleep 30")
    try:
        one_line_error(cb.run("job", jid))
        one_line_error(cb.run("logs", jid))
        one_line_error(cb.run("cancel", jid))
        assert jid not in [j["id"] for j in cb.json("jobs")["items"]]
        listing = cb.run("jobs", "--user", alice)  # not an administrator
        assert listing.returncode != 0 or jid not in listing.stdout
        assert ca.json("job", jid)["state"] != "cancelled"
    finally:
        ca.run("cancel", jid)
    admin = cli_factory(s, "adm-jobs")
    admin.login("admin", ADMIN_PASSWORD)
    assert jid in [j["id"] for j in admin.json("jobs", "--user", alice)["items"]]


def test_an_input_i_may_not_read_is_refused(shared_server, cli_factory, tmp_path):
    s = shared_server
    alice, ca = login_new_user(s, cli_factory, "ja")
    bob, cb = login_new_user(s, cli_factory, "jb")
    upload(ca, tmp_path, "secret.csv", DATA)
    ca.run("chmod", "0600", "secret.csv", check=True)
    p = cb.run("run", "bash", "-i", "/home/%s/secret.csv" % alice, "--", "cat {input}",
               timeout=30)
    assert "permission denied" in one_line_error(p)
    assert cb.json("jobs")["items"] == []  # nothing was queued


def test_an_existing_output_directory_needs_overwrite(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    cli.run("mkdir", "results", check=True)
    p = cli.run("run", "bash", "-o", "results", "--", "echo new > {output}/a.txt",
                timeout=30)
    assert "exist" in one_line_error(p)
    p = cli.run("run", "bash", "-o", "results", "--overwrite", "--wait", "--",
                "echo new > {output}/a.txt", timeout=60)
    assert p.returncode == 0, p.stderr
    assert cli.run("cat", "results/a.txt", check=True).stdout == "new\n"


def test_an_unknown_app_is_named_in_the_error(shared_server, cli_factory):
    name, cli = login_new_user(shared_server, cli_factory)
    p = cli.run("run", "nosuchapp", "--", "x", timeout=30)
    assert "nosuchapp" in one_line_error(p)


# ---- applications and queues -----------------------------------------------------

def test_apps_and_queues_are_listed_and_only_admins_change_them(shared_server, cli_factory):
    s = shared_server
    name, cli = login_new_user(s, cli_factory)
    apps = {a["name"]: a for a in cli.json("app", "ls")["items"]}
    assert {"bash", "python", "duckdb", "sqlite", "octave", "ffmpeg"} <= set(apps)
    assert apps["bash"]["input"] in ("script", "args") and apps["bash"]["builtin"] is True
    assert "bash" in cli.run("app", "ls", check=True).stdout
    assert cli.json("app", "show", "bash")["name"] == "bash"
    assert "default" in [q["name"] for q in cli.json("queue", "ls")["items"]]
    app = unique("shout")
    p = cli.run("app", "add", app, "--command", "bash /job/script", "--input", "script")
    assert "permission denied" in one_line_error(p)
    p = cli.run("queue", "create", unique("q"))
    assert "permission denied" in one_line_error(p)
    admin = cli_factory(s, "adm-apps")
    admin.login("admin", ADMIN_PASSWORD)
    admin.run("app", "add", app, "--command", '["bash", "/job/script"]', "--input",
              "script", "--description", "an app of our own", check=True)
    assert admin.json("app", "show", app)["command"] == ["bash", "/job/script"]
    p = cli.run("run", app, "--wait", "--", "echo from my app", timeout=60)
    assert p.returncode == 0 and p.stdout == "from my app\n", p.stderr
    admin.run("app", "rm", app, check=True)
    assert cli.run("app", "show", app).returncode != 0
    q = unique("q")
    admin.run("queue", "create", q, "--max-cpu", "2", "--max-mem", "1G", "--max-time",
              "1h", "--user", name, check=True)
    got = admin.json("queue", "show", q)
    assert got["max"]["memory"] == 1 << 30 and got["max"]["time"] == 3600
    assert got["users"] == [name]
    admin.run("queue", "set", q, "--priority", "5", check=True)
    assert admin.json("queue", "show", q)["priority"] == 5
    p = cli.run("run", "bash", "--queue", q, "--cpu", "4", "--", "true", timeout=30)
    one_line_error(p)  # over the queue's limit
    admin.run("queue", "rm", q, check=True)


# ---- the client alone ------------------------------------------------------------

def test_client_mistakes_are_one_line_and_non_zero(cli_factory, tmp_path):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    class Nowhere:
        url = "http://127.0.0.1:%d" % port
    cli = cli_factory(Nowhere, "nowhere")
    p = cli.run("run", "bash", "--bogus", "--", "true")
    assert p.returncode == 2 and "unknown flag '--bogus'" in one_line_error(p)
    p = cli.run("run", "bash", "--mem", "lots", "--", "true")
    assert p.returncode == 2 and "--mem" in one_line_error(p)
    p = cli.run("run", "--server", Nowhere.url, "bash", "--", "true")
    assert "login" in one_line_error(p)
    for args in (["run", "bash", "--", "true"], ["jobs"], ["wait", "J1"], ["logs", "-f", "J1"]):
        p = cli.run(args[0], "--server", Nowhere.url, *args[1:], env={"COVE_TOKEN": "t"},
                    timeout=30)
        assert "cannot reach server" in one_line_error(p), args
    assert "--wait" in cli.run("run", "--help", check=True).stdout
