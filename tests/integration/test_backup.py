"""Backup while the server runs, restore into a new data directory, and
refusing a database newer than the binary.

What a user would notice: every user, file, job log, image and token the
backup held is there on the restored server; uploads acknowledged before
the backup began are all present, byte for byte; fsck is clean; bad
requests get clear 4xx answers; a damaged backup is refused by name.
"""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, COVE, Server, start_server
from registry_helpers import RegistryClient, make_image
from test_jobs import run


def put(s, tok, path, data, http=None):
    h = {"Authorization": "Bearer " + tok}
    return (http or s.http).put(s.url + "/v1/fs" + path, headers=h, data=data, timeout=60)


def mkdir(s, tok, path, http=None):
    r = (http or s.http).post(s.url + "/v1/fs" + path, headers={"Authorization": "Bearer " + tok},
                              json={"op": "mkdir", "parents": True}, timeout=30)
    assert r.status_code in (200, 201), r.text


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def populated(tmp_path, cli_factory):
    s = start_server(str(tmp_path))
    try:
        ctx = populate(s, tmp_path, cli_factory)
    except BaseException:
        s.kill()  # a setup that failed leaves no server behind
        raise
    yield ctx
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.output()[-3000:]


def populate(s, tmp_path, cli_factory):
    admin = s.admin_token()
    alice = s.register("alice")
    assert s.post("/v1/projects", alice, json={"name": "lab"}).status_code == 201
    files = {}
    for d in range(3):
        mkdir(s, alice, "/home/alice/d%d" % d)
    for i in range(20):
        data = os.urandom(100 + i * 997)
        path = "/home/alice/d%d/f%d.bin" % (i % 3, i)
        assert put(s, alice, path, data).status_code == 201
        files[path] = sha(data)
    big = os.urandom(3 << 20)
    assert put(s, alice, "/projects/lab/big.bin", big).status_code == 201
    files["/projects/lab/big.bin"] = sha(big)
    job = run(s, alice, {"app": "bash", "script": "echo backed-up-log-line; exit 0"})
    assert job["state"] == "succeeded", job
    reg = RegistryClient(s.url, "alice", "Pw-alice-2026!")
    img = make_image("v1")
    reg.push_image("lab/app", "v1", img)
    tok = s.post("/v1/tokens", alice, json={"name": "ci", "scopes": ["read"],
                                             "expires_in": "1d"}).json()
    cli = cli_factory(s, "admin-home")
    cli.login("admin", ADMIN_PASSWORD)
    return {"s": s, "admin": admin, "alice": alice, "files": files, "job": job,
            "img": img, "api_token": tok["token"], "cli": cli, "tmp": tmp_path}


def restored_server(tmp_path, backup, name="restored"):
    new = str(tmp_path / name)
    p = subprocess.run([COVE, "admin", "restore", backup, "--data", new],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "restored" in p.stdout and "users" in p.stdout, p.stdout
    return Server(new).start()


def test_backup_under_load_restores_everything_acknowledged(populated):
    s, alice, cli = populated["s"], populated["alice"], populated["cli"]
    tmp = populated["tmp"]
    acked_before = dict(populated["files"])
    stop = threading.Event()
    acked_during = {}
    errors = []

    def writer(n):
        http = requests.Session()
        mkdir(s, alice, "/home/alice/load%d" % n, http)
        i = 0
        while not stop.is_set() and i < 400:
            data = os.urandom(2000 + i)
            path = "/home/alice/load%d/x%d" % (n, i)
            r = put(s, alice, path, data, http)
            if r.status_code != 201:
                errors.append(r.text)
            else:
                acked_during[path] = sha(data)
            i += 1

    def churn():
        # deletions and garbage collection race the backup: gc waits
        http = requests.Session()
        auth = {"Authorization": "Bearer " + populated["admin"]}
        i = 0
        while not stop.is_set() and i < 200:
            path = "/home/alice/churn%d" % i
            put(s, alice, path, os.urandom(5000), http)
            http.delete(s.url + "/v1/fs" + path, headers={"Authorization": "Bearer " + alice})
            r = http.post(s.url + "/v1/admin/gc?grace=0s", headers=auth, timeout=60)
            if r.status_code != 200:
                errors.append(r.text)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=churn))
    for t in threads:
        t.start()
    time.sleep(0.5)
    # everything acknowledged up to now must be in the backup
    acked_before.update(dict(acked_during))
    backup = str(tmp / "backup")
    p = cli.run("admin", "backup", backup, timeout=120)
    stop.set()
    for t in threads:
        t.join(60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "backup written to " + backup in p.stdout, p.stdout
    assert not errors, errors[:3]
    m = json.load(open(os.path.join(backup, "manifest.json")))
    assert m["format"] == "cove-backup/1" and m["missing"] == []
    assert m["counts"]["users"] >= 2 and m["counts"]["jobs"] >= 1
    assert not os.path.exists(os.path.join(backup, "tmp"))
    # the keys are kept private in the backup too
    for k in os.listdir(os.path.join(backup, "keys")):
        assert os.stat(os.path.join(backup, "keys", k)).st_mode & 0o077 == 0

    r2 = restored_server(tmp, backup)
    try:
        admin2 = r2.admin_token()
        alice2 = r2.login("alice", "Pw-alice-2026!")["access_token"]
        for path, want in acked_before.items():
            r = r2.get("/v1/fs" + path, alice2)
            assert r.status_code == 200, (path, r.text)
            assert sha(r.content) == want, path
        # the job and its log
        jid = populated["job"]["id"]
        j = r2.get("/v1/jobs/" + jid, alice2).json()
        assert j["state"] == "succeeded"
        assert "backed-up-log-line" in r2.get("/v1/jobs/%s/logs" % jid, alice2).text
        # the image
        reg = RegistryClient(r2.url, "alice", "Pw-alice-2026!")
        got = reg.get_manifest("lab/app", "v1")
        assert got.status_code == 200 and got.content == populated["img"].manifest
        for blob in populated["img"].blobs:
            b = reg.req("GET", "/v2/lab/app/blobs/" + "sha256:" + sha(blob))
            assert b.status_code == 200 and b.content == blob
        # an API token made before the backup still works
        assert r2.get("/v1/me", populated["api_token"]).json()["username"] == "alice"
        rep = r2.post("/v1/admin/fsck?verify=true", admin2).json()
        assert rep["clean"] is True, rep
        # the restored server takes new work
        assert put(r2, alice2, "/home/alice/after-restore", b"new").status_code == 201
    finally:
        assert r2.stop() == 0
        r2.assert_clean()
    audit = s.get("/v1/audit?action=admin.backup", populated["admin"]).json()["items"]
    assert audit and audit[0]["outcome"] == "success" and "blobs" in audit[0]["detail"]


def test_backup_refuses_bad_requests(populated):
    s, admin, alice, tmp = populated["s"], populated["admin"], populated["alice"], populated["tmp"]

    def post(body, tok=admin, **kw):
        return s.post("/v1/admin/backup", tok, json=body, **kw)

    r = post({"dir": str(tmp / "b1")}, tok=alice)
    assert r.status_code == 403
    assert s.post("/v1/admin/backup", json={"dir": "/tmp/x"}).status_code == 401
    r = post({"dir": "relative/dir"})
    assert r.status_code == 400 and "absolute" in r.json()["detail"]
    r = post({"dir": str(tmp / "no" / "such" / "parent")})
    assert r.status_code == 400 and "parent" in r.json()["detail"]
    r = post({"dir": os.path.join(s.data, "inside")})
    assert r.status_code == 400 and "outside the data directory" in r.json()["detail"]
    r = post({"dir": str(tmp)})  # holds the data directory
    assert r.status_code in (400, 409)
    busy = tmp / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("precious")
    r = post({"dir": str(busy)})
    assert r.status_code == 409 and "not empty" in r.json()["detail"]
    assert (busy / "keep.txt").read_text() == "precious"
    r = post({"dir": str(tmp / "b2"), "bogus": 1})
    assert r.status_code == 400
    r = post({"dir": 5})
    assert r.status_code == 400
    r = s.post("/v1/admin/backup", admin, data="{nope",
               headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = post({"dir": str(tmp / "b3") + "\n"})
    assert r.status_code == 400
    # the CLI says what it wants
    p = populated["cli"].run("admin", "backup", "rel/dir")
    assert p.returncode == 2 and "absolute" in p.stderr
    # an empty directory is fine
    empty = tmp / "empty"
    empty.mkdir()
    r = post({"dir": str(empty), "link": True})
    assert r.status_code == 200, r.text
    assert r.json()["linked"] is True and r.json()["blobs"] > 0


def test_restore_refuses_damage_and_occupied_targets(populated):
    s, admin, tmp = populated["s"], populated["admin"], populated["tmp"]
    backup = str(tmp / "bk")
    assert s.post("/v1/admin/backup", admin, json={"dir": backup}).status_code == 200

    def restore(src, data):
        return subprocess.run([COVE, "admin", "restore", src, "--data", data],
                              capture_output=True, text=True, timeout=120)

    p = subprocess.run([COVE, "admin", "restore", backup], capture_output=True, text=True)
    assert p.returncode != 0 and "--data" in p.stderr
    occupied = tmp / "occupied"
    occupied.mkdir()
    (occupied / "x").write_text("x")
    p = restore(backup, str(occupied))
    assert p.returncode != 0 and "not empty" in p.stderr
    assert (occupied / "x").read_text() == "x"
    # not a backup
    p = restore(str(tmp / "nothing-here"), str(tmp / "n1"))
    assert p.returncode != 0 and "not a complete cove backup" in p.stderr
    # an unfinished one (no manifest)
    half = str(tmp / "half")
    shutil.copytree(backup, half)
    os.unlink(os.path.join(half, "manifest.json"))
    p = restore(half, str(tmp / "n2"))
    assert p.returncode != 0 and "not a complete cove backup" in p.stderr
    # a damaged blob is named
    bad = str(tmp / "bad")
    shutil.copytree(backup, bad)
    blobdir = os.path.join(bad, "blobs", "sha256")
    victim = None
    for d, _, names in os.walk(blobdir):
        for n in names:
            victim = os.path.join(d, n)
    with open(victim, "r+b") as f:
        f.write(b"X")
    p = restore(bad, str(tmp / "n3"))
    assert p.returncode != 0 and "damaged" in p.stderr and os.path.basename(victim)[:12] in p.stderr
    # a server refuses the half-restored directory
    p = subprocess.run([COVE, "serve", "--listen", "127.0.0.1:0", "--data", str(tmp / "n3")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "restore that did not finish" in p.stderr, p.stderr
    # a damaged database is refused before anything is copied
    bad2 = str(tmp / "bad2")
    shutil.copytree(backup, bad2)
    with open(os.path.join(bad2, "cove.db"), "r+b") as f:
        f.seek(200)
        f.write(b"garbage")
    p = restore(bad2, str(tmp / "n4"))
    assert p.returncode != 0 and "does not match the manifest" in p.stderr
    assert not os.path.exists(str(tmp / "n4" / "cove.db"))


def test_a_database_newer_than_the_binary_is_refused(tmp_path):
    s = start_server(str(tmp_path))
    s.admin_token()
    assert s.stop() == 0
    db = sqlite3.connect(os.path.join(s.data, "cove.db"))
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.execute("PRAGMA user_version = %d" % (version + 5))
    db.commit()
    db.close()
    p = subprocess.run([COVE, "serve", "--listen", "127.0.0.1:0", "--data", s.data],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, COVE_ADMIN_PASSWORD=ADMIN_PASSWORD))
    assert p.returncode != 0
    assert "newer than this cove" in p.stderr and str(version + 5) in p.stderr, p.stderr
    # nothing was changed by the refusal
    db = sqlite3.connect(os.path.join(s.data, "cove.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == version + 5
    db.close()
