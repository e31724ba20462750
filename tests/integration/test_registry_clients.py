"""Real clients from Debian against the registry: skopeo (login with a
password and with an API token, copy, inspect, list-tags, delete), buildah
(an image built here from scratch: busybox-static and a few files) and
podman (pull, push, inspect, rmi), with credentials, refused where the role
does not allow it. Images go up and come back bit-identical (same digests,
same bytes).

The transport tests also run against Debian's docker-registry (no auth) to
check the test itself; the credential tests are cove's only. Every tool runs
with a private HOME, auth file and storage (vfs under a temporary --root)
so that nothing global is touched.

    COVE_BIN=$PWD/build/debug/cove python3 -m pytest -q -p no:cacheprovider \
        tests/integration/test_registry_clients.py
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from conftest import unique
from registry_helpers import start_registry

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")
BUILDAH = shutil.which("buildah")
BUSYBOX = "/bin/busybox" if os.path.exists("/bin/busybox") else shutil.which("busybox")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module", params=["docker_registry", "cove"])
def registry(request, tmp_path_factory):
    if not SKOPEO:
        pytest.skip("skopeo is not installed (scripts/deps.sh)")
    tmp = str(tmp_path_factory.mktemp("cl-" + request.param))
    reg = start_registry(request.param, tmp)
    reg.host = reg.url.split("//", 1)[1]
    yield reg
    reg.stop()


class Tools:
    """skopeo/buildah/podman with a private HOME, auth file and storage."""

    def __init__(self, tmp):
        self.tmp = tmp
        # podman wants a short runroot (< 50 characters)
        self.runroot = tempfile.mkdtemp(prefix="cove-rr-", dir="/tmp")
        self.home = os.path.join(tmp, "home")
        os.makedirs(self.home, exist_ok=True)
        self.auth = os.path.join(tmp, "auth.json")
        with open(self.auth, "w") as f:
            f.write('{"auths": {}}')
        with open(os.path.join(tmp, "storage.conf"), "w") as f:
            f.write('[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s/graph"\n' % (self.runroot, tmp))
        with open(os.path.join(tmp, "containers.conf"), "w") as f:
            f.write('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    'events_logfile_path = "%s/events.log"\n' % tmp)
        with open(os.path.join(tmp, "registries.conf"), "w") as f:
            f.write('unqualified-search-registries = []\n')
        self.env = dict(os.environ)
        self.env.update({
            "HOME": self.home, "XDG_RUNTIME_DIR": os.path.join(tmp, "xdg"),
            "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
            "REGISTRY_AUTH_FILE": self.auth,
            "CONTAINERS_STORAGE_CONF": os.path.join(tmp, "storage.conf"),
            "CONTAINERS_CONF": os.path.join(tmp, "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": os.path.join(tmp, "registries.conf"),
        })
        os.makedirs(self.env["XDG_RUNTIME_DIR"], exist_ok=True)
        self.store = ["--root", os.path.join(tmp, "graph"), "--runroot", self.runroot,
                      "--storage-driver", "vfs"]

    def cleanup(self):
        shutil.rmtree(self.runroot, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, *argv, input=None, timeout=180):
        return subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def ok(self, *argv, **kw):
        p = self.run(*argv, **kw)
        assert p.returncode == 0, "%s failed (%d):\n%s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr)
        return p

    def skopeo(self, *args, **kw):
        return self.run(SKOPEO, *args, **kw)

    def podman(self, *args, **kw):
        return self.run(PODMAN, *(self.store + list(args)), **kw)

    def buildah(self, *args, **kw):
        return self.run(BUILDAH, *(self.store + list(args)), **kw)


@pytest.fixture
def tools(tmp_path):
    t = Tools(str(tmp_path / "tools"))
    yield t
    # vfs layers can be large; drop them with the test
    t.cleanup()


def tar_layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = sorted({os.path.dirname(p) for p in files if os.path.dirname(p)})
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
            t.addfile(ti)
        for path, (data, mode) in sorted(files.items()):
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(data), mode, 0
            t.addfile(ti, io.BytesIO(data))
    diff = raw.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as g:
        g.write(diff)
    return out.getvalue(), sha(diff)


def write_oci_layout(path, tag="v1", marker=b""):
    """An OCI image layout written by hand: a busybox layer and a data
    layer, config and manifest with correct digests."""
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    l1, d1 = tar_layer({"bin/busybox": (bb, 0o755)})
    l2, d2 = tar_layer({"etc/motd": (b"built on this machine " + marker + b"\n", 0o644),
                        "data/random.bin": (os.urandom(300_000), 0o644)})
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "cat", "/etc/motd"]},
        "rootfs": {"type": "layers", "diff_ids": [d1, d2]},
        "history": [{"created_by": "busybox"}, {"created_by": "data"}],
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(l), "size": len(l)} for l in (l1, l2)],
    }).encode()
    for blob in (l1, l2, config, manifest):
        with open(os.path.join(path, "blobs", "sha256", sha(blob)[7:]), "wb") as f:
            f.write(blob)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(manifest), "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    return sha(manifest)


def layout_blobs(path):
    d = os.path.join(path, "blobs", "sha256")
    out = {}
    for n in os.listdir(d):
        with open(os.path.join(d, n), "rb") as f:
            out["sha256:" + n] = f.read()
    return out


def creds(registry):
    return ["--creds", "%s:%s" % (registry.user, registry.password)] if registry.kind == "cove" else []


def repo(registry, base):
    return "%s/%s" % (registry.project if registry.kind == "cove" else "clients", unique(base))


def test_skopeo_roundtrip_bit_identical(registry, tools, tmp_path):
    src = str(tmp_path / "src")
    mdigest = write_oci_layout(src, "v1", b"skopeo")
    name = repo(registry, "bb")
    ref = "docker://%s/%s:v1" % (registry.host, name)
    if registry.kind == "cove":
        tools.ok(SKOPEO, "login", "--tls-verify=false", "-u", registry.user, "--password-stdin",
                 registry.host, input=registry.password + "\n")
    tools.ok(SKOPEO, "copy", "--dest-tls-verify=false", "--preserve-digests", "oci:%s:v1" % src, ref)
    insp = json.loads(tools.ok(SKOPEO, "inspect", "--tls-verify=false", ref).stdout)
    assert insp["Digest"] == mdigest
    assert insp["RepoTags"] == ["v1"]
    raw = tools.ok(SKOPEO, "inspect", "--raw", "--tls-verify=false", ref).stdout
    assert sha(raw.encode()) == mdigest
    # back into a new layout: same manifest digest, same bytes for every blob
    dst = str(tmp_path / "dst")
    tools.ok(SKOPEO, "copy", "--src-tls-verify=false", "--preserve-digests", ref, "oci:%s:v1" % dst)
    with open(os.path.join(dst, "index.json")) as f:
        assert json.load(f)["manifests"][0]["digest"] == mdigest
    a, b = layout_blobs(src), layout_blobs(dst)
    assert a == b
    for k, v in b.items():
        assert sha(v) == k
    # copy within the registry, more tags, list them
    tools.ok(SKOPEO, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref,
             "docker://%s/%s:v2" % (registry.host, name))
    name2 = repo(registry, "copy")
    tools.ok(SKOPEO, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref,
             "docker://%s/%s:latest" % (registry.host, name2))
    tags = json.loads(tools.ok(SKOPEO, "list-tags", "--tls-verify=false",
                               "docker://%s/%s" % (registry.host, name)).stdout)["Tags"]
    assert sorted(tags) == ["v1", "v2"]
    insp2 = json.loads(tools.ok(SKOPEO, "inspect", "--tls-verify=false",
                                "docker://%s/%s:latest" % (registry.host, name2)).stdout)
    assert insp2["Digest"] == mdigest
    # delete (by digest: the tag and its twin go with the manifest)
    tools.ok(SKOPEO, "delete", "--tls-verify=false", ref)
    p = tools.skopeo("inspect", "--tls-verify=false", ref)
    assert p.returncode != 0 and ("manifest unknown" in p.stderr.lower() or "not found" in p.stderr.lower()), p.stderr
    # the other repository still has it
    tools.ok(SKOPEO, "inspect", "--tls-verify=false", "docker://%s/%s:latest" % (registry.host, name2))
    if registry.kind == "cove":
        tools.ok(SKOPEO, "logout", registry.host)
        p = tools.skopeo("inspect", "--tls-verify=false", "docker://%s/%s:latest" % (registry.host, name2))
        assert p.returncode != 0


def test_skopeo_login_with_api_token(registry, tools, tmp_path):
    if registry.kind != "cove":
        pytest.skip("credentials are cove's")
    s = registry.server
    pat = s.post("/v1/tokens", registry.user_token, json={"name": unique("sk")}).json()["token"]
    tools.ok(SKOPEO, "login", "--tls-verify=false", "-u", registry.user, "--password-stdin",
             registry.host, input=pat + "\n")
    src = str(tmp_path / "src")
    mdigest = write_oci_layout(src, "v1", b"pat")
    ref = "docker://%s/%s:pat" % (registry.host, repo(registry, "pat"))
    tools.ok(SKOPEO, "copy", "--dest-tls-verify=false", "oci:%s:v1" % src, ref)
    assert json.loads(tools.ok(SKOPEO, "inspect", "--tls-verify=false", ref).stdout)["Digest"] == mdigest
    # wrong password, revoked token
    p = tools.skopeo("login", "--tls-verify=false", "-u", registry.user, "--password-stdin",
                     registry.host, input="wrong\n")
    assert p.returncode != 0 and any(w in p.stderr.lower() for w in ("401", "unauthorized", "invalid username/password")), p.stderr
    tid = [t for t in s.get("/v1/tokens", registry.user_token).json()["items"]][0]["id"]
    assert s.req("DELETE", "/v1/tokens/" + tid, registry.user_token).status_code == 204
    p = tools.skopeo("login", "--tls-verify=false", "-u", registry.user, "--password-stdin",
                     registry.host, input=pat + "\n")
    assert p.returncode != 0


def test_buildah_podman(registry, tools):
    """An image built here with buildah from scratch, pushed, pulled by
    podman into another store, pushed again by podman, removed."""
    if not BUILDAH or not PODMAN:
        pytest.skip("buildah/podman are not installed (scripts/deps.sh)")
    name = repo(registry, "built")
    ref = "%s/%s:v1" % (registry.host, name)
    p = tools.buildah("from", "scratch")
    if p.returncode != 0:
        pytest.skip("buildah cannot run in this VM: " + p.stderr.strip()[-300:])
    ctr = p.stdout.strip()
    motd = os.path.join(tools.tmp, "motd")
    with open(motd, "w") as f:
        f.write("built with buildah\n")
    tools.ok(BUILDAH, *tools.store, "copy", ctr, BUSYBOX, "/bin/busybox")
    tools.ok(BUILDAH, *tools.store, "copy", ctr, motd, "/etc/motd")
    tools.ok(BUILDAH, *tools.store, "config", "--cmd", "/bin/busybox cat /etc/motd", ctr)
    tools.ok(BUILDAH, *tools.store, "commit", "--format", "oci", ctr, "localhost/built:v1")
    tools.ok(BUILDAH, *tools.store, "push", "--tls-verify=false", *creds(registry),
             "localhost/built:v1", "docker://" + ref)
    insp = json.loads(tools.ok(SKOPEO, "inspect", "--tls-verify=false", *creds(registry),
                               "docker://" + ref).stdout)
    raw = tools.ok(SKOPEO, "inspect", "--raw", "--tls-verify=false", *creds(registry),
                   "docker://" + ref).stdout
    assert sha(raw.encode()) == insp["Digest"]
    # podman in a store of its own
    ptools = Tools(os.path.join(tools.tmp, "podman"))
    if registry.kind == "cove":
        ptools.ok(PODMAN, *ptools.store, "login", "--tls-verify=false", "-u", registry.user,
                  "--password-stdin", registry.host, input=registry.password + "\n")
    p = ptools.podman("pull", "--tls-verify=false", ref)
    assert p.returncode == 0, p.stderr
    pi = json.loads(ptools.ok(PODMAN, *ptools.store, "image", "inspect", ref).stdout)[0]
    assert pi["Digest"] == insp["Digest"], (pi["Digest"], insp["Digest"])
    assert ptools.ok(PODMAN, *ptools.store, "image", "inspect", "--format", "{{.Config.Cmd}}", ref).stdout.strip() \
        == "[/bin/busybox cat /etc/motd]"
    ref2 = "%s/%s:v2" % (registry.host, name)
    ptools.ok(PODMAN, *ptools.store, "tag", ref, ref2)
    ptools.ok(PODMAN, *ptools.store, "push", "--tls-verify=false", ref2)
    insp2 = json.loads(tools.ok(SKOPEO, "inspect", "--tls-verify=false", *creds(registry),
                                "docker://" + ref2).stdout)
    assert insp2["Layers"] == insp["Layers"]
    ptools.ok(PODMAN, *ptools.store, "rmi", ref, ref2)
    # pull again after removal: same digest
    ptools.ok(PODMAN, *ptools.store, "pull", "--tls-verify=false", ref)
    pi = json.loads(ptools.ok(PODMAN, *ptools.store, "image", "inspect", ref).stdout)[0]
    assert pi["Digest"] == insp["Digest"]
    ptools.ok(PODMAN, *ptools.store, "rmi", "-a", "-f")
    ptools.cleanup()


def test_clients_refused_by_role(registry, tools, tmp_path):
    if registry.kind != "cove":
        pytest.skip("roles are cove's")
    s = registry.server
    people = {}
    for role in ("guest", "developer", "maintainer", "outsider"):
        u = unique(role[:3])
        pw = "Pw-%s-2026!" % u
        s.register(u, pw)
        people[role] = (u, pw)
        if role != "outsider":
            r = s.req("PUT", "/v1/projects/%s/members/%s" % (registry.project, u),
                      registry.user_token, json={"role": role})
            assert r.status_code in (200, 201, 204), r.text
    src = str(tmp_path / "src")
    write_oci_layout(src, "v1", b"roles")
    name = repo(registry, "roles")
    ref = "docker://%s/%s:v1" % (registry.host, name)

    def sk(role, *args):
        u, pw = people[role]
        flag = "--dest-creds" if args[0] == "copy" else "--creds"
        return tools.skopeo(args[0], flag, "%s:%s" % (u, pw), *args[1:])

    # guest and outsider cannot push; developer can
    for role in ("guest", "outsider"):
        p = sk(role, "copy", "--dest-tls-verify=false", "oci:%s:v1" % src, ref)
        assert p.returncode != 0, role
        assert any(w in p.stderr.lower() for w in ("denied", "unauthorized", "401", "403")), p.stderr
    p = sk("developer", "copy", "--dest-tls-verify=false", "oci:%s:v1" % src, ref)
    assert p.returncode == 0, p.stderr
    # guest pulls; outsider does not even see it
    assert sk("guest", "inspect", "--tls-verify=false", ref).returncode == 0
    p = sk("outsider", "inspect", "--tls-verify=false", ref)
    assert p.returncode != 0
    # developer and guest cannot delete; maintainer can
    for role in ("guest", "developer", "outsider"):
        assert sk(role, "delete", "--tls-verify=false", ref).returncode != 0, role
    assert sk("guest", "inspect", "--tls-verify=false", ref).returncode == 0
    p = sk("maintainer", "delete", "--tls-verify=false", ref)
    assert p.returncode == 0, p.stderr
    assert sk("guest", "inspect", "--tls-verify=false", ref).returncode != 0
    # podman as a guest: pull yes, push no
    if PODMAN:
        sk("developer", "copy", "--dest-tls-verify=false", "oci:%s:v1" % src, ref)
        u, pw = people["guest"]
        img = ref[len("docker://"):]
        p = tools.podman("pull", "--tls-verify=false", "--creds", "%s:%s" % (u, pw), img)
        assert p.returncode == 0, p.stderr
        p = tools.podman("push", "--tls-verify=false", "--creds", "%s:%s" % (u, pw), img,
                         "%s/%s:guest" % (registry.host, name))
        assert p.returncode != 0
        tools.podman("rmi", "-a", "-f")
