"""Analysis jobs over HTTP: the submission contract, states and history,
logs (plain and followed live over Server-Sent Events), inputs and outputs
through the file space, permissions, cancellation, time limits, every
application on real data, bad input, idempotent retries, and restarts."""
import csv
import io
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import start_server, unique

TERMINAL = ("succeeded", "failed", "cancelled", "timed_out", "lost")


def submit(s, tok, body, **kw):
    return s.post("/v1/jobs", tok, json=body, **kw)


def run(s, tok, body, timeout=60):
    """Submit and wait for the end; returns the final job."""
    r = submit(s, tok, body)
    assert r.status_code == 201, r.text
    return wait(s, tok, r.json()["id"], timeout)


def wait(s, tok, jid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = s.get("/v1/jobs/%s?wait=10" % jid, tok, timeout=20)
        assert r.status_code == 200, r.text
        j = r.json()
        if j["state"] in TERMINAL:
            return j
    raise AssertionError("job %s did not end in %ds: %s" % (jid, timeout, j))


def wait_state(s, tok, jid, state, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.get("/v1/jobs/" + jid, tok).json()
        if j["state"] == state:
            return j
        time.sleep(0.05)
    raise AssertionError("job %s never reached %s: %s" % (jid, state, j))


def logs(s, tok, jid):
    r = s.get("/v1/jobs/%s/logs" % jid, tok)
    assert r.status_code == 200
    return r.text


def put(s, tok, path, data):
    r = s.req("PUT", "/v1/fs" + path, tok, data=data)
    assert r.status_code in (200, 201), r.text


def get(s, tok, path):
    r = s.get("/v1/fs" + path, tok)
    assert r.status_code == 200, r.text
    return r.content


@pytest.fixture(scope="module")
def js(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs")
    s = start_server(str(tmp))
    yield s
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.output()[-4000:]


def test_submit_contract_and_history(js):
    tok = js.register(unique("j"))
    r = submit(js, tok, {"app": "bash", "script": "true"})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["id"] and job["state"] == "queued"
    assert r.headers["Location"] == "/v1/jobs/" + job["id"]
    end = wait(js, tok, job["id"])
    assert end["state"] == "succeeded" and end["exit_code"] == 0
    assert end["reason"] == "exit code 0"
    states = [h["state"] for h in end["history"]]
    assert states == ["queued", "starting", "running", "succeeded"], states
    assert end["started_at"] and end["finished_at"]
    assert end["usage"]["cpu_seconds"] is not None
    assert end["usage"]["peak_memory"] is not None


def test_exit_code_and_log_streams(js):
    tok = js.register(unique("j"))
    end = run(js, tok, {"app": "bash", "script": "echo to-out; echo to-err >&2; exit 3"})
    assert end["state"] == "failed" and end["exit_code"] == 3
    assert end["reason"] == "exit code 3"
    text = logs(js, tok, end["id"])
    lines = text.splitlines()
    assert any(l.endswith(" O to-out") for l in lines), text
    assert any(l.endswith(" E to-err") for l in lines), text
    assert lines[0][:4].isdigit() and lines[0][10] == "T"  # RFC 3339 time first


def test_logs_follow_live_over_sse(js):
    tok = js.register(unique("j"))
    r = submit(js, tok, {"app": "bash",
                         "script": "echo first; sleep 2; echo second; exit 4"})
    jid = r.json()["id"]
    t0 = time.time()
    events = []
    with js.get("/v1/jobs/%s/logs?follow=1" % jid, tok, stream=True,
                headers={"Accept": "text/event-stream"}, timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        ev = {}
        for raw in resp.iter_lines(decode_unicode=True):
            if raw == "":
                if ev:
                    ev["at"] = time.time() - t0
                    events.append(ev)
                    if ev.get("event") == "end":
                        break
                ev = {}
                continue
            if raw.startswith(":"):
                continue
            k, _, v = raw.partition(": ")
            ev[k] = v
    logs_ev = [e for e in events if e.get("event") == "log"]
    assert [json.loads(e["data"])["line"] for e in logs_ev] == ["first", "second"]
    # the first line arrived while the job was still sleeping
    assert logs_ev[0]["at"] < logs_ev[1]["at"] - 1.0, events
    end = json.loads(events[-1]["data"])
    assert end["state"] == "failed" and end["exit_code"] == 4
    # resuming after the first event gives only the rest
    after = logs_ev[0]["id"]
    r = js.get("/v1/jobs/%s/logs?follow=1&after=%s" % (jid, after), tok, timeout=10)
    assert "first" not in r.text and "second" in r.text and "event: end" in r.text


def test_logs_for_a_browser_eventsource(js):
    """EventSource cannot send headers: the token may come as ?access_token=."""
    tok = js.register(unique("j"))
    jid = run(js, tok, {"app": "bash", "script": "echo seen"})["id"]
    r = js.get("/v1/jobs/%s/logs?follow=1&access_token=%s" % (jid, tok), timeout=10)
    assert r.status_code == 200 and '"line":"seen"' in r.text and "event: end" in r.text
    assert js.get("/v1/jobs/%s/logs?access_token=bogus" % jid).status_code == 401
    # only there: other routes ignore a token in the query
    assert js.get("/v1/jobs/%s?access_token=%s" % (jid, tok)).status_code == 401


def test_inputs_read_only_and_output_back_in_file_space(js):
    name = unique("j")
    tok = js.register(name)
    home = "/home/" + name
    put(js, tok, home + "/data.csv", b"city,temp\nLund,8\nCrete,21\nLund,10\n")
    script = ("import pandas as pd\n"
              "df = pd.read_csv('{input}')\n"
              "df.groupby('city').temp.mean().to_csv('{output}/mean.csv')\n"
              "open('{input}', 'a')\n")  # inputs are read-only: this fails
    end = run(js, tok, {"app": "python", "script": script, "inputs": [home + "/data.csv"],
                        "output": home + "/result"})
    assert end["state"] == "failed", end  # the write to the input failed...
    assert "Read-only file system" in logs(js, tok, end["id"]) or \
        "Permission denied" in logs(js, tok, end["id"])
    # ...but what it wrote before is back in the file space, owned by the user
    rows = list(csv.reader(io.StringIO(get(js, tok, home + "/result/mean.csv").decode())))
    assert rows[0] == ["city", "temp"] and ["Lund", "9.0"] in rows and ["Crete", "21.0"] in rows
    st = js.get("/v1/fs%s/result/mean.csv?stat=true" % home, tok).json()
    assert st["owner"] == name and st["mode"] == "0644"
    assert end["output_files"] == 1


def test_output_never_overwritten_unless_asked(js):
    name = unique("j")
    tok = js.register(name)
    out = "/home/%s/out" % name
    assert run(js, tok, {"app": "bash", "script": "echo v1 > {output}/v", "output": out})["state"] == "succeeded"
    r = submit(js, tok, {"app": "bash", "script": "echo v2 > {output}/v", "output": out})
    assert r.status_code == 409 and "overwrite" in r.json()["detail"]
    end = run(js, tok, {"app": "bash", "script": "echo v2 > {output}/v; echo n > {output}/new",
                        "output": out, "overwrite": True})
    assert end["state"] == "succeeded"
    assert get(js, tok, out + "/v") == b"v2\n" and get(js, tok, out + "/new") == b"n\n"


def test_default_output_directory(js):
    name = unique("j")
    tok = js.register(name)
    end = run(js, tok, {"app": "bash", "script": "pwd > where"})
    assert end["output"] == "/home/%s/jobs/%s" % (name, end["id"])
    assert get(js, tok, end["output"] + "/where").decode().strip() == end["output"]


def test_permissions_between_users(js):
    alice, bob = unique("a"), unique("b")
    ta, tb = js.register(alice), js.register(bob)
    put(js, ta, "/home/%s/secret.csv" % alice, b"x\n")
    r = submit(js, tb, {"app": "bash", "script": "cat {input}",
                        "inputs": ["/home/%s/secret.csv" % alice]})
    assert r.status_code == 403 and "permission denied" in r.json()["detail"]
    r = submit(js, tb, {"app": "bash", "script": "true", "output": "/home/%s/x" % alice})
    assert r.status_code in (403, 201)
    if r.status_code == 201:  # decided at the end: nothing lands in alice's home
        end = wait(js, tb, r.json()["id"])
        assert end["output_error"] and "permission denied" in end["output_error"]
    jid = run(js, ta, {"app": "bash", "script": "true"})["id"]
    assert js.get("/v1/jobs/" + jid, tb).status_code == 404
    assert js.post("/v1/jobs/%s/cancel" % jid, tb).status_code == 404
    assert js.get("/v1/jobs/%s/logs" % jid, tb).status_code == 404
    assert all(j["user"] == bob for j in js.get("/v1/jobs", tb).json()["items"])
    assert js.get("/v1/jobs?user=" + alice, tb).status_code == 403
    adm = js.admin_token()
    assert js.get("/v1/jobs/" + jid, adm).status_code == 200
    items = js.get("/v1/jobs?user=" + alice, adm).json()["items"]
    assert items and all(j["user"] == alice for j in items)
    assert js.get("/v1/jobs").status_code == 401


def test_cancel_kills_every_process(js):
    tok = js.register(unique("j"))
    # a duration no other job on this machine uses, to find exactly these
    nap = "300.%d" % (os.getpid() * 1000 + int(time.time() * 1000) % 1000)
    r = submit(js, tok, {"app": "bash",
                         "script": "sleep %s & sleep %s & (sleep %s; echo) & wait" % (nap, nap, nap)})
    jid = r.json()["id"]
    wait_state(js, tok, jid, "running")
    time.sleep(0.3)
    r = js.post("/v1/jobs/%s/cancel" % jid, tok)
    assert r.status_code == 200, r.text
    end = wait(js, tok, jid, 20)
    assert end["state"] == "cancelled" and "cancelled by" in end["reason"]
    assert js.post("/v1/jobs/%s/cancel" % jid, tok).status_code == 409
    left = subprocess.run(["pgrep", "-f", "sleep " + nap], capture_output=True, text=True)
    assert left.stdout.strip() == "", "processes survived the cancel"


def test_cancel_queued_job(js):
    tok = js.register(unique("j"))
    adm = js.admin_token()
    q = unique("q")
    assert js.post("/v1/queues", adm, json={"name": q, "max_running": 1}).status_code == 201
    first = submit(js, tok, {"app": "bash", "script": "sleep 30", "queue": q}).json()["id"]
    second = submit(js, tok, {"app": "bash", "script": "true", "queue": q}).json()["id"]
    wait_state(js, tok, first, "running")
    assert js.get("/v1/jobs/" + second, tok).json()["state"] == "queued"
    assert js.post("/v1/jobs/%s/cancel" % second, tok).json()["state"] == "cancelled"
    js.post("/v1/jobs/%s/cancel" % first, tok)
    assert wait(js, tok, first)["state"] == "cancelled"


def test_wall_time_limit(js):
    tok = js.register(unique("j"))
    t0 = time.time()
    end = run(js, tok, {"app": "bash", "script": "while :; do :; done", "time": "2s"})
    assert end["state"] == "timed_out", end
    assert "wall time" in end["reason"]
    assert time.time() - t0 < 15


def test_every_application_on_real_data(js):
    name = unique("j")
    tok = js.register(name)
    home = "/home/" + name
    put(js, tok, home + "/t.csv", b"k,v\na,1\nb,2\na,3\n")
    cases = [
        ("bash", {"script": "awk -F, 'NR>1{s+=$2} END{print s}' {input} > {output}/sum"}, "sum", b"6\n"),
        ("python", {"script": "import numpy as np, pandas as pd\n"
                              "print(int(pd.read_csv('{input}').v.sum() + np.int64(0)), "
                              "file=open('{output}/sum','w'))"}, "sum", b"6\n"),
        ("duckdb", {"script": "COPY (SELECT k, sum(v) AS s FROM read_csv('{input}') GROUP BY k "
                              "ORDER BY k) TO '{output}/r.parquet' (FORMAT parquet);\n"
                              "SELECT * FROM read_parquet('{output}/r.parquet');"}, None, None),
        ("sqlite", {"script": ".mode csv\n.import {input} t\n"
                              ".output {output}/sum\nSELECT sum(v) AS total FROM t;"}, "sum", b"total\n6\n"),
        ("octave", {"script": "x = csvread('{input}', 1, 1); "
                              "f = fopen('{output}/sum', 'w'); fprintf(f, '%d\\n', sum(x)); fclose(f);"},
         "sum", b"6\n"),
        ("ffmpeg", {"args": ["-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=10",
                             "{output}/t.mp4"]}, None, None),
    ]
    ids = {}
    for app, body, outfile, want in cases:
        body = dict(body, app=app, inputs=[home + "/t.csv"] if app != "ffmpeg" else [],
                    output="%s/out-%s" % (home, app))
        end = run(js, tok, body, timeout=120)
        ids[app] = end["id"]
        assert end["state"] == "succeeded", (app, end, logs(js, tok, end["id"]))
        if outfile:
            assert get(js, tok, "%s/out-%s/%s" % (home, app, outfile)) == want, app
    duck = logs(js, tok, ids["duckdb"]).splitlines()
    assert any(l.endswith((" O a,4", " O a,4.0")) for l in duck), duck
    parquet = get(js, tok, home + "/out-duckdb/r.parquet")
    assert parquet[:4] == b"PAR1"
    mp4 = get(js, tok, home + "/out-ffmpeg/t.mp4")
    assert len(mp4) > 1000 and b"ftyp" in mp4[:64]


def test_bad_submissions(js):
    tok = js.register(unique("j"))
    bad = [
        ({"app": "nope", "script": "x"}, 404, "no such application"),
        ({"script": "x"}, 400, "app"),
        ({"app": "bash"}, 400, "script"),
        ({"app": "bash", "script": "x", "colour": 1}, 400, "colour"),
        ({"app": "bash", "script": "x", "memory": "lots"}, 400, "memory"),
        ({"app": "bash", "script": "x", "cpu": 4096}, 400, "cpu"),
        ({"app": "bash", "script": "x", "cpu": 64}, 400, "CPUs"),
        ({"app": "bash", "script": "x", "time": "forever"}, 400, "time"),
        ({"app": "bash", "script": "x", "priority": 1000}, 400, "priority"),
        ({"app": "bash", "args": ["a", 1]}, 400, "strings"),
        ({"app": "bash", "script": "x", "inputs": "/home"}, 400, "inputs"),
        ({"app": "bash", "script": "x", "inputs": ["/home/../etc"]}, 400, ""),
        ({"app": "bash", "script": "x", "inputs": ["/nope/x"]}, 404, ""),
        ({"app": "bash", "script": "x", "output": "/"}, 400, "output"),
        ({"app": "bash", "script": "x", "env": {"1BAD": "x"}}, 400, "environment"),
        ({"app": "bash", "script": "x", "queue": "nope"}, 404, "queue"),
        ({"app": "bash", "script": "x", "project": "nope"}, 404, "project"),
    ]
    for body, status, word in bad:
        r = submit(js, tok, body)
        assert r.status_code == status, (body, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert word.lower() in r.json()["detail"].lower(), (body, r.text)
    r = js.post("/v1/jobs", tok, data="{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = js.post("/v1/jobs", tok, data="x" * (2 << 20), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert js.get("/v1/jobs/NOPE", tok).status_code == 404
    assert js.get("/v1/jobs?state=weird", tok).status_code == 400
    assert js.get("/v1/jobs/x?wait=abc", tok).status_code in (400, 404)


def test_output_over_quota_and_bad_output_paths(js):
    name = unique("j")
    tok = js.register(name)
    adm = js.admin_token()
    r = js.req("PATCH", "/v1/users/" + name, adm, json={"quota_storage_bytes": 100_000})
    assert r.status_code == 200, r.text
    end = run(js, tok, {"app": "bash", "output": "/home/%s/q" % name,
                        "script": "echo small > {output}/a; head -c 1000000 /dev/zero > {output}/big"})
    assert end["state"] == "succeeded"
    assert end["output_error"] and "quota" in end["output_error"], end
    listing = js.get("/v1/fs/home/%s/q" % name, tok).json()["items"]
    assert "big" not in [e["name"] for e in listing]  # nothing partial
    for bad in ("/home/%s/../x" % name, "/home/%s/a\u0000b" % name, "relative/../../etc"):
        r = submit(js, tok, {"app": "bash", "script": "true", "output": bad})
        assert r.status_code == 400, (bad, r.text)


def test_backpressure_is_429_with_retry_after(tmp_path):
    s = start_server(str(tmp_path), env={"COVE_MAX_QUEUED_USER": "2"})
    try:
        tok = s.register("bea")
        adm = s.admin_token()
        s.post("/v1/queues", adm, json={"name": "one", "max_running": 1})
        ids = [submit(s, tok, {"app": "bash", "script": "sleep 20", "queue": "one"}).json()["id"]]
        wait_state(s, tok, ids[0], "running")
        ids += [submit(s, tok, {"app": "bash", "script": "true", "queue": "one"}).json()["id"]
                for _ in range(2)]
        r = submit(s, tok, {"app": "bash", "script": "true", "queue": "one"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0, r.text
        assert "waiting" in r.json()["detail"]
        other = s.register("ben")  # another user is not held back
        assert submit(s, other, {"app": "bash", "script": "true"}).status_code == 201
    finally:
        code = s.stop()
    s.assert_clean()
    assert code == 0


def test_idempotent_retry(js):
    tok = js.register(unique("j"))
    key = unique("key")
    body = {"app": "bash", "script": "echo once"}
    a = submit(js, tok, body, headers={"Idempotency-Key": key})
    b = submit(js, tok, body, headers={"Idempotency-Key": key})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    assert b.headers.get("Idempotent-Replayed") == "true"
    c = submit(js, tok, {"app": "bash", "script": "echo other"}, headers={"Idempotency-Key": key})
    assert c.status_code == 409 and "Idempotency-Key" in c.json()["detail"]


def test_concurrent_submissions_all_durable(js):
    tok = js.register(unique("j"))
    ids, errors = [], []

    def one():
        r = submit(js, tok, {"app": "bash", "script": "true", "cpu": 0.1})
        (ids if r.status_code == 201 else errors).append(r.json().get("id") or r.text)

    threads = [threading.Thread(target=one) for _ in range(40)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(set(ids)) == 40
    for jid in ids:
        assert wait(js, tok, jid, 120)["state"] == "succeeded"


def test_apps_and_queues_catalog(js):
    tok = js.register(unique("j"))
    adm = js.admin_token()
    names = [a["name"] for a in js.get("/v1/apps", tok).json()["items"]]
    for want in ("bash", "python", "duckdb", "sqlite", "octave", "ffmpeg"):
        assert want in names
    app = {"name": unique("wc"), "version": "1", "description": "count words",
           "command": ["/usr/bin/wc", "-w", "{script}"], "input": "script"}
    assert js.post("/v1/apps", tok, json=app).status_code == 403
    assert js.post("/v1/apps", adm, json=app).status_code == 201
    assert js.post("/v1/apps", adm, json=app).status_code == 409
    assert js.post("/v1/apps", adm, json=dict(app, command="wc")).status_code == 400
    end = run(js, tok, {"app": app["name"], "script": "one two three"})
    assert end["state"] == "succeeded" and "3 /job/script" in logs(js, tok, end["id"])
    assert js.req("DELETE", "/v1/apps/" + app["name"], adm).status_code == 204
    # a queue only for a group
    grp, q = unique("g"), unique("q")
    assert js.post("/v1/groups", adm, json={"name": grp}).status_code == 201
    assert js.post("/v1/queues", adm, json={"name": q, "groups": [grp], "max": {"time": "1m"}}).status_code == 201
    r = submit(js, tok, {"app": "bash", "script": "true", "queue": q})
    assert r.status_code == 403 and "queue" in r.json()["detail"]
    r = submit(js, adm, {"app": "bash", "script": "true", "queue": q, "time": "1h"})
    assert r.status_code == 400 and "at most" in r.json()["detail"]
    assert js.req("PATCH", "/v1/queues/" + q, tok, json={"priority": 5}).status_code == 403
    assert js.req("PATCH", "/v1/queues/" + q, adm, json={"priority": 5}).json()["priority"] == 5
    assert js.req("PATCH", "/v1/queues/" + q, adm, json={"bogus": 1}).status_code == 400
    assert js.req("DELETE", "/v1/queues/default", adm).status_code == 409
    assert js.req("DELETE", "/v1/queues/" + q, adm).status_code == 204
    assert js.get("/v1/queues/" + q, tok).status_code == 404


# ---- the sandbox, attacked ---------------------------------------------------------------

def test_escape_attempts(js, tmp_path):
    name = unique("x")
    tok = js.register(name)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    data_dir = js.data
    script = f"""
set +e
cat /etc/shadow && echo LEAK-shadow
ls {data_dir} && echo LEAK-data
cat {data_dir}/cove.db > /dev/null && echo LEAK-db
ls /root && echo LEAK-root
ls /home/ | grep -v '^{name}$' && echo LEAK-homes
test $(ls /proc | grep -c '^[0-9]') -lt 10 || echo LEAK-proc
(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo LEAK-net
id -u
mount -t tmpfs x /tmp 2>/dev/null && echo LEAK-mount
unshare -U true 2>/dev/null && echo LEAK-userns
echo done
"""
    end = run(js, tok, {"app": "bash", "script": script})
    out = logs(js, tok, end["id"])
    srv.close()
    assert "LEAK" not in out, out
    assert " O done" in out
    uid = js.get("/v1/me", tok).json()["uid"]
    assert " O %d" % uid in out


def test_fork_bomb_and_memory_bomb_are_contained(js):
    tok = js.register(unique("x"))
    end = run(js, tok, {"app": "bash", "script": "f(){ f | f & }; f; sleep 2; exit 0",
                        "pids": 64, "time": "20s"}, timeout=60)
    assert end["state"] in ("succeeded", "failed", "timed_out")
    end = run(js, tok, {"app": "python", "memory": "64M",
                        "script": "x = []\nwhile True: x.append(bytearray(1 << 20))"}, timeout=60)
    assert end["state"] == "failed" and "out of memory" in end["reason"], end
    assert js.get("/healthz").status_code == 200
    end = run(js, tok, {"app": "bash", "script": "echo alive"})
    assert end["state"] == "succeeded"


# ---- restarts ---------------------------------------------------------------------------------

def test_kill_9_restart_readopts_and_keeps_queue(tmp_path):
    s = start_server(str(tmp_path))
    tok = s.register("rita")
    adm = s.admin_token()
    assert s.post("/v1/queues", adm, json={"name": "one", "max_running": 1}).status_code == 201
    long = submit(s, tok, {"app": "bash", "script": "sleep 3; echo survived", "queue": "one"}).json()["id"]
    queued = [submit(s, tok, {"app": "bash", "script": "echo later", "queue": "one"}).json()["id"]
              for _ in range(3)]
    wait_state(s, tok, long, "running")
    s.kill()
    s2 = start_server(str(tmp_path))
    try:
        tok = s2.login("rita", "Pw-rita-2026!")["access_token"]
        assert s2.get("/v1/jobs/" + queued[0], tok).json()["state"] in ("queued", "starting", "running", "succeeded")
        end = wait(s2, tok, long, 30)
        assert end["state"] == "succeeded", end
        assert "survived" in logs(s2, tok, long)
        for jid in queued:
            assert wait(s2, tok, jid, 30)["state"] == "succeeded"
    finally:
        code = s2.stop()
    s2.assert_clean()
    assert code == 0


def test_lost_job_is_retried(tmp_path):
    s = start_server(str(tmp_path))
    tok = s.register("lars")
    jid = submit(s, tok, {"app": "bash", "script": "sleep 4; echo ok"}).json()["id"]
    wait_state(s, tok, jid, "running")
    s.kill()
    # the executor vanishes too: kill the job's supervisor
    pid = int(open(os.path.join(s.data, "jobs", jid, "shim.pid")).read())
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    s2 = start_server(str(tmp_path))
    try:
        tok = s2.login("lars", "Pw-lars-2026!")["access_token"]
        end = wait(s2, tok, jid, 60)
        states = [h["state"] for h in end["history"]]
        assert "lost" in states and states[-1] == "succeeded", states
        assert end["attempt"] == 2
    finally:
        code = s2.stop()
    s2.assert_clean()
    assert code == 0
