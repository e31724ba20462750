"""skopeo and podman push and pull against cove's registry over https with
verification on: the test CA given through --cert-dir (a directory with
ca.crt, as /etc/containers/certs.d/HOST:PORT/ would hold), never
--tls-verify=false. Without the CA they refuse."""
import json
import os
import shutil

import pytest

from conftest import unique
from test_registry_clients import PODMAN, SKOPEO, Tools, write_oci_layout
from test_tls import Pki, tls_server


@pytest.fixture
def tls_registry(tmp_path):
    if not SKOPEO:
        pytest.skip("skopeo is not installed (scripts/deps.sh)")
    pki = Pki(tmp_path / "pki")
    s, _, _ = tls_server(tmp_path, pki)
    user = unique("tr")
    password = "Pw-%s-2026!" % user
    token = s.register(user, password)
    project = unique("tp")
    r = s.post("/v1/projects", token, json={"name": project})
    assert r.status_code == 201, r.text
    certs = str(tmp_path / "certs.d")
    os.makedirs(certs)
    shutil.copy(pki.ca, os.path.join(certs, "ca.crt"))
    s.reg_user, s.reg_password, s.project, s.certs = user, password, project, certs
    s.host = "127.0.0.1:%d" % s.port
    yield s
    s.stop()
    s.assert_clean()


def test_skopeo_and_podman_over_tls_with_verification(tls_registry, tmp_path):
    s = tls_registry
    tools = Tools(str(tmp_path / "tools"))
    try:
        src = str(tmp_path / "src")
        mdigest = write_oci_layout(src, "v1", b"tls")
        ref = "%s/%s/%s:v1" % (s.host, s.project, unique("tls"))
        # the CA unknown: refused, and the reason says so
        p = tools.skopeo("login", "--tls-verify=true", "-u", s.reg_user, "--password-stdin",
                         s.host, input=s.reg_password + "\n")
        assert p.returncode != 0
        assert "certificate" in p.stderr, p.stderr
        tools.ok(SKOPEO, "login", "--tls-verify=true", "--cert-dir", s.certs, "-u",
                 s.reg_user, "--password-stdin", s.host, input=s.reg_password + "\n")
        tools.ok(SKOPEO, "copy", "--dest-tls-verify=true", "--dest-cert-dir", s.certs,
                 "--preserve-digests", "oci:%s:v1" % src, "docker://" + ref)
        insp = json.loads(tools.ok(SKOPEO, "inspect", "--tls-verify=true", "--cert-dir",
                                   s.certs, "docker://" + ref).stdout)
        assert insp["Digest"] == mdigest
        dst = str(tmp_path / "dst")
        tools.ok(SKOPEO, "copy", "--src-tls-verify=true", "--src-cert-dir", s.certs,
                 "--preserve-digests", "docker://" + ref, "oci:%s:v1" % dst)
        if not PODMAN:
            return
        ptools = Tools(str(tmp_path / "podman"))
        try:
            ptools.ok(PODMAN, *ptools.store, "login", "--tls-verify=true", "--cert-dir",
                      s.certs, "-u", s.reg_user, "--password-stdin", s.host,
                      input=s.reg_password + "\n")
            p = ptools.podman("pull", "--tls-verify=true", ref)
            assert p.returncode != 0, "podman pulled without the CA"
            ptools.ok(PODMAN, *ptools.store, "pull", "--tls-verify=true", "--cert-dir",
                      s.certs, ref)
            pi = json.loads(ptools.ok(PODMAN, *ptools.store, "image", "inspect", ref).stdout)[0]
            assert pi["Digest"] == mdigest
            ref2 = ref[:-3] + ":v2"
            ptools.ok(PODMAN, *ptools.store, "tag", ref, ref2)
            ptools.ok(PODMAN, *ptools.store, "push", "--tls-verify=true", "--cert-dir",
                      s.certs, ref2)
            insp2 = json.loads(tools.ok(SKOPEO, "inspect", "--tls-verify=true",
                                        "--cert-dir", s.certs, "docker://" + ref2).stdout)
            assert insp2["Layers"] == insp["Layers"]
            ptools.ok(PODMAN, *ptools.store, "rmi", "-a", "-f")
        finally:
            ptools.cleanup()
    finally:
        tools.cleanup()
