"""The shared file space over HTTP: uploads and downloads, listings, POSIX
permissions on homes and project directories, moves and copies, quotas,
bad paths, concurrent writers, and crash safety."""
import hashlib
import os
import sqlite3
import threading
import time

import pytest
import requests

from conftest import check_after_crash, start_server, tmp_files, unique


def put(s, tok, path, data, **kw):
    return s.req("PUT", "/v1/fs" + path, tok, data=data, **kw)


def test_home_directory_made_with_user(shared_server):
    s = shared_server
    name = unique("h")
    tok = s.register(name)
    e = s.get("/v1/fs/home/%s?stat=true" % name, tok).json()
    assert e["type"] == "directory" and e["mode"] == "0700"
    assert e["owner"] == name and e["group"] == name
    root = s.get("/v1/fs/", tok).json()
    assert [x["name"] for x in root["items"]] == ["home", "projects", "volumes"]


def test_upload_download_roundtrip(shared_server):
    s = shared_server
    name = unique("u")
    tok = s.register(name)
    data = os.urandom(300_000)
    r = put(s, tok, "/home/%s/data.bin" % name, data)
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["size"] == len(data) and e["sha256"] == hashlib.sha256(data).hexdigest()
    assert e["mode"] == "0644" and e["owner"] == name
    r = s.get("/v1/fs/home/%s/data.bin" % name, tok)
    assert r.status_code == 200 and r.content == data
    etag = r.headers["ETag"]
    assert etag == '"%s"' % e["sha256"] and r.headers["Accept-Ranges"] == "bytes"
    assert s.get("/v1/fs/home/%s/data.bin" % name, tok, headers={"If-None-Match": etag}).status_code == 304
    r = s.get("/v1/fs/home/%s/data.bin" % name, tok, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Range"] == "bytes 100-199/%d" % len(data)
    r = s.get("/v1/fs/home/%s/data.bin" % name, tok, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    for bad in ("bytes=999999999-", "bytes=50-10", "bytes=-0", "bytes=abc"):
        r = s.get("/v1/fs/home/%s/data.bin" % name, tok, headers={"Range": bad})
        assert r.status_code == 416, bad
    # overwrite: 200, new content
    r = put(s, tok, "/home/%s/data.bin" % name, b"new")
    assert r.status_code == 200 and s.get("/v1/fs/home/%s/data.bin" % name, tok).content == b"new"
    # refuse to overwrite when asked
    r = put(s, tok, "/home/%s/data.bin" % name, b"x", headers={"If-None-Match": "*"})
    assert r.status_code == 412
    # empty file, chunked upload, unicode and spaces
    assert put(s, tok, "/home/%s/empty" % name, b"").json()["size"] == 0
    assert s.get("/v1/fs/home/%s/empty" % name, tok).content == b""
    r = put(s, tok, "/home/%s/chunked.txt" % name, iter([b"a" * 1000, b"b" * 1000]))
    assert r.status_code == 201 and r.json()["size"] == 2000
    weird = "/home/%s/Grüße and spaces 🚀.txt" % name
    assert put(s, tok, weird, b"hi").status_code == 201
    names = [x["name"] for x in s.get("/v1/fs/home/%s" % name, tok).json()["items"]]
    assert "Grüße and spaces 🚀.txt" in names and names == sorted(names)


def test_listing_pagination(shared_server):
    s = shared_server
    name = unique("l")
    tok = s.register(name)
    for i in range(25):
        put(s, tok, "/home/%s/f%02d" % (name, i), b"x")
    seen, cursor = [], None
    while True:
        q = "?limit=10" + ("&cursor=" + requests.utils.quote(cursor) if cursor else "")
        page = s.get("/v1/fs/home/%s%s" % (name, q), tok).json()
        seen += [x["name"] for x in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["f%02d" % i for i in range(25)]


def test_permissions_between_users(shared_server):
    s = shared_server
    a, b = unique("pa"), unique("pb")
    ta, tb = s.register(a), s.register(b)
    put(s, ta, "/home/%s/secret" % a, b"s3cret")
    r = s.get("/v1/fs/home/%s/secret" % a, tb)
    assert r.status_code == 403 and r.json()["detail"].startswith("permission denied")
    assert s.get("/v1/fs/home/%s" % a, tb).status_code == 403
    assert put(s, tb, "/home/%s/intruder" % a, b"x").status_code == 403
    # opening up the home for search and read, but the file stays 0600
    assert s.req("PATCH", "/v1/fs/home/%s" % a, ta, json={"mode": "0755"}).status_code == 200
    assert s.req("PATCH", "/v1/fs/home/%s/secret" % a, ta, json={"mode": "0600"}).status_code == 200
    assert s.get("/v1/fs/home/%s" % a, tb).status_code == 200
    assert s.get("/v1/fs/home/%s/secret" % a, tb).status_code == 403
    # only the owner chmods; only admin gives files away
    assert s.req("PATCH", "/v1/fs/home/%s/secret" % a, tb, json={"mode": "0644"}).status_code == 403
    r = s.req("PATCH", "/v1/fs/home/%s/secret" % a, ta, json={"owner": b})
    assert r.status_code == 403 and "administrator" in r.json()["detail"]
    at = s.admin_token()
    r = s.req("PATCH", "/v1/fs/home/%s/secret" % a, at, json={"owner": b})
    assert r.status_code == 200 and r.json()["owner"] == b
    # admin reads everything, as root does
    assert s.get("/v1/fs/home/%s/secret" % a, at).content == b"s3cret"


def test_project_directory_is_shared(shared_server):
    s = shared_server
    owner, dev, outsider = unique("o"), unique("d"), unique("x")
    to, td, tx = s.register(owner), s.register(dev), s.register(outsider)
    p = unique("proj")
    s.post("/v1/projects", to, json={"name": p})
    s.req("PUT", "/v1/projects/%s/members/%s" % (p, dev), to, json={"role": "developer"})
    e = s.get("/v1/fs/projects/%s?stat=true" % p, to).json()
    assert e["mode"] == "2770" and e["group"] == p and e["owner"] == "root"
    r = put(s, td, "/projects/%s/shared.csv" % p, b"a,b\n1,2\n", params={"mode": "0660"})
    assert r.status_code == 201, r.text
    # setgid: the file belongs to the project's group, and members can write it
    assert r.json()["group"] == p
    assert put(s, to, "/projects/%s/shared.csv" % p, b"a,b\n3,4\n").status_code == 200
    r = s.post("/v1/fs/projects/%s/sub" % p, td, json={"op": "mkdir"})
    assert r.status_code == 201 and r.json()["mode"].startswith("2") and r.json()["group"] == p
    assert s.get("/v1/fs/projects/%s" % p, tx).status_code == 403
    # chgrp: only to a group one belongs to
    r = s.req("PATCH", "/v1/fs/projects/%s/shared.csv" % p, td, json={"group": outsider})
    assert r.status_code == 403 and "group they belong to" in r.json()["detail"]
    r = s.req("PATCH", "/v1/fs/projects/%s/shared.csv" % p, to, json={"group": owner})
    assert r.status_code == 403  # not the file's owner
    r = s.req("PATCH", "/v1/fs/projects/%s/shared.csv" % p, td, json={"group": dev})
    assert r.status_code == 200 and r.json()["group"] == dev
    s.req("PATCH", "/v1/fs/projects/%s/shared.csv" % p, td, json={"group": p})
    # a project with files cannot be deleted by accident
    r = s.req("DELETE", "/v1/projects/" + p, to)
    assert r.status_code == 409 and "holds files" in r.json()["detail"]
    assert s.req("DELETE", "/v1/fs/projects/%s/shared.csv" % p, td).status_code == 204
    assert s.req("DELETE", "/v1/fs/projects/%s/sub" % p, td).status_code == 204
    assert s.req("DELETE", "/v1/projects/" + p, to).status_code == 204
    assert s.get("/v1/fs/projects/%s" % p, s.admin_token()).status_code == 404


def test_sticky_directory(shared_server):
    s = shared_server
    at = s.admin_token()
    a, b = unique("sa"), unique("sb")
    ta, tb = s.register(a), s.register(b)
    d = "/projects/" + unique("tmp")
    pname = d.split("/")[-1]
    s.post("/v1/projects", at, json={"name": pname})
    s.req("PATCH", "/v1/fs" + d, at, json={"mode": "1777"})
    put(s, ta, d + "/mine", b"a")
    put(s, tb, d + "/theirs", b"b")
    assert s.req("DELETE", "/v1/fs%s/mine" % d, tb).status_code == 403
    assert s.post("/v1/fs%s/mine" % d, tb, json={"op": "move", "to": d + "/stolen"}).status_code == 403
    assert s.req("DELETE", "/v1/fs%s/theirs" % d, tb).status_code == 204
    assert s.req("DELETE", "/v1/fs%s/mine" % d, ta).status_code == 204


def test_mkdir_move_copy_remove(shared_server):
    s = shared_server
    name = unique("m")
    tok = s.register(name)
    h = "/home/" + name
    r = s.post("/v1/fs%s/a/b/c" % h, tok, json={"op": "mkdir", "parents": True})
    assert r.status_code == 201 and r.json()["mode"] == "0755"
    assert s.post("/v1/fs%s/a" % h, tok, json={"op": "mkdir"}).status_code == 409
    assert s.post("/v1/fs%s/x/y" % h, tok, json={"op": "mkdir"}).status_code == 404
    put(s, tok, h + "/a/b/c/f.txt", b"hello")
    r = s.post("/v1/fs%s/a" % h, tok, json={"op": "copy", "to": h + "/a2", "recursive": True})
    assert r.status_code == 201
    assert s.get("/v1/fs%s/a2/b/c/f.txt" % h, tok).content == b"hello"
    assert s.post("/v1/fs%s/a" % h, tok, json={"op": "copy", "to": h + "/a3"}).status_code == 400
    assert s.post("/v1/fs%s/a" % h, tok, json={"op": "copy", "to": h + "/a/inside", "recursive": True}).status_code == 400
    r = s.post("/v1/fs%s/a2" % h, tok, json={"op": "move", "to": h + "/moved"})
    assert r.status_code == 200 and r.json()["path"] == h + "/moved"
    assert s.get("/v1/fs%s/a2" % h, tok).status_code == 404
    assert s.post("/v1/fs%s/moved" % h, tok, json={"op": "move", "to": h + "/moved/b/x"}).status_code == 400
    assert s.req("DELETE", "/v1/fs%s/moved" % h, tok).status_code == 409
    assert s.req("DELETE", "/v1/fs%s/moved?recursive=true" % h, tok).status_code == 204
    assert s.get("/v1/fs%s/moved" % h, tok).status_code == 404
    # symbolic chmod, recursive
    r = s.req("PATCH", "/v1/fs%s/a" % h, tok, json={"mode": "go-rx", "recursive": True})
    assert r.status_code == 200 and r.json()["mode"] == "0700"
    assert s.get("/v1/fs%s/a/b/c/f.txt?stat=true" % h, tok).json()["mode"] == "0600"
    assert s.req("PATCH", "/v1/fs%s/a" % h, tok, json={"mode": "rwx"}).status_code == 400
    assert s.req("PATCH", "/v1/fs%s/a" % h, tok, json={"mode": "99999"}).status_code == 400


def test_umask_applies(shared_server):
    s = shared_server
    name = unique("um")
    tok = s.register(name)
    s.req("PATCH", "/v1/me", tok, json={"umask": "0027"})
    assert put(s, tok, "/home/%s/f" % name, b"x").json()["mode"] == "0640"
    assert s.post("/v1/fs/home/%s/d" % name, tok, json={"op": "mkdir"}).json()["mode"] == "0750"


BAD_PATHS = ["/home/../etc/passwd", "/home/./x", "/a//b", "/x%00y", "/x%01y",
             "/" + "n" * 256, "/a" * 2100, "/x%ff%fe"]


@pytest.mark.parametrize("path", BAD_PATHS, ids=range(len(BAD_PATHS)))
def test_bad_paths_refused(shared_server, path):
    s = shared_server
    tok = s.admin_token()
    import http.client
    for method in ("GET", "PUT", "DELETE"):
        # http.client sends the path as given (requests would normalise it)
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        c.request(method, "/v1/fs" + path, body=b"x" if method == "PUT" else None,
                  headers={"Authorization": "Bearer " + tok})
        r = c.getresponse()
        body = r.read()
        c.close()
        assert r.status in (400, 404), (method, path, r.status, body)


def test_quota_enforced_while_uploading(shared_server):
    s = shared_server
    at = s.admin_token()
    p = unique("q")
    s.post("/v1/projects", at, json={"name": p, "quota": {"storage_bytes": 100_000}})
    assert put(s, at, "/projects/%s/a" % p, b"x" * 60_000).status_code == 201
    r = put(s, at, "/projects/%s/b" % p, b"x" * 50_000)
    assert r.status_code == 413 and "quota" in r.json()["detail"]
    # unknown length (chunked): refused once the quota is passed, nothing left
    r = put(s, at, "/projects/%s/c" % p, iter([b"y" * 20_000] * 5))
    assert r.status_code == 413
    names = [x["name"] for x in s.get("/v1/fs/projects/" + p, at).json()["items"]]
    assert names == ["a"]
    # exactly at the edge is fine; replacing a file counts only the growth
    assert put(s, at, "/projects/%s/b" % p, b"x" * 40_000).status_code == 201
    assert put(s, at, "/projects/%s/a" % p, b"z" * 60_000).status_code == 200
    assert put(s, at, "/projects/%s/z" % p, b"1").status_code == 413
    df = {x["scope"]: x for x in s.get("/v1/df", at).json()["items"]}
    assert df["project:" + p]["used"] == 100_000 and df["project:" + p]["limit"] == 100_000
    s.req("DELETE", "/v1/fs/projects/%s/a" % p, at)
    assert {x["scope"]: x for x in s.get("/v1/df", at).json()["items"]}["project:" + p]["used"] == 40_000


def test_concurrent_uploads_same_path(shared_server):
    s = shared_server
    name = unique("cc")
    tok = s.register(name)
    bodies = [bytes([i]) * 200_000 for i in range(8)]
    codes = []

    def go(b):  # a client of its own each: its own connection
        r = requests.put(s.url + "/v1/fs/home/%s/race.bin" % name, data=b, timeout=30,
                         headers={"Authorization": "Bearer " + tok})
        codes.append(r.status_code)
    ts = [threading.Thread(target=go, args=(b,)) for b in bodies]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert all(c in (200, 201) for c in codes)
    got = s.get("/v1/fs/home/%s/race.bin" % name, tok).content
    assert got in bodies  # one whole upload won; nothing is mixed


def test_truncated_upload_leaves_nothing(shared_server):
    import socket
    s = shared_server
    name = unique("tr")
    tok = s.register(name)
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(("PUT /v1/fs/home/%s/partial HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: 100000\r\n\r\n" % (name, tok)).encode() + b"x" * 5000)
    time.sleep(0.2)
    c.close()
    time.sleep(0.3)
    assert s.get("/v1/fs/home/%s/partial" % name, tok).status_code == 404
    assert not tmp_files(s.data, ".part")


def test_dedup_and_durable_layout(shared_server):
    s = shared_server
    name = unique("dd")
    tok = s.register(name)
    data = b"same bytes " * 1000
    put(s, tok, "/home/%s/one" % name, data)
    put(s, tok, "/home/%s/two" % name, data)
    sha = hashlib.sha256(data).hexdigest()
    path = os.path.join(s.data, "blobs", "sha256", sha[:2], sha)
    assert open(path, "rb").read() == data
    db = sqlite3.connect(s.data + "/cove.db")
    assert db.execute("SELECT refs FROM blobs WHERE sha256 = ?", (sha,)).fetchone()[0] >= 2
    db.close()


def test_big_duplicate_upload_reuses_the_blob(shared_server):
    """A second upload of big bytes already stored keeps the one blob, reads
    back intact, and leaves no temporary behind (it is removed in the
    background)."""
    s = shared_server
    name = unique("bd")
    tok = s.register(name)
    data = os.urandom(1 << 20) * 70  # 70 MiB: past the size removed off the request's path
    sha = hashlib.sha256(data).hexdigest()
    before = set(tmp_files(s.data))
    for f in ("first", "second"):
        r = requests.put(s.url + "/v1/fs/home/%s/%s" % (name, f), data=data,
                         headers={"Authorization": "Bearer " + tok}, timeout=120)
        assert r.status_code in (200, 201), r.text
        assert r.json()["sha256"] == sha
    for f in ("first", "second"):
        r = requests.get(s.url + "/v1/fs/home/%s/%s" % (name, f),
                         headers={"Authorization": "Bearer " + tok}, timeout=120)
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == sha
    path = os.path.join(s.data, "blobs", "sha256", sha[:2], sha)
    assert os.path.getsize(path) == len(data)
    deadline = time.time() + 10
    while time.time() < deadline:
        left = [f for f in set(tmp_files(s.data, ".part")) - before]
        if not left:
            break
        time.sleep(0.1)
    assert not left, left


def test_blob_whose_rename_was_lost_is_recovered_at_start(tmp_path):
    """A small blob's rename into the store is not fsynced (its bytes are):
    after a crash that lost the rename, the bytes are back in tmp/ (in one
    of its shard directories, or tmp/ itself as before them), and the next
    start puts them in place. A small leftover nobody references
    becomes an unreferenced blob (garbage, not damage); a big one, an
    upload that never finished, is removed."""
    s = start_server(str(tmp_path))
    tok = s.admin_token()
    data = b"kept across a lost rename\n" * 100
    sha = hashlib.sha256(data).hexdigest()
    put(s, tok, "/home/admin/kept.txt", data)
    assert s.stop() == 0
    blob = os.path.join(s.data, "blobs", "sha256", sha[:2], sha)
    os.rename(blob, os.path.join(s.data, "tmp", "a", "01LOSTRENAME.part"))
    stray = os.urandom(5000)
    with open(os.path.join(s.data, "tmp", "01STRAY.part"), "wb") as f:
        f.write(stray)
    with open(os.path.join(s.data, "tmp", "01BIG.part"), "wb") as f:
        f.write(os.urandom(2 << 20))
    s2 = start_server(str(tmp_path))
    try:
        tok = s2.admin_token()
        r = s2.get("/v1/fs/home/admin/kept.txt", tok)
        assert r.status_code == 200 and r.content == data
        assert tmp_files(s2.data) == []
        st = hashlib.sha256(stray).hexdigest()
        assert os.path.exists(os.path.join(s2.data, "blobs", "sha256", st[:2], st))
        rep = s2.post("/v1/admin/fsck?verify=true", tok).json()
        assert rep["clean"] is True, rep
        assert rep["unreferenced_blob_files"] >= 1
    finally:
        assert s2.stop() == 0


def test_kill9_during_uploads(tmp_path):
    s = start_server(str(tmp_path))
    tok = s.admin_token()
    acked, lock = {}, threading.Lock()

    def go(i):
        sess = requests.Session()
        for j in range(200):
            data = os.urandom(20_000 + i * 100 + j)
            path = "/home/admin/k%d-%d" % (i, j)
            try:
                r = sess.put(s.url + "/v1/fs" + path, data=data, timeout=5,
                             headers={"Authorization": "Bearer " + tok})
            except requests.RequestException:
                return
            if r.status_code in (200, 201):
                with lock:
                    acked[path] = hashlib.sha256(data).hexdigest()
    ts = [threading.Thread(target=go, args=(i,)) for i in range(50)]
    [t.start() for t in ts]
    time.sleep(2.0)
    s.kill()
    [t.join() for t in ts]
    assert len(acked) > 50
    check_after_crash(str(tmp_path), acked)


def test_share_links(shared_server):
    s = shared_server
    name, other = unique("sh"), unique("so")
    tok, otok = s.register(name), s.register(other)
    put(s, tok, "/home/%s/report.csv" % name, b"a,b\n1,2\n")
    s.post("/v1/fs/home/%s/dir/sub" % name, tok, json={"op": "mkdir", "parents": True})
    put(s, tok, "/home/%s/dir/sub/x.txt" % name, b"inside")
    r = s.post("/v1/shares", tok, json={"path": "/home/%s/report.csv" % name, "expires_in": "1h"})
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"].startswith(s.url + "/s/cove_sh_") and link["expires_at"]
    # plain HTTP, no account
    r = requests.get(link["url"], timeout=10)
    assert r.status_code == 200 and r.content == b"a,b\n1,2\n"
    r = requests.get(link["url"], headers={"Range": "bytes=0-2"}, timeout=10)
    assert r.status_code == 206 and r.content == b"a,b"
    # directory link: listing and files below it, nothing above it
    d = s.post("/v1/shares", tok, json={"path": "/home/%s/dir" % name}).json()
    assert [x["name"] for x in requests.get(d["url"], timeout=10).json()["items"]] == ["sub"]
    assert requests.get(d["url"] + "/sub/x.txt", timeout=10).content == b"inside"
    for bad in ("/../report.csv", "/sub/../../report.csv", "/nope"):
        assert requests.get(d["url"] + bad, timeout=10).status_code in (400, 404), bad
    # listed by their creator only; others cannot revoke them
    mine = [x["id"] for x in s.get("/v1/shares", tok).json()["items"]]
    assert link["id"] in mine and "token" not in s.get("/v1/shares", tok).text
    assert s.get("/v1/shares", otok).json()["items"] == []
    assert s.req("DELETE", "/v1/shares/" + link["id"], otok).status_code == 404
    # nobody can share what they cannot read
    r = s.post("/v1/shares", otok, json={"path": "/home/%s/report.csv" % name})
    assert r.status_code == 403
    # every use is audited
    uses = [a for a in s.get("/v1/audit?action=share.access&limit=100", s.admin_token()).json()["items"]
            if a["target"] == link["id"]]
    assert len(uses) >= 2 and uses[0]["actor"] == "anonymous" and uses[0]["ip"] == "127.0.0.1"
    # revoke
    assert s.req("DELETE", "/v1/shares/" + link["id"], tok).status_code == 204
    assert requests.get(link["url"], timeout=10).status_code == 404
    # a link dies with its file, and with its creator's access
    put(s, tok, "/home/%s/tmp.txt" % name, b"t")
    t = s.post("/v1/shares", tok, json={"path": "/home/%s/tmp.txt" % name}).json()
    s.req("PATCH", "/v1/fs/home/%s/tmp.txt" % name, tok, json={"mode": "0000"})
    assert requests.get(t["url"], timeout=10).status_code == 404
    s.req("DELETE", "/v1/fs/home/%s/tmp.txt" % name, tok)
    assert requests.get(t["url"], timeout=10).status_code == 404
    assert requests.get(s.url + "/s/cove_sh_forged", timeout=10).status_code == 404


def test_share_link_expires(shared_server):
    s = shared_server
    name = unique("se")
    tok = s.register(name)
    put(s, tok, "/home/%s/f" % name, b"x")
    r = s.post("/v1/shares", tok, json={"path": "/home/%s/f" % name, "expires_in": 1})
    assert r.status_code == 201
    time.sleep(2.1)
    assert requests.get(r.json()["url"], timeout=10).status_code == 404
    assert s.post("/v1/shares", tok, json={"path": "/home/%s/f" % name, "expires_in": "soon"}).status_code == 400


def test_fsck_and_gc(tmp_path):
    s = start_server(str(tmp_path))
    try:
        at = s.admin_token()
        put(s, at, "/home/admin/keep", b"keep me")
        put(s, at, "/home/admin/drop", b"drop me")
        s.req("DELETE", "/v1/fs/home/admin/drop", at)
        r = s.post("/v1/admin/fsck", at)
        assert r.status_code == 200 and r.json()["clean"] is True, r.text
        # gc: the deleted file's bytes go, the kept file's stay
        drop = hashlib.sha256(b"drop me").hexdigest()
        keep = hashlib.sha256(b"keep me").hexdigest()
        assert s.post("/v1/admin/gc", at).json()["kept_in_grace"] >= 1
        g = s.post("/v1/admin/gc?grace=0s", at).json()
        assert g["removed"] == 1 and g["bytes"] == 7
        assert not os.path.exists(os.path.join(s.data, "blobs/sha256", drop[:2], drop))
        assert s.get("/v1/fs/home/admin/keep", at).content == b"keep me"
        # damage the metadata and the store behind the server's back
        db = sqlite3.connect(s.data + "/cove.db")
        db.execute("UPDATE blobs SET refs = 5 WHERE sha256 = ?", (keep,))
        db.execute("UPDATE usage SET bytes = bytes + 1000")
        db.commit()
        db.close()
        stray = os.path.join(s.data, "blobs/sha256/ab")
        os.makedirs(stray, exist_ok=True)
        open(os.path.join(stray, "ab" + "0" * 62), "w").write("junk")
        rep = s.post("/v1/admin/fsck", at).json()
        kinds = sorted(p["kind"] for p in rep["problems"])
        assert rep["clean"] is False and "refcount" in kinds and "usage" in kinds
        assert rep["unreferenced_blob_files"] == 1
        rep = s.post("/v1/admin/fsck?repair=true", at).json()
        assert rep["repaired"] >= 3
        rep = s.post("/v1/admin/fsck?verify=true", at).json()
        assert rep["clean"] is True and rep["unreferenced_blob_files"] == 0, rep
        # lost bytes are reported with the path that lost them
        os.unlink(os.path.join(s.data, "blobs/sha256", keep[:2], keep))
        rep = s.post("/v1/admin/fsck", at).json()
        assert rep["problems"][0]["kind"] == "missing_bytes"
        assert "home/admin/keep" in rep["problems"][0]["detail"]
        # only admins
        assert s.post("/v1/admin/fsck", s.register(unique("nf"))).status_code == 403
    finally:
        assert s.stop() == 0
        s.assert_clean()


def test_resumable_upload_survives_a_dropped_connection(shared_server):
    import socket
    s = shared_server
    name = unique("ru")
    tok = s.register(name)
    data = os.urandom(1_000_000)
    r = s.post("/v1/uploads", tok, json={"path": "/home/%s/big.bin" % name, "size": len(data)})
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["offset"] == 0 and up["size"] == len(data)
    uid = up["id"]
    # first attempt: the connection drops after 300 kB
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(("PATCH /v1/uploads/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Upload-Offset: 0\r\nContent-Length: %d\r\n\r\n" % (uid, tok, len(data))).encode()
              + data[:300_000])
    time.sleep(0.3)
    c.close()
    time.sleep(0.3)
    r = s.get("/v1/uploads/" + uid, tok)
    off = r.json()["offset"]
    assert 0 < off <= 300_000 and r.headers["Upload-Offset"] == str(off)
    # the file is not visible yet
    assert s.get("/v1/fs/home/%s/big.bin" % name, tok).status_code == 404
    # a wrong offset is refused with the right one in the message
    r = s.req("PATCH", "/v1/uploads/" + uid, tok, data=b"x", headers={"Upload-Offset": "0"})
    assert r.status_code == 409 and str(off) in r.json()["detail"]
    assert s.post("/v1/uploads/%s/complete" % uid, tok).status_code == 409
    # resume from where it stopped
    r = s.req("PATCH", "/v1/uploads/" + uid, tok, data=data[off:], headers={"Upload-Offset": str(off)})
    assert r.status_code == 200 and r.json()["offset"] == len(data)
    # more than declared is refused
    r = s.req("PATCH", "/v1/uploads/" + uid, tok, data=b"extra", headers={"Upload-Offset": str(len(data))})
    assert r.status_code == 413
    r = s.post("/v1/uploads/%s/complete" % uid, tok)
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert s.get("/v1/fs/home/%s/big.bin" % name, tok).content == data
    assert s.get("/v1/uploads/" + uid, tok).status_code == 404


def test_upload_sessions_are_private_and_checked(shared_server):
    s = shared_server
    a, b = unique("ua"), unique("ub")
    ta, tb = s.register(a), s.register(b)
    assert s.post("/v1/uploads", tb, json={"path": "/home/%s/x" % a}).status_code == 403
    up = s.post("/v1/uploads", ta, json={"path": "/home/%s/x" % a}).json()
    assert s.get("/v1/uploads/" + up["id"], tb).status_code == 404
    assert s.req("PATCH", "/v1/uploads/" + up["id"], tb, data=b"x",
                 headers={"Upload-Offset": "0"}).status_code == 404
    assert s.req("PATCH", "/v1/uploads/" + up["id"], ta, data=b"x").status_code == 400
    assert s.get("/v1/uploads/..%2F..%2Fcove.db", ta).status_code == 404
    assert s.post("/v1/uploads", ta, json={"path": "/home/%s/../x" % a}).status_code == 400
    assert s.post("/v1/uploads", ta, json={"path": "/home/%s/y" % a, "size": -4}).status_code == 400
    # unknown size: complete whenever the client says so
    s.req("PATCH", "/v1/uploads/" + up["id"], ta, data=b"abc", headers={"Upload-Offset": "0"})
    r = s.post("/v1/uploads/%s/complete" % up["id"], ta)
    assert r.status_code == 201 and r.json()["size"] == 3
    up2 = s.post("/v1/uploads", ta, json={"path": "/home/%s/z" % a}).json()
    assert s.req("DELETE", "/v1/uploads/" + up2["id"], ta).status_code == 204
    assert s.req("DELETE", "/v1/uploads/" + up2["id"], ta).status_code == 404


def test_volumes_and_user_quotas(shared_server):
    s = shared_server
    at = s.admin_token()
    member, outsider = unique("vm"), unique("vo")
    tm, to = s.register(member), s.register(outsider)
    g = unique("vg")
    s.post("/v1/groups", at, json={"name": g, "members": [member]})
    v = unique("vol")
    r = s.post("/v1/volumes", at, json={"name": v, "capacity_bytes": 50_000, "group": g})
    assert r.status_code == 201, r.text
    assert r.json()["path"] == "/volumes/" + v
    e = s.get("/v1/fs/volumes/%s?stat=true" % v, tm).json()
    assert e["mode"] == "2770" and e["group"] == g
    assert put(s, tm, "/volumes/%s/a" % v, b"x" * 30_000).status_code == 201
    assert put(s, tm, "/volumes/%s/b" % v, b"x" * 30_000).status_code == 413
    assert put(s, to, "/volumes/%s/c" % v, b"x").status_code == 403
    vols = {x["name"]: x for x in s.get("/v1/volumes", tm).json()["items"]}
    assert vols[v]["used_bytes"] == 30_000 and vols[v]["capacity_bytes"] == 50_000
    assert s.req("PATCH", "/v1/volumes/" + v, at, json={"capacity_bytes": 100_000}).status_code == 200
    assert put(s, tm, "/volumes/%s/b" % v, b"x" * 30_000).status_code == 201
    assert s.post("/v1/volumes", tm, json={"name": unique("v")}).status_code == 403
    assert s.post("/v1/volumes", at, json={"name": "Bad/Name"}).status_code == 400
    assert s.req("DELETE", "/v1/volumes/" + v, at).status_code == 409
    s.req("DELETE", "/v1/fs/volumes/%s/a" % v, tm)
    s.req("DELETE", "/v1/fs/volumes/%s/b" % v, tm)
    assert s.req("DELETE", "/v1/volumes/" + v, at).status_code == 204
    # per-user quota on home directories
    r = s.req("PATCH", "/v1/users/" + member, at, json={"quota_storage_bytes": 10_000})
    assert r.status_code == 200 and r.json()["quota_storage_bytes"] == 10_000
    assert put(s, tm, "/home/%s/f" % member, b"y" * 8_000).status_code == 201
    r = put(s, tm, "/home/%s/g" % member, b"y" * 8_000)
    assert r.status_code == 413 and "quota exceeded" in r.json()["detail"]
    df = {x["scope"]: x for x in s.get("/v1/df", tm).json()["items"]}
    mine = [x for k, x in df.items() if k.startswith("user:")][0]
    assert mine["used"] == 8_000 and mine["limit"] == 10_000
    assert s.req("PATCH", "/v1/users/" + member, tm, json={"quota_storage_bytes": 0}).status_code == 403


def test_browser_multipart_upload(shared_server):
    s = shared_server
    name = unique("mp")
    tok = s.register(name)
    big = os.urandom(700_000)
    files = [("file", ("notes.txt", b"hello from a browser", "text/plain")),
             ("file", ("données 1.bin", big, "application/octet-stream")),
             ("comment", (None, "a plain field is ignored"))]
    r = s.post("/v1/fs/home/%s" % name, tok, files=files)
    assert r.status_code == 201, r.text
    made = {x["name"]: x for x in r.json()["items"]}
    assert set(made) == {"notes.txt", "données 1.bin"}
    assert s.get("/v1/fs/home/%s/notes.txt" % name, tok).content == b"hello from a browser"
    assert s.get("/v1/fs/home/%s/données 1.bin" % name, tok).content == big
    # bad names, no files, no permission, not a directory
    r = s.post("/v1/fs/home/%s" % name, tok, files=[("file", ("../evil", b"x"))])
    assert r.status_code == 400
    r = s.post("/v1/fs/home/%s" % name, tok, files=[("comment", (None, "only a field"))])
    assert r.status_code == 400
    other = s.register(unique("mo"))
    assert s.post("/v1/fs/home/%s" % name, other, files=[("file", ("x", b"x"))]).status_code == 403
    assert s.post("/v1/fs/home/%s/notes.txt" % name, tok, files=[("file", ("x", b"x"))]).status_code == 400
    # the JSON operations still work on the same route, and other types are refused
    assert s.post("/v1/fs/home/%s/d" % name, tok, json={"op": "mkdir"}).status_code == 201
    r = s.post("/v1/fs/home/%s/d2" % name, tok, data=b"op=mkdir", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_two_gib_file_round_trip(shared_server):
    """A 2 GiB file streams up and down intact (never held in memory)."""
    s = shared_server
    name = unique("big")
    tok = s.register(name)
    block = os.urandom(1 << 20)
    total = 2048  # MiB
    up = hashlib.sha256()

    class Body:
        """A sized, streaming body: generated and hashed as it is read."""
        def __init__(self):
            self.i, self.pending = 0, b""

        def __len__(self):
            return total << 20

        def read(self, n=-1):
            while len(self.pending) < max(n, 1) and self.i < total:
                chunk = self.i.to_bytes(4, "little") + block[4:]
                up.update(chunk)
                self.pending += chunk
                self.i += 1
            out, self.pending = (self.pending, b"") if n < 0 else (self.pending[:n], self.pending[n:])
            return out
    r = s.req("PUT", "/v1/fs/home/%s/huge.bin" % name, tok, data=Body(), timeout=600)
    assert r.status_code == 201, r.text
    assert r.json()["size"] == total << 20 and r.json()["sha256"] == up.hexdigest()
    down = hashlib.sha256()
    n = 0
    with s.get("/v1/fs/home/%s/huge.bin" % name, tok, stream=True, timeout=600) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(1 << 20):
            down.update(chunk)
            n += len(chunk)
    assert n == total << 20 and down.hexdigest() == up.hexdigest()
    r = s.get("/v1/fs/home/%s/huge.bin" % name, tok, headers={"Range": "bytes=%d-" % ((total << 20) - 10)})
    assert r.status_code == 206 and len(r.content) == 10
    s.req("DELETE", "/v1/fs/home/%s/huge.bin" % name, tok)


def test_rename_races(shared_server):
    """Many clients move the same file at once: exactly one wins, the file
    exists exactly once, and its bytes are intact."""
    s = shared_server
    name = unique("rr")
    tok = s.register(name)
    h = "/home/" + name
    for round_ in range(5):
        put(s, tok, "%s/src%d" % (h, round_), b"payload %d" % round_)
        results = {}

        def go(i):
            # a client of its own each, on a new connection: a kept-alive one
            # left idle by an earlier test may be closed by the server's idle
            # timeout at the very moment it is reused
            r = requests.post(s.url + "/v1/fs%s/src%d" % (h, round_), timeout=30,
                              headers={"Authorization": "Bearer " + tok},
                              json={"op": "move", "to": "%s/dst%d-%d" % (h, round_, i)})
            results[i] = r.status_code
        ts = [threading.Thread(target=go, args=(i,)) for i in range(10)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert sorted(results.values()) == [200] + [404] * 9, results
        winner = [i for i, c in results.items() if c == 200][0]
        names = [x["name"] for x in s.get("/v1/fs" + h, tok).json()["items"]]
        assert "src%d" % round_ not in names
        assert [n for n in names if n.startswith("dst%d-" % round_)] == ["dst%d-%d" % (round_, winner)]
        assert s.get("/v1/fs%s/dst%d-%d" % (h, round_, winner), tok).content == b"payload %d" % round_
