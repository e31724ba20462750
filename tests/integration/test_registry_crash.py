"""`kill -9` during pushes: several clients push images (chunked layer
uploads, then the manifest) when the registry is killed. After a restart on
the same data, every push that was acknowledged (manifest PUT 201) pulls
back intact, and nothing partial is served: the blob of an upload whose
final PUT was never sent answers 404, and whatever was in flight when the
process died is either absent or complete, never truncated.

Also run against Debian's docker-registry to check the test itself."""
import os
import random
import threading
import time

import pytest
import requests

from registry_helpers import digest, make_image, start_registry


@pytest.fixture(params=["docker_registry", "cove"])
def registry(request, tmp_path):
    tmp = str(tmp_path / request.param)
    os.makedirs(tmp)
    reg = start_registry(request.param, tmp)
    yield reg
    reg.stop()


CHUNK = 256 * 1024


class Pusher(threading.Thread):
    def __init__(self, reg, name, idx, stop):
        super().__init__(daemon=True)
        self.c = reg.client()
        self.name, self.idx, self.stop = name, idx, stop
        self.acked = []          # (tag, image) answered 201
        self.unsent = []         # blob data whose final PUT was never sent
        self.in_flight = []      # blob data / images whose final request got no answer
        self.rng = random.Random(idx)
        self.error = None

    def upload(self, data):
        """Chunked upload; returns True when acknowledged."""
        c = self.c
        r = c.req("POST", "/v2/%s/blobs/uploads/" % self.name, timeout=10)
        assert r.status_code == 202, (r.status_code, r.text)
        loc = c.abs(r.headers["Location"])
        self.unsent.append(data)
        for off in range(0, len(data), CHUNK):
            part = data[off:off + CHUNK]
            r = c.req("PATCH", loc, data=part, timeout=10, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": "%d-%d" % (off, off + len(part) - 1)})
            assert r.status_code == 202, (r.status_code, r.text)
            loc = c.abs(r.headers["Location"])
        self.unsent.pop()
        self.in_flight.append(data)
        sep = "&" if "?" in loc else "?"
        r = c.req("PUT", loc + sep + "digest=" + digest(data), timeout=10)
        assert r.status_code == 201, (r.status_code, r.text)
        self.in_flight.pop()

    def run(self):
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                tag = "p%d-%d" % (self.idx, n)
                img = make_image(tag, nlayers=2, layer_size=self.rng.randint(300_000, 1_500_000))
                for b in img.blobs:
                    self.upload(b)
                self.in_flight.append(img)
                r = self.c.push_manifest(self.name, tag, img.manifest, img.media_type)
                assert r.status_code == 201, (r.status_code, r.text)
                self.in_flight.pop()
                self.acked.append((tag, img))
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
            return  # the server died under us
        except AssertionError as e:
            self.error = e


def test_kill9_during_pushes(registry):
    name = registry.repo("crash")
    c = registry.client()
    c.push_image(name, "before", make_image("before"))
    stop = threading.Event()
    pushers = [Pusher(registry, name, i, stop) for i in range(6)]
    for p in pushers:
        p.start()
    # kill once some pushes have been acknowledged, while others are mid-way
    deadline = time.time() + 60
    while time.time() < deadline and sum(len(p.acked) for p in pushers) < 6:
        time.sleep(0.05)
    time.sleep(random.uniform(0.05, 0.4))
    registry.kill9()
    stop.set()
    for p in pushers:
        p.join(30)
        assert not p.is_alive()
        assert p.error is None, p.error
    registry.restart()
    acked = [a for p in pushers for a in p.acked]
    print("acknowledged %d, unsent uploads %d, in flight %d" % (len(acked), sum(len(p.unsent) for p in pushers), sum(len(p.in_flight) for p in pushers)))
    assert len(acked) >= 6, "too few pushes acknowledged before the kill"
    c = registry.client()
    # everything acknowledged is there, intact, by tag and by digest
    assert c.get_manifest(name, "before").status_code == 200
    for tag, img in acked:
        r = c.get_manifest(name, tag)
        assert r.status_code == 200, (tag, r.status_code, r.text)
        assert r.content == img.manifest
        assert c.get_manifest(name, img.digest).content == img.manifest
        for b in img.blobs:
            g = c.req("GET", "/v2/%s/blobs/%s" % (name, digest(b)))
            assert g.status_code == 200 and g.content == b, (tag, g.status_code)
    # uploads whose final PUT was never sent: not served
    unsent = [d for p in pushers for d in p.unsent]
    for data in unsent:
        r = c.req("HEAD", "/v2/%s/blobs/%s" % (name, digest(data)))
        assert r.status_code == 404, r.status_code
    # requests in flight when the process died: absent or whole
    for p in pushers:
        for x in p.in_flight:
            if isinstance(x, bytes):
                g = c.req("GET", "/v2/%s/blobs/%s" % (name, digest(x)))
                assert g.status_code == 404 or g.content == x
            else:
                g = c.get_manifest(name, x.digest)
                assert g.status_code == 404 or g.content == x.manifest
    tags = c.req("GET", "/v2/%s/tags/list" % name).json()["tags"]
    for t in tags:
        g = c.get_manifest(name, t)
        if g.status_code == 404 and registry.kind == "reference" and t not in [a for a, _ in acked]:
            # distribution writes the tag link and the manifest's revision
            # link separately: a PUT killed between the two leaves a listed
            # tag that does not resolve (seen on 2.8.2); cove must not
            continue
        assert g.status_code == 200, (t, g.status_code, g.text)
        assert g.headers["Docker-Content-Digest"] == digest(g.content)
    assert set(t for t, _ in acked) <= set(tags)
    # and the registry takes new pushes after the restart
    c.push_image(name, "after", make_image("after"))
    assert c.get_manifest(name, "after").status_code == 200
