"""Bad input of every kind gets a clear 4xx problem document, never a crash,
a hang or a 5xx; the server keeps serving afterwards."""
import socket
import time

import pytest
import requests

from conftest import start_server


def problem(r, status, word=None):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["request_id"] == r.headers["X-Request-Id"]
    if word:
        assert word in body["detail"], body


BAD_JSON = [
    (b"{", "malformed"),
    (b"[1,2]", "object"),
    (b'"just a string"', "JSON"),
    (b'{"username": "a", "username": "b", "password": "x"}', "malformed"),
    (b'{"username": "a\\u0000b", "password": "x"}', "malformed"),
    (b'{"username": "\xff\xfe", "password": "x"}', "UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "malformed"),
    (b'{"username": 5, "password": "x"}', "string"),
    (b'{"password": "x"}', "required"),
    (b'{"username": "a", "password": "x", "extra": 1}', "unknown field"),
    (b"", "required"),
]


@pytest.mark.parametrize("body,word", BAD_JSON, ids=[w + str(i) for i, (b, w) in enumerate(BAD_JSON)])
def test_malformed_json(shared_server, body, word):
    r = shared_server.post("/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
    problem(r, 400, word)


def test_content_types(shared_server):
    s = shared_server
    problem(s.post("/v1/auth/login", data=b'{"username":"a","password":"b"}',
                   headers={"Content-Type": "text/plain"}), 415, "application/json")
    problem(s.post("/v1/auth/login", data=b'{"username":"a","password":"b"}',
                   headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    # charset parameters are fine
    r = s.post("/v1/auth/login", data=b'{"username":"a","password":"b"}',
               headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 401


def test_oversized_bodies(shared_server):
    s = shared_server
    big = b'{"username":"' + b"a" * (10 * 1024 * 1024) + b'","password":"x"}'
    problem(s.post("/v1/auth/login", data=big, headers={"Content-Type": "application/json"}), 413, "larger")

    def chunks():
        for _ in range(160):
            yield b"a" * 65536
    r = s.post("/v1/auth/login", data=chunks(), headers={"Content-Type": "application/json"})
    problem(r, 413)
    assert s.get("/healthz").status_code == 200


def test_routes_and_methods(shared_server):
    s = shared_server
    problem(s.get("/nope"), 404, "no such route")
    problem(s.get("/v1/users/../../etc/passwd"), 404)
    problem(s.req("DELETE", "/healthz"), 405)
    problem(s.req("PUT", "/v1/auth/login", json={}), 405)
    at = s.admin_token()
    for name in ["..", "%2e%2e", "a%2fb", "%00", "x" * 300, "ünï", "a b"]:
        r = s.get("/v1/users/" + name, at)
        assert r.status_code in (400, 404), (name, r.status_code)
    problem(s.get("/v1/me", None, headers={"Authorization": "Bearer " + "a" * 10000}), 401)


def test_unicode_where_allowed(shared_server):
    s = shared_server
    at = s.admin_token()
    r = s.post("/v1/users", at, json={"username": "uni1", "full_name": "Zoë Ñandú 🚀"})
    assert r.status_code == 201 and r.json()["full_name"] == "Zoë Ñandú 🚀"
    problem(s.post("/v1/users", at, json={"username": "uni2", "full_name": "a:b"}), 400)
    problem(s.post("/v1/users", at, json={"username": "ünï"}), 400)


def test_header_flood(shared_server):
    s = shared_server
    headers = {"X-Flood-%d" % i: "v" * 100 for i in range(2000)}
    try:
        r = requests.get(s.url + "/healthz", headers=headers, timeout=10)
        assert 400 <= r.status_code < 500
    except requests.ConnectionError:
        pass  # closing the connection is an acceptable answer to a flood
    try:
        r = requests.get(s.url + "/healthz", headers={"X-Big": "v" * 200000}, timeout=10)
        assert 400 <= r.status_code < 500
    except requests.ConnectionError:
        pass
    assert s.get("/healthz").status_code == 200


def test_slow_clients_are_cut(tmp_path):
    s = start_server(str(tmp_path), env={"COVE_CONN_TIMEOUT": "1s"})
    try:
        socks = []
        for _ in range(20):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
            socks.append(c)
        # others are still served while the slow ones trickle
        assert s.get("/healthz").status_code == 200
        time.sleep(2.5)
        closed = 0
        for c in socks:
            c.settimeout(2)
            try:
                if c.recv(1024) == b"":
                    closed += 1
            except (ConnectionResetError, socket.timeout):
                closed += 1 if isinstance(c, socket.socket) else 0
            c.close()
        assert closed == 20
        assert s.get("/healthz").status_code == 200
    finally:
        assert s.stop() == 0
        s.assert_clean()


def test_garbage_requests(shared_server):
    s = shared_server
    for raw in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x00\x01\x02\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"]:
        c = socket.create_connection(("127.0.0.1", s.port))
        c.settimeout(5)
        c.sendall(raw)
        try:
            data = c.recv(4096)
            if data:
                status = int(data.split(b" ")[1])
                assert 400 <= status < 500 or status == 505, data
        except (ConnectionResetError, socket.timeout):
            pass
        c.close()
    assert s.get("/healthz").status_code == 200


JUNK = ["", "%00", "a%00b", "%FF%FE", "x" * 5000, "'; DROP TABLE jobs; --", "%25", "_", "*",
        "..%2F..", "%E2%80%AE", "-1", "99999999999999999999999"]
FILTERS = [
    ("/v1/jobs", ["state", "queue", "user", "project", "app", "scope", "cursor", "limit"]),
    ("/v1/users", ["q", "state", "cursor", "limit", "format"]),
    ("/v1/audit", ["actor", "action", "outcome", "target", "since", "until", "cursor", "limit"]),
    ("/v1/admin/overview", ["x"]),
]


def test_list_filters_with_junk_never_fail_the_server(shared_server):
    """Every filter of the lists, given junk alone or together: a 200 or a
    clear 4xx, never a 5xx, and the server answers the next request."""
    s = shared_server
    at = s.admin_token()
    user = s.register("junky")
    for path, keys in FILTERS:
        for tok in (at, user):
            for k in keys:
                for v in JUNK:
                    r = s.get("%s?%s=%s" % (path, k, v), tok)
                    assert r.status_code < 500, (path, k, v, r.status_code, r.text)
                    if r.status_code >= 400:
                        assert r.headers["Content-Type"] == "application/problem+json"
                        assert r.json()["detail"], r.text
            q = "&".join("%s=%s" % (k, JUNK[i % len(JUNK)]) for i, k in enumerate(keys))
            assert s.get(path + "?" + q, tok).status_code < 500, q
    assert s.get("/healthz").status_code == 200
