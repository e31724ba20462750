"""Jobs of a project, as its members live with them: a developer runs a job
in the project; the other members see it, list it and read its log (also
followed live); a guest sees it but may not run jobs there; a maintainer
cancels it; whoever is not in the project finds nothing, in no list; a
member removed from the project loses it at once, also mid-stream; and the
client lists a project's jobs."""
import json
import threading
import time

import pytest

from conftest import start_server, unique

TERMINAL = ("succeeded", "failed", "cancelled", "timed_out", "lost")
PASSWORD = "Proj-pass-2026"


@pytest.fixture(scope="module")
def ps(tmp_path_factory):
    s = start_server(str(tmp_path_factory.mktemp("projjobs")))
    yield s
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.output()[-4000:]


class Team:
    """A project and one person in each role, plus an outsider."""

    def __init__(self, s):
        self.s = s
        self.project = unique("lab")
        self.names = {k: unique(k[:3]) for k in
                      ("owner", "maintainer", "developer", "mate", "guest", "outsider")}
        self.tok = {k: s.register(n, PASSWORD) for k, n in self.names.items()}
        r = s.post("/v1/projects", self.tok["owner"], json={"name": self.project})
        assert r.status_code == 201, r.text
        roles = {"maintainer": "maintainer", "developer": "developer", "mate": "developer",
                 "guest": "guest"}
        for who, role in roles.items():
            self.set_role(who, role)

    def set_role(self, who, role):
        r = self.s.req("PUT", "/v1/projects/%s/members/%s" % (self.project, self.names[who]),
                       self.tok["owner"], json={"role": role})
        assert r.status_code == 200, r.text

    def remove(self, who):
        r = self.s.req("DELETE", "/v1/projects/%s/members/%s" % (self.project, self.names[who]),
                       self.tok["owner"])
        assert r.status_code == 204, r.text

    def submit(self, who, script, **extra):
        body = dict({"app": "bash", "script": script, "project": self.project, "cpu": 0.1},
                    **extra)
        return self.s.post("/v1/jobs", self.tok[who], json=body)

    def run(self, who, script, **extra):
        r = self.submit(who, script, **extra)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def ids(self, who, query=""):
        r = self.s.get("/v1/jobs?limit=1000" + query, self.tok[who])
        assert r.status_code == 200, r.text
        return [j["id"] for j in r.json()["items"]]


def wait_end(s, tok, jid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.get("/v1/jobs/%s?wait=10" % jid, tok, timeout=20).json()
        if j["state"] in TERMINAL:
            return j
    raise AssertionError("job %s did not end: %s" % (jid, j))


def wait_state(s, tok, jid, state, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.get("/v1/jobs/" + jid, tok).json()
        if j["state"] == state:
            return j
        time.sleep(0.05)
    raise AssertionError("job %s never reached %s: %s" % (jid, state, j))


def sse(s, tok, jid, on_event=None, timeout=60):
    """Follow a job's log; the events as dicts, and whether the stream
    ended with an 'end' event (or was closed by the server)."""
    events = []
    with s.get("/v1/jobs/%s/logs?follow=1" % jid, tok, stream=True, timeout=timeout) as resp:
        assert resp.status_code == 200, resp.text
        ev = {}
        for raw in resp.iter_lines(decode_unicode=True):
            if raw == "":
                if ev:
                    events.append(ev)
                    if on_event:
                        on_event(ev)
                    if ev.get("event") == "end":
                        return events, True
                ev = {}
            elif not raw.startswith(":"):
                k, _, v = raw.partition(": ")
                ev[k] = v
    return events, False


def test_members_see_a_project_job_and_outsiders_do_not(ps):
    t = Team(ps)
    s = ps
    jid = t.run("developer", "echo from-the-lab; echo to-err >&2")
    end = wait_end(s, t.tok["developer"], jid)
    assert end["state"] == "succeeded" and end["project"] == t.project
    for who in ("owner", "maintainer", "mate", "guest"):
        r = s.get("/v1/jobs/" + jid, t.tok[who])
        assert r.status_code == 200, (who, r.text)
        assert r.json()["user"] == t.names["developer"] and r.json()["history"]
        r = s.get("/v1/jobs/%s/logs" % jid, t.tok[who])
        assert r.status_code == 200 and " O from-the-lab" in r.text and " E to-err" in r.text
        assert jid in t.ids(who, "&project=" + t.project), who
        assert jid in t.ids(who, "&scope=all"), who
        assert jid not in t.ids(who), who  # by default: one's own jobs
    # the followed log, for a member who did not submit it
    events, ended = sse(s, t.tok["mate"], jid)
    assert ended and [json.loads(e["data"])["line"] for e in events if e.get("event") == "log"] \
        == ["from-the-lab", "to-err"]
    # whoever is not in the project: as if the job did not exist, in every list
    out = t.tok["outsider"]
    for path in ("/v1/jobs/" + jid, "/v1/jobs/%s/logs" % jid, "/v1/jobs/%s/logs?follow=1" % jid):
        r = s.get(path, out, timeout=10)
        assert r.status_code == 404 and "no such job" in r.json()["detail"], (path, r.text)
    assert s.post("/v1/jobs/%s/cancel" % jid, out).status_code == 404
    for q in ("", "&scope=all", "&scope=own", "&app=bash", "&state=succeeded",
              "&user=" + t.names["developer"] + "&scope=all"):
        assert jid not in t.ids("outsider", q), q
    r = s.get("/v1/jobs?project=" + t.project, out)
    assert r.status_code == 404 and "no such project" in r.json()["detail"]
    # the same answer as for a project that does not exist
    r = s.get("/v1/jobs?project=" + unique("nope"), out)
    assert r.status_code == 404 and "no such project" in r.json()["detail"]
    # the submitter and admins as before
    assert jid in t.ids("developer")
    adm = s.admin_token()
    assert s.get("/v1/jobs/" + jid, adm).status_code == 200
    assert jid in [j["id"] for j in s.get("/v1/jobs?limit=1000&project=" + t.project,
                                          adm).json()["items"]]


def test_guest_sees_but_cannot_run_and_only_maintainers_cancel(ps):
    t = Team(ps)
    s = ps
    r = t.submit("guest", "true")
    assert r.status_code == 403
    assert "developer role" in r.json()["detail"] and t.project in r.json()["detail"]
    r = t.submit("outsider", "true")
    assert r.status_code == 403  # unchanged: the project is not open to them
    jid = t.run("developer", "sleep 60", time="90s")
    wait_state(s, t.tok["developer"], jid, "running")
    assert s.get("/v1/jobs/" + jid, t.tok["guest"]).json()["state"] == "running"
    for who in ("guest", "mate"):  # see it, may not cancel it
        r = s.post("/v1/jobs/%s/cancel" % jid, t.tok[who])
        assert r.status_code == 403, (who, r.text)
        assert "maintainer" in r.json()["detail"]
    r = s.post("/v1/jobs/%s/cancel" % jid, t.tok["maintainer"])
    assert r.status_code == 200, r.text
    end = wait_end(s, t.tok["developer"], jid, 30)
    assert end["state"] == "cancelled"
    assert end["reason"] == "cancelled by " + t.names["maintainer"]
    assert end["history"][-1]["reason"] == "cancelled by " + t.names["maintainer"]
    # a queued one, by the project's owner
    q = unique("q")
    adm = s.admin_token()
    assert s.post("/v1/queues", adm, json={"name": q, "max_running": 1}).status_code == 201
    first = t.run("developer", "sleep 60", queue=q, time="90s")
    second = t.run("mate", "true", queue=q)
    wait_state(s, t.tok["developer"], first, "running")
    r = s.post("/v1/jobs/%s/cancel" % second, t.tok["owner"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    assert r.json()["reason"] == "cancelled by " + t.names["owner"]
    assert s.post("/v1/jobs/%s/cancel" % first, t.tok["developer"]).status_code == 200
    wait_end(s, t.tok["developer"], first, 30)


def test_removed_member_loses_the_job_at_once(ps):
    t = Team(ps)
    s = ps
    done = t.run("developer", "echo old")
    wait_end(s, t.tok["developer"], done)
    assert s.get("/v1/jobs/" + done, t.tok["mate"]).status_code == 200
    # a job that writes for a while; the mate follows it, and is removed
    jid = t.run("developer", "for i in $(seq 60); do echo tick $i; sleep 0.5; done", time="90s")
    removed = threading.Event()
    seen_after = []

    def on_event(ev):
        if removed.is_set():
            seen_after.append(ev)
        elif ev.get("event") == "log":
            t.remove("mate")
            removed.set()

    t0 = time.time()
    events, ended = sse(s, t.tok["mate"], jid, on_event, timeout=60)
    assert removed.is_set()
    assert not ended, "the stream went on to the job's end"
    assert time.time() - t0 < 20
    assert len(seen_after) <= 3, seen_after  # what was in flight, no more
    for path in ("/v1/jobs/" + jid, "/v1/jobs/" + done, "/v1/jobs/%s/logs" % done):
        assert s.get(path, t.tok["mate"]).status_code == 404, path
    r = s.get("/v1/jobs?project=" + t.project, t.tok["mate"])
    assert r.status_code == 404
    assert done not in t.ids("mate", "&scope=all")
    # still there for the others; back for the mate when added again
    assert s.get("/v1/jobs/" + done, t.tok["guest"]).status_code == 200
    t.set_role("mate", "guest")
    assert s.get("/v1/jobs/" + done, t.tok["mate"]).status_code == 200
    assert s.post("/v1/jobs/%s/cancel" % jid, t.tok["developer"]).status_code == 200
    wait_end(s, t.tok["developer"], jid, 30)


def test_list_filters_combine_and_page(ps):
    t = Team(ps)
    s = ps
    dev, mate = t.names["developer"], t.names["mate"]
    a = t.run("developer", "true", name="a")
    b = t.run("mate", "true", name="b")
    c = t.run("developer", "print(1)", app="python", name="c")
    mine = s.post("/v1/jobs", t.tok["developer"], json={"app": "bash", "script": "true"}).json()["id"]
    for jid in (a, b, c, mine):
        wait_end(s, t.tok["developer"] if jid != b else t.tok["mate"], jid)
    p = "&project=" + t.project
    assert t.ids("guest", p) == [c, b, a]  # newest first
    assert t.ids("guest", p + "&app=bash") == [b, a]
    assert t.ids("guest", p + "&app=python") == [c]
    assert t.ids("guest", p + "&user=" + dev) == [c, a]
    assert t.ids("guest", p + "&user=" + dev + "&app=bash") == [a]
    assert t.ids("guest", p + "&state=succeeded&queue=default") == [c, b, a]
    assert t.ids("guest", p + "&state=failed") == []
    assert t.ids("guest", p + "&scope=own") == []
    assert t.ids("developer", p + "&scope=own") == [c, a]
    # own and every project's, with its own jobs outside the project
    assert t.ids("developer", "&scope=all") == [mine, c, b, a]
    assert t.ids("developer") == [mine, c, a]
    assert t.ids("mate", "&scope=all&user=" + dev) == [c, a]
    assert t.ids("mate", "&scope=all&user=" + unique("ghost")) == []
    # paging one at a time gives the same, in order, without repeats
    for query in (p, "&scope=all"):
        got, cur = [], ""
        for _ in range(10):
            r = s.get("/v1/jobs?limit=1" + query + cur, t.tok["developer"]).json()
            got += [j["id"] for j in r["items"]]
            if not r["next_cursor"]:
                break
            cur = "&cursor=" + r["next_cursor"]
        want = [c, b, a] if query == p else [mine, c, b, a]
        assert got == want, query


def test_bad_list_queries_are_clear_400s(ps):
    t = Team(ps)
    s = ps
    tok = t.tok["guest"]
    bad = [
        ("scope=everything", 400, "scope"),
        ("project=", 400, "project"),
        ("app=", 400, "app"),
        ("app=" + "x" * 300, 400, "app"),
        ("cursor=abc&project=" + t.project, 400, "cursor"),
        ("state=sleeping&project=" + t.project, 400, "state"),
        ("user=" + t.names["developer"], 403, "project"),
        ("scope=own&user=" + t.names["developer"], 403, "project"),
    ]
    for q, status, word in bad:
        r = s.get("/v1/jobs?" + q, tok)
        assert r.status_code == status, (q, r.status_code, r.text)
        assert r.headers["Content-Type"] == "application/problem+json"
        assert word in r.json()["detail"], (q, r.text)
    adm = s.admin_token()
    r = s.get("/v1/jobs?scope=own&user=" + t.names["developer"], adm)
    assert r.status_code == 400 and "scope=own" in r.json()["detail"]


def test_deleting_a_project_keeps_its_jobs_away_from_a_namesake(ps):
    t = Team(ps)
    s = ps
    jid = t.run("developer", "sleep 60", time="90s")
    wait_state(s, t.tok["developer"], jid, "running")
    r = s.req("DELETE", "/v1/projects/" + t.project, t.tok["owner"])
    assert r.status_code == 409 and "active jobs" in r.json()["detail"], r.text
    s.post("/v1/jobs/%s/cancel" % jid, t.tok["developer"])
    wait_end(s, t.tok["developer"], jid, 30)
    assert s.req("DELETE", "/v1/projects/" + t.project, t.tok["owner"]).status_code == 204
    job = s.get("/v1/jobs/" + jid, t.tok["developer"]).json()
    assert job["project"] is None  # still the submitter's
    # someone else makes a project of the same name: they see nothing of it
    assert s.post("/v1/projects", t.tok["outsider"], json={"name": t.project}).status_code == 201
    assert s.get("/v1/jobs/" + jid, t.tok["outsider"]).status_code == 404
    assert t.ids("outsider", "&project=" + t.project) == []
    assert s.get("/v1/jobs/" + jid, t.tok["guest"]).status_code == 404


def test_cli_runs_and_lists_a_projects_jobs(ps, cli_factory):
    t = Team(ps)
    s = ps
    dev = cli_factory(s, "dev")
    dev.login(t.names["developer"], PASSWORD)
    p = dev.run("run", "--project", t.project, "bash", "--wait", "--", "echo in the project",
                timeout=90)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "in the project\n"
    jid = dev.json("jobs")["items"][0]["id"]
    assert dev.json("job", jid)["project"] == t.project
    g = cli_factory(s, "guest")
    g.login(t.names["guest"], PASSWORD)
    table = g.run("jobs", "--project", t.project, check=True).stdout.splitlines()
    assert table[0].split()[:5] == ["ID", "NAME", "APP", "USER", "PROJECT"]
    row = [l for l in table if l.startswith(jid)]
    assert row and t.names["developer"] in row[0] and t.project in row[0]
    assert [j["id"] for j in g.json("jobs", "--project", t.project, "--app", "bash")["items"]] == [jid]
    assert g.json("jobs", "--project", t.project, "--app", "python")["items"] == []
    assert jid in [j["id"] for j in g.json("jobs", "--scope", "all")["items"]]
    assert g.json("jobs")["items"] == []
    r = g.run("run", "--project", t.project, "bash", "--", "true")
    assert r.returncode != 0 and "developer role" in r.stderr
    o = cli_factory(s, "out")
    o.login(t.names["outsider"], PASSWORD)
    r = o.run("jobs", "--project", t.project)
    assert r.returncode == 1 and "no such project" in r.stderr
    r = o.run("logs", jid)
    assert r.returncode == 1 and "no such job" in r.stderr
