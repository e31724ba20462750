"""Fixtures that start a real `cove serve` on a random port with a temporary
data directory, and helpers to drive it over HTTP and through the CLI.

The binary comes from $COVE_BIN (the sanitizer build under `make test`).
Every server is stopped with SIGTERM at the end and must exit 0 without a
sanitizer report: a crash or a leak fails the test that owned the server.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COVE = os.environ.get("COVE_BIN", os.path.join(ROOT, "build", "cove"))
ADMIN_PASSWORD = "Admin-Pass-2026"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `cove serve` process and a requests session pointed at it."""

    def __init__(self, data_dir, env=None, args=(), ca=None):
        """ca: serve https (args hold --tls-cert/--tls-key) and trust this
        CA file in requests."""
        self.data = data_dir
        self.port = free_port()
        self.ca = ca
        self.url = "%s://127.0.0.1:%d" % ("https" if ca else "http", self.port)
        self.env = dict(os.environ)
        self.env.update({
            "COVE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "COVE_ARGON2_MEMORY_KIB": "256",
            "COVE_ARGON2_PASSES": "1",
            "COVE_LOG_LEVEL": "info",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        })
        self.env.update(env or {})
        self.args = list(args)
        self.proc = None
        self.log_path = os.path.join(os.path.dirname(data_dir), "server-%d.log" % self.port)
        self.http = requests.Session()

    def start(self, timeout=20):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [COVE, "serve", "--listen", "127.0.0.1:%d" % self.port,
             "--data", self.data] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cove serve exited early:\n" + self.output())
            try:
                if requests.get(self.url + "/healthz", timeout=1,
                                verify=self.ca or True).status_code == 200:
                    return self
            except (requests.ConnectionError, OSError):  # OSError: no CA file yet
                pass
            time.sleep(0.05)
        raise RuntimeError("cove serve did not become healthy:\n" + self.output())

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop the server; returns its exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.cancel_jobs()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("cove serve did not stop within %ds" % timeout)
        self.log.close()
        return self.proc.returncode

    def cancel_jobs(self):
        """Jobs outlive a stopped server (the next start re-adopts them):
        cancel what a test left running so that nothing lingers."""
        try:
            tok = self.admin_token()
            for state in ("running", "starting", "queued"):
                items = self.get("/v1/jobs?limit=1000&state=" + state, tok, timeout=10).json()["items"]
                for j in items:
                    self.post("/v1/jobs/%s/cancel" % j["id"], tok, timeout=10)
            deadline = time.time() + 20
            while time.time() < deadline:
                r = self.get("/v1/jobs?limit=1&state=running", tok, timeout=10).json()["items"]
                if not r:
                    break
                time.sleep(0.1)
        except Exception:
            pass

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def assert_clean(self):
        out = self.output()
        for mark in SANITIZER_MARKS:
            assert mark not in out, "sanitizer report in server log:\n" + out[-6000:]

    # ---- HTTP helpers ----
    def req(self, method, path, token=None, **kw):
        if self.ca:  # REQUESTS_CA_BUNDLE would win over the session's
            kw.setdefault("verify", self.ca)
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = "Bearer " + token
        kw.setdefault("timeout", 30)
        return self.http.request(method, self.url + path, headers=headers, **kw)

    def get(self, path, token=None, **kw):
        return self.req("GET", path, token, **kw)

    def post(self, path, token=None, **kw):
        return self.req("POST", path, token, **kw)

    def login(self, username, password):
        r = self.post("/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    def admin_token(self):
        return self.login("admin", ADMIN_PASSWORD)["access_token"]

    def register(self, username, password=None, email=None):
        password = password or "Pw-%s-2026!" % username
        r = self.post("/v1/auth/register", json={
            "username": username, "password": password,
            "email": email or "%s@example.org" % username})
        assert r.status_code == 201, r.text
        return self.login(username, password)["access_token"]


def start_server(tmp, env=None, args=(), ca=None):
    data = os.path.join(tmp, "data")
    return Server(data, env, args, ca).start()


def tmp_files(data, suffix=""):
    """Files under data/tmp (and its shard directories) ending in suffix."""
    found = []
    for d, _, names in os.walk(os.path.join(data, "tmp")):
        found += [os.path.join(d, n) for n in names if n.endswith(suffix)]
    return found


def check_after_crash(tmp, acked):
    """Restart the server of data directory tmp after a kill -9 and check
    what a user would: every acknowledged upload (path -> SHA-256) reads
    back intact, nothing partial is listed in /home/admin, the database is
    sound and fsck is clean."""
    import hashlib
    import sqlite3
    s2 = start_server(tmp)
    try:
        tok = s2.admin_token()
        for path, sha in acked.items():
            r = s2.get("/v1/fs" + path, tok)
            assert r.status_code == 200, path
            assert hashlib.sha256(r.content).hexdigest() == sha, path
        for e in s2.get("/v1/fs/home/admin?limit=1000", tok).json()["items"]:
            got = s2.get("/v1/fs/home/admin/" + e["name"], tok).content
            assert hashlib.sha256(got).hexdigest() == e["sha256"], e["name"]
        db = sqlite3.connect(s2.data + "/cove.db")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
        rep = s2.post("/v1/admin/fsck?verify=true", tok).json()
        assert rep["clean"] is True, rep
    finally:
        assert s2.stop() == 0
        s2.assert_clean()


@pytest.fixture
def server(tmp_path):
    """A fresh server per test."""
    s = start_server(str(tmp_path))
    yield s
    code = s.stop()
    s.assert_clean()
    assert code == 0, "cove serve exited with %s:\n%s" % (code, s.output()[-4000:])


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for a module's read-mostly tests."""
    tmp = tmp_path_factory.mktemp("shared")
    s = start_server(str(tmp))
    yield s
    code = s.stop()
    s.assert_clean()
    assert code == 0, "cove serve exited with %s:\n%s" % (code, s.output()[-4000:])


_counter = [0]


def unique(prefix="u"):
    _counter[0] += 1
    return "%s%d%d" % (prefix, os.getpid() % 1000, _counter[0])


class Cli:
    """Runs `cove` client commands with a private HOME."""

    def __init__(self, home, server_url):
        self.home = home
        self.url = server_url
        os.makedirs(home, exist_ok=True)

    def run(self, *args, input=None, check=None, env=None, timeout=60):
        e = dict(os.environ)
        e["HOME"] = self.home
        e.pop("COVE_TOKEN", None)
        e.pop("COVE_SERVER", None)
        e["ASAN_OPTIONS"] = "detect_leaks=1"
        e.update(env or {})
        p = subprocess.run([COVE] + list(args), input=input, capture_output=True,
                           text=True, env=e, timeout=timeout)
        for mark in SANITIZER_MARKS:
            assert mark not in p.stderr, p.stderr
        if check is True:
            assert p.returncode == 0, "cove %s failed: %s%s" % (args, p.stdout, p.stderr)
        return p

    def json(self, *args, **kw):
        p = self.run(*(list(args) + ["--json"]), check=True, **kw)
        return json.loads(p.stdout)

    def login(self, username, password):
        return self.run("login", "--server", self.url, "--username", username,
                        "--password-stdin", input=password + "\n", check=True)


@pytest.fixture
def cli_factory(tmp_path):
    def make(server, name="home"):
        return Cli(str(tmp_path / name), server.url)
    return make
