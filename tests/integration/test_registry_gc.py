"""Registry garbage collection and retention, against a real `cove serve`:
untagged manifests and unreferenced blobs go (and their bytes, after the
file space's collector), everything a tag reaches stays, a collection
racing pushes never loses an acknowledged push, retention keeps exactly
the last N matching tags and never an immutable one, who may do what, and
`cove image ...` as a user sees it."""
import hashlib
import json
import os
import random
import threading
import time

import pytest
import requests

from conftest import start_server, unique
from registry_helpers import (Image, RegistryClient, digest, make_artifact, make_image,
                              make_index)


def blob_path(s, d):
    hexd = d.split(":", 1)[1]
    return os.path.join(s.data, "blobs", "sha256", hexd[:2], hexd)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("gc"))
    s = start_server(tmp)
    w = {"s": s, "pw": {}, "tok": {}}
    for role in ("owner", "maintainer", "developer", "guest", "outsider"):
        name = unique(role[:3])
        w[role] = name
        w["pw"][name] = "Pw-%s-2026!" % name
        w["tok"][name] = s.register(name, w["pw"][name])
    w["admin"] = s.admin_token()
    w["proj"] = unique("gcp")
    r = s.post("/v1/projects", w["tok"][w["owner"]], json={"name": w["proj"]})
    assert r.status_code == 201, r.text
    for role in ("maintainer", "developer", "guest"):
        r = s.req("PUT", "/v1/projects/%s/members/%s" % (w["proj"], w[role]),
                  w["tok"][w["owner"]], json={"role": role})
        assert r.status_code in (200, 201, 204), r.text
    yield w
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.output()[-4000:]


def client(w, role="owner"):
    name = w[role]
    return RegistryClient(w["s"].url, name, w["pw"][name])


def gc(w, role="admin", **body):
    tok = w["admin"] if role == "admin" else w["tok"][w[role]]
    return w["s"].post("/v1/registry/gc", tok, json=body)


def with_layer(img, data):
    """img with one more layer, data."""
    m = json.loads(img.manifest)
    m["layers"].append({"mediaType": m["layers"][0]["mediaType"],
                        "digest": digest(data), "size": len(data)})
    body = json.dumps(m).encode()
    return Image(body, img.media_type, img.blobs + [data], img.config, img.layers + [data])


def pullable(c, repo, ref, img):
    r = c.get_manifest(repo, ref)
    if r.status_code != 200 or r.content != img.manifest:
        return False
    for b in img.blobs:
        rb = c.req("GET", "/v2/%s/blobs/%s" % (repo, digest(b)))
        if rb.status_code != 200 or hashlib.sha256(rb.content).hexdigest() != digest(b)[7:]:
            return False
    return True


def test_gc_removes_untagged_and_unreferenced_keeps_the_rest(world):
    w, s = world, world["s"]
    c = client(w)
    repo = w["proj"] + "/" + unique("app")
    other = w["proj"] + "/" + unique("other")
    old = make_image("old")
    new = make_image("new")
    c.push_image(repo, "v1", old)
    c.push_image(repo, "v1", new)          # v1 moves: old is untagged now
    orphan = os.urandom(3000)
    d_orphan = c.push_blob(repo, orphan)   # a layer no manifest ever named
    shared = os.urandom(2500)              # an orphan here, used elsewhere
    d_shared = c.push_blob(repo, shared)
    kept_other = with_layer(make_image("other"), shared)
    c.push_image(other, "x", kept_other)
    # an index: its children are untagged but listed by a tagged manifest
    ch1, ch2 = make_image("c1", arch="amd64"), make_image("c2", arch="arm64")
    for im in (ch1, ch2):
        for b in im.blobs:
            c.push_blob(repo, b)
        assert c.push_manifest(repo, im.digest, im.manifest, im.media_type).status_code == 201
    idx = make_index([ch1, ch2])
    assert c.push_manifest(repo, "multi", idx.manifest, idx.media_type).status_code == 201
    # referrers: one of a live image stays, one of the untagged image goes
    sbom_new, sbom_old = make_artifact(new, payload=b'{"n":1}'), make_artifact(old, payload=b'{"o":1}')
    for art in (sbom_new, sbom_old):
        for b in art.blobs:
            c.push_blob(repo, b)
        assert c.push_manifest(repo, art.digest, art.manifest, art.media_type).status_code == 201

    # the default grace period (1h) spares everything pushed just now
    r = gc(w, project=w["proj"])
    assert r.status_code == 200, r.text
    assert r.json()["manifests_removed"] == 0 and r.json()["blobs_removed"] == 0

    # a dry run names what would go and removes nothing
    r = gc(w, project=w["proj"], grace="0s", dry_run=True)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["dry_run"] is True
    gone_m = {i["digest"] for i in rep["items"] if i["kind"] == "manifest" and i["repository"] == repo}
    gone_b = {i["digest"] for i in rep["items"] if i["kind"] == "blob" and i["repository"] == repo}
    assert gone_m == {old.digest, sbom_old.digest}
    assert gone_b == {d_orphan, d_shared} | {digest(b) for b in old.blobs} | {digest(sbom_old.blobs[1])}
    assert rep["bytes"] == sum(i["size"] for i in rep["items"])
    assert c.get_manifest(repo, old.digest).status_code == 200

    # the real run
    r = gc(w, project=w["proj"], grace="0s")
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is False
    assert r.json()["manifests_removed"] == 2
    assert c.get_manifest(repo, old.digest).status_code == 404
    assert c.get_manifest(repo, sbom_old.digest).status_code == 404
    assert c.req("GET", "/v2/%s/blobs/%s" % (repo, d_orphan)).status_code == 404
    assert c.req("GET", "/v2/%s/blobs/%s" % (repo, d_shared)).status_code == 404
    for ref, im in (("v1", new), (ch1.digest, ch1), (ch2.digest, ch2), ("multi", idx),
                    (sbom_new.digest, sbom_new)):
        assert pullable(c, repo, ref, im), ref
    assert pullable(c, other, "x", kept_other)
    assert c.req("GET", "/v2/%s/blobs/%s" % (other, d_shared)).content == shared
    refs = c.req("GET", "/v2/%s/referrers/%s" % (repo, new.digest)).json()
    assert [m["digest"] for m in refs["manifests"]] == [sbom_new.digest]
    # a second run finds nothing more
    r = gc(w, project=w["proj"], grace="0s")
    assert r.json()["manifests_removed"] == 0 and r.json()["blobs_removed"] == 0

    # the bytes: freed by the file space's collector, unless used elsewhere
    assert os.path.exists(blob_path(s, d_orphan))
    r = s.post("/v1/admin/gc?grace=0s", w["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["bytes"] >= len(orphan)
    assert not os.path.exists(blob_path(s, d_orphan))
    assert not os.path.exists(blob_path(s, old.digest))
    assert os.path.exists(blob_path(s, d_shared))
    assert pullable(c, other, "x", kept_other) and pullable(c, repo, "v1", new)
    fsck = s.post("/v1/admin/fsck", w["admin"])
    if fsck.status_code == 200:
        assert fsck.json().get("problems", fsck.json().get("errors", [])) in ([], 0, None), fsck.text


def test_gc_racing_pushes_loses_nothing_acknowledged(world):
    w, s = world, world["s"]
    repo = w["proj"] + "/" + unique("race")
    base = os.urandom(4000)  # a layer every image shares
    acked, failed, reasons = [], [], []
    lock = threading.Lock()
    stop = threading.Event()

    def pusher(k):
        c = client(w)
        for i in range(6):
            img = make_image("r%d-%d" % (k, i), nlayers=2, layer_size=1500)
            tag = "t%d-%d" % (k, i)
            ok = True
            for b in [base] + img.blobs:
                d = digest(b)
                h = c.req("HEAD", "/v2/%s/blobs/%s" % (repo, d))
                if h.status_code == 200 and random.random() < 0.5:
                    continue  # as clients do: skip a layer the registry has
                r = c.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d), data=b,
                          headers={"Content-Type": "application/octet-stream"})
                if r.status_code != 201:
                    ok = False
                    with lock:
                        reasons.append((r.status_code, r.text[:200]))
            if not ok:
                with lock:
                    failed.append(tag)
                continue
            # the image names the shared layer too
            m = json.loads(img.manifest)
            m["layers"].insert(0, {"mediaType": m["layers"][0]["mediaType"],
                                   "digest": digest(base), "size": len(base)})
            body = json.dumps(m).encode()
            r = c.push_manifest(repo, tag, body, img.media_type)
            with lock:
                if r.status_code == 201:
                    acked.append((tag, body, [base] + img.blobs))
                else:
                    assert r.status_code in (400, 404, 409), (r.status_code, r.text)
                    failed.append(tag)
                    reasons.append((r.status_code, r.text[:200]))

    def collector():
        n = 0
        while not stop.is_set():
            grace = "0s" if n % 2 == 0 else "1h"
            r = gc(w, project=w["proj"], grace=grace)
            assert r.status_code == 200, r.text
            s.post("/v1/admin/gc?grace=0s", w["admin"])
            n += 1
            time.sleep(random.random() * 0.05)
        return n

    threads = [threading.Thread(target=pusher, args=(k,)) for k in range(3)]
    ct = threading.Thread(target=collector)
    ct.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    ct.join()
    assert acked, "no push got through: %s %s" % (failed, reasons[:5])
    print("race: %d acknowledged, %d refused: %s" % (len(acked), len(failed), sorted({r[0] for r in reasons})))
    # and once more after everything settled
    gc(w, project=w["proj"], grace="0s")
    s.post("/v1/admin/gc?grace=0s", w["admin"])
    c = client(w)
    for tag, body, blobs in acked:
        r = c.get_manifest(repo, tag)
        assert r.status_code == 200 and r.content == body, tag
        for b in blobs:
            rb = c.req("GET", "/v2/%s/blobs/%s" % (repo, digest(b)))
            assert rb.status_code == 200 and rb.content == b, (tag, digest(b))


def test_upload_sessions_in_progress_are_left_alone(world):
    w, s = world, world["s"]
    c = client(w)
    repo = w["proj"] + "/" + unique("sess")
    img = make_image("sess", layer_size=5000)
    layer = img.blobs[1]
    r = c.req("POST", "/v2/%s/blobs/uploads/" % repo)
    assert r.status_code == 202, r.text
    loc = c.abs(r.headers["Location"])
    half = len(layer) // 2
    r = c.req("PATCH", loc, data=layer[:half], headers={
        "Content-Type": "application/octet-stream", "Content-Range": "0-%d" % (half - 1)})
    assert r.status_code == 202, r.text
    loc = c.abs(r.headers["Location"])
    assert gc(w, project=w["proj"], grace="0s").status_code == 200
    assert s.post("/v1/admin/gc?grace=0s", w["admin"]).status_code == 200
    r = c.req("GET", loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-%d" % (half - 1)
    sep = "&" if "?" in loc else "?"
    r = c.req("PUT", loc + sep + "digest=" + digest(layer), data=layer[half:],
              headers={"Content-Type": "application/octet-stream",
                       "Content-Range": "%d-%d" % (half, len(layer) - 1)})
    assert r.status_code == 201, r.text
    c.push_blob(repo, img.blobs[0])
    assert c.push_manifest(repo, "v1", img.manifest, img.media_type).status_code == 201
    assert pullable(c, repo, "v1", img)


def test_retention_keeps_last_n_and_never_immutable(world):
    w, s = world, world["s"]
    c = client(w)
    name = unique("ret")
    repo = w["proj"] + "/" + name
    imgs = {}
    for t in ("v1", "v2", "v3", "v4", "v5", "latest", "dev-1"):
        imgs[t] = make_image(t)
        c.push_image(repo, t, imgs[t])
        time.sleep(0.01)
    mt = w["tok"][w["maintainer"]]
    # v1 is immutable by a tag rule of the project
    r = s.post("/v1/projects/%s/tag-rules" % w["proj"], mt,
               json={"repository": name, "tag": "v1"})
    assert r.status_code == 201, r.text
    r = s.post("/v1/projects/%s/retention" % w["proj"], mt,
               json={"repository": name, "tag": "v*", "keep": 2})
    assert r.status_code == 201, r.text
    pol = r.json()
    assert pol["keep"] == 2 and pol["tag"] == "v*" and pol["repository"] == name
    # tags younger than an hour are spared by this one
    r = s.post("/v1/projects/%s/retention" % w["proj"], mt,
               json={"repository": name, "tag": "dev-*", "keep": 0, "older_than": "1h"})
    assert r.status_code == 201, r.text
    lst = s.get("/v1/projects/%s/retention" % w["proj"], mt).json()["items"]
    assert {p["id"] for p in lst} >= {pol["id"], r.json()["id"]}

    r = gc(w, "maintainer", project=w["proj"], grace="0s", dry_run=True)
    assert r.status_code == 200, r.text
    would = {i["tag"] for i in r.json()["items"] if i["kind"] == "tag" and i["repository"] == repo}
    assert would == {"v2", "v3"}
    assert c.get_manifest(repo, "v2").status_code == 200

    r = gc(w, "maintainer", project=w["proj"], grace="0s")
    assert r.status_code == 200, r.text
    assert r.json()["tags_removed"] == 2
    tags = s.get("/v1/registry/tags/" + repo, mt).json()["items"]
    assert sorted(t["tag"] for t in tags) == sorted(["v1", "v4", "v5", "latest", "dev-1"])
    assert [t["immutable"] for t in tags if t["tag"] == "v1"] == [True]
    for t in ("v2", "v3"):  # untagged, then collected in the same run
        assert c.get_manifest(repo, imgs[t].digest).status_code == 404
    for t in ("v1", "v4", "v5", "latest", "dev-1"):
        assert pullable(c, repo, t, imgs[t]), t
    # policies go away
    assert s.req("DELETE", "/v1/projects/%s/retention/%d" % (w["proj"], pol["id"]), mt).status_code == 204
    assert s.req("DELETE", "/v1/projects/%s/retention/%d" % (w["proj"], pol["id"]), mt).status_code == 404


def test_permissions(world):
    w, s = world, world["s"]
    p = w["proj"]
    for role in ("guest", "developer"):
        r = gc(w, role, project=p, dry_run=True)
        assert r.status_code == 403, (role, r.text)
        assert "permission denied" in r.json()["detail"]
        r = s.post("/v1/projects/%s/retention" % p, w["tok"][w[role]], json={"keep": 1})
        assert r.status_code == 403, (role, r.text)
        assert s.get("/v1/projects/%s/retention" % p, w["tok"][w[role]]).status_code == 200
    for role in ("maintainer", "owner"):
        assert gc(w, role, project=p, dry_run=True).status_code == 200, role
    # everything at once is for administrators
    assert gc(w, "maintainer", dry_run=True).status_code == 403
    assert gc(w, "admin", dry_run=True).status_code == 200
    # an outsider learns nothing, not even that the project exists
    out = w["tok"][w["outsider"]]
    assert gc(w, "outsider", project=p).status_code == 404
    assert gc(w, "outsider", project="no-such-project").status_code == 404
    assert s.get("/v1/projects/%s/retention" % p, out).status_code == 404
    assert s.post("/v1/projects/%s/retention" % p, out, json={"keep": 1}).status_code == 404
    repo = p + "/" + unique("perm")
    client(w).push_image(repo, "v1", make_image("perm"))
    assert s.get("/v1/registry/tags/" + repo, out).status_code == 404
    names = [r["name"] for r in s.get("/v1/registry/repositories", out).json()["items"]]
    assert repo not in names
    # a user collects their own namespace
    mine = w["outsider"] + "/" + unique("mine")
    client(w, "outsider").push_image(mine, "v1", make_image("mine"))
    assert gc(w, "outsider", project=w["outsider"], dry_run=True).status_code == 200
    # bad input is a 400 with a reason
    r = gc(w, project=p, grace="soon")
    assert r.status_code == 400 and "duration" in r.json()["detail"]
    r = s.post("/v1/projects/%s/retention" % p, w["tok"][w["owner"]], json={"keep": -1})
    assert r.status_code == 400
    r = s.post("/v1/projects/%s/retention" % p, w["tok"][w["owner"]], json={"keep": 1, "tag": "a b"})
    assert r.status_code == 400


def test_cli(world, cli_factory):
    w, s = world, world["s"]
    p = w["proj"]
    repo = p + "/" + unique("cli")
    c = client(w)
    a, b = make_image("a"), make_image("b")
    c.push_image(repo, "v1", a)
    c.push_image(repo, "v2", b)
    c.push_image(repo, "old", make_image("old"))

    mt = cli_factory(s, "maint")
    mt.login(w["maintainer"], w["pw"][w["maintainer"]])
    out = mt.run("image", "ls", check=True).stdout
    assert "REPOSITORY" in out and repo in out
    rows = mt.json("image", "ls", p)["items"]
    row = [r for r in rows if r["name"] == repo][0]
    assert row["tags"] == 3 and row["size"] > 0
    assert all(r["namespace"] == p for r in rows)
    out = mt.run("image", "tags", repo, check=True).stdout
    assert out.splitlines()[0].split()[:2] == ["TAG", "DIGEST"]
    assert out.splitlines()[1].split()[0] == "old"  # newest first
    tags = mt.json("image", "tags", repo)["items"]
    assert {t["tag"] for t in tags} == {"v1", "v2", "old"}
    assert [t["digest"] for t in tags if t["tag"] == "v1"] == [a.digest]

    assert "Removed tag" in mt.run("image", "rm", repo + ":old", check=True).stdout
    assert mt.run("image", "rm", repo + "@" + b.digest, check=True).returncode == 0
    assert {t["tag"] for t in mt.json("image", "tags", repo)["items"]} == {"v1"}
    p2 = mt.run("image", "rm", repo + ":nope")
    assert p2.returncode == 1 and "no such image" in p2.stderr

    out = mt.run("image", "gc", p, "--grace", "0s", "--dry-run", check=True).stdout
    assert out.startswith("Would remove") and "manifest" in out
    assert c.get_manifest(repo, "v1").status_code == 200
    rep = mt.json("image", "gc", p, "--grace", "0s")
    assert rep["dry_run"] is False and rep["manifests_removed"] >= 1
    assert pullable(c, repo, "v1", a)

    assert "Created retention policy" in mt.run(
        "image", "retention", "add", p, "--keep", "3", "--tag", "release-*",
        check=True).stdout
    pols = mt.json("image", "retention", "ls", p)["items"]
    pid = [x["id"] for x in pols if x["tag"] == "release-*"][0]
    out = mt.run("image", "retention", "ls", p, check=True).stdout
    assert "release-*" in out and "KEEP" in out
    mt.run("image", "retention", "rm", p, str(pid), check=True)
    assert pid not in [x["id"] for x in mt.json("image", "retention", "ls", p)["items"]]

    # refusals: one line, non-zero
    g = cli_factory(s, "guest")
    g.login(w["guest"], w["pw"][w["guest"]])
    r = g.run("image", "gc", p)
    assert r.returncode == 1 and "permission denied" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = g.run("image", "rm", repo + ":v1")
    assert r.returncode == 1 and "permission denied" in r.stderr
    r = g.run("image", "retention", "add", p, "--keep", "1")
    assert r.returncode == 1 and "permission denied" in r.stderr
    assert g.run("image", "rm", "noslash").returncode == 2
    assert g.run("image", "retention", "add", p).returncode == 2
    assert g.run("image", "gc", "--help").returncode == 0
    assert "--dry-run" in g.run("image", "gc", "--help").stdout
    o = cli_factory(s, "out")
    o.login(w["outsider"], w["pw"][w["outsider"]])
    assert repo not in o.run("image", "ls", check=True).stdout
    r = o.run("image", "tags", repo)
    assert r.returncode == 1 and "no repository" in r.stderr


def test_periodic_collection(tmp_path):
    s = start_server(str(tmp_path), args=["--registry-gc-interval", "1s",
                                          "--registry-gc-grace", "0s"])
    try:
        u = unique("per")
        pw = "Pw-%s-2026!" % u
        s.register(u, pw)
        c = RegistryClient(s.url, u, pw)
        repo = u + "/app"
        img = make_image("p")
        c.push_image(repo, "v1", img)
        d = c.push_blob(repo, os.urandom(1000))
        deadline = time.time() + 20
        while time.time() < deadline and os.path.exists(blob_path(s, d)):
            time.sleep(0.2)
        assert not os.path.exists(blob_path(s, d))
        assert c.req("GET", "/v2/%s/blobs/%s" % (repo, d)).status_code == 404
        assert pullable(c, repo, "v1", img)
    finally:
        code = s.stop()
        s.assert_clean()
    assert code == 0, s.output()[-4000:]
