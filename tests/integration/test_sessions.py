"""Browser sessions, as the portal uses them: a login that sets an HttpOnly
SameSite=Strict cookie naming a server-side session, the CSRF token every
change must carry, the Origin check, logout, the list of one's sessions
(browser and CLI) and ending them, and the ways a session ends by itself.
Driven over plain HTTP with the cookie handled by hand, so that each test
says exactly what a browser (or an attacker's page) would send."""
import sqlite3
import time

import requests

from conftest import ADMIN_PASSWORD, start_server, unique


def browser_login(s, user, password, **kw):
    r = requests.post(s.url + "/v1/auth/session", json={"username": user, "password": password},
                      **kw)
    return r


def new_user(s, admin):
    name = unique("bu")
    pw = "Pw-%s-2026!" % name
    r = s.post("/v1/users", admin, json={"username": name, "password": pw})
    assert r.status_code == 201, r.text
    return name, pw


class Browser:
    """A requests session standing in for a browser: it keeps cookies, and
    sends the CSRF header only when told to (as the portal's pages do)."""

    def __init__(self, s, user, password):
        self.s = s
        self.http = requests.Session()
        r = self.http.post(s.url + "/v1/auth/session",
                           json={"username": user, "password": password})
        assert r.status_code == 201, r.text
        self.login = r
        self.csrf = r.json()["csrf_token"]

    def req(self, method, path, csrf=True, headers=None, **kw):
        h = dict(headers or {})
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        return self.http.request(method, self.s.url + path, headers=h, timeout=30, **kw)


def test_login_sets_a_strict_httponly_cookie_and_says_who(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    r = browser_login(server, name, pw)
    assert r.status_code == 201, r.text
    sc = r.headers["Set-Cookie"]
    assert sc.startswith("cove_session=cove_bs_")
    attrs = [a.strip().lower() for a in sc.split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/v1/" in attrs
    body = r.json()
    assert body["user"]["username"] == name
    assert len(body["csrf_token"]) == 64
    # the token is not the cookie, nor readable from it by a script (HttpOnly)
    assert body["csrf_token"] not in sc
    # the cookie alone authenticates reads
    cookie = {"cove_session": r.cookies["cove_session"]}
    me = requests.get(server.url + "/v1/me", cookies=cookie)
    assert me.status_code == 200 and me.json()["username"] == name
    again = requests.get(server.url + "/v1/auth/session", cookies=cookie).json()
    assert again["csrf_token"] == body["csrf_token"] and again["user"]["username"] == name


def test_changes_need_the_csrf_token_and_our_origin(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    b = Browser(server, name, pw)
    home = "/v1/fs/home/%s/" % name
    # a cross-site form or script sends the cookie, but not the token
    r = b.req("POST", home + "a", csrf=False, json={"op": "mkdir"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = b.req("POST", home + "b", headers={"X-CSRF-Token": "0" * 64}, csrf=False,
              json={"op": "mkdir"})
    assert r.status_code == 403
    # the token with another site's Origin, or a browser saying cross-site
    r = b.req("POST", home + "c", headers={"Origin": "http://evil.example"}, json={"op": "mkdir"})
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    r = b.req("DELETE", home, headers={"Sec-Fetch-Site": "cross-site"}, params={"recursive": "1"})
    assert r.status_code == 403
    r = b.req("POST", home + "d", headers={"Origin": "null"}, json={"op": "mkdir"})
    assert r.status_code == 403
    # nothing was made by any of them
    names = [e["name"] for e in b.req("GET", home).json()["items"]]
    assert names == []
    # our own page: the token and our Origin
    r = b.req("POST", home + "ok", headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
              json={"op": "mkdir"})
    assert r.status_code == 201, r.text
    # refusals are in the audit log
    audit = server.get("/v1/audit?action=auth.csrf_refused&limit=100", admin).json()["items"]
    assert sum(1 for a in audit if a["actor"] == name) >= 4


def test_login_from_another_site_is_refused(server):
    r = browser_login(server, "admin", ADMIN_PASSWORD, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Set-Cookie" not in r.headers
    # a form post cannot send JSON
    r = requests.post(server.url + "/v1/auth/session", data={"username": "admin",
                                                             "password": ADMIN_PASSWORD})
    assert r.status_code == 415 and "Set-Cookie" not in r.headers


def test_bad_passwords_lock_out_with_a_retry_time(tmp_path):
    s = start_server(str(tmp_path), args=["--login-max-failures", "3"])
    try:
        for _ in range(3):
            assert browser_login(s, "admin", "wrong-password").status_code == 401
        r = browser_login(s, "admin", ADMIN_PASSWORD)
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
        assert "try again in" in r.json()["detail"]
    finally:
        assert s.stop() == 0
        s.assert_clean()


def test_tokens_still_work_and_win_over_the_cookie(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    b = Browser(server, name, pw)
    # an API token, with no cookie at all, needs no CSRF token
    tok = server.post("/v1/tokens", admin, json={"name": unique("t")}).json()["token"]
    r = requests.post(server.url + "/v1/fs/home/admin/viatoken",
                      headers={"Authorization": "Bearer " + tok}, json={"op": "mkdir"})
    assert r.status_code == 201, r.text
    # with both, the explicit credential decides who is asking
    r = b.http.get(server.url + "/v1/me", headers={"Authorization": "Bearer " + tok})
    assert r.json()["username"] == "admin"
    # the session endpoint says plainly that a token is no browser session
    assert server.get("/v1/auth/session", tok).status_code == 404


def test_the_registry_ignores_the_cookie(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    b = Browser(server, name, pw)
    r = b.http.get(server.url + "/v2/")
    assert r.status_code == 401


def test_logout_ends_the_session_and_clears_the_cookie(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    b = Browser(server, name, pw)
    cookie = b.http.cookies["cove_session"]
    r = b.req("DELETE", "/v1/auth/session")
    assert r.status_code == 204
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert "cove_session" not in b.http.cookies
    # the old cookie, replayed, is refused and told to go away
    r = requests.get(server.url + "/v1/me", cookies={"cove_session": cookie})
    assert r.status_code == 401 and "Max-Age=0" in r.headers.get("Set-Cookie", "")
    audit = server.get("/v1/audit?action=auth.logout&limit=100", admin).json()["items"]
    assert any(a["actor"] == name for a in audit)


def test_sessions_are_listed_and_can_be_ended(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    cli = server.login(name, pw)["access_token"]
    b1 = Browser(server, name, pw)
    b2 = Browser(server, name, pw)
    items = b1.req("GET", "/v1/sessions").json()["items"]
    kinds = sorted(i["kind"] for i in items)
    assert kinds == ["browser", "browser", "cli"]
    current = [i for i in items if i["current"]]
    assert len(current) == 1 and current[0]["kind"] == "browser"
    assert all(i["last_seen_at"] and i["ip"] == "127.0.0.1" for i in items)
    # nobody else can end them
    other, opw = new_user(server, admin)
    ob = Browser(server, other, opw)
    victim = [i for i in items if not i["current"] and i["kind"] == "browser"][0]["id"]
    assert ob.req("DELETE", "/v1/sessions/" + victim).status_code == 404
    assert b2.req("GET", "/v1/me").status_code == 200
    # "log out the others": the CLI session and the other browser end
    assert b1.req("DELETE", "/v1/sessions").status_code == 204
    assert b1.req("GET", "/v1/me").status_code == 200
    assert b2.req("GET", "/v1/me").status_code == 401
    assert server.get("/v1/me", cli).status_code == 401
    left = b1.req("GET", "/v1/sessions").json()["items"]
    assert len(left) == 1 and left[0]["current"]
    # ending one's own current session is a logout
    sid = left[0]["id"]
    assert b1.req("DELETE", "/v1/sessions/" + sid).status_code == 204
    assert b1.req("GET", "/v1/me").status_code == 401


def test_a_password_change_ends_the_other_browser_sessions(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    b1 = Browser(server, name, pw)
    b2 = Browser(server, name, pw)
    r = b1.req("POST", "/v1/me/password",
               json={"current_password": pw, "new_password": "Another-pass-2026!"})
    assert r.status_code == 204, r.text
    assert b1.req("GET", "/v1/me").status_code == 200
    assert b2.req("GET", "/v1/me").status_code == 401


def test_sessions_end_when_idle_expired_or_the_account_is_locked(server):
    admin = server.admin_token()
    name, pw = new_user(server, admin)
    idle, old, locked = (Browser(server, name, pw) for _ in range(3))
    ids = {}
    for k, b in (("idle", idle), ("old", old)):
        ids[k] = b.login.json()["session_id"]
    db = sqlite3.connect(server.data + "/cove.db", timeout=10)
    now = int(time.time())
    db.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (now - 13 * 3600, ids["idle"]))
    db.execute("UPDATE sessions SET expires_at = ? WHERE id = ?", (now - 1, ids["old"]))
    db.commit()
    db.close()
    time.sleep(1.1)  # the identity cache's own bound
    r = idle.req("GET", "/v1/me")
    assert r.status_code == 401 and "unused" in r.json()["detail"]
    r = old.req("GET", "/v1/me")
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert locked.req("GET", "/v1/me").status_code == 200
    server.req("PATCH", "/v1/users/" + name, admin, json={"state": "locked"})
    assert locked.req("GET", "/v1/me").status_code == 401


def test_malformed_cookies_are_refused_cleanly(server):
    for value in ("", "garbage", "cove_bs_" + "A" * 500, "cove_bs_\u00e9\u00e9", "cove_bs_x;y"):
        r = requests.get(server.url + "/v1/me", headers={"Cookie": "cove_session=" + value})
        assert r.status_code == 401, (value, r.text)
    # a public route with a bad cookie is served as to anyone
    r = requests.get(server.url + "/v1/auth/options", headers={"Cookie": "cove_session=bad"})
    assert r.status_code == 200
    assert r.json()["registration"] is True and r.json()["providers"] == []
