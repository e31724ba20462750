"""The `cove` client as a person uses it: login with a password on stdin,
credentials kept private, tables by default and JSON with --json, one-line
reasons and non-zero exits on failure, transparent refresh."""
import json
import os
import stat

from conftest import ADMIN_PASSWORD, unique


def test_login_whoami_logout(shared_server, cli_factory):
    cli = cli_factory(shared_server)
    p = cli.login("admin", ADMIN_PASSWORD)
    assert "Logged in" in p.stdout
    cfg = os.path.join(cli.home, ".config", "cove")
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o700
    files = os.listdir(cfg)
    assert files
    for f in files:
        assert stat.S_IMODE(os.stat(os.path.join(cfg, f)).st_mode) == 0o600
    me = cli.json("whoami")
    assert me["username"] == "admin" and me["admin"] is True
    assert "admin" in cli.run("whoami", check=True).stdout
    p = cli.run("logout", check=True)
    p = cli.run("whoami")
    assert p.returncode != 0 and p.stderr.startswith("cove: ") and len(p.stderr.strip().splitlines()) == 1


def test_login_failures(shared_server, cli_factory):
    cli = cli_factory(shared_server)
    p = cli.run("login", "--server", shared_server.url, "--username", "admin",
                "--password-stdin", input="wrong-password\n")
    assert p.returncode != 0
    assert p.stderr.strip() == "cove: invalid username or password"
    p = cli.run("login", "--server", "http://127.0.0.1:1", "--username", "admin",
                "--password-stdin", input="x\n")
    assert p.returncode != 0 and "cannot reach server" in p.stderr
    p = cli.run("login", "--bogus-flag")
    assert p.returncode == 2


def test_help_everywhere(shared_server, cli_factory):
    cli = cli_factory(shared_server)
    for cmd in (["--help"], ["login", "--help"], ["user", "--help"], ["user", "add", "--help"],
                ["group", "--help"], ["project", "--help"], ["project", "add-member", "--help"],
                ["token", "--help"], ["audit", "--help"], ["serve", "--help"]):
        p = cli.run(*cmd)
        assert p.returncode == 0, (cmd, p.stderr)
        assert "usage" in (p.stdout + p.stderr).lower(), cmd


def test_admin_workflow(shared_server, cli_factory):
    cli = cli_factory(shared_server)
    cli.login("admin", ADMIN_PASSWORD)
    alice, bob, grp, prj = unique("ca"), unique("cb"), unique("cg"), unique("cp")
    cli.run("user", "add", alice, "--email", alice + "@x.org", "--password-stdin",
            input="Alice-pass-2026\n", check=True)
    cli.run("user", "add", bob, "--email", bob + "@x.org", check=True)
    users = cli.json("user", "ls")
    names = [u["username"] for u in (users["items"] if isinstance(users, dict) else users)]
    assert alice in names and bob in names
    table = cli.run("user", "ls", check=True).stdout
    assert alice in table and "USERNAME" in table.upper().splitlines()[0]
    cli.run("user", "mod", alice, "--full-name", "Alice A.", check=True)
    assert cli.json("user", "show", alice)["full_name"] == "Alice A."
    cli.run("user", "lock", bob, check=True)
    assert cli.json("user", "show", bob)["state"] == "locked"
    cli.run("user", "unlock", bob, check=True)
    cli.run("group", "add", grp, "--member", alice, check=True)
    cli.run("group", "add-member", grp, bob, check=True)
    assert sorted(cli.json("group", "show", grp)["members"]) == sorted([alice, bob])
    cli.run("group", "rename", grp, grp + "x", check=True)
    cli.run("group", "rm-member", grp + "x", bob, check=True)
    cli.run("group", "rm", grp + "x", check=True)
    cli.run("project", "create", prj, "--description", "MRI", "--storage", "10G", "--jobs", "4", check=True)
    cli.run("project", "add-member", prj, alice, "--role", "developer", check=True)
    members = cli.json("project", "members", prj)
    items = members["items"] if isinstance(members, dict) else members
    assert {"username": alice, "role": "developer"} in items
    pj = cli.json("project", "show", prj)
    assert pj["quota"]["storage_bytes"] == 10 * 1024 ** 3 and pj["quota"]["jobs"] == 4
    exported = cli.run("user", "export", check=True).stdout
    assert exported.startswith("admin:x:1000:1000:")
    audit = cli.json("audit", "--limit", "50")
    acts = [a["action"] for a in (audit["items"] if isinstance(audit, dict) else audit)]
    assert "project.set_member" in acts and "user.create" in acts
    cli.run("user", "rm", bob, check=True)
    p = cli.run("user", "show", bob)
    assert p.returncode != 0 and "no such user" in p.stderr


def test_user_cannot_do_admin_things(shared_server, cli_factory):
    s = shared_server
    name = unique("cu")
    s.register(name, "Plain-pass-2026")
    cli = cli_factory(s)
    cli.login(name, "Plain-pass-2026")
    p = cli.run("user", "ls")
    assert p.returncode != 0 and "permission denied" in p.stderr
    p = cli.run("user", "add", unique("x"))
    assert p.returncode != 0 and "permission denied" in p.stderr


def test_tokens_for_scripts(shared_server, cli_factory):
    s = shared_server
    name = unique("ct")
    s.register(name, "Token-pass-2026")
    cli = cli_factory(s)
    cli.login(name, "Token-pass-2026")
    tok = cli.json("token", "create", "ci", "--scope", "read", "--expires", "1d")
    assert tok["token"].startswith("cove_pat_")
    listing = cli.run("token", "ls", check=True).stdout
    assert "ci" in listing and tok["token"] not in listing
    other = cli_factory(s, "scripthome")
    me = other.json("whoami", env={"COVE_TOKEN": tok["token"], "COVE_SERVER": s.url})
    assert me["username"] == name
    cli.run("token", "revoke", tok["id"], check=True)
    p = other.run("whoami", env={"COVE_TOKEN": tok["token"], "COVE_SERVER": s.url})
    assert p.returncode != 0


def test_transparent_refresh(shared_server, cli_factory):
    s = shared_server
    name = unique("cr")
    s.register(name, "Refresh-pass-2026")
    cli = cli_factory(s)
    cli.login(name, "Refresh-pass-2026")
    cfg = os.path.join(cli.home, ".config", "cove")
    path = os.path.join(cfg, [f for f in os.listdir(cfg) if f.endswith(".json")][0])
    creds = json.load(open(path))
    old_refresh = creds["refresh_token"]
    # make the saved access token unusable, as if it had expired
    creds["access_token"] = "expired.token.value"
    json.dump(creds, open(path, "w"))
    os.chmod(path, 0o600)
    assert cli.json("whoami")["username"] == name
    assert json.load(open(path))["refresh_token"] != old_refresh
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_passwd(shared_server, cli_factory):
    s = shared_server
    name = unique("cw")
    s.register(name, "First-pass-2026")
    cli = cli_factory(s)
    cli.login(name, "First-pass-2026")
    cli.run("passwd", "--password-stdin", input="First-pass-2026\nSecond-pass-2026\n", check=True)
    s.login(name, "Second-pass-2026")
    p = cli.run("passwd", "--password-stdin", input="wrong-one\nThird-pass-2026\n")
    assert p.returncode != 0 and "current password is wrong" in p.stderr
