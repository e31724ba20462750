"""bench/soak.py - a long mixed workload against one `cove serve`, watching
its resident memory and open descriptors (run by bench/soak.sh).

Workers, each with its own connection, loop until the time is up:
  login     password logins (Argon2id at the server's cost) and refreshes
  browse    listings of a folder of 200 files and /v1/me
  upload    PUTs of 1 KiB - 1 MiB over a rotating set of 200 names
            (so the stored bytes stay bounded), then reading them back
  jobs      `bash -c true` jobs, waited for, and their logs read
  registry  pushes of small images (a layer, a config, a manifest) to a
            rotating set of tags, and pulls of them
  gc        every 30 s: blob and registry garbage collection
Every answer is checked: an unexpected status is an error, except 429
(the intended back-pressure of job queues), which is counted apart.

Samples every --every seconds: VmRSS and the number of open descriptors of
the server (/proc/PID), the database page caches' bytes (cove_db_cache_bytes
on /metrics: SQLite's caches, one per pooled connection, each bounded at
2,000 KiB, fill as the database grows during the run and then stay), and
operations done. At the end prints the curves' start (after warm-up) and
end, and exits 1 when resident memory less those bounded caches grew by
more than --rss-slack (fraction) after warm-up, descriptors by more than
--fd-slack, or when any error happened. "Grew" compares peaks: the highest
sample of the second half after warm-up against the highest of the first
(memory the allocator returns makes single samples swing; a leak lifts
every later peak), with at least 16 MiB of slack.
"""
import argparse
import os
import random
import sys
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from registry_helpers import RegistryClient, make_image  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Soak:
    def __init__(self, url, pid, users, seconds):
        self.url, self.pid, self.users = url, pid, users
        self.end = time.time() + seconds
        self.ops = {}
        self.errors = []
        self.throttled = 0
        self.lock = threading.Lock()

    def count(self, kind):
        with self.lock:
            self.ops[kind] = self.ops.get(kind, 0) + 1

    def check(self, r, want, what):
        if r.status_code == 429:
            with self.lock:
                self.throttled += 1
            return False
        if r.status_code not in want:
            with self.lock:
                self.errors.append("%s: %d %s" % (what, r.status_code, r.text[:200]))
            return False
        return True

    def session(self, user):
        h = requests.Session()
        r = h.post(self.url + "/v1/auth/login",
                   json={"username": user, "password": self.users[user]}, timeout=60)
        r.raise_for_status()
        h.headers["Authorization"] = "Bearer " + r.json()["access_token"]
        return h, r.json()["refresh_token"]

    def running(self):
        return time.time() < self.end

    def guard(self, fn, *args):
        """A worker that dies is an error, not a quieter soak."""
        try:
            fn(*args)
        except Exception as ex:  # noqa: BLE001
            with self.lock:
                self.errors.append("%s died: %r" % (fn.__name__, ex))

    # ---- workers ----
    def w_login(self, user):
        h = requests.Session()
        while self.running():
            r = h.post(self.url + "/v1/auth/login",
                       json={"username": user, "password": self.users[user]}, timeout=60)
            if self.check(r, (200,), "login"):
                rt = r.json()["refresh_token"]
                r = h.post(self.url + "/v1/auth/refresh", json={"refresh_token": rt}, timeout=60)
                if self.check(r, (200,), "refresh"):
                    body = r.json()
                    r = h.post(self.url + "/v1/auth/logout",
                               json={"refresh_token": body["refresh_token"]}, timeout=60,
                               headers={"Authorization": "Bearer " + body["access_token"]})
                    self.check(r, (200, 204), "logout")
            self.count("login")

    def w_browse(self, user):
        h, _ = self.session(user)
        while self.running():
            r = h.get(self.url + "/v1/fs/home/%s/soak?limit=1000" % user, timeout=60)
            self.check(r, (200,), "list")
            r = h.get(self.url + "/v1/me", timeout=60)
            self.check(r, (200,), "me")
            self.count("browse")

    def w_upload(self, user, n):
        h, _ = self.session(user)
        rnd = random.Random(n)
        while self.running():
            size = rnd.choice((1024, 4096, 65536, 1 << 20))
            data = os.urandom(size)
            path = "/v1/fs/home/%s/soak/f%03d" % (user, rnd.randrange(200))
            r = h.put(self.url + path, data=data, timeout=120)
            if self.check(r, (200, 201), "upload"):
                # another worker may overwrite it meanwhile: a 200 is enough
                r = h.get(self.url + path, timeout=120)
                self.check(r, (200,), "download")
            self.count("upload")

    def w_jobs(self, user):
        h, _ = self.session(user)
        while self.running():
            r = h.post(self.url + "/v1/jobs", json={"app": "bash", "script": "true"}, timeout=60)
            if self.check(r, (201,), "submit"):
                jid = r.json()["id"]
                for _ in range(60):
                    j = h.get(self.url + "/v1/jobs/%s?wait=10" % jid, timeout=30).json()
                    if j.get("state") not in ("queued", "starting", "running"):
                        break
                if j.get("state") != "succeeded":
                    with self.lock:
                        self.errors.append("job %s ended %s" % (jid, j.get("state")))
                self.check(h.get(self.url + "/v1/jobs/%s/logs" % jid, timeout=30), (200,), "logs")
            self.count("jobs")

    def w_registry(self, user):
        reg = RegistryClient(self.url, user, self.users[user])
        i = 0
        while self.running():
            img = make_image("t%d" % i, layer_size=4096)
            tag = "t%d" % (i % 20)
            try:
                reg.push_image("%s/soak" % user, tag, img)
                r = reg.get_manifest("%s/soak" % user, tag)
                self.check(r, (200,), "pull")
            except AssertionError as ex:
                with self.lock:
                    self.errors.append("push: %s" % ex)
            i += 1
            self.count("registry")

    def w_gc(self, admin):
        while self.running():
            for _ in range(30):
                if not self.running():
                    return
                time.sleep(1)
            # a fresh connection: one idle for 30 s meets the server's idle
            # timeout (--conn-timeout), and a POST is not retried on it
            h, _ = self.session(admin)
            self.check(h.post(self.url + "/v1/registry/gc", json={}, timeout=300), (200,),
                       "registry gc")
            self.check(h.post(self.url + "/v1/admin/gc?grace=10m", timeout=300), (200,), "gc")
            self.count("gc")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=0.2, help="share of the run")
    ap.add_argument("--rss-slack", type=float, default=0.10)
    ap.add_argument("--fd-slack", type=int, default=8)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    admin = "admin"
    users = {admin: a.admin_password}
    h = requests.Session()
    r = h.post(a.url + "/v1/auth/login", json={"username": admin, "password": a.admin_password})
    r.raise_for_status()
    h.headers["Authorization"] = "Bearer " + r.json()["access_token"]
    people = []
    for i in range(a.people):
        u, pw = "soak%d" % i, "Soak-pass-%d-2026!" % i
        r = h.post(a.url + "/v1/users", json={"username": u, "email": u + "@example.org",
                                              "password": pw})
        assert r.status_code in (201, 409), r.text
        r = requests.post(a.url + "/v1/auth/login", json={"username": u, "password": pw})
        r.raise_for_status()
        r = requests.post(a.url + "/v1/fs/home/%s/soak" % u, json={"op": "mkdir"},
                          headers={"Authorization": "Bearer " + r.json()["access_token"]})
        assert r.status_code in (201, 409), r.text
        users[u] = pw
        people.append(u)
    soak = Soak(a.url, a.pid, users, a.minutes * 60)
    threads = []
    for i, u in enumerate(people):
        threads += [threading.Thread(target=soak.guard, args=(soak.w_browse, u)),
                    threading.Thread(target=soak.guard, args=(soak.w_upload, u, i)),
                    threading.Thread(target=soak.guard, args=(soak.w_jobs, u))]
    threads += [threading.Thread(target=soak.guard, args=(soak.w_login, people[0])),
                threading.Thread(target=soak.guard, args=(soak.w_registry, people[0])),
                threading.Thread(target=soak.guard, args=(soak.w_gc, admin))]
    for t in threads:
        t.daemon = True
        t.start()
    samples = []
    start = time.time()
    mh = {"Authorization": h.headers["Authorization"]}

    def db_cache_kib():
        try:
            for line in requests.get(a.url + "/metrics", headers=mh, timeout=30).text.splitlines():
                if line.startswith("cove_db_cache_bytes "):
                    return float(line.split()[1]) / 1024
        except requests.RequestException:
            pass
        return 0.0
    while time.time() < soak.end:
        time.sleep(min(a.every, max(0.1, soak.end - time.time())))
        with soak.lock:
            total = sum(soak.ops.values())
        samples.append((time.time() - start, rss_kib(a.pid), nfds(a.pid), total,
                        db_cache_kib()))
        t, rss, fds, ops, cache = samples[-1]
        print("%s t=%5.0fs rss=%7.1f MiB (db caches %5.1f) fds=%4d ops=%d errors=%d" %
              (a.label, t, rss / 1024, cache / 1024, fds, ops, len(soak.errors)), flush=True)
    for t in threads:
        t.join(180)
    warm = [s for s in samples if s[0] >= a.warmup * a.minutes * 60] or samples
    w0, w1 = warm[0], warm[-1]
    peak_after = max(s[1] for s in warm)
    grew = (w1[1] - w0[1]) / max(1, w0[1])
    half = len(warm) // 2 or 1
    own0 = max(x[1] - x[4] for x in warm[:half])
    own1 = max(x[1] - x[4] for x in warm[half:] or warm)
    own_grew = (own1 - own0) / max(1, own0)
    own_ok = own1 - own0 <= max(a.rss_slack * own0, 16 * 1024)
    fd_grew = w1[2] - w0[2]
    print("%s summary: %.1f min, %d operations (%s), %d throttled (429), %d errors" %
          (a.label, a.minutes, sum(soak.ops.values()),
           ", ".join("%s %d" % kv for kv in sorted(soak.ops.items())), soak.throttled,
           len(soak.errors)))
    print("%s resident memory after warm-up: %.1f -> %.1f MiB (%+.1f%%, peak %.1f); "
          "database page caches %.1f -> %.1f MiB; the rest, peak of each half: %.1f -> %.1f MiB (%+.1f%%); "
          "descriptors %d -> %d" % (a.label, w0[1] / 1024, w1[1] / 1024, grew * 100,
                                   peak_after / 1024, w0[4] / 1024, w1[4] / 1024,
                                   own0 / 1024, own1 / 1024, own_grew * 100, w0[2], w1[2]))
    for e in soak.errors[:10]:
        print("%s error: %s" % (a.label, e))
    ok = not soak.errors and own_ok and fd_grew <= a.fd_slack
    print("%s %s" % (a.label, "FLAT" if ok else "NOT FLAT or ERRORS"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
