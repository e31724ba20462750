"""Every administrative operation on users, groups and projects, as an admin
drives it over HTTP, and the audit trail it leaves."""
from conftest import unique


def test_user_lifecycle(shared_server):
    s = shared_server
    at = s.admin_token()
    name = unique("usr")
    r = s.post("/v1/users", at, json={"username": name, "email": name + "@x.org",
                                       "password": "Init-pass-123", "full_name": "Ada Lovelace"})
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["full_name"] == "Ada Lovelace" and u["state"] == "active"
    assert s.get("/v1/users/" + name, at).json()["uid"] == u["uid"]
    # modify: email, name, umask, admin rights
    r = s.req("PATCH", "/v1/users/" + name, at, json={"email": "new-" + name + "@x.org",
                                                       "full_name": "Ada L.", "umask": "0027",
                                                       "admin": True})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["email"] == "new-" + name + "@x.org" and u["umask"] == "0027" and u["admin"] is True
    assert "admin" in u["groups"]
    ut = s.login(name, "Init-pass-123")["access_token"]
    assert s.get("/v1/users", ut).status_code == 200
    r = s.req("PATCH", "/v1/users/" + name, at, json={"admin": False})
    assert r.json()["admin"] is False
    assert s.get("/v1/users", ut).status_code == 403
    # lock: existing sessions stop working and login is refused
    r = s.req("PATCH", "/v1/users/" + name, at, json={"state": "locked"})
    assert r.status_code == 200 and r.json()["state"] == "locked"
    assert s.get("/v1/me", ut).status_code == 401
    r = s.post("/v1/auth/login", json={"username": name, "password": "Init-pass-123"})
    assert r.status_code == 403 and "locked" in r.json()["detail"]
    s.req("PATCH", "/v1/users/" + name, at, json={"state": "active", "password": "Reset-pass-456"})
    s.login(name, "Reset-pass-456")
    # bad modifications
    assert s.req("PATCH", "/v1/users/" + name, at, json={"state": "frozen"}).status_code == 400
    assert s.req("PATCH", "/v1/users/" + name, at, json={"umask": "999"}).status_code == 400
    assert s.req("PATCH", "/v1/users/" + name, at, json={"uid": 5}).status_code == 400
    assert s.req("PATCH", "/v1/users/nosuchuser", at, json={"full_name": "x"}).status_code == 404
    # delete
    assert s.req("DELETE", "/v1/users/" + name, at).status_code == 204
    assert s.get("/v1/users/" + name, at).status_code == 404
    assert s.get("/v1/groups/" + name, at).status_code == 404
    assert s.req("DELETE", "/v1/users/" + name, at).status_code == 404


def test_admin_cannot_remove_itself(shared_server):
    s = shared_server
    at = s.admin_token()
    assert s.req("DELETE", "/v1/users/admin", at).status_code == 409
    assert s.req("PATCH", "/v1/users/admin", at, json={"state": "locked"}).status_code == 409
    assert s.req("PATCH", "/v1/users/admin", at, json={"admin": False}).status_code == 409


def test_user_list_paginates(shared_server):
    s = shared_server
    at = s.admin_token()
    for _ in range(5):
        s.post("/v1/users", at, json={"username": unique("pg")})
    seen, cursor = [], None
    for _ in range(100):
        r = s.get("/v1/users?limit=2" + ("&cursor=" + cursor if cursor else ""), at)
        assert r.status_code == 200
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and "admin" in seen and len(seen) >= 6
    assert s.get("/v1/users?limit=0", at).status_code == 400
    assert s.get("/v1/users?limit=abc", at).status_code == 400
    assert s.get("/v1/users?cursor=zz", at).status_code == 400


def test_passwd_export_import(shared_server):
    s = shared_server
    at = s.admin_token()
    r = s.get("/v1/users?format=passwd", at)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert r.text.startswith("admin:x:1000:1000:")
    text = ("# imported\n"
            "imp1:x:5001:5001:Imported One,,,:/home/imp1:/bin/bash\n"
            "imp2:x:5002:5002::/home/imp2:/bin/sh\n"
            "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            "broken line\n"
            "imp1:x:5003:5003::/home/imp1:/bin/sh\n")
    r = s.post("/v1/users/import", at, data=text.encode(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["created"] == ["imp1", "imp2"]
    reasons = {x["line"]: x["reason"] for x in rep["skipped"]}
    assert "system" in reasons[4] and "passwd" in reasons[5] and "taken" in reasons[6]
    u = s.get("/v1/users/imp1", at).json()
    assert u["uid"] == 5001 and u["gid"] == 5001 and u["full_name"] == "Imported One"
    assert u["has_password"] is False
    assert "imp1:x:5001:5001:Imported One:/home/imp1:/bin/sh" in s.get("/v1/users?format=passwd", at).text
    # JSON is refused on a text route
    r = s.post("/v1/users/import", at, json={"x": 1})
    assert r.status_code == 415


def test_groups(shared_server):
    s = shared_server
    at = s.admin_token()
    a, b = unique("gm"), unique("gm")
    s.post("/v1/users", at, json={"username": a})
    s.post("/v1/users", at, json={"username": b})
    g = unique("grp")
    r = s.post("/v1/groups", at, json={"name": g, "members": [a]})
    assert r.status_code == 201, r.text
    assert r.json()["members"] == [a] and r.json()["kind"] == "group"
    assert s.req("PUT", "/v1/groups/%s/members/%s" % (g, b), at).status_code == 204
    assert s.get("/v1/groups/" + g, at).json()["members"] == sorted([a, b])
    assert g in s.get("/v1/users/" + b, at).json()["groups"]
    assert s.req("DELETE", "/v1/groups/%s/members/%s" % (g, a), at).status_code == 204
    assert s.req("DELETE", "/v1/groups/%s/members/%s" % (g, a), at).status_code == 404
    g2 = unique("ren")
    r = s.req("PATCH", "/v1/groups/" + g, at, json={"name": g2})
    assert r.status_code == 200 and r.json()["name"] == g2
    assert s.get("/v1/groups/" + g, at).status_code == 404
    # user-private groups are not renamed or deleted on their own
    assert s.req("PATCH", "/v1/groups/" + a, at, json={"name": unique("x")}).status_code == 409
    assert s.req("DELETE", "/v1/groups/" + a, at).status_code == 409
    # names are shared between users and groups
    assert s.post("/v1/groups", at, json={"name": a}).status_code == 409
    assert s.post("/v1/users", at, json={"username": g2}).status_code == 409
    assert s.post("/v1/groups", at, json={"name": g2 + "x", "members": ["nobody-here"]}).status_code == 404
    # group file export
    text = s.get("/v1/groups?format=group", at).text
    assert "%s:x:%d:%s\n" % (g2, r.json()["gid"], b) in text
    assert s.req("DELETE", "/v1/groups/" + g2, at).status_code == 204
    # import
    imp = unique("gi")
    r = s.post("/v1/groups/import", at, data=("%s:x:7001:%s,%s\nroot:x:0:\n" % (imp, a, b)).encode(),
               headers={"Content-Type": "text/plain"})
    assert r.json()["created"] == [imp] and len(r.json()["skipped"]) == 1
    assert s.get("/v1/groups/" + imp, at).json()["gid"] == 7001


def test_projects(shared_server):
    s = shared_server
    at = s.admin_token()
    owner, dev, guest, outsider = (unique("po") for _ in range(4))
    tok = {n: s.register(n) for n in (owner, dev, guest, outsider)}
    p = unique("proj")
    r = s.post("/v1/projects", tok[owner], json={"name": p, "description": "MRI study"})
    assert r.status_code == 201, r.text
    pj = r.json()
    assert pj["members"] == [{"username": owner, "role": "owner"}]
    assert pj["quota"] == {"storage_bytes": 0, "jobs": 0, "cpu": 0, "memory_bytes": 0}
    # quotas are the admin's
    assert s.req("PATCH", "/v1/projects/" + p, tok[owner], json={"quota": {"jobs": 5}}).status_code == 403
    r = s.req("PATCH", "/v1/projects/" + p, at, json={"quota": {"jobs": 5, "storage_bytes": 10 ** 9}})
    assert r.status_code == 200 and r.json()["quota"]["jobs"] == 5
    assert s.req("PATCH", "/v1/projects/" + p, at, json={"quota": {"jobs": -1}}).status_code == 400
    # members
    assert s.req("PUT", "/v1/projects/%s/members/%s" % (p, dev), tok[owner], json={"role": "developer"}).status_code == 200
    assert s.req("PUT", "/v1/projects/%s/members/%s" % (p, guest), tok[owner], json={"role": "guest"}).status_code == 200
    assert s.req("PUT", "/v1/projects/%s/members/%s" % (p, guest), tok[owner], json={"role": "boss"}).status_code == 400
    assert s.req("PUT", "/v1/projects/%s/members/%s" % (p, outsider), tok[dev], json={"role": "guest"}).status_code == 403
    roles = {m["username"]: m["role"] for m in s.get("/v1/projects/%s/members" % p, tok[guest]).json()["items"]}
    assert roles == {owner: "owner", dev: "developer", guest: "guest"}
    # the project's group follows its members
    grp = s.get("/v1/groups/" + p, tok[dev]).json()
    assert grp["kind"] == "project" and sorted(grp["members"]) == sorted([owner, dev, guest])
    assert p in [x["name"] for x in s.get("/v1/me", tok[dev]).json()["projects"]]
    # visibility
    assert s.get("/v1/projects/" + p, tok[outsider]).status_code == 403
    assert p not in [x["name"] for x in s.get("/v1/projects", tok[outsider]).json()["items"]]
    assert p in [x["name"] for x in s.get("/v1/projects", tok[guest]).json()["items"]]
    assert p in [x["name"] for x in s.get("/v1/projects", at).json()["items"]]
    # only owners and maintainers edit, only owners delete
    assert s.req("PATCH", "/v1/projects/" + p, tok[dev], json={"description": "x"}).status_code == 403
    s.req("PUT", "/v1/projects/%s/members/%s" % (p, dev), tok[owner], json={"role": "maintainer"})
    assert s.req("PATCH", "/v1/projects/" + p, tok[dev], json={"description": "Updated"}).json()["description"] == "Updated"
    assert s.req("DELETE", "/v1/projects/" + p, tok[dev]).status_code == 403
    # the last owner stays
    assert s.req("DELETE", "/v1/projects/%s/members/%s" % (p, owner), tok[owner]).status_code == 409
    assert s.req("PUT", "/v1/projects/%s/members/%s" % (p, owner), tok[owner], json={"role": "guest"}).status_code == 409
    # members may leave
    assert s.req("DELETE", "/v1/projects/%s/members/%s" % (p, guest), tok[guest]).status_code == 204
    assert s.get("/v1/projects/" + p, tok[guest]).status_code == 403
    # names
    assert s.post("/v1/projects", tok[owner], json={"name": p}).status_code == 409
    assert s.post("/v1/projects", tok[owner], json={"name": owner}).status_code == 409
    assert s.post("/v1/projects", tok[owner], json={"name": "../etc"}).status_code == 400
    assert s.post("/v1/projects", tok[owner], json={"name": "root"}).status_code == 400
    # delete
    assert s.req("DELETE", "/v1/projects/" + p, tok[owner]).status_code == 204
    assert s.get("/v1/projects/" + p, at).status_code == 404
    assert s.get("/v1/groups/" + p, at).status_code == 404


def test_audit_log(shared_server):
    s = shared_server
    at = s.admin_token()
    name = unique("aud")
    s.post("/v1/users", at, json={"username": name})
    s.post("/v1/auth/login", json={"username": name, "password": "Wrong-pass-1"})
    r = s.get("/v1/audit?limit=200", at)
    assert r.status_code == 200
    items = r.json()["items"]
    create = [a for a in items if a["action"] == "user.create" and a["target"] == name][0]
    assert create["actor"] == "admin" and create["outcome"] == "success"
    assert create["ip"] == "127.0.0.1" and create["request_id"] and create["time"].endswith("Z")
    fail = [a for a in items if a["action"] == "auth.login" and a["target"] == name][0]
    assert fail["outcome"] == "failure" and fail["actor"] == "anonymous"
    # newest first, filters, pagination
    ids = [a["id"] for a in items]
    assert ids == sorted(ids, reverse=True)
    only = s.get("/v1/audit?action=user.create&actor=admin", at).json()["items"]
    assert only and all(a["action"] == "user.create" and a["actor"] == "admin" for a in only)
    page = s.get("/v1/audit?limit=1", at).json()
    nxt = s.get("/v1/audit?limit=1&cursor=" + page["next_cursor"], at).json()
    assert nxt["items"][0]["id"] < page["items"][0]["id"]
    # no secrets in the audit log
    assert "Wrong-pass-1" not in r.text
    # refused admin calls are recorded too
    ut = s.register(unique("snoop"))
    assert s.get("/v1/users", ut).status_code == 403
    denied = s.get("/v1/audit?action=admin.denied", at).json()["items"]
    assert denied[0]["target"] == "GET /v1/users" and denied[0]["outcome"] == "failure"


def test_audit_filters_outcome_target_and_time(shared_server, cli_factory):
    import datetime
    import time
    s = shared_server
    at = s.admin_token()
    name = unique("aft")
    assert s.post("/v1/users", at, json={"username": name}).status_code == 201
    assert s.post("/v1/users", at, json={"username": name}).status_code == 409  # a failure
    time.sleep(1.1)  # audit times are seconds; ids carry milliseconds
    between = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.1)
    assert s.req("PATCH", "/v1/users/" + name, at, json={"full_name": "Later"}).status_code == 200

    def get(q):
        r = s.get("/v1/audit?limit=1000&target=" + name + q, at)
        assert r.status_code == 200, (q, r.text)
        return [(a["action"], a["outcome"]) for a in r.json()["items"]]

    assert get("") == [("user.update", "success"), ("user.create", "failure"),
                       ("user.create", "success")]
    assert get("&outcome=failure") == [("user.create", "failure")]
    assert get("&outcome=success&action=user") == [("user.update", "success"),
                                                   ("user.create", "success")]
    iso = between.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    assert get("&since=" + iso) == [("user.update", "success")]
    assert get("&until=" + iso) == [("user.create", "failure"), ("user.create", "success")]
    # the same instant with an offset, and a window that holds nothing
    plus2 = (between + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "+02:00"
    assert get("&since=" + plus2.replace("+", "%2B")) == [("user.update", "success")]
    assert get("&since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z") == []
    # paging inside a window gives the same entries, one at a time
    seen, cur = [], ""
    for _ in range(10):
        r = s.get("/v1/audit?limit=1&target=%s&until=%s%s" % (name, iso, cur), at).json()
        seen += [(a["action"], a["outcome"]) for a in r["items"]]
        if not r["next_cursor"]:
            break
        cur = "&cursor=" + r["next_cursor"]
    assert seen == [("user.create", "failure"), ("user.create", "success")]
    # only exactly this target
    near = s.get("/v1/audit?limit=1000&target=" + name[:-1], at).json()["items"]
    assert all(a["target"] == name[:-1] for a in near)
    bad = [
        ("outcome=maybe", "outcome"),
        ("since=yesterday", "RFC 3339"),
        ("since=2026-02-30T00:00:00Z", "RFC 3339"),
        ("until=2026-05-01T00:00:00", "RFC 3339"),
        ("since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z", "before"),
        ("target=", "target"),
        ("actor=", "actor"),
        ("cursor=not-an-id", "cursor"),
    ]
    for q, word in bad:
        r = s.get("/v1/audit?" + q, at)
        assert r.status_code == 400, (q, r.text)
        assert word in r.json()["detail"], (q, r.text)
    # the client: durations mean "that long ago"
    cli = cli_factory(s)
    from conftest import ADMIN_PASSWORD
    cli.login("admin", ADMIN_PASSWORD)
    got = cli.json("audit", "--target", name, "--outcome", "failure", "--since", "1h")["items"]
    assert [(a["action"], a["outcome"]) for a in got] == [("user.create", "failure")]
    assert cli.json("audit", "--target", name, "--until", "1h")["items"] == []
    out = cli.run("audit", "--target", name, "--since", "2020-01-01T00:00:00Z", check=True).stdout
    assert "user.update" in out and "user.create" in out
    p = cli.run("audit", "--since", "last tuesday")
    assert p.returncode == 1 and "RFC 3339" in p.stderr


def test_user_search_and_state_filter(shared_server, cli_factory):
    s = shared_server
    at = s.admin_token()
    tag = unique("srch")  # in every name below, so other tests' users stay out
    people = [
        {"username": tag + "hco", "email": "hco@physics-%s.example" % tag,
         "full_name": "Hans Christian Ørsted"},
        {"username": tag + "ada", "email": "ada@%s.example" % tag, "full_name": "Ada Lovelace",
         "state": "locked"},
        {"username": tag + "emmy", "email": "noether@%s.example" % tag,
         "full_name": "Émilie du Châtelet", "state": "disabled"},
        {"username": tag + "kurt", "full_name": "Kurt Gödel", "state": "locked"},
    ]
    for p in people:
        r = s.post("/v1/users", at, json=p)
        assert r.status_code == 201, r.text

    def names(q):
        r = s.get("/v1/users?limit=1000&" + q, at)
        assert r.status_code == 200, (q, r.text)
        return [u["username"][len(tag):] for u in r.json()["items"] if u["username"].startswith(tag)]

    assert names("q=" + tag) == ["hco", "ada", "emmy", "kurt"]  # uid order
    assert names("q=" + tag.upper()) == ["hco", "ada", "emmy", "kurt"]
    assert names("q=ØRSTED") == ["hco"]  # beyond ASCII, either case
    assert names("q=ørsted") == ["hco"]
    assert names("q=%C3%89MILIE") == ["emmy"]  # "ÉMILIE", URL-encoded
    assert names("q=lovelace") == ["ada"]  # full name
    assert names("q=PHYSICS-" + tag) == ["hco"]  # email
    assert names("q=" + tag + "KU") == ["kurt"]  # username
    assert names("q=%s&state=locked" % tag) == ["ada", "kurt"]
    assert names("q=%s&state=disabled" % tag) == ["emmy"]
    assert names("q=%s&state=active" % tag) == ["hco"]
    assert names("q=nobody-is-called-this") == []
    locked = s.get("/v1/users?limit=1000&state=locked", at).json()["items"]
    assert locked and all(u["state"] == "locked" for u in locked)
    # paging through matches, one at a time
    got, cur = [], ""
    for _ in range(10):
        r = s.get("/v1/users?limit=1&q=%s%s" % (tag, cur), at).json()
        got += [u["username"][len(tag):] for u in r["items"]]
        if not r["next_cursor"]:
            break
        cur = "&cursor=" + r["next_cursor"]
    assert got == ["hco", "ada", "emmy", "kurt"]
    for q, word in (("state=frozen", "state"), ("q=" + "x" * 300, "q"), ("q=%FF", "UTF-8"),
                    ("format=passwd&q=x", "passwd"), ("q=x&cursor=abc", "cursor")):
        r = s.get("/v1/users?" + q, at)
        assert r.status_code == 400, (q, r.text)
        assert word in r.json()["detail"], (q, r.text)
    ut = s.register(unique("nosy"))
    assert s.get("/v1/users?q=" + tag, ut).status_code == 403
    # the client
    from conftest import ADMIN_PASSWORD
    cli = cli_factory(s)
    cli.login("admin", ADMIN_PASSWORD)
    rows = cli.json("user", "ls", "--search", "gödel")["items"]
    assert [u["username"] for u in rows] == [tag + "kurt"]
    out = cli.run("user", "ls", "--search", tag, "--state", "locked", check=True).stdout
    assert tag + "ada" in out and tag + "kurt" in out and tag + "hco" not in out
    p = cli.run("user", "ls", "--state", "sleeping")
    assert p.returncode == 1 and "state" in p.stderr
