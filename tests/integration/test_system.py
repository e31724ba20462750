"""The server as an operator sees it: probes, metrics, JSON-lines logs with
request ids, the API document agreeing with the routes, graceful shutdown,
file modes in the data directory, and no lost registrations on kill -9."""
import json
import os
import signal
import sqlite3
import stat
import subprocess
import threading
import time

import requests

from conftest import COVE, start_server, unique


def test_probes_and_metrics(shared_server):
    s = shared_server
    assert s.get("/healthz").json() == {"status": "ok"}
    assert s.get("/readyz").json() == {"status": "ready"}
    at = s.admin_token()
    for _ in range(3):
        s.get("/v1/me", at)
    s.get("/v1/me")
    # who uses which route is for administrators (and their scrapers' tokens)
    assert s.get("/metrics").status_code == 401
    assert s.get("/metrics", s.register(unique("mx"))).status_code == 403
    m = s.get("/metrics", at)
    assert m.status_code == 200
    assert m.headers["Content-Type"].startswith("text/plain")
    text = m.text
    assert 'cove_http_requests_total{method="GET",route="/v1/me",code="2xx"}' in text
    assert 'cove_http_requests_total{method="GET",route="/v1/me",code="4xx"}' in text
    assert 'cove_http_request_duration_seconds_bucket{method="GET",route="/v1/me",le="+Inf"}' in text
    assert "# TYPE cove_http_request_duration_seconds histogram" in text
    line = [l for l in text.splitlines() if l.startswith('cove_http_request_duration_seconds_count{method="GET",route="/v1/me"}')][0]
    assert int(line.split()[-1]) >= 4


def test_metrics_public_when_the_operator_says_so(tmp_path):
    s = start_server(str(tmp_path), env={"COVE_METRICS_PUBLIC": "on"})
    try:
        m = s.get("/metrics")
        assert m.status_code == 200 and "cove_http_requests_total" in m.text
    finally:
        assert s.stop() == 0
    s.assert_clean()


def test_openapi_matches_routes(shared_server):
    doc = shared_server.get("/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = set()
    for path, ops in doc["paths"].items():
        for method in ops:
            if method in ("get", "post", "put", "patch", "delete", "head"):
                documented.add((method.upper(), path))
    out = subprocess.run([COVE, "routes"], capture_output=True, text=True, check=True).stdout
    # "{path*}" (rest of the path) is written "{path}" in OpenAPI
    served = {tuple(l.replace("*}", "}").split()) for l in out.splitlines() if l.strip()}
    assert served == documented, ("served but not documented", served - documented,
                                  "documented but not served", documented - served)
    # every operation names its errors as problem documents
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert op.get("operationId") and op.get("responses"), (method, path)


def test_openapi_document_is_generated():
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, os.path.join(root, "scripts", "openapi.py"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_json_logs_with_request_ids(shared_server):
    s = shared_server
    name = unique("log")
    r = s.post("/v1/auth/register", json={"username": name, "email": name + "@x.org",
                                           "password": "Secret-Pw-987"})
    rid = r.headers["X-Request-Id"]
    pair = s.login(name, "Secret-Pw-987")
    s.get("/v1/me", pair["access_token"])
    time.sleep(0.2)
    lines = [l for l in s.output().splitlines() if l.startswith("{")]
    records = [json.loads(l) for l in lines]
    assert all("time" in x and "level" in x and "msg" in x for x in records)
    reqs = [x for x in records if x["msg"] == "request" and x.get("request_id") == rid]
    assert reqs and reqs[0]["status"] == 201 and reqs[0]["route"] == "/v1/auth/register"
    # secrets never reach the log
    out = s.output()
    assert "Secret-Pw-987" not in out
    assert pair["access_token"] not in out and pair["refresh_token"] not in out


def test_graceful_shutdown_finishes_in_flight(tmp_path):
    # Argon2 made slow on purpose so that a login is in flight at SIGTERM.
    s = start_server(str(tmp_path), env={"COVE_ARGON2_MEMORY_KIB": "131072", "COVE_ARGON2_PASSES": "3"})
    result = {}

    def login():
        result["r"] = requests.post(s.url + "/v1/auth/login", timeout=30,
                                    json={"username": "admin", "password": "Admin-Pass-2026"})
    t = threading.Thread(target=login)
    t.start()
    time.sleep(0.05)
    code = s.stop(signal.SIGTERM)
    t.join()
    assert code == 0
    assert result["r"].status_code == 200, result["r"].text
    assert '"msg":"stopped"' in s.output()
    s.assert_clean()
    # the database was closed cleanly: no WAL left to replay
    assert not os.path.exists(s.data + "/cove.db-wal") or os.path.getsize(s.data + "/cove.db-wal") == 0


def test_data_directory_modes(shared_server):
    d = shared_server.data
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d + "/keys").st_mode) == 0o700
    for f in os.listdir(d + "/keys"):
        assert stat.S_IMODE(os.stat(d + "/keys/" + f).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d + "/cove.db").st_mode) == 0o600


def test_kill9_loses_no_acknowledged_user(tmp_path):
    s = start_server(str(tmp_path), args=["--threads", "4"])
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def burst(k):
        i = 0
        sess = requests.Session()
        while not stop.is_set() and i < 400:
            name = "k%dn%d" % (k, i)
            i += 1
            try:
                r = sess.post(s.url + "/v1/auth/register", timeout=5, json={
                    "username": name, "email": name + "@x.org", "password": "Burst-pass-123"})
            except requests.RequestException:
                return
            if r.status_code == 201:
                with lock:
                    acked.append(name)
    ts = [threading.Thread(target=burst, args=(k,)) for k in range(8)]
    [t.start() for t in ts]
    time.sleep(1.5)
    s.kill()
    stop.set()
    [t.join() for t in ts]
    assert len(acked) > 20, "too few registrations to mean anything"
    db = sqlite3.connect(s.data + "/cove.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    s2 = start_server(str(tmp_path))
    try:
        at = s2.admin_token()
        for name in acked:
            r = s2.get("/v1/users/" + name, at)
            assert r.status_code == 200, name
            assert name in r.json()["groups"]
        s2.login(acked[-1], "Burst-pass-123")
        db = sqlite3.connect(s2.data + "/cove.db")
        orphans = db.execute("SELECT count(*) FROM users u LEFT JOIN groups g ON g.gid = u.gid WHERE g.gid IS NULL").fetchone()[0]
        assert orphans == 0
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.close()
    finally:
        assert s2.stop() == 0
        s2.assert_clean()


def test_bad_flags_and_busy_port(tmp_path):
    p = subprocess.run([COVE, "serve", "--bogus"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown flag" in p.stderr
    p = subprocess.run([COVE, "serve", "--listen", "nonsense"], capture_output=True, text=True,
                       env=dict(os.environ, COVE_DATA=str(tmp_path / "d1")))
    assert p.returncode != 0 and "listen" in p.stderr
    s = start_server(str(tmp_path))
    try:
        p = subprocess.run([COVE, "serve", "--listen", "127.0.0.1:%d" % s.port, "--data", str(tmp_path / "d2")],
                           capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, COVE_ADMIN_PASSWORD="Admin-Pass-2026"))
        assert p.returncode != 0 and "Address already in use" in p.stderr
    finally:
        assert s.stop() == 0
    p = subprocess.run([COVE, "serve", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--listen" in p.stdout and "COVE_DATA" in p.stdout
