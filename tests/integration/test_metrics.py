"""/metrics as a monitoring system sees it: promtool's linter passes, the
platform's gauges (jobs per queue and state, storage per volume, registry
size) are there and move, and a real Prometheus scrapes it with a token."""
import os
import shutil
import signal
import subprocess
import time

import requests

from conftest import free_port

# installed by scripts/deps.sh: a missing one fails, it is not skipped
PROMTOOL = shutil.which("promtool") or "promtool"
PROMETHEUS = shutil.which("prometheus") or "prometheus"


def metrics(s, tok):
    r = s.get("/metrics", tok)
    assert r.status_code == 200, r.text
    return r.text


def sample(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or (labels and key.startswith(name + "{") and
                           ",".join(sorted(key[len(name) + 1:-1].split(","))) == want):
            return float(value)
    return None


def test_metrics_pass_promtool_and_show_the_platform(server):
    s = server
    tok = s.admin_token()
    r = s.post("/v1/volumes", tok, json={"name": "scratch", "capacity_bytes": 1 << 30})
    assert r.status_code == 201, r.text
    assert s.req("PUT", "/v1/fs/volumes/scratch/a.bin", tok, data=b"x" * 5000).status_code == 201
    job = s.post("/v1/jobs", tok, json={"app": "bash", "script": "sleep 30"}).json()
    deadline = time.time() + 30
    while time.time() < deadline:
        text = metrics(s, tok)
        if sample(text, "cove_jobs", queue="default", state="running") == 1:
            break
        time.sleep(0.2)
    assert sample(text, "cove_jobs", queue="default", state="running") == 1, text
    assert sample(text, "cove_volume_used_bytes", volume="scratch") == 5000
    assert sample(text, "cove_volume_capacity_bytes", volume="scratch") == 1 << 30
    assert sample(text, "cove_blob_store_bytes") >= 5000
    assert sample(text, "cove_registry_bytes") == 0
    assert sample(text, "cove_users", state="active") == 1
    assert sample(text, "cove_healthy", part="database") == 1
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    s.post("/v1/jobs/%s/cancel" % job["id"], tok)
    deadline = time.time() + 30
    while time.time() < deadline:
        if sample(metrics(s, tok), "cove_jobs", queue="default", state="running") == 0:
            break
        time.sleep(0.2)
    assert sample(metrics(s, tok), "cove_jobs", queue="default", state="running") == 0


def test_a_real_prometheus_scrapes_cove(server, tmp_path):
    s = server
    tok = s.post("/v1/tokens", s.admin_token(), json={
        "name": "prometheus", "scopes": ["read"], "expires_in": "1d"}).json()["token"]
    (tmp_path / "token").write_text(tok)
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: cove
    authorization:
      credentials_file: %s
    static_configs:
      - targets: ["127.0.0.1:%d"]
""" % (tmp_path / "token", s.port))
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen([PROMETHEUS, "--config.file", str(tmp_path / "prometheus.yml"),
                          "--storage.tsdb.path", str(tmp_path / "tsdb"),
                          "--web.listen-address", "127.0.0.1:%d" % port],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        url = "http://127.0.0.1:%d/api/v1/query" % port
        deadline = time.time() + 60
        got = {}
        while time.time() < deadline:
            try:
                q = requests.get(url, params={"query": 'cove_healthy{part="database"}'},
                                 timeout=5).json()
                res = q.get("data", {}).get("result", [])
                if res:
                    got = res[0]
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert got and got["value"][1] == "1", open(tmp_path / "prometheus.log").read()[-2000:]
        up = requests.get(url, params={"query": 'up{job="cove"}'}, timeout=5).json()
        assert up["data"]["result"][0]["value"][1] == "1"
        q = requests.get(url, params={"query": "sum(cove_http_requests_total)"}, timeout=5).json()
        assert float(q["data"]["result"][0]["value"][1]) >= 1
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
