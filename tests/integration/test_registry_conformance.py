"""OCI Distribution Specification v1.1 conformance, run against two
registries: Debian's `docker-registry` (distribution 2.8, the reference
implementation, started here without auth) and a real `cove serve` (clients
authenticate through the Bearer challenge). The same test bodies run on
both; where the reference itself does not meet the specification the test
says so (`reference_fails`) and is an expected failure there only.

    COVE_BIN=$PWD/build/debug/cove python3 -m pytest -q -p no:cacheprovider \
        tests/integration/test_registry_conformance.py
    ... -k cove        only cove;  ... -k docker_registry   only the reference
"""
import json
import os
import socket
import threading
import urllib.parse

import pytest

from conftest import unique
from registry_helpers import (ALL_MANIFESTS, DOCKER_LIST, DOCKER_MANIFEST,
                              OCI_INDEX, OCI_MANIFEST, digest, errors,
                              make_artifact, make_image, make_index,
                              start_registry)


def reference_fails(reason):
    """The reference registry does not do this (reason); cove must."""
    def deco(f):
        f._known_gap = reason
        return f
    return deco


@pytest.fixture(scope="module", params=["docker_registry", "cove"])
def registry(request, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp(request.param))
    reg = start_registry(request.param, tmp)
    yield reg
    reg.stop()


@pytest.fixture(autouse=True)
def _reference_gaps(request):
    reason = getattr(request.function, "_known_gap", None)
    if reason and "registry" in request.fixturenames:
        if request.getfixturevalue("registry").kind == "reference":
            request.applymarker(pytest.mark.xfail(reason="reference: " + reason, strict=False))


@pytest.fixture
def c(registry):
    return registry.client()


def loc_with(location, **params):
    u = urllib.parse.urlparse(location)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True) + list(params.items())
    return urllib.parse.urlunparse(u._replace(query=urllib.parse.urlencode(q)))


# ---------------------------------------------------------------- base

def test_base_endpoint(registry, c):
    r = c.req("GET", "/v2/")
    assert r.status_code == 200, r.text
    if registry.kind == "cove":
        # without credentials: the challenge
        r = c.http.get(registry.url + "/v2/")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer ")


# ---------------------------------------------------------------- push blobs

@reference_fails("single POST with ?digest= is answered 202 (an upload session) instead of 201")
def test_push_monolithic_single_post(registry, c):
    name = registry.repo()
    data = os.urandom(5000)
    d = digest(data)
    r = c.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (name, d), data=data,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers["Location"]
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, d))
    assert r.status_code == 200 and r.content == data


def test_push_post_then_put(registry, c):
    name = registry.repo()
    data = os.urandom(100_000)
    d = digest(data)
    r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
    assert r.status_code == 202, r.text
    assert r.headers["Location"]
    loc = c.abs(r.headers["Location"])
    r = c.req("PUT", loc_with(loc, digest=d), data=data,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers.get("Docker-Content-Digest") == d
    blob_loc = c.abs(r.headers["Location"])
    assert c.req("GET", blob_loc).content == data
    h = c.req("HEAD", "/v2/%s/blobs/%s" % (name, d))
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == len(data)
    assert h.headers.get("Docker-Content-Digest") == d and h.content == b""
    g = c.req("GET", "/v2/%s/blobs/%s" % (name, d))
    assert g.status_code == 200 and g.content == data
    # the session is gone once completed
    assert c.req("GET", loc).status_code == 404


def test_push_empty_blob(registry, c):
    name = registry.repo()
    d = c.push_blob(name, b"")
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, d))
    assert r.status_code == 200 and r.content == b""


def test_push_chunked(registry, c):
    name = registry.repo()
    data = os.urandom(300_000)
    d = digest(data)
    r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
    assert r.status_code == 202
    loc = c.abs(r.headers["Location"])
    parts = [data[:100_000], data[100_000:250_000], data[250_000:]]
    off = 0
    for p in parts[:2]:
        r = c.req("PATCH", loc, data=p, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": "%d-%d" % (off, off + len(p) - 1),
            "Content-Length": str(len(p))})
        assert r.status_code == 202, (r.status_code, r.text)
        off += len(p)
        assert r.headers["Range"] == "0-%d" % (off - 1)
        loc = c.abs(r.headers["Location"])
    # status of the session
    r = c.req("GET", loc)
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.headers["Range"] == "0-%d" % (off - 1)
    assert r.headers["Location"]
    loc = c.abs(r.headers["Location"])
    # the last chunk comes with the closing PUT
    r = c.req("PUT", loc_with(loc, digest=d), data=parts[2], headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": "%d-%d" % (off, len(data) - 1)})
    assert r.status_code == 201, (r.status_code, r.text)
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, d)).content == data


@reference_fails("a chunk whose Content-Range does not start at the end of the upload is accepted (202), not 416")
def test_chunk_out_of_order(registry, c):
    name = registry.repo()
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    r = c.req("PATCH", loc, data=b"a" * 100, headers={
        "Content-Type": "application/octet-stream", "Content-Range": "0-99", "Content-Length": "100"})
    assert r.status_code == 202
    loc = c.abs(r.headers["Location"])
    for rng in ("110-119", "50-59", "0-9"):
        r = c.req("PATCH", loc, data=b"x" * 10, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": rng, "Content-Length": "10"})
        assert r.status_code == 416, (rng, r.status_code, r.text)
    # still resumable after the refusals, with what it had
    r = c.req("GET", loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-99"
    loc = c.abs(r.headers["Location"])
    data = b"a" * 100 + b"b" * 10
    r = c.req("PATCH", loc, data=b"b" * 10, headers={
        "Content-Type": "application/octet-stream", "Content-Range": "100-109", "Content-Length": "10"})
    assert r.status_code == 202
    r = c.req("PUT", loc_with(c.abs(r.headers["Location"]), digest=digest(data)))
    assert r.status_code == 201, (r.status_code, r.text)
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, digest(data))).content == data


@reference_fails("a chunk whose body length differs from its Content-Range is accepted")
def test_chunk_range_length_mismatch(registry, c):
    """Content-Range says 10 bytes, the body has 5 (or 20): refused, and the
    session keeps what it had."""
    name = registry.repo()
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    for rng, body in (("0-9", b"short"), ("0-9", b"x" * 20), ("0-99999999999999999999999", b"x")):
        r = c.req("PATCH", loc, data=body, headers={
            "Content-Type": "application/octet-stream", "Content-Range": rng})
        assert r.status_code in (400, 416), (rng, len(body), r.status_code, r.text)
        st = c.req("GET", loc)
        assert st.status_code == 204 and st.headers.get("Range", "0-0") in ("0-0", "0--1"), \
            (rng, st.status_code, st.headers.get("Range"))


def test_push_streamed_patch_then_empty_put(registry, c):
    """PATCH without Content-Range (a streamed chunk), then PUT without a body."""
    name = registry.repo()
    data = os.urandom(70_000)
    d = digest(data)
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    r = c.req("PATCH", loc, data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, (r.status_code, r.text)
    assert r.headers["Range"] == "0-%d" % (len(data) - 1)
    loc = c.abs(r.headers["Location"])
    r = c.req("PUT", loc_with(loc, digest=d), headers={"Content-Length": "0"})
    assert r.status_code == 201, (r.status_code, r.text)
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, d)).content == data


def test_cancel_upload(registry, c):
    name = registry.repo()
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    r = c.req("PATCH", loc, data=b"abc", headers={"Content-Type": "application/octet-stream"})
    loc = c.abs(r.headers["Location"])
    r = c.req("DELETE", loc)
    assert r.status_code == 204, (r.status_code, r.text)
    r = c.req("GET", loc)
    assert r.status_code == 404 and "BLOB_UPLOAD_UNKNOWN" in errors(r)
    r = c.req("PUT", loc_with(loc, digest=digest(b"abc")), data=b"")
    assert r.status_code == 404 and "BLOB_UPLOAD_UNKNOWN" in errors(r)
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, digest(b"abc"))).status_code == 404


@reference_fails("an unknown upload id is answered 404 BLOB_UPLOAD_INVALID, not BLOB_UPLOAD_UNKNOWN")
def test_unknown_upload_session(registry, c):
    name = registry.repo()
    c.push_blob(name, b"make the repository exist")
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        r = c.req(method, "/v2/%s/blobs/uploads/00000000-0000-4000-8000-000000000000" % name,
                  data=b"" if method in ("PATCH", "PUT") else None)
        assert r.status_code == 404, (method, r.status_code, r.text)
        assert "BLOB_UPLOAD_UNKNOWN" in errors(r), (method, r.text)


def test_digest_mismatch_and_invalid_digest(registry, c):
    name = registry.repo()
    data = os.urandom(1000)
    wrong = digest(b"something else")
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    r = c.req("PUT", loc_with(loc, digest=wrong), data=data,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert "DIGEST_INVALID" in errors(r)
    # nothing under either digest
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, wrong)).status_code == 404
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, digest(data))).status_code == 404
    # malformed digests
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    for bad in ("sha256:xyz", "md5:" + "0" * 32, "sha256:" + "A" * 64):
        r = c.req("PUT", loc_with(loc, digest=bad), data=data,
                  headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert set(errors(r)) & {"DIGEST_INVALID", "UNSUPPORTED"}, (bad, r.text)
        if r.headers.get("Location") is None:
            loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    r = c.req("GET", "/v2/%s/blobs/sha256:nothex" % name)
    assert r.status_code in (400, 404), r.status_code


def test_cross_repository_mount(registry, c):
    src, dst = registry.repo("src"), registry.repo("dst")
    data = os.urandom(20_000)
    d = c.push_blob(src, data)
    r = c.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, d, src))
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers.get("Docker-Content-Digest") == d
    assert r.headers["Location"]
    r = c.req("GET", "/v2/%s/blobs/%s" % (dst, d))
    assert r.status_code == 200 and r.content == data
    # mount of a blob the source does not have: an ordinary upload session
    r = c.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, digest(b"nope"), src))
    assert r.status_code == 202, (r.status_code, r.text)
    loc = c.abs(r.headers["Location"])
    r = c.req("PUT", loc_with(loc, digest=digest(b"nope")), data=b"nope",
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201


# ---------------------------------------------------------------- pull blobs

def test_blob_unknown(registry, c):
    name = registry.repo()
    c.push_blob(name, b"exists")
    missing = digest(b"missing" + os.urandom(8))
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, missing))
    assert r.status_code == 404 and "BLOB_UNKNOWN" in errors(r), r.text
    r = c.req("HEAD", "/v2/%s/blobs/%s" % (name, missing))
    assert r.status_code == 404 and r.content == b""


def test_blob_range(registry, c):
    name = registry.repo()
    data = os.urandom(50_000)
    d = c.push_blob(name, data)
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, d), headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206, r.status_code
    assert r.content == data[1000:2000]
    assert r.headers["Content-Range"] == "bytes 1000-1999/%d" % len(data)
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, d), headers={"Range": "bytes=49990-"})
    assert r.status_code == 206 and r.content == data[49990:]
    r = c.req("GET", "/v2/%s/blobs/%s" % (name, d), headers={"Range": "bytes=60000-70000"})
    assert r.status_code == 416


def test_blob_delete(registry, c):
    name = registry.repo()
    d = c.push_blob(name, os.urandom(3000))
    r = c.req("DELETE", "/v2/%s/blobs/%s" % (name, d))
    assert r.status_code == 202, (r.status_code, r.text)
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, d)).status_code == 404
    r = c.req("DELETE", "/v2/%s/blobs/%s" % (name, d))
    assert r.status_code == 404 and "BLOB_UNKNOWN" in errors(r)


# ---------------------------------------------------------------- manifests

def test_manifest_push_pull_by_tag_and_digest(registry, c):
    name = registry.repo()
    img = make_image("v1", nlayers=2)
    r = c.push_image(name, "v1", img)
    assert r.headers.get("Docker-Content-Digest") == img.digest
    assert r.headers["Location"]
    for ref in ("v1", img.digest):
        g = c.get_manifest(name, ref)
        assert g.status_code == 200, (ref, g.text)
        assert g.content == img.manifest, "manifest bytes must come back unchanged"
        assert g.headers["Content-Type"] == OCI_MANIFEST
        assert g.headers.get("Docker-Content-Digest") == img.digest
        h = c.get_manifest(name, ref, method="HEAD")
        assert h.status_code == 200 and h.content == b""
        assert int(h.headers["Content-Length"]) == len(img.manifest)
        assert h.headers.get("Docker-Content-Digest") == img.digest
    # every blob of the image pulls by digest
    for b in img.blobs:
        assert c.req("GET", "/v2/%s/blobs/%s" % (name, digest(b))).content == b
    # push by digest (no tag)
    img2 = make_image("untagged")
    r = c.push_image(name, img2.digest, img2)
    assert c.get_manifest(name, img2.digest).content == img2.manifest


def test_manifest_unknown_and_name_unknown(registry, c):
    name = registry.repo()
    c.push_image(name, "v1", make_image())
    r = c.get_manifest(name, "nosuchtag")
    assert r.status_code == 404 and "MANIFEST_UNKNOWN" in errors(r), r.text
    r = c.get_manifest(name, digest(b"no such manifest"))
    assert r.status_code == 404 and "MANIFEST_UNKNOWN" in errors(r), r.text
    r = c.get_manifest(name, "nosuchtag", method="HEAD")
    assert r.status_code == 404 and r.content == b""
    ghost = registry.repo("ghost")
    r = c.req("GET", "/v2/%s/tags/list" % ghost)
    assert r.status_code == 404 and "NAME_UNKNOWN" in errors(r), r.text
    r = c.get_manifest(ghost, "latest")
    assert r.status_code == 404 and set(errors(r)) & {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"}, r.text


def test_manifest_blob_unknown(registry, c):
    name = registry.repo()
    img = make_image()
    c.push_blob(name, img.config)  # the layer is never pushed
    r = c.push_manifest(name, "v1", img.manifest, img.media_type)
    assert r.status_code == 400, (r.status_code, r.text)
    assert "MANIFEST_BLOB_UNKNOWN" in errors(r), r.text
    assert c.get_manifest(name, "v1").status_code == 404


@reference_fails("a manifest without config is answered DIGEST_INVALID + MANIFEST_BLOB_UNKNOWN, not MANIFEST_INVALID")
def test_manifest_invalid(registry, c):
    name = registry.repo()
    c.push_image(name, "ok", make_image())
    for body, mt in ((b"not json", OCI_MANIFEST),
                     (b'{"schemaVersion": 2, "mediaType": "%s"}' % OCI_MANIFEST.encode(), OCI_MANIFEST),
                     (b'{"schemaVersion": 1}', OCI_MANIFEST),
                     (b'[1,2,3]', OCI_INDEX)):
        r = c.push_manifest(name, "bad", body, mt)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert "MANIFEST_INVALID" in errors(r), (body, r.text)
    assert c.get_manifest(name, "bad").status_code == 404


def test_manifest_digest_mismatch(registry, c):
    name = registry.repo()
    img = make_image()
    for b in img.blobs:
        c.push_blob(name, b)
    r = c.push_manifest(name, digest(b"another manifest"), img.manifest, img.media_type)
    assert r.status_code == 400, (r.status_code, r.text)
    assert "DIGEST_INVALID" in errors(r), r.text
    assert c.get_manifest(name, img.digest).status_code == 404


def test_oversized_manifest(registry, c):
    name = registry.repo()
    img = make_image()
    for b in img.blobs:
        c.push_blob(name, b)
    m = json.loads(img.manifest)
    # just under 4 MiB: the spec says registries SHOULD accept that much
    m["annotations"] = {"pad": "x" * (4 * 1024 * 1024 - 2000)}
    body = json.dumps(m).encode()
    r = c.push_manifest(name, "big", body, OCI_MANIFEST)
    assert r.status_code == 201, (r.status_code, r.text[:300])
    assert c.get_manifest(name, "big").content == body
    m["annotations"] = {"pad": "x" * (8 * 1024 * 1024)}
    body = json.dumps(m).encode()
    r = c.push_manifest(name, "huge", body, OCI_MANIFEST)
    assert r.status_code in (400, 413), (r.status_code, r.text[:300])
    if r.status_code == 400:
        assert set(errors(r)) & {"MANIFEST_INVALID", "SIZE_INVALID"}
    assert c.get_manifest(name, "huge").status_code == 404


@reference_fails("repository names outside the grammar are answered 404 by the router, not 400 NAME_INVALID")
def test_name_invalid(registry, c):
    base = registry.repo().rsplit("/", 1)[0]
    for bad in ("UpperCase", "a..b", "-lead", "trail-", "a//b"):
        name = "%s/%s" % (base, bad)
        r = c.req("POST", "/v2/%s/blobs/uploads/" % name)
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert "NAME_INVALID" in errors(r), (bad, r.text)
        r = c.push_manifest(name, "v1", make_image().manifest, OCI_MANIFEST)
        assert r.status_code == 400 and "NAME_INVALID" in errors(r), (bad, r.status_code, r.text)


def test_invalid_tag(registry, c):
    name = registry.repo()
    img = make_image()
    for b in img.blobs:
        c.push_blob(name, b)
    for bad in ("-dash", "a" * 129, ".dot"):
        r = c.push_manifest(name, bad, img.manifest, img.media_type)
        assert r.status_code in (400, 404), (bad, r.status_code, r.text)
    assert c.req("GET", "/v2/%s/tags/list" % name).status_code in (200, 404)


def test_manifest_delete(registry, c):
    name = registry.repo()
    img = make_image("d")
    c.push_image(name, "v1", img)
    c.push_image(name, "v2", img)
    r = c.req("DELETE", "/v2/%s/manifests/%s" % (name, img.digest))
    assert r.status_code == 202, (r.status_code, r.text)
    for ref in (img.digest, "v1", "v2"):
        r = c.get_manifest(name, ref)
        assert r.status_code == 404 and "MANIFEST_UNKNOWN" in errors(r), (ref, r.text)
    r = c.req("DELETE", "/v2/%s/manifests/%s" % (name, img.digest))
    assert r.status_code == 404 and "MANIFEST_UNKNOWN" in errors(r)
    tags = c.req("GET", "/v2/%s/tags/list" % name)
    assert tags.status_code == 404 or not tags.json().get("tags")


@reference_fails("DELETE /manifests/<tag> is answered 400 DIGEST_INVALID (only digests can be deleted)")
def test_tag_delete(registry, c):
    name = registry.repo()
    img = make_image("t")
    c.push_image(name, "keep", img)
    c.push_image(name, "drop", img)
    r = c.req("DELETE", "/v2/%s/manifests/drop" % name)
    assert r.status_code == 202, (r.status_code, r.text)
    assert c.get_manifest(name, "drop").status_code == 404
    assert c.get_manifest(name, "keep").content == img.manifest
    assert c.get_manifest(name, img.digest).status_code == 200


def test_retag_moves_tag(registry, c):
    name = registry.repo()
    a, b = make_image("a"), make_image("b")
    c.push_image(name, "latest", a)
    c.push_image(name, "latest", b)
    assert c.get_manifest(name, "latest").content == b.manifest
    assert c.get_manifest(name, a.digest).content == a.manifest


# ---------------------------------------------------------------- tags

@reference_fails("tags/list is not in lexical order")
def test_tags_list_pagination(registry, c):
    name = registry.repo()
    img = make_image()
    for b in img.blobs:
        c.push_blob(name, b)
    tags = ["t%02d" % i for i in range(7)] + ["latest", "v1.0"]
    for t in tags:
        assert c.push_manifest(name, t, img.manifest, img.media_type).status_code == 201
    r = c.req("GET", "/v2/%s/tags/list" % name)
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == name and body["tags"] == sorted(tags)
    seen, path = [], "/v2/%s/tags/list?n=3" % name
    while path:
        r = c.req("GET", path)
        assert r.status_code == 200, r.text
        page = r.json()["tags"]
        assert len(page) <= 3
        seen += page
        link = r.headers.get("Link")
        if link:
            assert 'rel="next"' in link
            path = link[link.index("<") + 1:link.index(">")]
        else:
            path = None
    assert seen == sorted(tags)
    r = c.req("GET", "/v2/%s/tags/list?n=2&last=t03" % name)
    assert r.json()["tags"] == ["t04", "t05"]
    r = c.req("GET", "/v2/%s/tags/list?n=0" % name)
    assert r.status_code == 200 and r.json()["tags"] in ([], None)
    r = c.req("GET", "/v2/%s/tags/list?last=v1.0" % name)
    assert r.json()["tags"] in ([], None)


# ---------------------------------------------------------------- media types

def test_image_index_multi_arch(registry, c):
    name = registry.repo()
    amd, arm = make_image("m", arch="amd64"), make_image("m", arch="arm64")
    c.push_image(name, amd.digest, amd)
    c.push_image(name, arm.digest, arm)
    idx = make_index([amd, arm])
    r = c.push_manifest(name, "multi", idx.manifest, idx.media_type)
    assert r.status_code == 201, (r.status_code, r.text)
    g = c.get_manifest(name, "multi")
    assert g.status_code == 200 and g.content == idx.manifest
    assert g.headers["Content-Type"] == OCI_INDEX
    assert g.headers["Docker-Content-Digest"] == idx.digest
    for child in json.loads(g.content)["manifests"]:
        assert c.get_manifest(name, child["digest"]).status_code == 200


def test_index_with_unknown_child(registry, c):
    name = registry.repo()
    ghost = make_image("ghost")
    idx = make_index([ghost])
    r = c.push_manifest(name, "broken", idx.manifest, idx.media_type)
    assert r.status_code == 400, (r.status_code, r.text)
    assert "MANIFEST_BLOB_UNKNOWN" in errors(r) or "MANIFEST_UNKNOWN" in errors(r), r.text


def test_docker_schema2_and_manifest_list(registry, c):
    name = registry.repo()
    img = make_image("d", docker=True)
    c.push_image(name, "docker", img)
    g = c.get_manifest(name, "docker")
    assert g.headers["Content-Type"] == DOCKER_MANIFEST and g.content == img.manifest
    arm = make_image("d", arch="arm64", docker=True)
    c.push_image(name, arm.digest, arm)
    lst = make_index([img, arm], docker=True)
    r = c.push_manifest(name, "list", lst.manifest, lst.media_type)
    assert r.status_code == 201, r.text
    g = c.get_manifest(name, "list")
    assert g.headers["Content-Type"] == DOCKER_LIST and g.content == lst.manifest


# ---------------------------------------------------------------- referrers

@reference_fails("distribution 2.8 predates OCI 1.1: no referrers API, no OCI-Subject")
def test_referrers(registry, c):
    name = registry.repo()
    img = make_image("subj")
    c.push_image(name, "v1", img)
    sbom = make_artifact(img, "application/vnd.example.sbom.v1+json", b'{"sbom":1}')
    sig = make_artifact(img, "application/vnd.example.sig.v1", b"signature")
    for art in (sbom, sig):
        for b in art.blobs:
            c.push_blob(name, b)
        r = c.push_manifest(name, art.digest, art.manifest, art.media_type)
        assert r.status_code == 201, (r.status_code, r.text)
        assert r.headers.get("OCI-Subject") == img.digest
    r = c.req("GET", "/v2/%s/referrers/%s" % (name, img.digest))
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith(OCI_INDEX)
    idx = r.json()
    assert idx["schemaVersion"] == 2 and idx["mediaType"] == OCI_INDEX
    got = {m["digest"]: m for m in idx["manifests"]}
    assert set(got) == {sbom.digest, sig.digest}
    assert got[sbom.digest]["artifactType"] == "application/vnd.example.sbom.v1+json"
    assert got[sbom.digest]["size"] == len(sbom.manifest)
    assert got[sbom.digest]["mediaType"] == OCI_MANIFEST
    assert got[sbom.digest].get("annotations") == {"org.example.kind": "sbom"}
    # filtered by artifactType
    r = c.req("GET", "/v2/%s/referrers/%s?artifactType=application/vnd.example.sig.v1" % (name, img.digest))
    assert [m["digest"] for m in r.json()["manifests"]] == [sig.digest]
    assert "artifactType" in r.headers.get("OCI-Filters-Applied", "")
    # a subject nobody refers to (or that does not exist): an empty index
    r = c.req("GET", "/v2/%s/referrers/%s" % (name, digest(b"nothing")))
    assert r.status_code == 200 and r.json()["manifests"] == []
    # the subject need not exist when the referrer is pushed
    later = make_image("later")
    art = make_artifact(later)
    for b in art.blobs:
        c.push_blob(name, b)
    assert c.push_manifest(name, art.digest, art.manifest, art.media_type).status_code == 201
    r = c.req("GET", "/v2/%s/referrers/%s" % (name, later.digest))
    assert [m["digest"] for m in r.json()["manifests"]] == [art.digest]
    # deleting the referrer removes it from the list
    assert c.req("DELETE", "/v2/%s/manifests/%s" % (name, sig.digest)).status_code == 202
    r = c.req("GET", "/v2/%s/referrers/%s" % (name, img.digest))
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom.digest]
    r = c.req("GET", "/v2/%s/referrers/not-a-digest" % name)
    assert r.status_code in (400, 404)


# ---------------------------------------------------------------- robustness

def raw_http(registry, c, method, url, headers, body, send_bytes):
    """Sends a request whose body stops after `send_bytes` bytes, then closes."""
    u = urllib.parse.urlparse(url)
    path = u.path + ("?" + u.query if u.query else "")
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (u.hostname, u.port),
             "Content-Length: %d" % len(body), "Content-Type: application/octet-stream"]
    if c.token:
        lines.append("Authorization: Bearer " + c.token)
    lines += ["%s: %s" % kv for kv in headers.items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[:send_bytes])
    s.shutdown(socket.SHUT_WR)
    s.close()


def test_interrupted_uploads(registry, c):
    """A client that goes away mid-body leaves nothing visible; the session
    can be resumed or cancelled, the registry keeps serving."""
    name = registry.repo()
    data = os.urandom(2_000_000)
    d = digest(data)
    # interrupted monolithic PUT
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    raw_http(registry, c, "PUT", loc_with(loc, digest=d), {}, data, 700_000)
    import time
    time.sleep(0.5)
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, d)).status_code == 404
    # interrupted PATCH: the session stays usable (resumes from what it has)
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    raw_http(registry, c, "PATCH", loc, {}, data, 500_000)
    time.sleep(0.5)
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, d)).status_code == 404
    st = c.req("GET", loc)
    if st.status_code == 204:
        have = int(st.headers["Range"].split("-")[1]) + 1 if st.headers.get("Range", "0-0") != "0-0" else 0
        assert have <= 500_000
        loc = c.abs(st.headers["Location"])
        # the broken request must let go of the session promptly (a client
        # retries at once); a few seconds of 409 "busy" are tolerated
        deadline = time.time() + 5
        while True:
            r = c.req("PATCH", loc, data=data[have:], headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": "%d-%d" % (have, len(data) - 1)})
            if r.status_code != 409 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 202, (r.status_code, r.text)
        r = c.req("PUT", loc_with(c.abs(r.headers["Location"]), digest=d))
        assert r.status_code == 201, (r.status_code, r.text)
        assert c.req("GET", "/v2/%s/blobs/%s" % (name, d)).content == data
    else:
        # the reference forgets a session whose PATCH broke off (its state
        # travels in the Location URL); cove must keep it resumable
        assert registry.kind != "cove", (st.status_code, st.text)
        assert st.status_code == 404 and set(errors(st)) & {"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"}
    # interrupted manifest PUT
    img = make_image()
    for b in img.blobs:
        c.push_blob(name, b)
    raw_http(registry, c, "PUT", c.url + "/v2/%s/manifests/half" % name,
             {"Content-Type": OCI_MANIFEST}, img.manifest, len(img.manifest) // 2)
    time.sleep(0.3)
    assert c.get_manifest(name, "half").status_code == 404
    assert c.req("GET", "/v2/").status_code == 200


def test_concurrent_pushes_same_tag(registry, c):
    """N clients push different images to one tag at once: all succeed, the
    tag names one of them, every one stays pullable by digest."""
    name = registry.repo()
    imgs = [make_image("c%d" % i, layer_size=50_000) for i in range(8)]
    clients = [registry.client() for _ in imgs]
    results = [None] * len(imgs)
    barrier = threading.Barrier(len(imgs))

    def push(i):
        cl, img = clients[i], imgs[i]
        for b in img.blobs:
            cl.push_blob(name, b)
        barrier.wait()
        results[i] = cl.push_manifest(name, "same", img.manifest, img.media_type).status_code

    ts = [threading.Thread(target=push, args=(i,)) for i in range(len(imgs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == [201] * len(imgs)
    g = c.get_manifest(name, "same")
    assert g.status_code == 200
    assert g.content in [i.manifest for i in imgs]
    assert g.headers["Docker-Content-Digest"] == digest(g.content)
    for img in imgs:
        assert c.get_manifest(name, img.digest).content == img.manifest
        for b in img.blobs:
            assert c.req("GET", "/v2/%s/blobs/%s" % (name, digest(b))).content == b
    assert c.req("GET", "/v2/%s/tags/list" % name).json()["tags"] == ["same"]


def test_concurrent_same_blob_uploads(registry, c):
    name = registry.repo()
    data = os.urandom(500_000)
    out = []

    def up():
        out.append(registry.client().push_blob(name, data))

    ts = [threading.Thread(target=up) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out == [digest(data)] * 6
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, digest(data))).content == data


# ---------------------------------------------------------------- more edges

def test_catalog_pagination(registry, c):
    names = sorted(registry.repo("cat") for _ in range(5))
    for n in names:
        c.push_blob(n, b"catalog " + n.encode())
        c.push_image(n, "v1", make_image(n))
    r = c.req("GET", "/v2/_catalog")
    assert r.status_code == 200, r.text
    allrepos = r.json()["repositories"]
    assert set(names) <= set(allrepos) and allrepos == sorted(allrepos)
    seen, path = [], "/v2/_catalog?n=2"
    while path:
        r = c.req("GET", path)
        assert r.status_code == 200, r.text
        page = r.json()["repositories"]
        assert len(page) <= 2
        seen += page
        link = r.headers.get("Link")
        path = link[link.index("<") + 1:link.index(">")] if link else None
    assert seen == allrepos
    r = c.req("GET", "/v2/_catalog?n=2&last=" + names[1])
    assert r.json()["repositories"] == [x for x in allrepos if x > names[1]][:2]


def test_big_blob_chunked_and_streamed(registry, c):
    name = registry.repo()
    data = os.urandom(24 << 20)
    d = digest(data)
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    step = 5 << 20
    for off in range(0, len(data), step):
        part = data[off:off + step]
        r = c.req("PATCH", loc, data=part, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": "%d-%d" % (off, off + len(part) - 1)})
        assert r.status_code == 202, (r.status_code, r.text)
        loc = c.abs(r.headers["Location"])
    r = c.req("PUT", loc_with(loc, digest=d))
    assert r.status_code == 201, (r.status_code, r.text)
    h = c.req("HEAD", "/v2/%s/blobs/%s" % (name, d))
    assert int(h.headers["Content-Length"]) == len(data)
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, d)).content == data
    # a monolithic PUT sent with chunked transfer encoding (no Content-Length)
    data2 = os.urandom(9 << 20)
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    gen = (data2[i:i + (1 << 20)] for i in range(0, len(data2), 1 << 20))
    r = c.req("PUT", loc_with(loc, digest=digest(data2)), data=gen,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, (r.status_code, r.text)
    assert c.req("GET", "/v2/%s/blobs/%s" % (name, digest(data2))).content == data2


def test_bad_input_never_5xx(registry, c):
    """Garbage in headers, queries and paths: a 4xx, never a 5xx or a hang."""
    name = registry.repo()
    img = make_image()
    c.push_image(name, "v1", img)
    layer = digest(img.blobs[1])
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    cases = [
        ("PATCH", loc, {"Content-Range": "abc"}, b"x"),
        ("PATCH", loc, {"Content-Range": "5-2"}, b"x"),
        ("PATCH", loc, {"Content-Range": "0-99999999999999999999999"}, b"x"),
        ("PATCH", loc, {"Content-Range": "-1-3"}, b"xxxx"),
        ("PATCH", loc, {"Content-Range": "0-9"}, b"short"),
        ("PUT", loc_with(loc, digest=""), {}, b""),
        ("PUT", loc, {}, b"no digest at all"),
        ("GET", "/v2/%s/blobs/%s" % (name, layer), {"Range": "bytes=abc"}, None),
        ("GET", "/v2/%s/blobs/%s" % (name, layer), {"Range": "bytes=5-1"}, None),
        ("GET", "/v2/%s/blobs/%s" % (name, layer), {"Range": "items=0-1"}, None),
        ("GET", "/v2/%s/tags/list?n=-1" % name, {}, None),
        ("GET", "/v2/%s/tags/list?n=abc" % name, {}, None),
        ("GET", "/v2/%s/tags/list?n=99999999999999999999" % name, {}, None),
        ("GET", "/v2/_catalog?n=-5", {}, None),
        ("GET", "/v2/%s/manifests/" % name, {}, None),
        ("GET", "/v2/%s/manifests/%s" % (name, "a" * 5000), {}, None),
        ("GET", "/v2/%s/blobs/sha256:" % name, {}, None),
        ("GET", "/v2/%s/blobs/%s" % (name, "sha256:" + "0" * 63), {}, None),
        ("GET", "/v2/%s/nothing/here" % name, {}, None),
        ("GET", "/v2/%s/../../etc/passwd/blobs/%s" % (name, layer), {}, None),
        ("GET", "/v2/%s%%00x/tags/list" % name, {}, None),
        ("DELETE", "/v2/%s/blobs/uploads/" % name, {}, None),
        ("POST", "/v2/%s/blobs/uploads/?mount=junk&from=%s" % (name, name), {}, None),
        ("POST", "/v2/%s/blobs/uploads/?digest=junk" % name, {}, b"abc"),
        ("PUT", "/v2/%s/manifests/v2" % name, {"Content-Type": "text/plain"}, b"\xff\xfe\x00"),
        ("PUT", "/v2/%s/manifests/v2" % name, {"Content-Type": OCI_MANIFEST}, b"{" * 10000),
        ("GET", "/v2/%s/referrers/sha256:zz" % name, {}, None),
    ]
    bad = []
    for method, path, headers, body in cases:
        r = c.req(method, path, headers=dict(headers), data=body, timeout=20)
        if r.status_code >= 500:
            bad.append((method, path[-60:], headers, r.status_code, r.text[:200]))
        # cove refuses what it cannot make sense of (an unreadable Range on a
        # GET may be ignored, as HTTP allows; POSTs may open a session; a
        # huge n may be clamped)
        elif (registry.kind == "cove" and r.status_code < 400 and method != "POST"
              and "Range" not in headers and "n=9999" not in path):
            bad.append((method, path[-60:], headers, r.status_code, "accepted"))
    assert not bad, bad
    assert c.get_manifest(name, "v1").content == img.manifest
    assert c.get_manifest(name, "v2").status_code == 404


def test_blob_in_one_repository_only(registry, c):
    """A blob pushed to one repository is not served from another one
    (without a mount), even on the same registry."""
    a, b = registry.repo("a"), registry.repo("b")
    c.push_blob(b, b"keep b existing")
    d = c.push_blob(a, b"only in a " + os.urandom(8))
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (a, d)).status_code == 200
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (b, d)).status_code == 404
    assert c.req("GET", "/v2/%s/blobs/%s" % (b, d)).status_code == 404
