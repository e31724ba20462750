"""Upgrades: today's cove starts on a data directory written by an earlier
release (tests/fixtures/stage1, made by tests/fixtures/make_fixture.py with
the commit its fixture.json names), migrates it, and everything the old
release stored is there: users log in with their passwords, files read
back byte for byte with their modes, project roles hold, the finished job
and its log are listed, share links survive, fsck is clean."""
import json
import os
import shutil
import sqlite3

from conftest import Server

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "fixtures", "stage1")


def data_dir_from_fixture(tmp):
    meta = json.load(open(os.path.join(FIXTURE, "fixture.json")))
    data = os.path.join(tmp, "data")
    os.makedirs(data, mode=0o700)
    db = sqlite3.connect(os.path.join(data, "cove.db"))
    db.executescript(open(os.path.join(FIXTURE, "cove.sql")).read())
    db.execute("PRAGMA user_version = %d" % meta["schema_version"])
    db.commit()
    db.close()
    for sub in ("blobs", "logs"):
        shutil.copytree(os.path.join(FIXTURE, sub), os.path.join(data, sub))
    return data, meta


def latest_schema_version(tmp):
    s = Server(os.path.join(tmp, "fresh")).start()
    assert s.stop() == 0
    db = sqlite3.connect(os.path.join(s.data, "cove.db"))
    v = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    return v


def test_an_earlier_release_s_data_directory_is_upgraded(tmp_path):
    data, meta = data_dir_from_fixture(str(tmp_path))
    latest = latest_schema_version(str(tmp_path))
    assert meta["schema_version"] < latest, "the fixture should predate today's schema"
    s = Server(data, env={"COVE_ADMIN_PASSWORD": ""}).start()
    try:
        out = s.output()
        assert "database migrated" in out and '"version":%d' % latest in out, out[-2000:]
        # no second administrator was made: the old one logs in
        assert "one-time password" not in out
        pw = meta["passwords"]
        admin = s.login("admin", pw["admin"])["access_token"]
        alice = s.login("alice", pw["alice"])["access_token"]
        bob = s.login("bob", pw["bob"])["access_token"]
        for path, body in meta["files"].items():
            r = s.get("/v1/fs" + path, alice)
            assert r.status_code == 200 and r.text == body, path
        listing = s.get("/v1/fs/home/alice", alice).json()["items"]
        notes = [e for e in listing if e["name"] == "notes.txt"][0]
        assert notes["mode"].endswith("640"), notes
        # bob is still a developer of lab, and reads its files; not alice's 0640 notes
        assert s.get("/v1/fs/projects/lab/shared.txt", bob).status_code == 200
        assert s.get("/v1/fs/home/alice/notes.txt", bob).status_code == 403
        roles = {m["username"]: m["role"] for m in
                 s.get("/v1/projects/lab/members", alice).json()["items"]}
        assert roles.get("bob") == "developer" and roles.get("alice") == "owner", roles
        # the job and its log
        j = s.get("/v1/jobs/" + meta["job"], alice).json()
        assert j["state"] == "succeeded", j
        assert "from-the-old-release" in s.get("/v1/jobs/%s/logs" % meta["job"], alice).text
        # the share link is still listed
        shares = s.get("/v1/shares", alice).json()["items"]
        assert [x for x in shares if x["path"] == "/home/alice/notes.txt"], shares
        rep = s.post("/v1/admin/fsck?verify=true", admin).json()
        assert rep["clean"] is True, rep
        # new work on the upgraded directory
        r = s.req("PUT", "/v1/fs/home/alice/after-upgrade.txt", alice, data=b"new")
        assert r.status_code == 201, r.text
        assert s.post("/v1/projects", bob, json={"name": "lab2"}).status_code == 201
    finally:
        assert s.stop() == 0
        s.assert_clean()
    # a second start finds nothing to migrate
    s2 = Server(data).start()
    try:
        assert s2.get("/v1/fs/home/alice/after-upgrade.txt",
                      s2.login("alice", meta["passwords"]["alice"])["access_token"]).text == "new"
    finally:
        assert s2.stop() == 0
        s2.assert_clean()
    assert "database migrated" not in s2.output()
