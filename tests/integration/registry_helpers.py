"""Helpers shared by the registry tests: an OCI distribution client that does
the Bearer challenge flow the way docker/skopeo do, a throwaway Debian
`docker-registry` (the reference implementation), a cove server with a
project ready for pushes, and small OCI images built in memory."""
import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.parse

import requests

from conftest import ADMIN_PASSWORD, free_port, start_server, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ALL_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

DOCKER_REGISTRY = shutil.which("docker-registry")


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_challenge(value):
    """`Bearer realm="x",service="y",scope="z"` -> ("bearer", {...})."""
    scheme, _, rest = value.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryClient:
    """Speaks /v2/ to one registry. With credentials, a 401 is answered the
    way standard clients do: read the Bearer challenge, GET the realm with
    Basic auth and the scopes, retry with the token. Scopes seen so far are
    kept so that one token covers every repository a test touches."""

    def __init__(self, url, username=None, secret=None, kind="cove"):
        self.url = url.rstrip("/")
        self.username, self.secret = username, secret
        self.kind = kind
        self.http = requests.Session()
        self.token = None
        self.scopes = set()
        self.token_requests = 0

    def abs(self, location):
        return urllib.parse.urljoin(self.url + "/", location)

    def fetch_token(self, challenge):
        scheme, p = parse_challenge(challenge)
        assert scheme == "bearer", challenge
        if p.get("scope"):
            self.scopes.add(p["scope"])
        q = [("service", p.get("service", ""))] + [("scope", s) for s in sorted(self.scopes)]
        auth = (self.username, self.secret) if self.username else None
        r = requests.get(p["realm"], params=q, auth=auth, timeout=30)
        self.token_requests += 1
        assert r.status_code == 200, "token endpoint: %d %s" % (r.status_code, r.text)
        body = r.json()
        self.token = body.get("token") or body.get("access_token")
        return self.token

    def want(self, path):
        """Scopes a request on `path` needs (added before the first try, so
        that the token we ask for covers it)."""
        m = re.match(r"^/v2/(.+?)/(manifests|blobs|tags|referrers)/", path)
        if m:
            self.scopes.add("repository:%s:pull,push,delete" % m.group(1))
        frm = urllib.parse.parse_qs(urllib.parse.urlparse(path).query).get("from")
        if frm:
            self.scopes.add("repository:%s:pull" % frm[0])
        if path.startswith("/v2/_catalog"):
            self.scopes.add("registry:catalog:*")

    def req(self, method, path, headers=None, **kw):
        if path.startswith("http"):
            url = path
            path = urllib.parse.urlparse(path).path + (
                "?" + urllib.parse.urlparse(path).query if urllib.parse.urlparse(path).query else "")
        else:
            url = self.url + path
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        self.want(path)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        r = self.http.request(method, url, headers=h, **kw)
        if r.status_code == 401 and "WWW-Authenticate" in r.headers and self.username is not None:
            replayable = not hasattr(kw.get("data"), "read") and not hasattr(kw.get("data"), "__next__")
            if replayable:
                self.fetch_token(r.headers["WWW-Authenticate"])
                h["Authorization"] = "Bearer " + self.token
                r = self.http.request(method, url, headers=h, **kw)
        return r

    # ---- convenience for tests ----
    def push_blob(self, name, data):
        d = digest(data)
        r = self.req("POST", "/v2/%s/blobs/uploads/" % name)
        assert r.status_code == 202, (r.status_code, r.text)
        loc = self.abs(r.headers["Location"])
        sep = "&" if "?" in loc else "?"
        r = self.req("PUT", loc + sep + "digest=" + d, data=data,
                     headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, (r.status_code, r.text)
        return d

    def push_manifest(self, name, ref, body, media_type):
        r = self.req("PUT", "/v2/%s/manifests/%s" % (name, ref), data=body,
                     headers={"Content-Type": media_type})
        return r

    def push_image(self, name, tag, img):
        for blob in img.blobs:
            self.push_blob(name, blob)
        r = self.push_manifest(name, tag, img.manifest, img.media_type)
        assert r.status_code == 201, (r.status_code, r.text)
        return r

    def get_manifest(self, name, ref, accept=ALL_MANIFESTS, method="GET"):
        return self.req(method, "/v2/%s/manifests/%s" % (name, ref), headers={"Accept": accept})


def errors(r):
    """OCI error codes in a response body."""
    try:
        return [e.get("code") for e in r.json().get("errors", [])]
    except ValueError:
        return []


# ---- images built in memory ----

def tar_gz(files, seed=b""):
    """A gzip'd tar of {path: bytes}, deterministic (mtime 0)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in sorted(files.items()):
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            t.addfile(ti, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as g:
        g.write(raw.getvalue())
    return out.getvalue()


class Image:
    def __init__(self, manifest, media_type, blobs, config=None, layers=()):
        self.manifest = manifest
        self.media_type = media_type
        self.digest = digest(manifest)
        self.blobs = list(blobs)
        self.config = config
        self.layers = list(layers)


def make_image(tag="x", arch="amd64", nlayers=1, layer_size=2000, docker=False,
               annotations=None, subject=None, artifact_type=None):
    layers = [tar_gz({"file-%d" % i: os.urandom(layer_size), "tag": tag.encode()})
              for i in range(nlayers)]
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [
            digest(gzip.decompress(l)) for l in layers]},
    }, sort_keys=True).encode()
    m = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                    "digest": digest(l), "size": len(l)} for l in layers],
    }
    if annotations:
        m["annotations"] = annotations
    if subject:
        m["subject"] = subject
    if artifact_type:
        m["artifactType"] = artifact_type
    body = json.dumps(m, indent=2).encode()
    return Image(body, m["mediaType"], [config] + layers, config, layers)


def make_artifact(subject_img, artifact_type="application/vnd.example.sbom.v1+json", payload=b"{}"):
    """An artifact manifest (OCI 1.1 image manifest with the empty config)
    whose subject is `subject_img`."""
    empty = b"{}"
    m = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": digest(empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.example.sbom.v1+json",
                    "digest": digest(payload), "size": len(payload)}],
        "subject": {"mediaType": subject_img.media_type, "digest": subject_img.digest,
                    "size": len(subject_img.manifest)},
        "annotations": {"org.example.kind": "sbom"},
    }
    body = json.dumps(m).encode()
    return Image(body, OCI_MANIFEST, [empty, payload])


def make_index(images, docker=False):
    m = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [{"mediaType": im.media_type, "digest": im.digest,
                       "size": len(im.manifest),
                       "platform": {"architecture": json.loads(im.config)["architecture"],
                                    "os": "linux"}} for im in images],
    }
    body = json.dumps(m).encode()
    return Image(body, m["mediaType"], [])


# ---- registries under test ----

class Reference:
    """Debian's docker-registry (distribution 2.8) on a random loopback
    port, no auth, deletes enabled, storage in a temporary directory."""
    kind = "reference"

    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        os.makedirs(tmp, exist_ok=True)
        self.config = os.path.join(tmp, "config.yml")
        with open(self.config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\n"
                    "storage:\n  filesystem:\n    rootdirectory: %s\n"
                    "  delete:\n    enabled: true\n"
                    "http:\n  addr: 127.0.0.1:%d\n" % (os.path.join(tmp, "store"), self.port))
        self.log_path = os.path.join(tmp, "registry.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([DOCKER_REGISTRY, "serve", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited early")
            try:
                if requests.get(self.url + "/v2/", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def restart(self):
        """Start again on the same storage and port."""
        self.start()

    def client(self):
        return RegistryClient(self.url, kind="reference")

    def repo(self, base="r"):
        return "conf/" + unique(base)


class CoveRegistry:
    """A real `cove serve`, a user who owns a project; repositories live
    under that project. Clients log in through the Bearer challenge."""
    kind = "cove"

    def __init__(self, tmp):
        self.server = start_server(tmp)
        s = self.server
        self.url = s.url
        self.user = unique("ro")
        self.password = "Pw-%s-2026!" % self.user
        self.user_token = s.register(self.user, self.password)
        self.project = unique("rp")
        r = s.post("/v1/projects", self.user_token, json={"name": self.project})
        assert r.status_code == 201, r.text

    def has_registry(self):
        r = requests.get(self.url + "/v2/", timeout=10)
        return r.status_code == 401 and "WWW-Authenticate" in r.headers

    def stop(self):
        code = self.server.stop()
        self.server.assert_clean()
        assert code == 0, "cove serve exited with %s:\n%s" % (code, self.server.output()[-4000:])

    def kill9(self):
        self.server.kill()

    def restart(self):
        """Start again on the same data directory and port."""
        self.server.start()

    def client(self):
        return RegistryClient(self.url, self.user, self.password, kind="cove")

    def repo(self, base="r"):
        return "%s/%s" % (self.project, unique(base))


def start_registry(kind, tmp):
    """The registry a parametrised fixture asks for: "docker_registry" (the
    reference) or "cove", started in tmp; skips the test when it is missing."""
    import pytest
    if kind == "docker_registry":
        if not DOCKER_REGISTRY:
            pytest.skip("docker-registry is not installed (scripts/deps.sh --bench)")
        return Reference(tmp).start()
    reg = CoveRegistry(tmp)
    if not reg.has_registry():
        reg.stop()
        pytest.skip("this cove build has no registry under /v2/")
    return reg
