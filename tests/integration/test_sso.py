"""Single sign-on with OpenID Connect, against a real provider
(tests/oidc/provider.mjs: node-oidc-provider) and, for forged ID tokens
only, a fake one in this process. Each test drives what a user would:
the login page's button, the provider's login form, landing in the
portal with a provisioned account."""
import concurrent.futures
import json
import os
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, Server
import sso_util as U

ACCOUNTS = {
    "alice": {"password": "alice-pw", "claims": {
        "preferred_username": "Alice.Smith", "email": "alice@uni.example", "name": "Alice Smith",
        "groups": ["lab-a", "lab-b", "staff"]}},
    "bob": {"password": "bob-pw", "claims": {
        "preferred_username": "bob", "groups": ["cove-admins"],
        "eduperson_entitlement": []}},
    "eve": {"password": "eve-pw", "claims": {"preferred_username": "eve", "groups": []}},
    "carol-sub": {"password": "carol-pw", "claims": {"preferred_username": "someone-else"}},
    "admin": {"password": "admin-pw", "claims": {"preferred_username": "admin"}},
}


@pytest.fixture
def sso(tmp_path):
    s = Server(os.path.join(str(tmp_path), "data"))
    prov = U.RealProvider(s.port, json.loads(json.dumps(ACCOUNTS)))
    s.args = U.oidc_args(tmp_path, prov.issuer, "--oidc-project-groups", "^lab-",
                         "--oidc-admin-group", "cove-admins")
    s.start()
    s.provider = prov
    yield s
    prov.stop()
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.output()[-4000:]


def audit(s, action, outcome=None):
    tok = s.admin_token()
    q = "/v1/audit?limit=1000&action=" + action + ("&outcome=" + outcome if outcome else "")
    return s.get(q, tok).json()["items"]


def test_options_name_the_provider(sso):
    o = sso.get("/v1/auth/options").json()
    assert o["password_login"] is True
    assert o["providers"] == [{"id": U.SLUG, "name": "EGI Check-in",
                               "start": "/v1/auth/oidc/%s/start" % U.SLUG}]


def test_code_flow_provisions_user_home_and_projects(sso):
    http, r, cb = U.browser_login(sso, "alice", "alice-pw", "/files")
    assert cb.status_code == 302 and cb.headers["Location"] == "/files"
    assert "cove_session=" in cb.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cb.headers["Set-Cookie"]
    m = U.me(sso, http)
    assert m.status_code == 200, m.text
    me = m.json()
    assert me["username"] == "alice_smith"
    assert me["email"] == "alice@uni.example"
    assert {p["name"]: p["role"] for p in me["projects"]} == {"lab-a": "developer",
                                                             "lab-b": "developer"}
    assert os.path.isdir(os.path.join(sso.data, "home", "alice_smith")) or \
        http.get(sso.url + "/v1/fs/home/alice_smith", timeout=10).status_code == 200
    tok = sso.admin_token()
    assert sso.get("/v1/projects/lab-a", tok).status_code == 200
    # the same person again: the same account
    http2, _, _ = U.browser_login(sso, "alice", "alice-pw")
    assert U.me(sso, http2).json()["uid"] == me["uid"]
    assert audit(sso, "sso.provision", "success")
    ids = sso.get("/v1/users/alice_smith/identities", tok).json()["items"]
    assert [(i["issuer"], i["sub"]) for i in ids] == [(sso.provider.issuer, "alice")]


def test_groups_gone_take_back_only_what_sso_granted(sso):
    http, _, _ = U.browser_login(sso, "alice", "alice-pw")
    tok = sso.admin_token()
    uid_name = U.me(sso, http).json()["username"]
    # an admin adds alice by hand to a project SSO knows nothing of
    r = sso.post("/v1/projects", tok, json={"name": "manual"})
    assert r.status_code == 201, r.text
    r = sso.req("PUT", "/v1/projects/manual/members/" + uid_name, tok, json={"role": "guest"})
    assert r.status_code in (200, 204), r.text
    claims = dict(ACCOUNTS["alice"]["claims"], groups=["lab-a"])
    requests.post(sso.provider.issuer + "/test/accounts/alice", json=claims, timeout=10)
    http2, _, _ = U.browser_login(sso, "alice", "alice-pw")
    projects = {p["name"] for p in U.me(sso, http2).json()["projects"]}
    assert projects == {"lab-a", "manual"}


def test_admin_group_makes_admin_and_device_flow(sso):
    r = U.device_login(sso, "bob", "bob-pw")
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["token_type"] == "Bearer" and pair["refresh_token"]
    me = sso.get("/v1/me", pair["access_token"]).json()
    assert me["username"] == "bob" and me["admin"] is True
    # bob leaves the admin group: no longer admin at the next login
    requests.post(sso.provider.issuer + "/test/accounts/bob",
                  json={"preferred_username": "bob", "groups": []}, timeout=10)
    r = U.device_login(sso, "bob", "bob-pw")
    assert sso.get("/v1/me", r.json()["access_token"]).json()["admin"] is False


def test_cli_login_sso_and_admin_link(sso, cli_factory):
    import re
    import subprocess
    cli = cli_factory(sso)
    env = dict(os.environ, HOME=cli.home, ASAN_OPTIONS="detect_leaks=1")
    env.pop("COVE_SERVER", None)
    env.pop("COVE_TOKEN", None)
    p = subprocess.Popen([U.COVE, "login", "--sso", "--server", sso.url], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline() + p.stderr.readline()
    m = re.search(r"\(or open (\S+)\)", line)
    assert m, line
    U.device_approve(m.group(1), "eve", "eve-pw")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "Logged in to %s as eve" % sso.url in out
    assert cli.json("whoami")["username"] == "eve"
    # the admin's commands
    admin = cli_factory(sso, "admin")
    admin.login("admin", ADMIN_PASSWORD)
    sso.register("frank")
    admin.run("admin", "link-identity", "frank", "--issuer", sso.provider.issuer,
              "--sub", "frank-at-idp", check=True)
    assert "frank-at-idp" in admin.run("admin", "identities", "frank", check=True).stdout
    admin.run("admin", "unlink-identity", "frank", "--issuer", sso.provider.issuer,
              "--sub", "frank-at-idp", check=True)
    assert admin.json("admin", "identities", "frank")["items"] == []
    r = admin.run("settings", "--password-login", "off", check=True)
    assert "password login: off" in r.stdout


def test_refusals_of_the_real_provider(sso):
    # open redirects
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/v1/me", "files"):
        r = sso.get("/v1/auth/oidc/%s/start" % U.SLUG, params={"return": bad}, allow_redirects=False)
        assert r.status_code == 400, (bad, r.text)
        assert "portal's own paths" in r.json()["detail"]
    # unknown provider
    assert sso.get("/v1/auth/oidc/nope/start").status_code == 404
    # a callback without an attempt of this browser
    r = sso.get("/v1/auth/oidc/%s/callback?code=x&state=y" % U.SLUG)
    assert r.status_code == 400 and "no login in progress" in r.json()["detail"]
    # state mismatch
    http = requests.Session()
    r = http.get(sso.url + "/v1/auth/oidc/%s/start" % U.SLUG, allow_redirects=False)
    r = http.get(sso.url + "/v1/auth/oidc/%s/callback" % U.SLUG,
                 params={"code": "x", "state": "not-it", "iss": sso.provider.issuer})
    assert r.status_code == 400 and "state does not match" in r.json()["detail"]
    # iss mismatch (RFC 9207)
    http, state, _ = U.start_attempt(sso)
    r = http.get(sso.url + "/v1/auth/oidc/%s/callback" % U.SLUG,
                 params={"code": "x", "state": state, "iss": "http://127.0.0.1:1"})
    assert r.status_code == 400 and "issuer (iss)" in r.json()["detail"]
    # a replayed code: the first login used it
    http = requests.Session()
    r = http.get(sso.url + "/v1/auth/oidc/%s/start" % U.SLUG)
    r = U.provider_login(http, r, "eve", "eve-pw")
    cb = [h for h in r.history if "/callback" in h.url][0]
    import urllib.parse
    code = urllib.parse.parse_qs(urllib.parse.urlparse(cb.url).query)["code"][0]
    http2, state2, _ = U.start_attempt(sso)
    r = http2.get(sso.url + "/v1/auth/oidc/%s/callback" % U.SLUG,
                  params={"code": code, "state": state2, "iss": sso.provider.issuer})
    assert r.status_code == 401 and "refused the code" in r.json()["detail"]
    refused = audit(sso, "sso.refused")
    assert len(refused) >= 6
    # nothing secret in the log
    assert U.SECRET not in sso.output() and code not in sso.output()


def test_key_rotation_and_provider_down(sso):
    http, _, _ = U.browser_login(sso, "alice", "alice-pw")
    assert U.me(sso, http).status_code == 200
    sso.provider.rotate()
    http2, _, _ = U.browser_login(sso, "alice", "alice-pw")
    assert U.me(sso, http2).status_code == 200
    assert U.me(sso, http).status_code == 200
    sso.provider.stop()
    assert U.me(sso, http).status_code == 200  # existing sessions go on
    r = sso.post("/v1/auth/oidc/%s/device" % U.SLUG)
    assert r.status_code == 503 and "cannot be reached" in r.json()["detail"]
    assert sso.login("admin", ADMIN_PASSWORD)["access_token"]  # local logins unaffected


def test_password_login_off_but_break_glass(sso):
    tok = sso.admin_token()
    sso.register("dave")
    r = sso.req("PATCH", "/v1/settings", tok, json={"password_login": False})
    assert r.status_code == 200 and r.json()["password_login"] is False
    assert sso.get("/v1/auth/options").json()["password_login"] is False
    r = sso.post("/v1/auth/login", json={"username": "dave", "password": "Pw-dave-2026!"})
    assert r.status_code == 403 and "switched off" in r.json()["detail"]
    assert sso.login("admin", ADMIN_PASSWORD)["access_token"]


def test_link_existing_account_and_collisions(sso):
    tok = sso.admin_token()
    sso.register("carol")
    r = sso.post("/v1/users/carol/identities", tok,
                 json={"issuer": sso.provider.issuer, "sub": "carol-sub"})
    assert r.status_code == 201, r.text
    http, _, _ = U.browser_login(sso, "carol-sub", "carol-pw")
    assert U.me(sso, http).json()["username"] == "carol"
    # linked twice: refused
    r = sso.post("/v1/users/admin/identities", tok,
                 json={"issuer": sso.provider.issuer, "sub": "carol-sub"})
    assert r.status_code == 409
    # a provider user called admin never becomes the local admin
    http, _, _ = U.browser_login(sso, "admin", "admin-pw")
    got = U.me(sso, http).json()
    assert got["username"].startswith("admin-") and got["admin"] is False
    r = sso.req("DELETE", "/v1/users/carol/identities", tok,
                params={"issuer": sso.provider.issuer, "sub": "carol-sub"})
    assert r.status_code == 204
    assert sso.get("/v1/users/carol/identities", tok).json()["items"] == []


def test_logout_goes_to_the_provider(sso):
    http, _, _ = U.browser_login(sso, "eve", "eve-pw")
    csrf = http.get(sso.url + "/v1/auth/session").json()["csrf_token"]
    r = http.delete(sso.url + "/v1/auth/session", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["logout_url"].startswith(sso.provider.issuer + "/session/end?client_id=cove")
    assert U.me(sso, http).status_code == 401


def test_required_group(tmp_path):
    s = Server(os.path.join(str(tmp_path), "data"))
    prov = U.RealProvider(s.port, ACCOUNTS)
    s.args = U.oidc_args(tmp_path, prov.issuer, "--oidc-required-group", "staff")
    s.start()
    try:
        http, r, cb = U.browser_login(s, "eve", "eve-pw")
        assert cb.status_code == 403 and "'staff'" in cb.json()["detail"]
        http, r, cb = U.browser_login(s, "alice", "alice-pw")
        assert U.me(s, http).status_code == 200
        assert audit(s, "sso.refused")
    finally:
        prov.stop()
        assert s.stop() == 0
        s.assert_clean()


# ---- forged ID tokens (a fake provider) -------------------------------------------

@pytest.fixture
def fake(tmp_path):
    f = U.FakeProvider()
    s = Server(os.path.join(str(tmp_path), "data"))
    s.args = U.oidc_args(tmp_path, f.issuer, "--oidc-project-groups", "^lab-")
    s.start()
    s.fake = f
    yield s
    f.stop()
    code = s.stop()
    s.assert_clean()
    assert code == 0


def forged(s, make, expect_status=401):
    f = s.fake
    http, state, nonce = U.start_attempt(s)
    code = "c%d" % len(f.tokens)
    f.tokens[code] = make(f, nonce)
    r = U.callback(s, http, f, state, code)
    return r


CASES = [
    ("wrong iss", lambda f, n: f.sign(f.claims("u1", n, iss="https://other.example")), "wrong issuer"),
    ("wrong aud", lambda f, n: f.sign(f.claims("u1", n, aud="someone-else")), "not issued for this server"),
    ("expired", lambda f, n: f.sign(f.claims("u1", n, exp=int(time.time()) - 3600)), "expired"),
    ("future", lambda f, n: f.sign(f.claims("u1", n, iat=int(time.time()) + 3600)), "in the future"),
    ("no nonce", lambda f, n: f.sign(f.claims("u1", None)), "nonce missing"),
    ("wrong nonce", lambda f, n: f.sign(f.claims("u1", "other")), "wrong nonce"),
    ("alg none", lambda f, n: f.sign(f.claims("u1", n), alg="none"), "not a signed JWT"),
    ("HS256 with the public key", lambda f, n: f.sign(
        f.claims("u1", n), alg="HS256", key=json.dumps(f.public_jwk()).encode()), "algorithm HS256"),
    ("unknown kid", lambda f, n: f.sign(f.claims("u1", n), kid="nope"), "does not publish"),
    ("tampered", lambda f, n: tamper(f.sign(f.claims("u1", n))), "bad signature"),
    ("azp", lambda f, n: f.sign(f.claims("u1", n, aud=["cove", "x"], azp="x")), "azp"),
]


def tamper(tok):
    h, p, sig = tok.split(".")
    claims = json.loads(U.base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["sub"] = "admin"
    return h + "." + U.b64u(json.dumps(claims).encode()) + "." + sig


@pytest.mark.parametrize("name,make,msg", CASES, ids=[c[0] for c in CASES])
def test_forged_id_tokens_refused(fake, name, make, msg):
    r = forged(fake, make)
    assert r.status_code == 401, r.text
    assert msg in r.json()["detail"], r.json()
    assert "cove_session" not in r.headers.get("Set-Cookie", "")
    refused = audit(fake, "sso.refused")
    assert any(msg in (e.get("detail") or "") for e in refused), refused


def test_good_forged_path_works_and_bad_input(fake):
    r = forged(fake, lambda f, n: f.sign(f.claims("ok-user", n, groups=["lab-x"])))
    assert r.status_code == 302, r.text
    # junk of every kind: 4xx, never 5xx
    for q in ("code=%00&state=a", "state=" + "x" * 5000, "error=access_denied", ""):
        r = fake.get("/v1/auth/oidc/%s/callback?%s" % (U.SLUG, q))
        assert 400 <= r.status_code < 500, (q, r.text)
    r = fake.post("/v1/auth/oidc/%s/device/token" % U.SLUG, data="not json",
                  headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500


def one_login(s, sub):
    f = s.fake
    http, state, nonce = U.start_attempt(s)
    code = "cc-%s-%s" % (sub, state[:8])
    f.tokens[code] = f.sign(f.claims(sub, nonce, groups=["lab-c"]))
    r = U.callback(s, http, f, state, code)
    assert r.status_code == 302, r.text
    return http.get(s.url + "/v1/me", timeout=30).json()["uid"]


def test_twenty_simultaneous_first_logins(fake):
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        same = list(ex.map(lambda i: one_login(fake, "same-person"), range(20)))
        different = list(ex.map(lambda i: one_login(fake, "person-%d" % i), range(20)))
    assert len(set(same)) == 1
    assert len(set(different)) == 20 and not set(different) & set(same)
    tok = fake.admin_token()
    users = fake.get("/v1/users?limit=1000", tok).json()["items"]
    assert len([u for u in users if u["username"].startswith("same-person")]) == 1
    members = fake.get("/v1/projects/lab-c", tok).json()["members"]
    assert len(members) == 21


def test_config_file_with_two_providers(tmp_path):
    import subprocess
    f1, f2 = U.FakeProvider(), U.FakeProvider()
    cfg = tmp_path / "oidc.json"
    cfg.write_text(json.dumps({"providers": [
        {"id": "one", "name": "First IdP", "issuer": f1.issuer, "client_id": "cove",
         "client_secret": "x", "project_groups": "^lab-", "project_roles": {"lab-m": "maintainer"}},
        {"name": "Second IdP", "issuer": f2.issuer, "client_id": "cove", "client_secret": "y",
         "token_endpoint_auth_method": "client_secret_post"}]}))
    s = Server(os.path.join(str(tmp_path), "data"), None, ["--oidc-config", str(cfg)])
    s.start()
    try:
        names = [(p["id"], p["name"]) for p in s.get("/v1/auth/options").json()["providers"]]
        assert names == [("one", "First IdP"), ("second-idp", "Second IdP")]
        # a mapped role
        http = requests.Session()
        r = http.get(s.url + "/v1/auth/oidc/one/start", allow_redirects=False)
        import urllib.parse
        q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
        f1.tokens["c1"] = f1.sign(f1.claims("m1", q["nonce"][0], groups=["lab-m"]))
        r = http.get(s.url + "/v1/auth/oidc/one/callback",
                     params={"code": "c1", "state": q["state"][0], "iss": f1.issuer},
                     allow_redirects=False)
        assert r.status_code == 302, r.text
        assert http.get(s.url + "/v1/me").json()["projects"] == [{"name": "lab-m", "role": "maintainer"}]
    finally:
        f1.stop()
        f2.stop()
        assert s.stop() == 0
        s.assert_clean()
    # a bad file is refused at start, naming the problem
    cfg.write_text(json.dumps({"providers": [{"issuer": "http://evil.example", "client_id": "c"}]}))
    p = subprocess.run([U.COVE, "serve", "--data", str(tmp_path / "d2"), "--oidc-config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "https://" in p.stderr
    cfg.write_text('{"providers": [{"issuer": "https://x.example", "client_id": "c", "colour": 1}]}')
    p = subprocess.run([U.COVE, "serve", "--data", str(tmp_path / "d3"), "--oidc-config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "colour" in p.stderr


def test_unknown_kids_refetch_the_jwks_at_most_so_often(tmp_path):
    f = U.FakeProvider()
    s = Server(os.path.join(str(tmp_path), "data"), None,
               U.oidc_args(tmp_path, f.issuer)[:-2] + ["--oidc-jwks-refetch", "1h"])
    s.start()
    s.fake = f
    try:
        assert forged(s, lambda f, n: f.sign(f.claims("k1", n))).status_code == 302
        assert f.jwks_fetches == 1
        for i in range(5):
            r = forged(s, lambda f, n: f.sign(f.claims("k1", n), kid="forged-%d" % i))
            assert r.status_code == 401 and "does not publish" in r.json()["detail"]
        assert f.jwks_fetches == 1
    finally:
        f.stop()
        assert s.stop() == 0
        s.assert_clean()
