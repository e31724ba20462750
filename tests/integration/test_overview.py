"""The administrators' overview (GET /v1/admin/overview, `cove admin
overview`) on a server with known contents: people in every state, projects,
jobs queued and running, a volume with data, files and images in the blob
store; its numbers follow every change, and it is for administrators only."""
import datetime
import sqlite3
import subprocess
import time

from conftest import ADMIN_PASSWORD, COVE, unique
from registry_helpers import RegistryClient, make_image


def overview(s, tok):
    r = s.get("/v1/admin/overview", tok)
    assert r.status_code == 200, r.text
    return r.json()


def wait_state(s, tok, jid, state, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.get("/v1/jobs/" + jid, tok).json()
        if j["state"] == state:
            return j
        time.sleep(0.05)
    raise AssertionError("job %s never reached %s: %s" % (jid, state, j))


def test_overview_counts_what_is_there(server, cli_factory):
    s = server
    adm = s.admin_token()
    o = overview(s, adm)
    version = subprocess.run([COVE, "--version"], capture_output=True, text=True).stdout.split()[1]
    assert o["version"] == version
    started = datetime.datetime.fromisoformat(o["started_at"].replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
               - o["uptime_s"]) < 5
    assert o["health"] == {"database": "ok", "disk": "ok", "jobs": "ok"}
    assert o["users"] == {"total": 1, "active": 1, "locked": 0, "disabled": 0, "admins": 1}
    assert o["projects"] == 0 and o["registry"] == {"repositories": 0, "bytes": 0}
    assert o["storage"]["volumes"] == [] and o["storage"]["blob_bytes"] == 0
    assert 0 < o["storage"]["disk"]["free"] <= o["storage"]["disk"]["total"]
    assert o["jobs"] == {"queues": [{"name": "default", "queued": 0, "starting": 0, "running": 0}],
                         "queued": 0, "starting": 0, "running": 0}

    # people: two who registered, one locked, one disabled, another admin
    alice, bob = unique("ali"), unique("bob")
    ta, tb = s.register(alice), s.register(bob)
    for body in ({"username": unique("car"), "state": "locked"},
                 {"username": unique("dav"), "state": "disabled"},
                 {"username": unique("eve"), "admin": True, "password": "Eve-pass-2026"}):
        assert s.post("/v1/users", adm, json=body).status_code == 201
    proj = unique("prj")
    for p in (proj, unique("prj")):
        assert s.post("/v1/projects", ta, json={"name": p}).status_code == 201

    # jobs: one running and two waiting behind it in a queue of one; one
    # running in the default queue
    assert s.post("/v1/queues", adm, json={"name": "one", "max_running": 1}).status_code == 201
    body = {"app": "bash", "script": "sleep 60", "cpu": 0.1, "time": "90s"}
    first = s.post("/v1/jobs", ta, json=dict(body, queue="one")).json()["id"]
    wait_state(s, ta, first, "running")
    for _ in range(2):
        assert s.post("/v1/jobs", ta, json=dict(body, queue="one")).status_code == 201
    other = s.post("/v1/jobs", tb, json=body).json()["id"]
    wait_state(s, tb, other, "running")

    # storage: a volume with a file; the same bytes in a home count once
    assert s.post("/v1/volumes", adm, json={"name": "scratch", "capacity_bytes": 1 << 30}).status_code == 201
    data, more = b"x" * 1000, b"y" * 333
    assert s.req("PUT", "/v1/fs/volumes/scratch/a.bin", adm, data=data).status_code == 201
    assert s.req("PUT", "/v1/fs/home/%s/a.bin" % alice, ta, data=data).status_code == 201
    assert s.req("PUT", "/v1/fs/home/%s/b.bin" % alice, ta, data=more).status_code == 201

    # images: one pushed to the project, its layer again in a second repository
    reg = RegistryClient(s.url, alice, "Pw-%s-2026!" % alice)
    img = make_image("v1")
    reg.push_image(proj + "/app", "v1", img)
    img_bytes = sum(len(b) for b in img.blobs) + len(img.manifest)
    reg.push_blob(proj + "/tools", img.layers[0])  # the same bytes: counted once
    loose = b"a blob of its own" * 10
    reg.push_blob(proj + "/tools", loose)

    o = overview(s, adm)
    assert o["users"] == {"total": 6, "active": 4, "locked": 1, "disabled": 1, "admins": 2}
    assert o["projects"] == 2
    queues = {q["name"]: q for q in o["jobs"]["queues"]}
    assert queues["one"] == {"name": "one", "queued": 2, "starting": 0, "running": 1}
    assert queues["default"] == {"name": "default", "queued": 0, "starting": 0, "running": 1}
    assert (o["jobs"]["queued"], o["jobs"]["starting"], o["jobs"]["running"]) == (2, 0, 2)
    assert o["storage"]["volumes"] == [{"name": "scratch", "capacity": 1 << 30, "used": 1000}]
    assert o["storage"]["blob_bytes"] == len(data) + len(more) + img_bytes + len(loose)
    assert o["registry"] == {"repositories": 2, "bytes": img_bytes + len(loose)}

    # the client shows the same
    cli = cli_factory(s)
    cli.login("admin", ADMIN_PASSWORD)
    assert cli.json("admin", "overview")["users"] == o["users"]
    text = cli.run("admin", "overview", check=True).stdout
    assert "6 (4 active, 1 locked, 1 disabled; 2 administrators)" in text
    assert "2 queued, 0 starting, 2 running" in text
    assert "2 repositories" in text and "database ok" in text
    rows = [l.split() for l in text.splitlines()]
    assert ["one", "2", "0", "1"] in rows
    assert ["scratch", "1000", "B", "1.0", "GiB"] in rows

    # numbers follow changes: bytes leave the store only when collected
    for path in ("/v1/fs/volumes/scratch/a.bin", "/v1/fs/home/%s/a.bin" % alice):
        assert s.req("DELETE", path, adm).status_code == 204
    o = overview(s, adm)
    assert o["storage"]["volumes"][0]["used"] == 0
    assert o["storage"]["blob_bytes"] == len(data) + len(more) + img_bytes + len(loose)
    r = s.post("/v1/admin/gc?grace=0s", adm)
    assert r.status_code == 200 and r.json()["removed"] == 1, r.text
    assert overview(s, adm)["storage"]["blob_bytes"] == len(more) + img_bytes + len(loose)
    # the second repository's blobs are unreferenced: collected; the shared
    # layer stays, held by the first repository's image
    r = s.post("/v1/registry/gc", adm, json={"project": proj, "grace": "0s"})
    assert r.status_code == 200 and r.json()["blobs_removed"] == 2, r.text
    assert overview(s, adm)["registry"]["bytes"] == img_bytes
    # unlocking someone and cancelling jobs
    carol = [u for u in s.get("/v1/users?state=locked", adm).json()["items"]][0]["username"]
    s.req("PATCH", "/v1/users/" + carol, adm, json={"state": "active"})
    for jid in (first, other):
        s.post("/v1/jobs/%s/cancel" % jid, adm)
    assert overview(s, adm)["users"]["locked"] == 0
    # the counters the triggers kept agree with the tables, recounted
    assert s.stop() == 0
    db = sqlite3.connect(s.data + "/cove.db")
    counters = dict(db.execute("SELECT name, value FROM counters"))
    assert counters["blob_bytes"] == db.execute("SELECT sum(size) FROM blobs").fetchone()[0]
    assert counters["registry_bytes"] == db.execute(
        "SELECT sum(size) FROM (SELECT sha256, max(size) AS size FROM (SELECT sha256, size FROM "
        "registry_blobs UNION ALL SELECT sha256, size FROM manifests) GROUP BY sha256)").fetchone()[0]
    db.close()
    s.start()


def test_overview_is_for_administrators_only(server, cli_factory):
    s = server
    name = unique("nos")
    tok = s.register(name)
    r = s.get("/v1/admin/overview", tok)
    assert r.status_code == 403 and r.headers["Content-Type"] == "application/problem+json"
    assert s.get("/v1/admin/overview").status_code == 401
    adm = s.admin_token()
    denied = s.get("/v1/audit?action=admin.denied&actor=" + name, adm).json()["items"]
    assert [(a["target"], a["outcome"]) for a in denied] == [("GET /v1/admin/overview", "failure")]
    # an admin's token without the admin scope is refused too (and audited)
    pat = s.post("/v1/tokens", adm, json={"name": unique("ro"), "scopes": ["read"]}).json()["token"]
    assert s.get("/v1/admin/overview", pat).status_code == 403
    cli = cli_factory(s)
    cli.login(name, "Pw-%s-2026!" % name)
    p = cli.run("admin", "overview")
    assert p.returncode == 1 and "administrators only" in p.stderr
