"""Who a caller is, and which groups they are in, is cached between requests
(docs/decisions.md, "Identity cache"). These tests warm the caches with a
burst of requests, change the identity, and require the very next request
to see the change: no window in which a revoked or demoted caller is still
served."""
from conftest import unique


def warm(s, tok, path, status, n=20):
    for _ in range(n):
        r = s.get(path, tok)
        assert r.status_code == status, r.text


def test_logout_and_lock_take_effect_at_once(shared_server):
    s = shared_server
    at = s.admin_token()
    name = unique("ic")
    tok = s.register(name)
    warm(s, tok, "/v1/me", 200)
    assert s.post("/v1/auth/logout", tok).status_code in (200, 204)
    assert s.get("/v1/me", tok).status_code == 401

    tok = s.login(name, "Pw-%s-2026!" % name)["access_token"]
    warm(s, tok, "/v1/me", 200)
    r = s.req("PATCH", "/v1/users/" + name, at, json={"state": "locked"})
    assert r.status_code == 200, r.text
    assert s.get("/v1/me", tok).status_code == 401
    assert s.get("/v1/fs/home/" + name, tok).status_code == 401


def test_admin_rights_follow_the_user(shared_server):
    s = shared_server
    at = s.admin_token()
    name = unique("ia")
    tok = s.register(name)
    warm(s, tok, "/v1/users", 403)
    assert s.req("PATCH", "/v1/users/" + name, at, json={"admin": True}).status_code == 200
    warm(s, tok, "/v1/users", 200, n=5)
    assert s.req("PATCH", "/v1/users/" + name, at, json={"admin": False}).status_code == 200
    assert s.get("/v1/users", tok).status_code == 403
    assert s.get("/v1/fs/home/admin", tok).status_code == 403


def test_group_membership_and_umask_take_effect_at_once(shared_server):
    s = shared_server
    at = s.admin_token()
    name, g = unique("ig"), unique("gg")
    tok = s.register(name)
    assert s.post("/v1/groups", at, json={"name": g}).status_code == 201
    # a directory only the group may enter
    d = "/v1/fs/home/admin/" + unique("gd")
    assert s.post(d, at, json={"op": "mkdir"}).status_code == 201
    assert s.req("PATCH", d, at, json={"group": g, "mode": "0770"}).status_code == 200
    s.req("PATCH", "/v1/fs/home/admin", at, json={"mode": "0711"})
    warm(s, tok, d, 403)
    assert s.req("PUT", "/v1/groups/%s/members/%s" % (g, name), at).status_code == 204
    assert s.get(d, tok).status_code == 200
    warm(s, tok, d, 200)
    assert s.req("DELETE", "/v1/groups/%s/members/%s" % (g, name), at).status_code == 204
    assert s.get(d, tok).status_code == 403

    # umask: the next file created uses the new one
    home = "/v1/fs/home/" + name
    warm(s, tok, home, 200)
    assert s.req("PATCH", "/v1/users/" + name, at, json={"umask": "0077"}).status_code == 200
    r = s.req("PUT", home + "/f.txt", tok, data=b"x")
    assert r.status_code == 201 and r.json()["mode"] == "0600", r.text
