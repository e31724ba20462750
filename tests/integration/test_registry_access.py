"""cove's registry access control, where it is stricter than the reference:
the 401 Bearer challenge, the token endpoint (password, personal API token,
robot secret, wrong password, anonymous), the role matrix per project
(guest pulls, developer pushes, maintainer deletes, outsiders see nothing,
not even in /v2/_catalog) and personal namespaces `<user>/...`."""
import base64
import json

import pytest
import requests

from conftest import ADMIN_PASSWORD, start_server, unique
from registry_helpers import RegistryClient, digest, errors, make_image, parse_challenge


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    s = start_server(str(tmp_path_factory.mktemp("regaccess")))
    r = requests.get(s.url + "/v2/", timeout=10)
    if r.status_code != 401:
        s.stop()
        pytest.skip("this cove build has no registry under /v2/")
    w = {"s": s, "pw": {}, "tok": {}}
    for role in ("owner", "maintainer", "developer", "guest", "outsider"):
        name = unique(role[:3])
        w[role] = name
        w["pw"][name] = "Pw-%s-2026!" % name
        w["tok"][name] = s.register(name, w["pw"][name])
    w["proj"] = unique("rgp")
    r = s.post("/v1/projects", w["tok"][w["owner"]], json={"name": w["proj"]})
    assert r.status_code == 201, r.text
    for role in ("maintainer", "developer", "guest"):
        r = s.req("PUT", "/v1/projects/%s/members/%s" % (w["proj"], w[role]),
                  w["tok"][w["owner"]], json={"role": role})
        assert r.status_code in (200, 201, 204), r.text
    w["repo"] = w["proj"] + "/app"
    w["img"] = make_image("base")
    client(w, "owner").push_image(w["repo"], "v1", w["img"])
    yield w
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.output()[-4000:]


def client(w, role, secret=None):
    name = w[role] if role in w else role
    return RegistryClient(w["s"].url, name, secret or w["pw"][name])


def no_access(claims):
    """No action granted (an empty list, or entries with no actions)."""
    return not any(a.get("actions") for a in claims.get("access") or [])


def jwt_claims(tok):
    part = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def token(w, username, secret, *scopes):
    return requests.get(w["s"].url + "/v1/registry/token",
                        params=[("service", "cove")] + [("scope", x) for x in scopes],
                        auth=(username, secret) if username else None, timeout=30)


# ---------------------------------------------------------------- challenge

def test_challenge_format(world):
    s = world["s"]
    r = requests.get(s.url + "/v2/", timeout=10)
    assert r.status_code == 401
    scheme, p = parse_challenge(r.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert p["realm"] == s.url + "/v1/registry/token"
    assert p["service"] == "cove"
    assert "UNAUTHORIZED" in errors(r)
    r = requests.get(s.url + "/v2/%s/tags/list" % world["repo"], timeout=10)
    assert r.status_code == 401
    scheme, p = parse_challenge(r.headers["WWW-Authenticate"])
    assert p["scope"].startswith("repository:%s:pull" % world["repo"]), p
    assert "UNAUTHORIZED" in errors(r)
    # the realm follows the Host the client used
    r = requests.get(s.url + "/v2/", headers={"Host": "registry.example.org:8443"}, timeout=10)
    assert parse_challenge(r.headers["WWW-Authenticate"])[1]["realm"].startswith(
        "http://registry.example.org:8443/v1/registry/token")
    # a garbage bearer token is a 401 too, never a 5xx
    r = requests.get(s.url + "/v2/", headers={"Authorization": "Bearer not.a.jwt"}, timeout=10)
    assert r.status_code == 401


# ---------------------------------------------------------------- token endpoint

def test_token_with_password(world):
    w = world
    dev = w["developer"]
    r = token(w, dev, w["pw"][dev], "repository:%s:pull,push,delete" % w["repo"])
    assert r.status_code == 200, r.text
    body = r.json()
    for k in ("token", "access_token", "expires_in", "issued_at"):
        assert k in body, body
    assert body["expires_in"] > 0
    cl = jwt_claims(body["token"])
    assert cl["aud"] == "cove-registry" or "cove-registry" in cl["aud"]
    assert cl["sub"] == dev or cl.get("name") == dev or dev in json.dumps(cl)
    access = {(a["type"], a["name"]): sorted(a["actions"]) for a in cl["access"]}
    # granted = requested ∩ allowed: a developer may not delete
    assert access[("repository", w["repo"])] == ["pull", "push"]
    # and the token works on /v2/
    r = requests.get(w["s"].url + "/v2/%s/tags/list" % w["repo"],
                     headers={"Authorization": "Bearer " + body["token"]}, timeout=10)
    assert r.status_code == 200 and r.json()["tags"] == ["v1"]


def test_token_with_api_token_and_cove_tokens(world):
    w = world
    dev = w["developer"]
    pat = w["s"].post("/v1/tokens", w["tok"][dev], json={"name": unique("reg")}).json()["token"]
    r = token(w, dev, pat, "repository:%s:pull" % w["repo"])
    assert r.status_code == 200, r.text
    assert jwt_claims(r.json()["token"])["access"][0]["actions"] == ["pull"]
    # the registry client flow with a PAT as the password
    c = RegistryClient(w["s"].url, dev, pat)
    assert c.get_manifest(w["repo"], "v1").content == w["img"].manifest
    # personal API tokens and ordinary access tokens as Bearer on /v2/
    for bearer in (pat, w["tok"][dev]):
        r = requests.get(w["s"].url + "/v2/%s/manifests/v1" % w["repo"],
                         headers={"Authorization": "Bearer " + bearer,
                                  "Accept": w["img"].media_type}, timeout=10)
        assert r.status_code == 200 and r.content == w["img"].manifest


def test_token_refused(world):
    w = world
    dev = w["developer"]
    r = token(w, dev, "wrong-password", "repository:%s:pull" % w["repo"])
    assert r.status_code == 401
    r = token(w, "nobody-" + unique(), "whatever", "repository:%s:pull" % w["repo"])
    assert r.status_code == 401
    r = token(w, dev, "cove_pat_" + "0" * 40, "repository:%s:pull" % w["repo"])
    assert r.status_code == 401
    # anonymous: a token with no access
    r = token(w, None, None, "repository:%s:pull" % w["repo"])
    assert r.status_code == 200, r.text
    assert no_access(jwt_claims(r.json()["token"]))
    anon = r.json()["token"]
    r = requests.get(w["s"].url + "/v2/%s/tags/list" % w["repo"],
                     headers={"Authorization": "Bearer " + anon}, timeout=10)
    assert r.status_code in (401, 403, 404)
    # junk scopes give nothing, never an error page
    r = token(w, dev, w["pw"][dev], "repository:", "bogus", "repository:%s:fly" % w["repo"])
    assert r.status_code in (200, 400)
    if r.status_code == 200:
        assert no_access(jwt_claims(r.json()["token"]))


def test_token_other_audience_refused(world):
    """A token signed for another audience (the API's access token is one;
    a registry token used on /v1 is the other way round) is not a registry
    token with repository access."""
    w = world
    dev = w["developer"]
    reg = token(w, dev, w["pw"][dev], "repository:%s:pull" % w["repo"]).json()["token"]
    r = w["s"].get("/v1/me", reg)
    assert r.status_code == 401


# ---------------------------------------------------------------- role matrix

def try_push(c, repo):
    img = make_image(unique("p"))
    r = c.req("POST", "/v2/%s/blobs/uploads/" % repo)
    if r.status_code != 202:
        return r.status_code
    for b in img.blobs:
        c.push_blob(repo, b)
    return c.push_manifest(repo, unique("t"), img.manifest, img.media_type).status_code


def test_role_matrix(world):
    w = world
    repo, img = w["repo"], w["img"]
    # pull
    for role in ("owner", "maintainer", "developer", "guest"):
        c = client(w, role)
        r = c.get_manifest(repo, "v1")
        assert r.status_code == 200 and r.content == img.manifest, role
        assert c.req("GET", "/v2/%s/blobs/%s" % (repo, digest(img.blobs[1]))).content == img.blobs[1]
    out = client(w, "outsider")
    r = out.get_manifest(repo, "v1")
    assert r.status_code in (401, 403, 404), r.status_code
    assert r.content == b"" or "UNAUTHORIZED" in errors(r) or "DENIED" in errors(r) or "NAME_UNKNOWN" in errors(r)
    assert out.req("GET", "/v2/%s/blobs/%s" % (repo, digest(img.blobs[1]))).status_code in (401, 403, 404)
    assert out.req("GET", "/v2/%s/tags/list" % repo).status_code in (401, 403, 404)
    # push
    for role, ok in (("owner", True), ("maintainer", True), ("developer", True),
                     ("guest", False), ("outsider", False)):
        code = try_push(client(w, role), repo)
        assert (code == 201) == ok, (role, code)
        if not ok:
            assert code in (401, 403, 404), (role, code)
    # a refused push leaves nothing: no new tags from guest/outsider
    # mount from a repository the actor cannot read is refused (no blob leak)
    other_proj = unique("rgq")
    assert w["s"].post("/v1/projects", w["tok"][w["outsider"]], json={"name": other_proj}).status_code == 201
    oc = client(w, "outsider")
    d = digest(img.blobs[1])
    r = oc.req("POST", "/v2/%s/x/blobs/uploads/?mount=%s&from=%s" % (other_proj, d, repo))
    assert r.status_code in (202, 401, 403), r.status_code
    assert oc.req("HEAD", "/v2/%s/x/blobs/%s" % (other_proj, d)).status_code in (401, 404)
    # delete: maintainer and owner only
    victim = make_image(unique("v"))
    client(w, "developer").push_image(repo, "victim", victim)
    for role in ("developer", "guest", "outsider"):
        r = client(w, role).req("DELETE", "/v2/%s/manifests/%s" % (repo, victim.digest))
        assert r.status_code in (401, 403, 404), (role, r.status_code)
    assert client(w, "developer").get_manifest(repo, "victim").status_code == 200
    r = client(w, "maintainer").req("DELETE", "/v2/%s/manifests/%s" % (repo, victim.digest))
    assert r.status_code == 202, r.text
    assert client(w, "developer").get_manifest(repo, "victim").status_code == 404
    # the owner's token says what each role is granted
    for role, actions in (("guest", ["pull"]), ("developer", ["pull", "push"]),
                          ("maintainer", ["delete", "pull", "push"]), ("outsider", [])):
        name = w[role]
        r = token(w, name, w["pw"][name], "repository:%s:pull,push,delete" % repo)
        acc = jwt_claims(r.json()["token"]).get("access") or []
        got = sorted(acc[0]["actions"]) if acc else []
        assert got == actions, (role, acc)


def catalog(c):
    r = c.req("GET", "/v2/_catalog?n=1000")
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["repositories"]


def test_catalog_only_own(world):
    w = world
    for role in ("owner", "developer", "guest"):
        assert w["repo"] in catalog(client(w, role)), role
    out = catalog(client(w, "outsider"))
    assert not any(x.startswith(w["proj"] + "/") for x in out), out
    admin = RegistryClient(w["s"].url, "admin", ADMIN_PASSWORD)
    assert w["repo"] in catalog(admin)
    # anonymous: nothing (401 or an empty list)
    r = requests.get(w["s"].url + "/v2/_catalog", timeout=10)
    assert r.status_code == 401 or r.json()["repositories"] == []


def test_personal_namespace(world):
    w = world
    dev, out = w["developer"], w["outsider"]
    c = client(w, "developer")
    img = make_image("mine")
    c.push_image("%s/tools/env" % dev, "1.0", img)
    assert c.get_manifest("%s/tools/env" % dev, "1.0").content == img.manifest
    assert "%s/tools/env" % dev in catalog(c)
    o = client(w, "outsider")
    assert o.get_manifest("%s/tools/env" % dev, "1.0").status_code in (401, 403, 404)
    assert try_push(o, "%s/tools/env" % dev) in (401, 403, 404)
    assert "%s/tools/env" % dev not in catalog(o)
    # a user cannot push into another user's namespace, nor into a project
    # or namespace that does not exist
    assert try_push(c, "%s/stolen" % out) in (401, 403, 404)
    assert try_push(c, "%s/x" % unique("noproj")) in (401, 403, 404)
    # the owner deletes in their own namespace
    r = c.req("DELETE", "/v2/%s/tools/env/manifests/%s" % (dev, img.digest))
    assert r.status_code == 202


def test_robot_accounts(world):
    w = world
    s, owner = w["s"], w["tok"][w["owner"]]
    base = "/v1/projects/%s/robots" % w["proj"]
    r = s.post(base, owner, json={"name": "ci", "role": "developer"})
    assert r.status_code == 201, r.text
    ci = r.json()
    assert ci.get("secret")
    login = "%s+ci" % w["proj"]
    r = s.post(base, owner, json={"name": "reader", "role": "guest"})
    assert r.status_code == 201, r.text
    reader = r.json()
    assert s.post(base, owner, json={"name": "ci", "role": "guest"}).status_code == 409
    assert s.post(base, owner, json={"name": "boss", "role": "owner"}).status_code == 400
    assert s.post(base, w["tok"][w["developer"]], json={"name": "x", "role": "guest"}).status_code in (403, 404)
    lst = s.get(base, owner).json()
    items = lst["items"] if isinstance(lst, dict) else lst
    assert sorted(x["name"] for x in items) == ["ci", "reader"]
    assert all("secret" not in x for x in items)
    # the developer robot pushes and pulls; the guest robot pulls only
    rc = RegistryClient(s.url, login, ci["secret"])
    assert try_push(rc, w["repo"]) == 201
    rr = RegistryClient(s.url, "%s+reader" % w["proj"], reader["secret"])
    assert rr.get_manifest(w["repo"], "v1").status_code == 200
    assert try_push(rr, w["repo"]) in (401, 403)
    # wrong secret, robot of another project
    assert token(w, login, "nope", "repository:%s:pull" % w["repo"]).status_code == 401
    # nothing outside its project
    r = token(w, login, ci["secret"], "repository:%s/x:pull" % w["developer"])
    assert r.status_code == 200 and no_access(jwt_claims(r.json()["token"]))
    # deleted: can no longer log in
    rid = next(x for x in items if x["name"] == "ci")
    key = rid.get("id") or rid["name"]
    assert s.req("DELETE", "%s/%s" % (base, key), owner).status_code == 204
    assert token(w, login, ci["secret"], "repository:%s:pull" % w["repo"]).status_code == 401


def test_quota_on_push(world):
    w = world
    s = w["s"]
    proj = unique("rgq")
    owner = w["tok"][w["owner"]]
    assert s.post("/v1/projects", owner, json={"name": proj}).status_code == 201
    r = s.req("PATCH", "/v1/projects/" + proj, s.admin_token(),
              json={"quota": {"storage_bytes": 1_000_000}})
    assert r.status_code == 200, r.text
    c = client(w, "owner")
    name = proj + "/q"
    first = b"a" * 600_000
    c.push_blob(name, first)
    # the same bytes again (another repository of the project): no new usage
    c.push_blob(proj + "/q2", first)
    second = b"b" * 600_000
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    r = c.req("PUT", loc + ("&" if "?" in loc else "?") + "digest=" + digest(second), data=second,
              headers={"Content-Type": "application/octet-stream"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert set(errors(r)) & {"DENIED", "SIZE_INVALID", "BLOB_UPLOAD_INVALID", "TOOMANYREQUESTS"}, r.text
    assert "quota" in r.text.lower()
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, digest(second))).status_code == 404
    # chunked: refused by the end at the latest, nothing visible
    loc = c.abs(c.req("POST", "/v2/%s/blobs/uploads/" % name).headers["Location"])
    r = c.req("PATCH", loc, data=second, headers={"Content-Type": "application/octet-stream"})
    if r.status_code == 202:
        r = c.req("PUT", c.abs(r.headers["Location"]) + ("&" if "?" in r.headers["Location"] else "?")
                  + "digest=" + digest(second))
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert c.req("HEAD", "/v2/%s/blobs/%s" % (name, digest(second))).status_code == 404
    # a small image still fits
    c.push_image(name, "small", make_image(layer_size=1000))


def test_revocation_takes_effect_at_once(world):
    """A registry token outlives a membership only on paper: removing the
    member (or deleting the robot) stops the very next request."""
    w = world
    s = w["s"]
    u = unique("rev")
    pw = "Pw-%s-2026!" % u
    s.register(u, pw)
    owner = w["tok"][w["owner"]]
    assert s.req("PUT", "/v1/projects/%s/members/%s" % (w["proj"], u), owner,
                 json={"role": "developer"}).status_code in (200, 201, 204)
    r = token(w, u, pw, "repository:%s:pull,push" % w["repo"])
    tok = r.json()["token"]
    hdr = {"Authorization": "Bearer " + tok, "Accept": w["img"].media_type}
    assert requests.get(s.url + "/v2/%s/manifests/v1" % w["repo"], headers=hdr, timeout=10).status_code == 200
    assert s.req("DELETE", "/v1/projects/%s/members/%s" % (w["proj"], u), owner).status_code == 204
    r = requests.get(s.url + "/v2/%s/manifests/v1" % w["repo"], headers=hdr, timeout=10)
    assert r.status_code in (401, 403), r.status_code
    r = requests.post(s.url + "/v2/%s/blobs/uploads/" % w["repo"], headers=hdr, timeout=10)
    assert r.status_code in (401, 403), r.status_code


def test_read_only_api_token_pulls_only(world):
    w = world
    dev = w["developer"]
    pat = w["s"].post("/v1/tokens", w["tok"][dev], json={"name": unique("ro"), "scopes": ["read"]})
    assert pat.status_code == 201, pat.text
    c = RegistryClient(w["s"].url, dev, pat.json()["token"])
    assert c.get_manifest(w["repo"], "v1").content == w["img"].manifest
    assert try_push(c, w["repo"]) in (401, 403)
