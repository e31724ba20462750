"""The authorization matrix: every route called anonymously, as another
user, as the user who owns the resource, and as an admin (in that order,
since the later calls may change things), with the status each must get.
A route missing from the matrix fails the test, so new routes are added
here when they are written."""
import atexit
import shutil
import subprocess
import tempfile

import pytest

from conftest import COVE, unique

_BACKUPS = tempfile.mkdtemp(prefix="cove-authz-backups-")
atexit.register(shutil.rmtree, _BACKUPS, True)

ANON, OTHER, USER, ADMIN = "anon", "other", "user", "admin"
_CTX = {}


def fresh(s, admin, user_tok, ctx):
    """Resources made anew for each route, so destructive calls do not
    disturb the next row."""
    ctx["victim"] = unique("vic")
    s.post("/v1/users", admin, json={"username": ctx["victim"]})
    ctx["group"] = unique("grp")
    s.post("/v1/groups", admin, json={"name": ctx["group"], "members": [ctx["self"]]})
    ctx["proj"] = unique("prj")
    r = s.post("/v1/projects", user_tok, json={"name": ctx["proj"]})
    assert r.status_code == 201, r.text
    s.req("PUT", "/v1/projects/%s/members/%s" % (ctx["proj"], ctx["other"]), user_tok,
          json={"role": "guest"})
    ctx["token"] = s.post("/v1/tokens", user_tok, json={"name": unique("t")}).json()["id"]
    link = s.post("/v1/shares", user_tok, json={"path": "/home/" + ctx["self"]}).json()
    ctx["share"], ctx["sharetoken"] = link["id"], link["token"]
    _CTX.update(ctx)
    ctx["upload"] = s.post("/v1/uploads", user_tok, json={
        "path": "/home/%s/%s" % (ctx["self"], unique("sess"))}).json()["id"]
    ctx["volume"] = unique("vol")
    s.post("/v1/volumes", admin, json={"name": ctx["volume"]})
    r = s.post("/v1/jobs", user_tok, json={"app": "bash", "script": "sleep 60", "cpu": 0.1,
                                         "time": "90s"})
    assert r.status_code == 201, r.text
    ctx["job"] = r.json()["id"]
    ctx["app"] = unique("app")
    s.post("/v1/apps", admin, json={"name": ctx["app"], "command": ["/bin/true"]})
    ctx["queue"] = unique("q")
    s.post("/v1/queues", admin, json={"name": ctx["queue"]})
    ctx["doomed"] = unique("doomed")
    r = s.req("PUT", "/v1/fs/home/%s/%s" % (ctx["self"], ctx["doomed"]), user_tok, data=b"bye")
    assert r.status_code in (200, 201), r.text
    ctx["robot"] = unique("rb")
    r = s.post("/v1/projects/%s/robots" % ctx["proj"], user_tok, json={"name": ctx["robot"]})
    assert r.status_code == 201, r.text
    r = s.post("/v1/projects/%s/tag-rules" % ctx["proj"], user_tok, json={"tag": "v*"})
    assert r.status_code == 201, r.text
    ctx["rule"] = r.json()["id"]
    r = s.post("/v1/projects/%s/retention" % ctx["proj"], user_tok, json={"keep": 5})
    assert r.status_code == 201, r.text
    ctx["retention"] = r.json()["id"]


def new_user_body():
    n = unique("nu")
    return {"username": n, "email": n + "@x.org", "password": "Good-pass-123"}


TEXT = ("text", "imp%s:x:%d:%d::/home/x:/bin/sh\n")

# method, path, body (callable or value), expected statuses by caller
MATRIX = [
    ("GET", "/healthz", None, {ANON: 200, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/readyz", None, {ANON: 200, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/metrics", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("GET", "/v1/openapi.json", None, {ANON: 200, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/.well-known/jwks.json", None, {ANON: 200, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/auth/register", new_user_body, {ANON: 201, OTHER: 201, USER: 201, ADMIN: 201}),
    ("POST", "/v1/auth/login", {"username": "admin", "password": "wrong-Pass-1"},
     {ANON: 401, OTHER: 401, USER: 401, ADMIN: 401}),
    ("POST", "/v1/auth/refresh", {"refresh_token": "cove_rt_bogus"},
     {ANON: 401, OTHER: 401, USER: 401, ADMIN: 401}),
    ("POST", "/v1/auth/logout", {"refresh_token": "cove_rt_bogus"},
     {ANON: 401, OTHER: 400, USER: 400, ADMIN: 400}),
    ("GET", "/v1/auth/options", None, {ANON: 200, OTHER: 200, USER: 200, ADMIN: 200}),
    # no provider is configured on the shared server: every one is unknown
    ("GET", "/v1/auth/oidc/nope/start", None, {ANON: 404, OTHER: 404, USER: 404, ADMIN: 404}),
    ("GET", "/v1/auth/oidc/nope/callback", None, {ANON: 404, OTHER: 404, USER: 404, ADMIN: 404}),
    ("POST", "/v1/auth/oidc/nope/device", None, {ANON: 404, OTHER: 404, USER: 404, ADMIN: 404}),
    ("POST", "/v1/auth/oidc/nope/device/token", {"device_id": "x"},
     {ANON: 404, OTHER: 404, USER: 404, ADMIN: 404}),
    ("GET", "/v1/users/{self}/identities", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("POST", "/v1/users/{self}/identities", {"issuer": "https://nope.example", "sub": "x"},
     {ANON: 401, OTHER: 403, USER: 403, ADMIN: 400}),
    ("DELETE", "/v1/users/{self}/identities", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 400}),
    ("POST", "/v1/auth/session", {"username": "nobody-here", "password": "wrong-Pass-1"},
     {ANON: 401, OTHER: 401, USER: 401, ADMIN: 401}),
    ("GET", "/v1/auth/session", None, {ANON: 401, OTHER: 404, USER: 404, ADMIN: 404}),
    ("DELETE", "/v1/auth/session", None, {ANON: 401, OTHER: 204, USER: 204, ADMIN: 204}),
    ("GET", "/v1/sessions", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("DELETE", "/v1/sessions", None, {ANON: 401, OTHER: 204, USER: 204, ADMIN: 204}),
    ("DELETE", "/v1/sessions/01M8NOSUCHSESSION000000000", None,
     {ANON: 401, OTHER: 404, USER: 404, ADMIN: 404}),
    ("GET", "/v1/me", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("PATCH", "/v1/me", {"full_name": "Someone"}, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/me/password", {"current_password": "Not-it-123", "new_password": "New-pass-456"},
     {ANON: 401, OTHER: 403, USER: 403, ADMIN: 403}),
    ("GET", "/v1/tokens", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/tokens", lambda: {"name": unique("tok")}, {ANON: 401, OTHER: 201, USER: 201, ADMIN: 201}),
    ("DELETE", "/v1/tokens/{token}", None, {ANON: 401, OTHER: 404, USER: 204, ADMIN: 404}),
    ("GET", "/v1/users", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("POST", "/v1/users", lambda: {"username": unique("cu")}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 201}),
    ("POST", "/v1/users/import", lambda: ("text", "%s:x:%d:%d::/h:/bin/sh\n" % (
        unique("iu"), 20000 + int(unique("")[1:]) % 10000, 20000 + int(unique("")[1:]) % 10000)),
     {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("GET", "/v1/users/{self}", None, {ANON: 401, OTHER: 403, USER: 200, ADMIN: 200}),
    ("PATCH", "/v1/users/{self}", {"full_name": "Changed"}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("DELETE", "/v1/users/{victim}", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 204}),
    ("GET", "/v1/groups", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/groups", lambda: {"name": unique("ng")}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 201}),
    ("POST", "/v1/groups/import", lambda: ("text", "%s:x:%d:\n" % (
        unique("ig"), 40000 + int(unique("")[1:]) % 10000)),
     {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("GET", "/v1/groups/{group}", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("PATCH", "/v1/groups/{group}", lambda: {"name": unique("rn")}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("DELETE", "/v1/groups/{group}", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 204}),
    ("PUT", "/v1/groups/{group}/members/{other}", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 204}),
    ("DELETE", "/v1/groups/{group}/members/{self}", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 204}),
    ("GET", "/v1/projects", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/projects", lambda: {"name": unique("np")}, {ANON: 401, OTHER: 201, USER: 201, ADMIN: 201}),
    ("GET", "/v1/projects/{proj}", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("PATCH", "/v1/projects/{proj}", {"description": "d"}, {ANON: 401, OTHER: 403, USER: 200, ADMIN: 200}),
    ("DELETE", "/v1/projects/{proj}", None, {ANON: 401, OTHER: 403, USER: 204, ADMIN: 404}),
    ("GET", "/v1/projects/{proj}/members", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("PUT", "/v1/projects/{proj}/members/{victim}", {"role": "developer"},
     {ANON: 401, OTHER: 403, USER: 200, ADMIN: 200}),
    ("DELETE", "/v1/projects/{proj}/members/{other}", None, {ANON: 401, OTHER: 204, USER: 404, ADMIN: 404}),
    ("GET", "/v1/settings", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("PATCH", "/v1/settings", {"registration": True}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("POST", "/v1/admin/keys/rotate", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("GET", "/v1/admin/overview", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("GET", "/v1/admin/diagnose", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("GET", "/v1/audit", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("GET", "/v1/fs/home/{self}", None, {ANON: 401, OTHER: 403, USER: 200, ADMIN: 200}),
    ("PUT", "/v1/fs/home/{self}/upload.bin", ("bytes", "payload"),
     {ANON: 401, OTHER: 403, USER: 201, ADMIN: 200}),
    ("POST", "/v1/fs/home/{self}/{doomed}-dir", {"op": "mkdir"},
     {ANON: 401, OTHER: 403, USER: 201, ADMIN: 409}),
    ("PATCH", "/v1/fs/home/{self}", {"mode": "0700"}, {ANON: 401, OTHER: 403, USER: 200, ADMIN: 200}),
    ("DELETE", "/v1/fs/home/{self}/{doomed}", None, {ANON: 401, OTHER: 403, USER: 204, ADMIN: 404}),
    ("POST", "/v1/admin/fsck", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("POST", "/v1/admin/gc", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("POST", "/v1/admin/backup", lambda: {"dir": "%s/%s" % (_BACKUPS, unique("b"))},
     {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("POST", "/v1/uploads", lambda: {"path": "/home/%s/%s" % (_CTX["self"], unique("up"))},
     {ANON: 401, OTHER: 403, USER: 201, ADMIN: 201}),
    ("GET", "/v1/uploads/{upload}", None, {ANON: 401, OTHER: 404, USER: 200, ADMIN: 404}),
    ("PATCH", "/v1/uploads/{upload}", None, {ANON: 401, OTHER: 400, USER: 400, ADMIN: 400}),
    ("POST", "/v1/uploads/{upload}/complete", None, {ANON: 401, OTHER: 404, USER: 201, ADMIN: 404}),
    ("DELETE", "/v1/uploads/{upload}", None, {ANON: 401, OTHER: 404, USER: 204, ADMIN: 404}),
    ("GET", "/v1/volumes", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/volumes", lambda: {"name": unique("vol")}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 201}),
    ("PATCH", "/v1/volumes/{volume}", {"capacity_bytes": 10}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("DELETE", "/v1/volumes/{volume}", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 204}),
    ("GET", "/v1/df", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/shares", lambda: {"path": "/home/" + _CTX["self"]},
     {ANON: 401, OTHER: 403, USER: 201, ADMIN: 201}),
    ("GET", "/v1/shares", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("DELETE", "/v1/shares/{share}", None, {ANON: 401, OTHER: 404, USER: 204, ADMIN: 404}),
    ("GET", "/s/{sharetoken}", None, {ANON: 200, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/s/{sharetoken}/missing", None, {ANON: 404, OTHER: 404, USER: 404, ADMIN: 404}),
    ("POST", "/v1/jobs", {"app": "bash", "script": "true", "cpu": 0.1},
     {ANON: 401, OTHER: 201, USER: 201, ADMIN: 201}),
    ("GET", "/v1/jobs", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/v1/jobs/{job}", None, {ANON: 401, OTHER: 404, USER: 200, ADMIN: 200}),
    ("GET", "/v1/jobs/{job}/logs", None, {ANON: 401, OTHER: 404, USER: 200, ADMIN: 200}),
    ("POST", "/v1/jobs/{job}/cancel", None, {ANON: 401, OTHER: 404, USER: 200, ADMIN: 409}),
    # a job of {proj}, where other is a guest: seen, not cancelled
    ("GET", "/v1/jobs?project={proj}", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/v1/jobs/{pjob}", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/v1/jobs/{pjob}/logs", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/jobs/{pjob}/cancel", None, {ANON: 401, OTHER: 403, USER: 200, ADMIN: 409}),
    ("GET", "/v1/apps", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/apps", lambda: {"name": unique("app"), "command": ["/bin/true"]},
     {ANON: 401, OTHER: 403, USER: 403, ADMIN: 201}),
    ("GET", "/v1/apps/bash", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("PUT", "/v1/apps/{app}", {"command": ["/bin/true"]}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("DELETE", "/v1/apps/{app}", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 204}),
    ("GET", "/v1/queues", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/queues", lambda: {"name": unique("q")}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 201}),
    ("GET", "/v1/queues/default", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("PATCH", "/v1/queues/{queue}", {"priority": 1}, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 200}),
    ("DELETE", "/v1/queues/{queue}", None, {ANON: 401, OTHER: 403, USER: 403, ADMIN: 204}),
    # the registry: the caller's project is {proj}, where other is a guest
    ("GET", "/v2/", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/v2/_catalog", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/v2/{proj}/app/tags/list", None, {ANON: 401, OTHER: 404, USER: 404, ADMIN: 404}),
    ("GET", "/v2/{self}/app/manifests/latest", None, {ANON: 401, OTHER: 403, USER: 404, ADMIN: 404}),
    ("POST", "/v2/{proj}/app/blobs/uploads/", None, {ANON: 401, OTHER: 403, USER: 202, ADMIN: 202}),
    ("PATCH", "/v2/{proj}/app/blobs/uploads/nosuchsession", ("bytes", "x"),
     {ANON: 401, OTHER: 403, USER: 404, ADMIN: 404}),
    ("PUT", "/v2/{proj}/app/manifests/latest", {"schemaVersion": 2},
     {ANON: 401, OTHER: 403, USER: 400, ADMIN: 400}),
    ("DELETE", "/v2/{proj}/app/manifests/latest", None, {ANON: 401, OTHER: 403, USER: 404, ADMIN: 404}),
    ("GET", "/v1/registry/token", None, {ANON: 200, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/v1/projects/{proj}/robots", None, {ANON: 401, OTHER: 403, USER: 200, ADMIN: 200}),
    ("POST", "/v1/projects/{proj}/robots", lambda: {"name": unique("rb")},
     {ANON: 401, OTHER: 403, USER: 201, ADMIN: 201}),
    ("DELETE", "/v1/projects/{proj}/robots/{robot}", None, {ANON: 401, OTHER: 403, USER: 204, ADMIN: 404}),
    ("GET", "/v1/projects/{proj}/tag-rules", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/projects/{proj}/tag-rules", {"tag": "v*"}, {ANON: 401, OTHER: 403, USER: 201, ADMIN: 201}),
    ("DELETE", "/v1/projects/{proj}/tag-rules/{rule}", None, {ANON: 401, OTHER: 403, USER: 204, ADMIN: 404}),
    ("GET", "/v1/projects/{proj}/retention", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("POST", "/v1/projects/{proj}/retention", {"keep": 5}, {ANON: 401, OTHER: 403, USER: 201, ADMIN: 201}),
    ("DELETE", "/v1/projects/{proj}/retention/{retention}", None, {ANON: 401, OTHER: 403, USER: 204, ADMIN: 404}),
    ("POST", "/v1/registry/gc", lambda: {"project": _CTX["proj"], "dry_run": True},
     {ANON: 401, OTHER: 403, USER: 200, ADMIN: 200}),
    ("GET", "/v1/registry/tags/{proj}/app", None, {ANON: 401, OTHER: 404, USER: 404, ADMIN: 404}),
    ("GET", "/v1/registry/repositories", None, {ANON: 401, OTHER: 200, USER: 200, ADMIN: 200}),
    ("GET", "/v1/registry/repositories/{proj}/app", None, {ANON: 401, OTHER: 404, USER: 404, ADMIN: 404}),
    ("PATCH", "/v1/registry/repositories/{proj}/app", {"immutable_tags": True},
     {ANON: 401, OTHER: 403, USER: 404, ADMIN: 404}),
    ("DELETE", "/v1/registry/images/{proj}/app:latest", None,
     {ANON: 401, OTHER: 403, USER: 404, ADMIN: 404}),
]


def pattern_regex(pattern):
    import re
    rx = re.sub(r"\{[a-z]+\*\}", "\x00", pattern)
    rx = re.sub(r"\{[a-z]+\}", "\x01", rx)
    rx = re.escape(rx).replace("\x00", ".*").replace("\x01", "[^/]+")
    return re.compile("^" + rx + "$")


def test_matrix_covers_every_route():
    routes = subprocess.run([COVE, "routes"], capture_output=True, text=True, check=True).stdout.split("\n")
    served = [tuple(l.split()) for l in routes if l.strip()]
    untested = []
    for method, pattern in served:
        rx = pattern_regex(pattern)
        if not any(m == method and rx.match(p) for m, p, _, _ in MATRIX):
            untested.append((method, pattern))
    assert not untested, ("routes missing from the matrix", untested)


@pytest.mark.parametrize("method,path,body,expect", MATRIX, ids=["%s %s" % (m, p) for m, p, _, _ in MATRIX])
def test_authorization(shared_server, method, path, body, expect):
    s = shared_server
    if not hasattr(s, "matrix_ctx"):
        user, other = unique("mu"), unique("mo")
        s.matrix_ctx = {"self": user, "other": other,
                        "tokens": {USER: s.register(user), OTHER: s.register(other),
                                   ADMIN: s.admin_token(), ANON: None}}
    ctx = dict(s.matrix_ctx)
    tokens = ctx["tokens"]
    fresh(s, tokens[ADMIN], tokens[USER], ctx)
    if "{pjob}" in path:
        r = s.post("/v1/jobs", tokens[USER], json={"app": "bash", "script": "sleep 60", "cpu": 0.1,
                                                 "time": "90s", "project": ctx["proj"]})
        assert r.status_code == 201, r.text
        ctx["pjob"] = r.json()["id"]
    url = path.format(**ctx)
    for who in (ANON, OTHER, USER, ADMIN):
        b = body() if callable(body) else body
        kw = {}
        if isinstance(b, tuple) and b[0] == "bytes":
            kw = {"data": b[1].encode()}
        elif isinstance(b, tuple):
            kw = {"data": b[1].encode(), "headers": {"Content-Type": "text/plain"}}
        elif b is not None:
            kw = {"json": b}
        r = s.req(method, url, tokens[who], **kw)
        assert r.status_code == expect[who], "%s %s as %s: %d %s" % (method, url, who, r.status_code, r.text)
        if r.status_code >= 400 and path.startswith("/v2/"):
            assert r.json()["errors"][0]["code"], r.text  # OCI error bodies
        elif r.status_code >= 400:
            assert r.headers["Content-Type"] == "application/problem+json"
            assert r.json()["status"] == r.status_code and r.json()["detail"]
