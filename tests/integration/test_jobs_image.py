"""Jobs that run inside registry images: an image is built here (busybox,
the host's bash with the libraries it links, an /etc of its own; a gzip
layer and a zstd layer with a whiteout), pushed into cove over the OCI
distribution API, and jobs run in it through the CLI and the API.

What a user would notice: the job sees the image's files and not the
host's, gets the image's environment, runs the image's own command with
app "image", may only use images it may pull, keeps running the image it
was submitted with when the tag moves, and gets a clear reason when the
image is unusable."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time

import pytest
import requests

from conftest import start_server, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
ZS = "application/vnd.oci.image.layer.v1.tar+zstd"

pytestmark = pytest.mark.skipif(
    not (os.path.exists("/bin/busybox") and shutil.which("zstd")),
    reason="needs busybox-static and zstd (scripts/deps.sh)")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def add_file(tar, name, data, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    ti.mtime = 1700000000
    tar.addfile(ti, io.BytesIO(data))


def add_link(tar, name, target):
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.SYMTYPE
    ti.linkname = target
    tar.addfile(ti)


def add_dir(tar, name, mode=0o755):
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = mode
    tar.addfile(ti)


def libs_of(path):
    """The shared libraries path links (ldd), with the dynamic linker."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/") and os.path.exists(p):
                libs.append(p)
    return sorted(set(libs))


def tar_bytes(fill):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        fill(t)
    return buf.getvalue()


def build_image(marker):
    """(blobs, manifest bytes): busybox + bash in layer 1 (gzip), a file
    and a whiteout in layer 2 (zstd)."""
    def layer1(t):
        for d in ("bin", "etc", "usr", "usr/share", "srv", "lib", "lib64"):
            add_dir(t, d)
        with open("/bin/busybox", "rb") as f:
            add_file(t, "bin/busybox", f.read(), 0o755)
        for applet in ("sh", "cat", "ls", "id", "echo", "pwd", "test", "wc", "grep"):
            add_link(t, "bin/" + applet, "busybox")
        bash = os.path.realpath("/bin/bash")
        with open(bash, "rb") as f:
            add_file(t, "bin/bash", f.read(), 0o755)
        made = set()
        for lib in libs_of(bash):
            rel = lib.lstrip("/")
            # /lib and /lib64 may be links into /usr on the host: keep the
            # path the binary asks for, as a file
            parts = rel.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made and d not in ("lib", "lib64", "usr"):
                    add_dir(t, d)
                    made.add(d)
            with open(lib, "rb") as f:
                add_file(t, rel, f.read(), 0o755)
        add_file(t, "etc/os-release", b'PRETTY_NAME="cove tiny"\nID=tiny\n')
        add_file(t, "etc/passwd", b"imageuser:x:7:7::/:/bin/sh\n")
        add_file(t, "etc/remove-me", b"gone in layer 2\n")
        add_file(t, "usr/share/marker", marker.encode() + b"\n")

    def layer2(t):
        add_file(t, "etc/.wh.remove-me", b"")
        add_file(t, "usr/share/second", b"from the zstd layer\n")

    l1_tar = tar_bytes(layer1)
    l2_tar = tar_bytes(layer2)
    l1 = gzip.compress(l1_tar, mtime=0)
    l2 = subprocess.run(["zstd", "-q", "-c"], input=l2_tar, capture_output=True,
                        check=True).stdout
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin:/usr/bin", "IMAGE_VAR=from-image"],
                   "Entrypoint": ["/bin/busybox"],
                   "Cmd": ["echo", "hello from the image's Cmd"],
                   "WorkingDir": "/srv"},
        "rootfs": {"type": "layers", "diff_ids": [sha(l1_tar), sha(l2_tar)]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": GZ, "digest": sha(l1), "size": len(l1)},
                   {"mediaType": ZS, "digest": sha(l2), "size": len(l2)}],
    }).encode()
    return [config, l1, l2], manifest


class Reg:
    """Pushes with a registry token from /v1/registry/token (Basic auth)."""

    def __init__(self, server, user, password):
        self.s, self.user, self.password = server, user, password

    def token(self, name):
        r = requests.get(self.s.url + "/v1/registry/token",
                         params={"service": "cove", "scope": "repository:%s:pull,push" % name},
                         auth=(self.user, self.password), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def push(self, name, tag, blobs, manifest):
        h = {"Authorization": "Bearer " + self.token(name)}
        for b in blobs:
            r = requests.post(self.s.url + "/v2/%s/blobs/uploads/?digest=%s" % (name, sha(b)),
                              data=b, headers=dict(h, **{"Content-Type": "application/octet-stream"}),
                              timeout=60)
            assert r.status_code == 201, (r.status_code, r.text)
        r = requests.put(self.s.url + "/v2/%s/manifests/%s" % (name, tag), data=manifest,
                         headers=dict(h, **{"Content-Type": OCI_MANIFEST}), timeout=60)
        assert r.status_code == 201, (r.status_code, r.text)
        return sha(manifest)


def setup_project(s):
    """alice owns a project with an image proj/tiny:1; gina is a guest; bob
    is no member."""
    proj = unique("p")
    users = {}
    for who in ("alice", "gina", "bob"):
        name = unique(who)
        pw = "Pw-%s-2026!" % name
        users[who] = (name, pw, s.register(name, pw))
    atok = users["alice"][2]
    r = s.post("/v1/projects", atok, json={"name": proj})
    assert r.status_code == 201, r.text
    r = s.req("PUT", "/v1/projects/%s/members/%s" % (proj, users["gina"][0]), atok,
              json={"role": "guest"})
    assert r.status_code == 200, r.text
    blobs, manifest = build_image("first")
    digest = Reg(s, users["alice"][0], users["alice"][1]).push(
        proj + "/tiny", "1", blobs, manifest)
    return proj, users, digest


def wait_job(s, tok, jid, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.get("/v1/jobs/%s?wait=10" % jid, tok).json()
        if j["state"] in ("succeeded", "failed", "cancelled", "timed_out", "lost"):
            return j
    raise AssertionError("job %s did not end" % jid)


def job_log(s, tok, jid):
    r = s.get("/v1/jobs/%s/logs" % jid, tok)
    assert r.status_code == 200, r.text
    return r.text


def submit(s, tok, body):
    return s.post("/v1/jobs", tok, json=body)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("img")
    s = start_server(str(tmp))
    proj, users, digest = setup_project(s)
    yield s, proj, users, digest
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.output()[-4000:]


def test_bash_job_runs_on_the_images_files(env, cli_factory):
    s, proj, users, digest = env
    name, pw, tok = users["alice"]
    cli = cli_factory(s, "alice")
    cli.login(name, pw)
    script = ("cat /etc/os-release; cat /usr/share/marker /usr/share/second;"
              "test -e /usr/bin/python3 && echo HOST-PYTHON;"
              "test -e /etc/remove-me && echo NO-WHITEOUT;"
              "grep -q imageuser /etc/passwd && echo IMAGE-PASSWD;"
              "echo \"VAR=$IMAGE_VAR USER=$(id -un) BASH=$BASH_VERSION\";"
              "touch /bin/x 2>/dev/null && echo ROOT-WRITABLE;"
              "echo result > {output}/r.txt")
    p = cli.run("run", "--image", proj + "/tiny:1", "bash", "-o", "imgout", "--wait", "--",
                script, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert 'PRETTY_NAME="cove tiny"' in out
    assert "first" in out and "from the zstd layer" in out
    assert "VAR=from-image USER=%s BASH=5" % name in out
    for bad in ("HOST-PYTHON", "NO-WHITEOUT", "IMAGE-PASSWD", "ROOT-WRITABLE"):
        assert bad not in out, out
    # the output came back into the file space
    r = s.get("/v1/fs/home/%s/imgout/r.txt" % name, tok)
    assert r.status_code == 200 and r.text == "result\n"
    # the job remembers the image and the digest it was pinned to
    jobs = cli.json("jobs")
    j = [x for x in (jobs["items"] if isinstance(jobs, dict) else jobs)
         if x.get("image")][0]
    assert j["image"] == proj + "/tiny:1"
    assert j["image_digest"] == digest
    shown = cli.run("job", j["id"], check=True).stdout
    assert proj + "/tiny:1" in shown and digest in shown, shown
    assert "--image" in cli.run("run", "--help").stdout + cli.run("run", "--help").stderr


def test_image_app_runs_the_images_own_command(env):
    s, proj, users, digest = env
    tok = users["alice"][2]
    r = submit(s, tok, {"app": "image", "image": proj + "/tiny:1"})
    assert r.status_code == 201, r.text
    j = wait_job(s, tok, r.json()["id"])
    assert j["state"] == "succeeded", j
    assert "hello from the image's Cmd" in job_log(s, tok, j["id"])
    # arguments replace Cmd; the Entrypoint stays; WorkingDir applies
    r = submit(s, tok, {"app": "image", "image": proj + "/tiny@" + digest,
                        "args": ["sh", "-c", "pwd; echo $IMAGE_VAR"]})
    assert r.status_code == 201, r.text
    j = wait_job(s, tok, r.json()["id"])
    assert j["state"] == "succeeded", j
    log = job_log(s, tok, j["id"])
    assert "/srv" in log and "from-image" in log


def test_who_may_use_an_image(env):
    s, proj, users, digest = env
    # a guest may pull, so may run jobs in it
    gtok = users["gina"][2]
    r = submit(s, gtok, {"app": "bash", "image": proj + "/tiny:1", "script": "cat /etc/os-release"})
    assert r.status_code == 201, r.text
    j = wait_job(s, gtok, r.json()["id"])
    assert j["state"] == "succeeded", j
    # no member: as if there were no such image
    btok = users["bob"][2]
    r = submit(s, btok, {"app": "bash", "image": proj + "/tiny:1", "script": "true"})
    assert r.status_code == 404, r.text
    assert "image not found" in r.json()["detail"]
    atok = users["alice"][2]
    for ref, code in ((proj + "/tiny:nope", 404), (proj + "/absent:1", 404),
                      ("no-slash", 400), ("UPPER/case:1", 400), ("", 400),
                      (proj + "/tiny@sha256:abc", 400)):
        r = submit(s, atok, {"app": "bash", "image": ref, "script": "true"})
        assert r.status_code == code, (ref, r.status_code, r.text)
    r = submit(s, atok, {"app": "bash", "image": 7, "script": "true"})
    assert r.status_code == 400
    r = submit(s, atok, {"app": "image"})
    assert r.status_code == 400 and "image" in r.json()["detail"]
    # without an image, jobs run on the host's environment as before
    r = submit(s, atok, {"app": "bash", "script": "test -e /usr/bin/python3 && echo HOST"})
    j = wait_job(s, atok, r.json()["id"])
    assert j["state"] == "succeeded" and j["image"] is None
    assert "HOST" in job_log(s, atok, j["id"])


def test_a_job_keeps_its_image_when_the_tag_moves(tmp_path):
    # one CPU for jobs: the second job waits while the first runs
    s = start_server(str(tmp_path), env={"COVE_JOB_CPUS": "1"})
    try:
        proj, users, first = setup_project(s)
        name, pw, tok = users["alice"]
        r = submit(s, tok, {"app": "bash", "script": "sleep 3", "cpu": 1})
        assert r.status_code == 201, r.text
        blocker = r.json()["id"]
        r = submit(s, tok, {"app": "bash", "image": proj + "/tiny:1", "cpu": 1,
                            "script": "cat /usr/share/marker"})
        assert r.status_code == 201, r.text
        pinned = r.json()
        assert pinned["state"] == "queued" and pinned["image_digest"] == first
        # the tag moves to a new image while the job waits
        blobs, manifest = build_image("second")
        second = Reg(s, name, pw).push(proj + "/tiny", "1", blobs, manifest)
        assert second != first
        j = wait_job(s, tok, pinned["id"])
        assert j["state"] == "succeeded", j
        assert j["image_digest"] == first
        log = job_log(s, tok, j["id"])
        assert "first" in log and "second" not in log
        # a new submission gets the new image
        r = submit(s, tok, {"app": "bash", "image": proj + "/tiny:1",
                            "script": "cat /usr/share/marker"})
        j = wait_job(s, tok, r.json()["id"])
        assert j["image_digest"] == second and "second" in job_log(s, tok, j["id"])
        wait_job(s, tok, blocker)
    finally:
        code = s.stop()
        s.assert_clean()
        assert code == 0, s.output()[-4000:]


def test_an_unusable_image_fails_with_a_reason(tmp_path):
    s = start_server(str(tmp_path))
    try:
        proj, users, digest = setup_project(s)
        name, pw, tok = users["alice"]
        # a layer whose bytes are no tar archive (the registry checks
        # digests, not contents): the job fails to start and says why
        junk = os.urandom(2000)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": GZ, "digest": sha(junk), "size": len(junk)}],
        }).encode()
        broken = Reg(s, name, pw).push(proj + "/broken", "1", [config, junk], manifest)
        r = submit(s, tok, {"app": "bash", "image": proj + "/broken:1", "script": "true"})
        assert r.status_code == 201, r.text
        j = wait_job(s, tok, r.json()["id"])
        assert j["state"] == "failed", j
        assert "could not start" in j["reason"] and "layer 1" in j["reason"], j["reason"]
        print("reasons:", j["reason"])
        # an image whose command is missing: the app's command is not found
        r = submit(s, tok, {"app": "python", "image": proj + "/tiny:1", "script": "print(1)"})
        j = wait_job(s, tok, r.json()["id"])
        assert j["state"] == "failed", j
        print("reasons:", j["reason"])
        # the unpacked image is cached under the data directory, by digest;
        # nothing is left of the broken one
        images = os.path.join(s.data, "images")
        assert os.path.isdir(os.path.join(images, digest[7:], "rootfs"))
        assert sorted(os.listdir(images)) == sorted([digest[7:], digest[7:] + ".lock",
                                                     broken[7:] + ".lock"])
    finally:
        code = s.stop()
        s.assert_clean()
        assert code == 0, s.output()[-4000:]


@pytest.mark.skipif(not shutil.which("skopeo"), reason="needs skopeo")
def test_an_image_pushed_by_skopeo_runs_a_job(env, tmp_path):
    """The same image as an OCI layout on disk, copied into cove by a
    standard client, pulled back bit-identical, and used by a job."""
    s, proj, users, _ = env
    name, pw, tok = users["alice"]
    blobs, manifest = build_image("via skopeo")
    lay = tmp_path / "layout"
    (lay / "blobs" / "sha256").mkdir(parents=True)
    for b in blobs + [manifest]:
        (lay / "blobs" / "sha256" / sha(b)[7:]).write_bytes(b)
    (lay / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (lay / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": sha(manifest), "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))
    dest = "docker://127.0.0.1:%d/%s/sk:1" % (s.port, proj)
    p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                        "%s:%s" % (name, pw), "oci:%s:1" % lay, dest],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    back = tmp_path / "back"
    p = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--src-creds",
                        "%s:%s" % (name, pw), dest, "oci:%s:1" % back],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for b in blobs:
        assert (back / "blobs" / "sha256" / sha(b)[7:]).read_bytes() == b
    r = submit(s, tok, {"app": "bash", "image": proj + "/sk:1",
                        "script": "cat /usr/share/marker; ls /usr/share"})
    assert r.status_code == 201, r.text
    j = wait_job(s, tok, r.json()["id"])
    assert j["state"] == "succeeded", j
    log = job_log(s, tok, j["id"])
    assert "via skopeo" in log and "second" in log
