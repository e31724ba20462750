"""Registration, login, refresh, logout, password change, lockout, personal
API tokens, signing keys: what a user of the API notices."""
import base64
import json
import sqlite3
import threading
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, start_server, unique


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_register_login_me(shared_server):
    s = shared_server
    name = unique("reg")
    r = s.post("/v1/auth/register", json={"username": name, "email": name + "@x.org",
                                           "password": "Good-pass-123"})
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["username"] == name and u["uid"] >= 1000 and u["gid"] == u["uid"]
    assert u["groups"] == [name] and u["admin"] is False
    assert "password_hash" not in r.text and "argon2" not in r.text
    pair = s.login(name, "Good-pass-123")
    assert pair["token_type"] == "Bearer" and pair["expires_in"] > 0
    assert set(pair) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    header = b64json(pair["access_token"].split(".")[0])
    assert header["alg"] == "EdDSA"
    me = s.get("/v1/me", pair["access_token"]).json()
    assert me["username"] == name and me["email"] == name + "@x.org"


def test_register_rejects_bad_input(shared_server):
    s = shared_server
    cases = [
        ({"username": "root", "email": "r@x.org", "password": "Good-pass-123"}, "reserved"),
        ({"username": "admin", "email": "r@x.org", "password": "Good-pass-123"}, "reserved"),
        ({"username": "Bad Name", "email": "r@x.org", "password": "Good-pass-123"}, "name"),
        ({"username": unique("p"), "email": "r@x.org", "password": "short"}, "8"),
        ({"username": unique("p"), "email": "r@x.org", "password": "alllowercaseonly"}, "three"),
        ({"username": unique("p"), "email": "not-an-email", "password": "Good-pass-123"}, "email"),
        ({"username": unique("p"), "password": "Good-pass-123"}, "email"),
        ({"username": unique("p"), "email": "r@x.org", "password": "Good-pass-123", "admin": True}, "unknown field"),
    ]
    for body, word in cases:
        r = s.post("/v1/auth/register", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.headers["Content-Type"] == "application/problem+json"
        assert word in r.json()["detail"], (body, r.json())


def test_unique_username_and_email(shared_server):
    s = shared_server
    name = unique("dup")
    s.register(name, email=name + "@x.org")
    r = s.post("/v1/auth/register", json={"username": name, "email": "other@x.org",
                                           "password": "Good-pass-123"})
    assert r.status_code == 409 and "taken" in r.json()["detail"]
    r = s.post("/v1/auth/register", json={"username": unique("dup"), "email": name.upper() + "@X.ORG",
                                           "password": "Good-pass-123"})
    assert r.status_code == 409 and "email" in r.json()["detail"]


def test_concurrent_registration_same_name(shared_server):
    s = shared_server
    name = unique("race")
    results = []

    def go(i):
        r = requests.post(s.url + "/v1/auth/register", json={
            "username": name, "email": "%s-%d@x.org" % (name, i), "password": "Good-pass-123"})
        results.append(r.status_code)

    ts = [threading.Thread(target=go, args=(i,)) for i in range(12)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(results) == [201] + [409] * 11


def test_login_failures(shared_server):
    s = shared_server
    name = unique("lf")
    s.register(name, "Right-pass-123")
    r = s.post("/v1/auth/login", json={"username": name, "password": "Wrong-pass-123"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid username or password"
    r2 = s.post("/v1/auth/login", json={"username": unique("nobody"), "password": "x"})
    assert r2.status_code == 401 and r2.json()["detail"] == r.json()["detail"]


def test_refresh_rotates_and_reuse_revokes(shared_server):
    s = shared_server
    name = unique("rf")
    s.register(name, "Right-pass-123")
    p1 = s.login(name, "Right-pass-123")
    r = s.post("/v1/auth/refresh", json={"refresh_token": p1["refresh_token"]})
    assert r.status_code == 200, r.text
    p2 = r.json()
    assert p2["refresh_token"] != p1["refresh_token"]
    assert s.get("/v1/me", p2["access_token"]).status_code == 200
    # the old refresh token again: refused, and the session is gone
    r = s.post("/v1/auth/refresh", json={"refresh_token": p1["refresh_token"]})
    assert r.status_code == 401 and "already used" in r.json()["detail"]
    assert s.post("/v1/auth/refresh", json={"refresh_token": p2["refresh_token"]}).status_code == 401
    assert s.get("/v1/me", p2["access_token"]).status_code == 401
    # other sessions of the same user are untouched
    p3 = s.login(name, "Right-pass-123")
    assert s.get("/v1/me", p3["access_token"]).status_code == 200


def test_logout_ends_session(shared_server):
    s = shared_server
    name = unique("lo")
    s.register(name, "Right-pass-123")
    p = s.login(name, "Right-pass-123")
    assert s.post("/v1/auth/logout", p["access_token"], json={}).status_code == 204
    assert s.get("/v1/me", p["access_token"]).status_code == 401
    assert s.post("/v1/auth/refresh", json={"refresh_token": p["refresh_token"]}).status_code == 401


def test_password_change(shared_server):
    s = shared_server
    name = unique("pw")
    s.register(name, "Old-pass-1234")
    keep = s.login(name, "Old-pass-1234")
    other = s.login(name, "Old-pass-1234")
    r = s.post("/v1/me/password", keep["access_token"],
               json={"current_password": "Wrong-1234", "new_password": "New-pass-5678"})
    assert r.status_code == 403
    r = s.post("/v1/me/password", keep["access_token"],
               json={"current_password": "Old-pass-1234", "new_password": "weak"})
    assert r.status_code == 400
    r = s.post("/v1/me/password", keep["access_token"],
               json={"current_password": "Old-pass-1234", "new_password": "New-pass-5678"})
    assert r.status_code == 204, r.text
    assert s.get("/v1/me", keep["access_token"]).status_code == 200
    assert s.get("/v1/me", other["access_token"]).status_code == 401
    assert s.post("/v1/auth/login", json={"username": name, "password": "Old-pass-1234"}).status_code == 401
    s.login(name, "New-pass-5678")


def test_lockout_per_account_and_address(tmp_path):
    s = start_server(str(tmp_path), env={"COVE_LOGIN_MAX_FAILURES": "3",
                                         "COVE_IP_MAX_FAILURES": "8", "COVE_LOCKOUT": "2s"})
    try:
        s.register("victim", "Right-pass-123")
        for _ in range(3):
            assert s.post("/v1/auth/login", json={"username": "victim", "password": "nope"}).status_code == 401
        r = s.post("/v1/auth/login", json={"username": "victim", "password": "Right-pass-123"})
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1
        assert "try again" in r.json()["detail"]
        time.sleep(2.2)
        s.login("victim", "Right-pass-123")
        # the client address: failures spread over many names
        for i in range(8):
            s.post("/v1/auth/login", json={"username": "ghost%d" % i, "password": "nope"})
        r = s.post("/v1/auth/login", json={"username": "victim", "password": "Right-pass-123"})
        assert r.status_code == 429 and "Retry-After" in r.headers
        audit = s.get("/v1/audit?action=auth.login&limit=50", None)
        assert audit.status_code == 401
    finally:
        assert s.stop() == 0
        s.assert_clean()


def test_api_tokens(shared_server):
    s = shared_server
    name = unique("tk")
    at = s.register(name)
    r = s.post("/v1/tokens", at, json={"name": "ci", "scopes": ["read"], "expires_in": "1d"})
    assert r.status_code == 201, r.text
    tok = r.json()
    assert tok["token"].startswith("cove_pat_") and tok["scopes"] == ["read"]
    assert tok["expires_at"]
    # shown once: listing never has the secret
    lst = s.get("/v1/tokens", at).json()["items"]
    assert [t["name"] for t in lst] == ["ci"] and "token" not in lst[0]
    assert s.get("/v1/me", tok["token"]).json()["username"] == name
    # read scope cannot write
    r = s.post("/v1/projects", tok["token"], json={"name": unique("prj")})
    assert r.status_code == 403 and "scope" in r.json()["detail"]
    # a write token can
    w = s.post("/v1/tokens", at, json={"name": "rw"}).json()
    assert s.post("/v1/projects", w["token"], json={"name": unique("prj")}).status_code == 201
    # names are unique per user
    assert s.post("/v1/tokens", at, json={"name": "ci"}).status_code == 409
    # a non-admin cannot mint admin tokens
    assert s.post("/v1/tokens", at, json={"name": "adm", "scopes": ["admin"]}).status_code == 403
    assert s.post("/v1/tokens", at, json={"name": "x", "expires_in": "soon"}).status_code == 400
    # revoke
    assert s.req("DELETE", "/v1/tokens/" + tok["id"], at).status_code == 204
    assert s.get("/v1/me", tok["token"]).status_code == 401
    assert s.req("DELETE", "/v1/tokens/" + tok["id"], at).status_code == 404
    # stored hashed
    db = sqlite3.connect(s.data + "/cove.db")
    rows = db.execute("SELECT hash FROM api_tokens").fetchall()
    assert all(w["token"] not in row[0] for row in rows)
    db.close()


def test_admin_token_scope(shared_server):
    s = shared_server
    at = s.admin_token()
    plain = s.post("/v1/tokens", at, json={"name": unique("plain")}).json()["token"]
    assert s.get("/v1/users", plain).status_code == 403
    adm = s.post("/v1/tokens", at, json={"name": unique("adm"), "scopes": ["read", "write", "admin"]}).json()["token"]
    assert s.get("/v1/users", adm).status_code == 200


def test_jwks_and_key_rotation(shared_server):
    s = shared_server
    at = s.admin_token()
    keys = s.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in keys)
    r = s.post("/v1/admin/keys/rotate", at)
    assert r.status_code == 200
    kid = r.json()["kid"]
    keys2 = s.get("/.well-known/jwks.json").json()["keys"]
    assert kid in [k["kid"] for k in keys2] and len(keys2) == len(keys) + 1
    # tokens signed by the old key still work until they expire
    assert s.get("/v1/me", at).status_code == 200
    fresh = s.admin_token()
    assert b64json(fresh.split(".")[0])["kid"] == kid
    assert s.get("/v1/me", fresh).status_code == 200


def test_forged_tokens_refused(shared_server):
    s = shared_server
    at = s.admin_token()
    h, p, sig = at.split(".")
    claims = b64json(p)
    claims["uid"] = 1000
    claims["sub"] = "admin"
    forged_p = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_h = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    for tok in [h + "." + forged_p + "." + sig, none_h + "." + p + ".", "garbage", at + "x",
                "cove_pat_notatoken"]:
        r = s.get("/v1/me", tok)
        assert r.status_code == 401, tok
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = s.get("/v1/me", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert r.status_code == 401


def test_rehash_when_parameters_change(tmp_path):
    s = start_server(str(tmp_path))
    s.register("carol", "Carol-pass-123")
    assert s.stop() == 0
    db = sqlite3.connect(s.data + "/cove.db")
    before = db.execute("SELECT password_hash FROM users WHERE username='carol'").fetchone()[0]
    db.close()
    assert "m=256,t=1" in before
    s2 = start_server(str(tmp_path), env={"COVE_ARGON2_MEMORY_KIB": "512", "COVE_ARGON2_PASSES": "2"})
    try:
        s2.login("carol", "Carol-pass-123")
        db = sqlite3.connect(s2.data + "/cove.db")
        after = db.execute("SELECT password_hash FROM users WHERE username='carol'").fetchone()[0]
        db.close()
        assert "m=512,t=2" in after and after != before
        s2.login("carol", "Carol-pass-123")
    finally:
        assert s2.stop() == 0
        s2.assert_clean()


def test_registration_switch(server):
    s = server
    at = s.admin_token()
    assert s.get("/v1/settings", at).json() == {"registration": True, "password_login": True}
    r = s.req("PATCH", "/v1/settings", at, json={"registration": False})
    assert r.status_code == 200 and r.json()["registration"] is False
    r = s.post("/v1/auth/register", json={"username": "dave", "email": "d@x.org", "password": "Good-pass-123"})
    assert r.status_code == 403 and "switched off" in r.json()["detail"]
    # admins can still add users
    r = s.post("/v1/users", at, json={"username": "dave", "email": "d@x.org", "password": "Good-pass-123"})
    assert r.status_code == 201


def test_generated_admin_password(tmp_path):
    import os
    env = dict(os.environ)
    s = start_server(str(tmp_path), env={"COVE_ADMIN_PASSWORD": ""})
    try:
        out = s.output()
        line = [l for l in out.splitlines() if "one-time password" in l][0]
        pw = line.split("password: ")[1].strip()
        s.login("admin", pw)
        assert pw not in "\n".join(l for l in out.splitlines() if l.startswith("{"))
    finally:
        assert s.stop() == 0
    # printed once: a restart does not print a new one
    s2 = start_server(str(tmp_path), env={"COVE_ADMIN_PASSWORD": ""})
    try:
        assert "one-time password" not in s2.output()
    finally:
        assert s2.stop() == 0
