"""A new user's first minutes: `cove serve` started the way `make run`
starts it (no --data, so the default ./.cove-data, relative to where it was
started) or with a relative --data, from a working directory that is not the
repository, then the first job. Relative data directories once made every
job fail with "job directory must be an absolute path"."""
import os
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, COVE, free_port


def serve(cwd, args, env_extra=None):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "COVE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "COVE_ARGON2_MEMORY_KIB": "256",
        "COVE_ARGON2_PASSES": "1",
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    })
    env.pop("COVE_DATA", None)
    env.update(env_extra or {})
    log = open(os.path.join(cwd, "server.log"), "wb")
    proc = subprocess.Popen([COVE, "serve", "--listen", "127.0.0.1:%d" % port] + args,
                            cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 20
    while time.time() < deadline:
        assert proc.poll() is None, open(os.path.join(cwd, "server.log")).read()
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url, log
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("cove serve did not become healthy")


def first_job(url):
    tok = requests.post(url + "/v1/auth/login", json={
        "username": "admin", "password": ADMIN_PASSWORD}).json()["access_token"]
    h = {"Authorization": "Bearer " + tok}
    r = requests.post(url + "/v1/jobs", headers=h, json={
        "app": "bash", "script": "echo first job; pwd"})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    deadline = time.time() + 60
    while time.time() < deadline:
        j = requests.get(url + "/v1/jobs/%s?wait=10" % jid, headers=h, timeout=20).json()
        if j["state"] not in ("queued", "starting", "running"):
            break
    assert j["state"] == "succeeded", j
    log = requests.get(url + "/v1/jobs/%s/logs" % jid, headers=h).text
    assert "first job" in log


@pytest.mark.parametrize("args,where", [([], ".cove-data"), (["--data", "rel/data"], "rel/data")],
                         ids=["default-data", "relative-data"])
def test_first_job_with_a_relative_data_directory(tmp_path, args, where):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    proc, url, log = serve(str(cwd), args)
    try:
        first_job(url)
        out = open(cwd / "server.log").read()
        # the data went where the user asked, and the server says where, absolutely
        assert (cwd / where / "cove.db").exists()
        assert "(data in %s)" % os.path.realpath(cwd / where) in out, out
        # where the portal is, and that it answers there
        assert "cove: the portal: %s/" % url in out, out
        r = requests.get(url + "/")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        log.close()
    out = open(cwd / "server.log").read()
    assert "ERROR: AddressSanitizer" not in out and "runtime error:" not in out, out


def test_a_first_start_prints_the_portal_and_the_one_time_password(tmp_path):
    """make run's first minute: no COVE_ADMIN_PASSWORD, so cove makes one,
    and says where to use it."""
    env = {"COVE_ADMIN_PASSWORD": ""}
    proc, url, log = serve(str(tmp_path), [], env)
    try:
        out = open(tmp_path / "server.log").read()
        line = [l for l in out.splitlines() if "one-time password" in l][0]
        password = line.rsplit(" ", 1)[1]
        assert "log in as admin at %s/" % url in out, out
        r = requests.post(url + "/v1/auth/session", json={"username": "admin", "password": password})
        assert r.status_code == 201, r.text
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        log.close()
