"""The image registry over HTTP, as the OCI Distribution Specification v1.1
describes it: a small image pushed whole and in chunks, pulled by tag and by
digest, ranges, the error codes, permissions by project role, the token flow
standard clients follow, robots, quotas and immutable tags; and skopeo, a
real client, pushing and pulling through the same endpoints."""
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest
import requests

from conftest import ADMIN_PASSWORD, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_layer(text=b"hello from cove\n", n=1000):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = text * n
        ti = tarfile.TarInfo("hello.txt")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def make_image(layer, media=OCI_MANIFEST, extra=None):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    man = {"schemaVersion": 2, "mediaType": media,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": sha(config), "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": sha(layer), "size": len(layer)}]}
    if media == DOCKER_MANIFEST:
        man["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
        man["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    man.update(extra or {})
    return config, json.dumps(man).encode()


class Reg:
    """A registry client that follows the Bearer challenge like docker,
    podman and skopeo do, with Basic credentials for the token endpoint."""

    def __init__(self, server, user=None, secret=None):
        self.s = server
        self.auth = (user, secret) if user else None
        self.tokens = {}
        self.http = requests.Session()

    def req(self, method, path, headers=None, **kw):
        headers = dict(headers or {})
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        tok = self.tokens.get(path.split("/blobs/")[0].split("/manifests/")[0])
        if tok:
            headers["Authorization"] = "Bearer " + tok
        r = self.http.request(method, self.s.url + path, headers=headers, **kw)
        if r.status_code == 401 and "WWW-Authenticate" in r.headers:
            ch = parse_challenge(r.headers["WWW-Authenticate"])
            params = {"service": ch["service"]}
            if "scope" in ch:
                params["scope"] = ch["scope"]
            t = self.http.get(ch["realm"], params=params, auth=self.auth, timeout=30)
            if t.status_code != 200:
                return r
            tok = t.json()["token"]
            self.tokens[path.split("/blobs/")[0].split("/manifests/")[0]] = tok
            headers["Authorization"] = "Bearer " + tok
            if "data" in kw and hasattr(kw["data"], "seek"):
                kw["data"].seek(0)
            r = self.http.request(method, self.s.url + path, headers=headers, **kw)
        return r

    def push_blob(self, name, data):
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (name, sha(data)), data=data,
                     headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == sha(data)
        return r

    def push_image(self, name, tag, layer=None, media=OCI_MANIFEST, extra=None):
        layer = layer if layer is not None else make_layer()
        config, man = make_image(layer, media, extra)
        self.push_blob(name, layer)
        self.push_blob(name, config)
        r = self.req("PUT", "/v2/%s/manifests/%s" % (name, tag), data=man,
                     headers={"Content-Type": media})
        assert r.status_code == 201, r.text
        return sha(man), man, layer, config


def parse_challenge(h):
    assert h.startswith("Bearer "), h
    out = {}
    for part in h[7:].split('",'):
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip().strip('"')
    return out


@pytest.fixture(scope="module")
def reg(shared_server):
    s = shared_server
    s.owner = unique("own")
    s.owner_pw = "Pw-%s-2026!" % s.owner
    s.owner_tok = s.register(s.owner)
    s.proj = unique("proj")
    r = s.post("/v1/projects", s.owner_tok, json={"name": s.proj})
    assert r.status_code == 201, r.text
    return s


def member(s, role):
    name = unique(role[:3])
    tok = s.register(name)
    r = s.req("PUT", "/v1/projects/%s/members/%s" % (s.proj, name), s.owner_tok, json={"role": role})
    assert r.status_code in (200, 201), r.text
    return name, "Pw-%s-2026!" % name, tok


# ---- the base endpoint and the token flow --------------------------------------------

def test_base_challenges_then_accepts_a_token(reg):
    s = reg
    r = requests.get(s.url + "/v2/")
    assert r.status_code == 401
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    ch = parse_challenge(r.headers["WWW-Authenticate"])
    assert ch["realm"] == s.url + "/v1/registry/token" and ch["service"] == "cove"
    t = requests.get(ch["realm"], params={"service": "cove"}, auth=(s.owner, s.owner_pw))
    assert t.status_code == 200, t.text
    body = t.json()
    assert body["token"] == body["access_token"] and body["expires_in"] > 0 and body["issued_at"]
    r = requests.get(s.url + "/v2/", headers={"Authorization": "Bearer " + body["token"]})
    assert r.status_code == 200 and r.json() == {}
    # ordinary cove tokens work too (the CLI uses them)
    r = requests.get(s.url + "/v2/", headers={"Authorization": "Bearer " + s.owner_tok})
    assert r.status_code == 200
    # and HTTP Basic, directly
    assert requests.get(s.url + "/v2/", auth=(s.owner, s.owner_pw)).status_code == 200
    r = requests.get(s.url + "/v2/", auth=(s.owner, "Wrong-pass-123"))
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    r = requests.get(s.url + "/v2/", headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401
    r = requests.get(s.url + "/v2/", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def claims(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def test_token_grants_what_roles_allow(reg):
    s = reg
    guest, gpw, _ = member(s, "guest")
    name = "%s/tok" % s.proj
    url = s.url + "/v1/registry/token"
    scope = "repository:%s:pull,push" % name
    t = requests.get(url, params={"service": "cove", "scope": scope}, auth=(guest, gpw)).json()
    c = claims(t["token"])
    assert c["aud"] == "cove-registry" and c["sub"] == guest
    assert c["access"] == [{"type": "repository", "name": name, "actions": ["pull"]}]
    t = requests.get(url, params={"service": "cove", "scope": scope}, auth=(s.owner, s.owner_pw)).json()
    assert claims(t["token"])["access"][0]["actions"] == ["pull", "push"]
    # anonymous: a token that grants nothing
    t = requests.get(url, params={"service": "cove", "scope": scope}).json()
    assert claims(t["token"])["access"][0]["actions"] == []
    # several scopes at once
    t = requests.get(url, params=[("service", "cove"), ("scope", scope),
                                  ("scope", "repository:%s/other:pull" % s.proj)],
                     auth=(s.owner, s.owner_pw)).json()
    assert len(claims(t["token"])["access"]) == 2
    # wrong password: 401; the password never reaches the log
    r = requests.get(url, params={"service": "cove"}, auth=(s.owner, "Wrong-pass-123"))
    assert r.status_code == 401
    assert s.owner_pw not in s.output()
    # personal API tokens are accepted as passwords
    pat = s.post("/v1/tokens", s.owner_tok, json={"name": unique("pat")}).json()["token"]
    r = requests.get(url, params={"service": "cove", "scope": scope}, auth=(s.owner, pat))
    assert r.status_code == 200 and claims(r.json()["token"])["access"][0]["actions"] == ["pull", "push"]
    # ... but only by their owner
    r = requests.get(url, params={"service": "cove"}, auth=(guest, pat))
    assert r.status_code == 401
    # a token for a scope is refused for another repository
    t = requests.get(url, params={"service": "cove", "scope": scope}, auth=(s.owner, s.owner_pw)).json()
    r = requests.get(s.url + "/v2/%s/other/tags/list" % s.proj,
                     headers={"Authorization": "Bearer " + t["token"]})
    assert r.status_code == 401
    assert "repository:%s/other:pull" % s.proj in r.headers["WWW-Authenticate"]


# ---- push and pull ----------------------------------------------------------------------

def test_push_monolithic_pull_by_tag_and_digest(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/mono" % s.proj
    digest, man, layer, config = c.push_image(name, "v1")
    r = c.req("GET", "/v2/%s/manifests/v1" % name, headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.content == man
    assert r.headers["Content-Type"] == OCI_MANIFEST
    assert r.headers["Docker-Content-Digest"] == digest
    r = c.req("GET", "/v2/%s/manifests/%s" % (name, digest))
    assert r.status_code == 200 and r.content == man
    # Accept: a client listing manifest types without this one does not get it
    r = c.req("GET", "/v2/%s/manifests/v1" % name, headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    r = c.req("GET", "/v2/%s/manifests/v1" % name,
              headers={"Accept": DOCKER_MANIFEST + ", " + OCI_MANIFEST + ";q=0.5"})
    assert r.status_code == 200
    for accept in ("*/*", "application/json"):
        assert c.req("GET", "/v2/%s/manifests/v1" % name, headers={"Accept": accept}).status_code == 200
    r = c.req("HEAD", "/v2/%s/manifests/v1" % name)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
    assert int(r.headers["Content-Length"]) == len(man) and r.content == b""
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(layer)))
    assert r.status_code == 200 and r.content == layer
    assert r.headers["Docker-Content-Digest"] == sha(layer)
    r = c.req("HEAD", "/v2/%s/blobs/%s" % (name, sha(config)))
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(config)
    # ranges
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(layer)), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == layer[10:20]
    assert r.headers["Content-Range"] == "bytes 10-19/%d" % len(layer)
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(layer)), headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == layer[-5:]
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(layer)),
              headers={"Range": "bytes=%d-" % (len(layer) + 5)})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */%d" % len(layer)


def test_chunked_upload_with_status_and_out_of_order_chunk(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/chunked" % s.proj
    data = os.urandom(300000)
    r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    uuid = r.headers["Docker-Upload-UUID"]
    assert loc.endswith(uuid)
    r = c.req("PATCH", loc, data=data[:100000], headers={
        "Content-Type": "application/octet-stream", "Content-Range": "0-99999"})
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == "0-99999"
    loc = r.headers["Location"]
    # a chunk that does not start at the offset: 416
    r = c.req("PATCH", loc, data=data[200000:], headers={
        "Content-Type": "application/octet-stream", "Content-Range": "200000-299999"})
    assert r.status_code == 416
    r = c.req("GET", loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-99999"
    # a chunk without Content-Range (streamed), then the last one with PUT
    r = c.req("PATCH", loc, data=data[100000:200000], headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202 and r.headers["Range"] == "0-199999"
    r = c.req("PUT", loc + "?digest=" + sha(data), data=data[200000:],
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/v2/%s/blobs/%s" % (name, sha(data))
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(data)))
    assert r.content == data
    # the session is over
    r = c.req("GET", "/v2/%s/blobs/uploads/%s" % (name, uuid))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_upload_digest_mismatch_and_cancel(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/bad" % s.proj
    r = c.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (name, sha(b"other")), data=b"bytes")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(b"bytes")))
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] in ("BLOB_UNKNOWN", "NAME_UNKNOWN")
    r = c.req("POST", "/v2/%s/blobs/uploads/?digest=sha256:abc" % name, data=b"x")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
    loc = r.headers["Location"]
    r = c.req("PUT", loc + "?digest=" + sha(b"abc"), data=b"abd")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
    loc = r.headers["Location"]
    assert c.req("DELETE", loc).status_code == 204
    r = c.req("PATCH", loc, data=b"late")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_manifest_errors(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/manerr" % s.proj
    layer = make_layer(b"only-here")
    config, man = make_image(layer)
    # blobs not pushed: MANIFEST_BLOB_UNKNOWN
    r = c.req("PUT", "/v2/%s/manifests/v1" % name, data=man, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    c.push_blob(name, layer)
    c.push_blob(name, config)
    # a descriptor whose size is not the blob's
    wrong = json.loads(man)
    wrong["layers"][0]["size"] += 1
    r = c.req("PUT", "/v2/%s/manifests/v1" % name, data=json.dumps(wrong).encode(),
              headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "SIZE_INVALID"
    # by digest, the wrong digest
    r = c.req("PUT", "/v2/%s/manifests/%s" % (name, sha(b"x")), data=man,
              headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    # malformed
    r = c.req("PUT", "/v2/%s/manifests/v1" % name, data=b"{not json",
              headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    # media type in the body disagrees with Content-Type
    r = c.req("PUT", "/v2/%s/manifests/v1" % name, data=man, headers={"Content-Type": DOCKER_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    # too big
    big = b'{"schemaVersion":2,"x":"' + b"a" * (4 << 20) + b'"}'
    r = c.req("PUT", "/v2/%s/manifests/big" % name, data=big, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 413
    # by digest, right: 201, and no tag
    r = c.req("PUT", "/v2/%s/manifests/%s" % (name, sha(man)), data=man,
              headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    r = c.req("GET", "/v2/%s/tags/list" % name)
    assert r.json()["tags"] == []
    # unknown tag, unknown digest, bad names and references
    r = c.req("GET", "/v2/%s/manifests/nope" % name)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(b"nothing")))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    r = c.req("GET", "/v2/%s/Upper/manifests/v1" % s.proj)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "NAME_INVALID"
    r = c.req("GET", "/v2/%s/manifests/bad:tag!" % name)
    assert r.status_code == 400
    r = c.req("GET", "/v2/%s/nothing/tags/list" % s.proj)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_docker_media_types_and_index(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/multi" % s.proj
    d1, m1, _, _ = c.push_image(name, "amd64", make_layer(b"amd"), DOCKER_MANIFEST)
    r = c.req("GET", "/v2/%s/manifests/amd64" % name)
    assert r.headers["Content-Type"] == DOCKER_MANIFEST
    d2, m2, _, _ = c.push_image(name, "arm64", make_layer(b"arm"))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": d1, "size": len(m1),
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": d2, "size": len(m2),
         "platform": {"os": "linux", "architecture": "arm64"}}]}).encode()
    r = c.req("PUT", "/v2/%s/manifests/latest" % name, data=index, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 201, r.text
    r = c.req("GET", "/v2/%s/manifests/latest" % name)
    assert r.content == index and r.headers["Content-Type"] == OCI_INDEX
    # an index whose children are missing
    bad = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha(b"gone"), "size": 4}]}).encode()
    r = c.req("PUT", "/v2/%s/manifests/bad" % name, data=bad, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    # a Docker manifest list is accepted too
    lst = json.loads(index)
    lst["mediaType"] = "application/vnd.docker.distribution.manifest.list.v2+json"
    lst = json.dumps(lst).encode()
    r = c.req("PUT", "/v2/%s/manifests/list" % name, data=lst,
              headers={"Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
    assert r.status_code == 201, r.text


def test_tags_pagination(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/paged" % s.proj
    layer = make_layer(b"paged")
    config, man = make_image(layer)
    c.push_blob(name, layer)
    c.push_blob(name, config)
    tags = ["t%02d" % i for i in range(7)]
    for t in tags:
        assert c.req("PUT", "/v2/%s/manifests/%s" % (name, t), data=man,
                     headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    r = c.req("GET", "/v2/%s/tags/list" % name)
    assert r.json() == {"name": name, "tags": tags} and "Link" not in r.headers
    got, url = [], "/v2/%s/tags/list?n=3" % name
    while url:
        r = c.req("GET", url)
        assert r.status_code == 200
        got += r.json()["tags"]
        link = r.headers.get("Link")
        url = link[1:link.index(">")] if link else None
    assert got == tags
    r = c.req("GET", "/v2/%s/tags/list?n=2&last=t04" % name)
    assert r.json()["tags"] == ["t05", "t06"]
    r = c.req("GET", "/v2/%s/tags/list?n=0" % name)
    assert r.status_code == 200 and r.json()["tags"] == []
    r = c.req("GET", "/v2/%s/tags/list?n=x" % name)
    assert r.status_code == 400
    r = c.req("GET", "/v2/_catalog?n=0")
    assert r.status_code == 200 and r.json()["repositories"] == []
    r = c.req("GET", "/v2/_catalog?n=1")
    assert len(r.json()["repositories"]) == 1 and 'rel="next"' in r.headers["Link"]


def test_delete_manifest_tag_and_blob(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/del" % s.proj
    digest, man, layer, _ = c.push_image(name, "v1")
    c.req("PUT", "/v2/%s/manifests/v2" % name, data=man, headers={"Content-Type": OCI_MANIFEST})
    r = c.req("DELETE", "/v2/%s/manifests/v2" % name)
    assert r.status_code == 202
    assert c.req("GET", "/v2/%s/manifests/v2" % name).status_code == 404
    assert c.req("GET", "/v2/%s/manifests/v1" % name).status_code == 200
    r = c.req("DELETE", "/v2/%s/manifests/%s" % (name, digest))
    assert r.status_code == 202
    assert c.req("GET", "/v2/%s/manifests/v1" % name).status_code == 404
    r = c.req("DELETE", "/v2/%s/manifests/%s" % (name, digest))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    r = c.req("DELETE", "/v2/%s/blobs/%s" % (name, sha(layer)))
    assert r.status_code == 202
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(layer)))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    audit = s.get("/v1/audit?action=registry", s.admin_token()).json()["items"]
    actions = {a["action"] for a in audit}
    assert {"registry.push", "registry.delete", "registry.blob.delete", "registry.token"} <= actions


def test_cross_repository_mount(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    src, dst = "%s/src" % s.proj, "%s/dst" % s.proj
    layer = make_layer(b"mount me")
    c.push_blob(src, layer)
    # a registry token must grant pull on the source too, as clients ask
    r = c.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, sha(layer), src))
    assert r.status_code == 202
    t = requests.get(s.url + "/v1/registry/token", auth=(s.owner, s.owner_pw), params=[
        ("service", "cove"), ("scope", "repository:%s:pull,push" % dst),
        ("scope", "repository:%s:pull" % src)]).json()["token"]
    c.tokens["/v2/" + dst] = t
    r = c.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, sha(layer), src))
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/v2/%s/blobs/%s" % (dst, sha(layer))
    assert c.req("GET", "/v2/%s/blobs/%s" % (dst, sha(layer))).content == layer
    # a blob the source does not have: an ordinary session starts instead
    r = c.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, sha(b"no"), src))
    assert r.status_code == 202 and r.headers["Location"]
    # from another project the caller cannot read: no mount either
    other = unique("oth")
    otok = s.register(other)
    oproj = unique("oprj")
    s.post("/v1/projects", otok, json={"name": oproj})
    oc = Reg(s, other, "Pw-%s-2026!" % other)
    secret = make_layer(b"secret")
    oc.push_blob("%s/private" % oproj, secret)
    r = c.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s/private" % (dst, sha(secret), oproj))
    assert r.status_code == 202
    assert c.req("GET", "/v2/%s/blobs/%s" % (dst, sha(secret))).status_code == 404


def test_referrers(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/refs" % s.proj
    digest, man, _, _ = c.push_image(name, "v1")
    sig_cfg = b"{}"
    c.push_blob(name, sig_cfg)
    for at in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        art = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": at,
                          "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                     "digest": sha(sig_cfg), "size": 2},
                          "layers": [{"mediaType": "application/vnd.oci.empty.v1+json",
                                      "digest": sha(sig_cfg), "size": 2}],
                          "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(man)},
                          "annotations": {"by": "test"}}).encode()
        r = c.req("PUT", "/v2/%s/manifests/%s" % (name, sha(art)), data=art,
                  headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text
        assert r.headers["OCI-Subject"] == digest
    r = c.req("GET", "/v2/%s/referrers/%s" % (name, digest))
    assert r.status_code == 200 and r.headers["Content-Type"] == OCI_INDEX
    ms = r.json()["manifests"]
    assert sorted(m["artifactType"] for m in ms) == ["application/vnd.example.sbom",
                                                     "application/vnd.example.sig"]
    assert all(m["annotations"] == {"by": "test"} for m in ms)
    r = c.req("GET", "/v2/%s/referrers/%s?artifactType=application/vnd.example.sig" % (name, digest))
    assert [m["artifactType"] for m in r.json()["manifests"]] == ["application/vnd.example.sig"]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    r = c.req("GET", "/v2/%s/referrers/%s" % (name, sha(b"nothing")))
    assert r.status_code == 200 and r.json()["manifests"] == []
    r = c.req("GET", "/v2/%s/referrers/notadigest" % name)
    assert r.status_code == 400


# ---- who may do what ---------------------------------------------------------------------

def test_roles(reg):
    s = reg
    name = "%s/roles" % s.proj
    Reg(s, s.owner, s.owner_pw).push_image(name, "v1")
    guest, gpw, _ = member(s, "guest")
    dev, dpw, _ = member(s, "developer")
    maint, mpw, _ = member(s, "maintainer")
    g = Reg(s, guest, gpw)
    assert g.req("GET", "/v2/%s/manifests/v1" % name).status_code == 200
    r = g.req("POST", "/v2/%s/blobs/uploads/" % name)
    assert r.status_code in (401, 403)
    assert r.json()["errors"][0]["code"] in ("DENIED", "UNAUTHORIZED")
    d = Reg(s, dev, dpw)
    d.push_image(name, "dev")
    r = d.req("DELETE", "/v2/%s/manifests/dev" % name)
    assert r.status_code in (401, 403)
    m = Reg(s, maint, mpw)
    assert m.req("DELETE", "/v2/%s/manifests/dev" % name).status_code == 202
    # an outsider sees nothing: not the manifest, not the catalog entry
    out = unique("out")
    s.register(out)
    o = Reg(s, out, "Pw-%s-2026!" % out)
    r = o.req("GET", "/v2/%s/manifests/v1" % name)
    assert r.status_code in (401, 403)
    cat = o.req("GET", "/v2/_catalog").json()["repositories"]
    assert not [n for n in cat if n.startswith(s.proj + "/")]
    cat = g.req("GET", "/v2/_catalog").json()["repositories"]
    assert name in cat
    # anonymous: a challenge naming the scope
    r = requests.get(s.url + "/v2/%s/manifests/v1" % name)
    assert r.status_code == 401
    assert 'scope="repository:%s:pull"' % name in r.headers["WWW-Authenticate"]


def test_personal_namespace(reg):
    s = reg
    me = unique("me")
    s.register(me)
    c = Reg(s, me, "Pw-%s-2026!" % me)
    c.push_image("%s/tools" % me, "v1")
    other = Reg(s, s.owner, s.owner_pw)
    r = other.req("GET", "/v2/%s/tools/manifests/v1" % me)
    assert r.status_code in (401, 403)
    admin = Reg(s, "admin", ADMIN_PASSWORD)
    assert admin.req("GET", "/v2/%s/tools/manifests/v1" % me).status_code == 200
    # a namespace nobody owns
    r = c.req("POST", "/v2/nosuchns%s/x/blobs/uploads/" % unique(""))
    assert r.status_code in (403, 404)


def test_robots(reg):
    s = reg
    name = "%s/robo" % s.proj
    r = s.post("/v1/projects/%s/robots" % s.proj, s.owner_tok, json={"name": "ci", "role": "developer"})
    assert r.status_code == 201, r.text
    robot = r.json()
    assert robot["login"] == "%s+ci" % s.proj and robot["secret"].startswith("cove_robot_")
    r = s.post("/v1/projects/%s/robots" % s.proj, s.owner_tok, json={"name": "ci"})
    assert r.status_code == 409
    r = s.post("/v1/projects/%s/robots" % s.proj, s.owner_tok, json={"name": "x", "role": "owner"})
    assert r.status_code == 400
    lst = s.get("/v1/projects/%s/robots" % s.proj, s.owner_tok).json()["items"]
    assert [x["name"] for x in lst] == ["ci"] and "secret" not in lst[0]
    assert robot["secret"] not in s.output()
    c = Reg(s, robot["login"], robot["secret"])
    c.push_image(name, "v1")
    assert c.req("GET", "/v2/%s/manifests/v1" % name).status_code == 200
    r = c.req("DELETE", "/v2/%s/manifests/v1" % name)
    assert r.status_code in (401, 403)
    # robots stay inside their project
    me = unique("rme")
    s.register(me)
    r = c.req("GET", "/v2/%s/x/tags/list" % me)
    assert r.status_code in (401, 403)
    bad = Reg(s, robot["login"], "cove_robot_wrong")
    assert bad.req("GET", "/v2/%s/manifests/v1" % name).status_code == 401
    assert s.req("DELETE", "/v1/projects/%s/robots/ci" % s.proj, s.owner_tok).status_code == 204
    # a deleted robot's token stops working
    r = c.req("GET", "/v2/%s/tags/list" % name)
    assert r.status_code == 401


def test_tags_say_who_pushed_them(reg, cli_factory):
    s = reg
    name = "%s/who" % s.proj
    dev, dev_pw, _ = member(s, "developer")
    Reg(s, s.owner, s.owner_pw).push_image(name, "v1")
    d = Reg(s, dev, dev_pw)
    d.push_image(name, "v2", make_layer(b"two\n"))
    robot = s.post("/v1/projects/%s/robots" % s.proj, s.owner_tok,
                   json={"name": unique("bot"), "role": "developer"}).json()
    Reg(s, robot["login"], robot["secret"]).push_image(name, "nightly", make_layer(b"bot\n"))

    def pushers():
        r = s.get("/v1/registry/tags/" + name, s.owner_tok)
        assert r.status_code == 200, r.text
        return {t["tag"]: t["pushed_by"] for t in r.json()["items"]}

    assert pushers() == {"v1": s.owner, "v2": dev, "nightly": robot["login"]}
    # moving a tag makes its pusher the one who moved it
    d.push_image(name, "v1", make_layer(b"moved\n"))
    assert pushers()["v1"] == dev
    # the client shows it
    cli = cli_factory(s, "who")
    cli.login(s.owner, s.owner_pw)
    out = cli.run("image", "tags", name, check=True).stdout.splitlines()
    assert out[0].split()[:6] == ["TAG", "DIGEST", "SIZE", "PUSHED", "PUSHED", "BY"]
    rows = {l.split()[0]: l for l in out[1:]}
    assert dev in rows["v1"] and robot["login"] in rows["nightly"]
    assert {t["tag"]: t["pushed_by"] for t in cli.json("image", "tags", name)["items"]} == pushers()


def test_tags_pushed_before_pushers_were_recorded(server, cli_factory):
    """Tags from before the pushed_by column say null (and "-" in the table)."""
    import sqlite3
    s = server
    owner = unique("old")
    pw = "Pw-%s-2026!" % owner
    s.register(owner, pw)
    name = "%s/legacy" % owner
    Reg(s, owner, pw).push_image(name, "v1")
    assert s.stop() == 0
    db = sqlite3.connect(s.data + "/cove.db")
    db.execute("UPDATE tags SET pushed_by = NULL")  # as the migration left older rows
    db.commit()
    db.close()
    s.start()
    tok = s.login(owner, pw)["access_token"]
    items = s.get("/v1/registry/tags/" + name, tok).json()["items"]
    assert [(t["tag"], t["pushed_by"]) for t in items] == [("v1", None)]
    cli = cli_factory(s, "legacy")
    cli.login(owner, pw)
    row = cli.run("image", "tags", name, check=True).stdout.splitlines()[1].split()
    assert row[0] == "v1" and row[-2] == "-"  # PUSHED BY, before IMMUTABLE


def test_quota_counts_layers_once(reg):
    s = reg
    admin = s.admin_token()
    proj = unique("qp")
    assert s.post("/v1/projects", s.owner_tok, json={"name": proj}).status_code == 201
    r = s.req("PATCH", "/v1/projects/%s" % proj, admin, json={"quota": {"storage_bytes": 200000}})
    assert r.status_code == 200, r.text
    c = Reg(s, s.owner, s.owner_pw)
    big = os.urandom(150000)
    c.push_blob("%s/a" % proj, big)
    # the same layer in another repository of the project costs nothing more
    c.push_blob("%s/b" % proj, big)
    other = os.urandom(80000)
    r = c.req("POST", "/v2/%s/c/blobs/uploads/?digest=%s" % (proj, sha(other)), data=other)
    assert r.status_code == 403, r.text
    assert "quota" in r.json()["errors"][0]["message"]
    assert c.req("GET", "/v2/%s/c/blobs/%s" % (proj, sha(other))).status_code == 404
    # a blob larger than the whole quota stops while it arrives
    r = c.req("POST", "/v2/%s/c/blobs/uploads/" % proj)
    loc = r.headers["Location"]
    r = c.req("PATCH", loc, data=os.urandom(250000))
    assert r.status_code == 403 and "quota" in r.json()["errors"][0]["message"]
    r = c.req("GET", loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-0"


def test_immutable_tags(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/frozen" % s.proj
    d1, _, _, _ = c.push_image(name, "v1", make_layer(b"one"))
    r = s.post("/v1/projects/%s/tag-rules" % s.proj, s.owner_tok,
               json={"repository": "frozen", "tag": "v*"})
    assert r.status_code == 201, r.text
    rule = r.json()["id"]
    guest, _, gtok = member(s, "guest")
    assert s.post("/v1/projects/%s/tag-rules" % s.proj, gtok, json={"tag": "x"}).status_code == 403
    rules = s.get("/v1/projects/%s/tag-rules" % s.proj, gtok).json()["items"]
    assert [(x["repository"], x["tag"]) for x in rules] == [("frozen", "v*")]
    layer = make_layer(b"two")
    config, man = make_image(layer)
    c.push_blob(name, layer)
    c.push_blob(name, config)
    r = c.req("PUT", "/v2/%s/manifests/v1" % name, data=man, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    assert c.req("GET", "/v2/%s/manifests/v1" % name).headers["Docker-Content-Digest"] == d1
    # other tags are free
    r = c.req("PUT", "/v2/%s/manifests/latest" % name, data=man, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201
    r = c.req("DELETE", "/v2/%s/manifests/v1" % name)
    assert r.status_code == 403
    assert s.req("DELETE", "/v1/projects/%s/tag-rules/%d" % (s.proj, rule), s.owner_tok).status_code == 204
    # the repository's own setting: every tag
    r = s.req("PATCH", "/v1/registry/repositories/" + name, gtok, json={"immutable_tags": True})
    assert r.status_code == 403
    r = s.req("PATCH", "/v1/registry/repositories/" + name, s.owner_tok, json={"immutable_tags": True})
    assert r.status_code == 200 and r.json()["immutable_tags"] is True
    r = c.req("PUT", "/v2/%s/manifests/latest" % name, data=make_image(make_layer(b"one"))[1],
              headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 403
    r = s.req("PATCH", "/v1/registry/repositories/" + name, s.owner_tok, json={"immutable_tags": False})
    assert r.json()["immutable_tags"] is False
    r = c.req("PUT", "/v2/%s/manifests/v1" % name, data=man, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201
    repos = s.get("/v1/registry/repositories", gtok).json()["items"]
    assert name in [x["name"] for x in repos]
    assert s.get("/v1/registry/repositories/" + name, gtok).json()["tags"] == 2


def test_blobs_shared_with_the_file_space(reg):
    """A layer is stored once, in the same store as files."""
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    layer = make_layer(b"shared bytes")
    c.push_blob("%s/shared" % s.proj, layer)
    h = sha(layer)[7:]
    path = os.path.join(s.data, "blobs", "sha256", h[:2], h)
    assert open(path, "rb").read() == layer
    # fsck agrees with the registry's references
    r = s.post("/v1/admin/fsck", s.admin_token())
    assert r.status_code == 200
    assert not [p for p in r.json()["problems"] if p.get("kind") == "refcount"], r.json()


# ---- a real client --------------------------------------------------------------------------

def oci_layout(d, layer):
    config, man = make_image(layer)
    os.makedirs(os.path.join(d, "blobs", "sha256"))
    for b in (layer, config, man):
        with open(os.path.join(d, "blobs", "sha256", sha(b)[7:]), "wb") as f:
            f.write(b)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha(man),
                   "size": len(man)}]}, f)
    return sha(man)


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is not installed")
def test_skopeo_push_pull_delete(reg, tmp_path):
    s = reg
    host = s.url[len("http://"):]
    name = "%s/skopeo" % s.proj
    digest = oci_layout(str(tmp_path / "src"), make_layer(b"skopeo", 50000))
    creds = "%s:%s" % (s.owner, s.owner_pw)

    def skopeo(*args):
        return subprocess.run(["skopeo"] + list(args), capture_output=True, text=True, timeout=120)

    p = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds,
               "oci:" + str(tmp_path / "src"), "docker://%s/%s:v1" % (host, name))
    assert p.returncode == 0, p.stderr
    p = skopeo("inspect", "--tls-verify=false", "--creds", creds, "docker://%s/%s:v1" % (host, name))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Digest"] == digest
    p = skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
               "docker://%s/%s:v1" % (host, name), "oci:" + str(tmp_path / "back"))
    assert p.returncode == 0, p.stderr
    for h in os.listdir(str(tmp_path / "src" / "blobs" / "sha256")):
        a = open(str(tmp_path / "src" / "blobs" / "sha256" / h), "rb").read()
        b = open(str(tmp_path / "back" / "blobs" / "sha256" / h), "rb").read()
        assert a == b
    # a guest may pull but not push
    guest, gpw, _ = member(s, "guest")
    p = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "%s:%s" % (guest, gpw),
               "oci:" + str(tmp_path / "src"), "docker://%s/%s:v2" % (host, name))
    assert p.returncode != 0
    p = skopeo("delete", "--tls-verify=false", "--creds", creds, "docker://%s/%s:v1" % (host, name))
    assert p.returncode == 0, p.stderr
    p = skopeo("inspect", "--tls-verify=false", "--creds", creds, "docker://%s/%s:v1" % (host, name))
    assert p.returncode != 0


# ---- races and crashes ------------------------------------------------------------------------

def test_concurrent_pushes_of_one_tag(reg):
    import threading
    s = reg
    name = "%s/race" % s.proj
    results = []

    def push(i):
        c = Reg(s, s.owner, s.owner_pw)
        d, _, _, _ = c.push_image(name, "latest", make_layer(b"racer %d" % i))
        results.append(d)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    c = Reg(s, s.owner, s.owner_pw)
    r = c.req("GET", "/v2/%s/manifests/latest" % name)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] in results
    for d in results:
        assert c.req("GET", "/v2/%s/manifests/%s" % (name, d)).status_code == 200


def test_latest_request_writes_a_session(reg):
    """A client that retries a chunk after a broken connection must not wait
    for the server to notice the break: the latest request on a session
    becomes its writer, and the earlier one is refused if it goes on."""
    import socket
    import time
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/lock" % s.proj
    r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
    loc = r.headers["Location"]
    tok = c.tokens["/v2/" + name]
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
                  % (loc, tok)).encode() + b"a" * 100)
    time.sleep(0.3)
    r = c.req("PATCH", loc, data=b"b" * 10)
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == "0-9"
    sock.sendall(b"a" * 900)
    assert b" 409 " in sock.recv(4096)
    sock.close()
    r = c.req("GET", loc)
    assert r.headers["Range"] == "0-9"
    data = b"b" * 10 + b"c" * 5
    r = c.req("PUT", loc + "?digest=" + sha(data), data=b"c" * 5)
    assert r.status_code == 201, r.text
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, sha(data))).content == data


def test_chunk_length_must_match_its_range(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/rng" % s.proj
    loc = c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"]
    for rng, body in (("0-9", b"short"), ("0-9", b"x" * 20), ("0-99999999999999999999999", b"x"),
                      ("a-b", b"x"), ("5-1", b"x")):
        r = c.req("PATCH", loc, data=body, headers={"Content-Range": rng})
        assert r.status_code in (400, 416), (rng, r.status_code, r.text)
        st = c.req("GET", loc)
        assert st.status_code == 204 and st.headers["Range"] == "0-0"
    r = c.req("PATCH", loc, data=b"x" * 10, headers={"Content-Range": "0-9"})
    assert r.status_code == 202 and r.headers["Range"] == "0-9"


def test_gc_racing_pushes_never_loses_acknowledged_bytes(reg):
    import threading
    s = reg
    admin = s.admin_token()
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/gcrace" % s.proj
    data = os.urandom(200000)
    for _ in range(15):
        c.push_blob(name, data)
        assert c.req("DELETE", "/v2/%s/blobs/%s" % (name, sha(data))).status_code == 202
        out = {}

        def push():
            out["r"] = c.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (name, sha(data)), data=data)

        t = threading.Thread(target=push)
        t.start()
        s.post("/v1/admin/gc?grace=0s", admin)
        t.join()
        if out["r"].status_code == 201:
            r = c.req("GET", "/v2/%s/blobs/%s" % (name, sha(data)))
            assert r.status_code == 200 and r.content == data
        else:
            assert out["r"].status_code == 409, out["r"].text
    r = s.post("/v1/admin/fsck", admin).json()
    assert not [p for p in r["problems"] if p["kind"] in ("missing_bytes", "refcount")], r


def test_kill_during_push_keeps_what_was_acknowledged(server):
    import socket
    import time
    s = server
    c = Reg(s, "admin", ADMIN_PASSWORD)
    name = "admin/crash"
    digest, man, layer, _ = c.push_image(name, "v1")
    r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
    loc = r.headers["Location"]
    r = c.req("PATCH", loc, data=b"x" * 5000)
    assert r.status_code == 202
    tok = c.tokens["/v2/" + name]
    # a chunk that never finishes, and a monolithic upload cut short
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Length: 100000\r\n\r\n" % (loc, tok)).encode() + b"y" * 50000)
    half = os.urandom(100000)
    sock2 = socket.create_connection(("127.0.0.1", s.port))
    sock2.sendall(("POST /v2/%s/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n"
                   % (name, sha(half), tok)).encode() + half[:60000])
    time.sleep(0.5)
    s.kill()
    sock.close()
    sock2.close()
    s.start()
    c = Reg(s, "admin", ADMIN_PASSWORD)
    r = c.req("GET", "/v2/%s/manifests/v1" % name)
    assert r.status_code == 200 and r.content == man
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, sha(layer))).content == layer
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, sha(half))).status_code == 404
    # the session resumes where its last acknowledged request ended
    r = c.req("GET", loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-4999"
    r = c.req("PUT", loc + "?digest=" + sha(b"x" * 5000 + b"z"), data=b"z")
    assert r.status_code == 201, r.text
    r = s.post("/v1/admin/fsck", s.admin_token()).json()
    assert r["clean"], r


def test_deleting_a_project_with_images_is_refused(reg):
    s = reg
    proj = unique("dp")
    assert s.post("/v1/projects", s.owner_tok, json={"name": proj}).status_code == 201
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/app" % proj
    digest, _, layer, config = c.push_image(name, "v1")
    r = s.req("DELETE", "/v1/projects/" + proj, s.owner_tok)
    assert r.status_code == 409 and "images" in r.json()["detail"], r.text
    assert c.req("DELETE", "/v2/%s/manifests/%s" % (name, digest)).status_code == 202
    for b in (layer, config):
        assert c.req("DELETE", "/v2/%s/blobs/%s" % (name, sha(b))).status_code == 202
    r = s.req("DELETE", "/v1/projects/" + proj, s.owner_tok)
    assert r.status_code == 204, r.text


def test_password_change_ends_remembered_basic_credentials(reg):
    """Verified passwords are remembered briefly (clients ask a token per
    repository); a password change forgets them at once."""
    import time
    s = reg
    who = unique("pwc")
    tok = s.register(who)
    old, new = "Pw-%s-2026!" % who, "New-%s-2027!" % who
    url = s.url + "/v1/registry/token"
    t0 = time.time()
    assert requests.get(url, params={"service": "cove"}, auth=(who, old)).status_code == 200
    t1 = time.time()
    for _ in range(5):
        assert requests.get(url, params={"service": "cove"}, auth=(who, old)).status_code == 200
    t2 = time.time()
    assert (t2 - t1) / 5 <= (t1 - t0) * 2 + 0.05
    r = s.post("/v1/me/password", tok, json={"current_password": old, "new_password": new})
    assert r.status_code == 204, r.text
    assert requests.get(url, params={"service": "cove"}, auth=(who, old)).status_code == 401
    assert requests.get(url, params={"service": "cove"}, auth=(who, new)).status_code == 200
    # a locked account is refused even with a remembered password
    admin = s.admin_token()
    assert s.req("PATCH", "/v1/users/" + who, admin, json={"state": "locked"}).status_code == 200
    assert requests.get(url, params={"service": "cove"}, auth=(who, new)).status_code == 401


# ---- deleting through /v1 (the portal: a browser session, not /v2 credentials) ----------

def test_v1_delete_image_by_reference(reg):
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/v1del" % s.proj
    digest, man, _, _ = c.push_image(name, "v1")
    for tag in ("v2", "v3"):
        r = c.req("PUT", "/v2/%s/manifests/%s" % (name, tag), data=man,
                  headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text
    url = "/v1/registry/images/"

    def tags():
        return [t["tag"] for t in s.get("/v1/registry/tags/" + name, s.owner_tok).json()["items"]]

    # malformed references are a 400 that says what a reference looks like
    for bad in (name, name + "@sha256:1234", "noslash:v1", name + ":-bad", name + "@v1"):
        r = s.req("DELETE", url + bad, s.owner_tok)
        assert r.status_code == 400, (bad, r.text)
        assert "<project>/<repo>:<tag>" in r.json()["detail"]
    # guests and developers may not; outsiders do not even see the repository
    _, _, gtok = member(s, "guest")
    _, _, dtok = member(s, "developer")
    for tok in (gtok, dtok):
        r = s.req("DELETE", url + name + ":v2", tok)
        assert r.status_code == 403 and "maintainers" in r.json()["detail"], r.text
    out = unique("dout")
    otok = s.register(out)
    r = s.req("DELETE", url + name + ":v2", otok)
    assert r.status_code == 404 and "that you may see" in r.json()["detail"], r.text
    # a read-only token of the owner cannot either
    ro = s.post("/v1/tokens", s.owner_tok, json={"name": unique("ro"), "scopes": ["read"]}).json()["token"]
    assert s.req("DELETE", url + name + ":v2", ro).status_code == 403
    assert sorted(tags()) == ["v1", "v2", "v3"]
    # a maintainer removes a tag: only that tag goes
    _, _, mtok = member(s, "maintainer")
    r = s.req("DELETE", url + name + ":v2", mtok)
    assert r.status_code == 204, r.text
    assert sorted(tags()) == ["v1", "v3"]
    assert c.req("GET", "/v2/%s/manifests/v2" % name).status_code == 404
    assert c.req("GET", "/v2/%s/manifests/v1" % name).status_code == 200
    r = s.req("DELETE", url + name + ":v2", mtok)
    assert r.status_code == 404 and r.json()["detail"] == "%s has no tag v2" % name
    # immutable tags stay, with the reason
    r = s.req("PATCH", "/v1/registry/repositories/" + name, s.owner_tok, json={"immutable_tags": True})
    assert r.status_code == 200
    r = s.req("DELETE", url + name + ":v1", mtok)
    assert r.status_code == 403 and "immutable" in r.json()["detail"], r.text
    r = s.req("DELETE", url + name + "@" + digest, mtok)
    assert r.status_code == 403 and "immutable" in r.json()["detail"], r.text
    s.req("PATCH", "/v1/registry/repositories/" + name, s.owner_tok, json={"immutable_tags": False})
    # by digest (escaped as a browser escapes it): the image and every tag on it
    r = s.req("DELETE", url + name.replace("/", "%2F") + "%40" + digest.replace(":", "%3A"), mtok)
    assert r.status_code == 204, r.text
    assert tags() == []
    assert c.req("GET", "/v2/%s/manifests/%s" % (name, digest)).status_code == 404
    r = s.req("DELETE", url + name + "@" + digest, mtok)
    assert r.status_code == 404 and "has no image" in r.json()["detail"]
    # audited, successes and refusals, with the reference as the target
    audit = s.get("/v1/audit?action=registry.delete&limit=1000", s.admin_token()).json()["items"]
    mine = [(a["target"], a["outcome"]) for a in audit if a["target"].startswith(name)]
    assert (name + ":v2", "success") in mine
    assert (name + "@" + digest, "success") in mine
    assert (name + ":v1", "failure") in mine


def test_v1_delete_image_with_a_browser_session(reg):
    """The portal's way: the session cookie and its CSRF token."""
    s = reg
    c = Reg(s, s.owner, s.owner_pw)
    name = "%s/v1web" % s.proj
    c.push_image(name, "web")
    b = requests.Session()
    r = b.post(s.url + "/v1/auth/session", json={"username": s.owner, "password": s.owner_pw})
    assert r.status_code == 201, r.text
    csrf = r.json()["csrf_token"]
    r = b.delete(s.url + "/v1/registry/images/%s:web" % name)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"], r.text
    r = b.delete(s.url + "/v1/registry/images/%s:web" % name, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204, r.text
    assert s.get("/v1/registry/tags/" + name, s.owner_tok).json()["items"] == []
    # a personal namespace: its user may delete there
    me = unique("pns")
    tok = s.register(me)
    Reg(s, me, "Pw-%s-2026!" % me).push_image("%s/tools" % me, "v1")
    assert s.req("DELETE", "/v1/registry/images/%s/tools:v1" % me, s.owner_tok).status_code == 404
    assert s.req("DELETE", "/v1/registry/images/%s/tools:v1" % me, tok).status_code == 204
