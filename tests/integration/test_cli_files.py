"""The file space through the `cove` client, as a person uses it."""
import filecmp
import hashlib
import json
import os

import requests

from conftest import ADMIN_PASSWORD, unique


def login_new_user(s, cli_factory, home="h"):
    name = unique("f")
    s.register(name, "File-pass-2026")
    cli = cli_factory(s, home + name)
    cli.login(name, "File-pass-2026")
    return name, cli


def test_put_ls_get_roundtrip(shared_server, cli_factory, tmp_path):
    s = shared_server
    name, cli = login_new_user(s, cli_factory)
    src = tmp_path / "src"
    (src / "sub dir" / "ünï").mkdir(parents=True)
    (src / "a.csv").write_text("x,y\n1,2\n")
    (src / "empty").write_bytes(b"")
    (src / "sub dir" / "ünï" / "deep.bin").write_bytes(os.urandom(200_000))
    cli.run("put", str(src), "data", check=True)
    listing = cli.json("ls", "-l", "data")
    assert isinstance(listing, list)
    by = {e["name"]: e for e in listing}
    assert set(by) == {"a.csv", "empty", "sub dir"}
    for e in listing:
        assert {"name", "type", "size", "mode", "owner", "group", "sha256"} <= set(e)
    assert by["a.csv"]["mode"] == "0644" and by["a.csv"]["owner"] == name
    assert by["a.csv"]["sha256"] == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    assert by["sub dir"]["type"] == "directory" and by["empty"]["size"] == 0
    out = cli.run("ls", "-l", "data", check=True).stdout
    assert "-rw-r--r--" in out and "sub dir/" in out
    rec = cli.json("ls", "-R", "data")
    assert any(e.get("path", "").endswith("ünï/deep.bin") for e in rec)
    dst = tmp_path / "back"
    cli.run("get", "data", str(dst), check=True)
    assert not filecmp.dircmp(str(src), str(dst)).diff_files
    assert (dst / "sub dir" / "ünï" / "deep.bin").read_bytes() == (src / "sub dir" / "ünï" / "deep.bin").read_bytes()
    assert cli.run("cat", "data/a.csv", check=True).stdout == "x,y\n1,2\n"
    st = cli.json("stat", "data/a.csv")
    assert st["size"] == 8 and st["path"] == "/home/%s/data/a.csv" % name


def test_head_reads_only_the_start(shared_server, cli_factory, tmp_path):
    s = shared_server
    name, cli = login_new_user(s, cli_factory)
    f = tmp_path / "lines.txt"
    f.write_text("".join("line %d\n" % i for i in range(100000)))
    cli.run("put", str(f), check=True)
    assert cli.run("head", "-n", "3", "lines.txt", check=True).stdout == "line 0\nline 1\nline 2\n"
    assert cli.run("head", "-c", "4", "lines.txt", check=True).stdout == "line"


def test_cp_mv_rm_mkdir(shared_server, cli_factory, tmp_path):
    s = shared_server
    name, cli = login_new_user(s, cli_factory)
    f = tmp_path / "f.txt"
    f.write_text("hello")
    cli.run("put", str(f), check=True)
    cli.run("mkdir", "-p", "a/b/c", check=True)
    cli.run("cp", "f.txt", "a/b", check=True)
    cli.run("mv", "f.txt", "g.txt", check=True)
    names = [e["name"] for e in cli.json("ls")]
    assert "g.txt" in names and "f.txt" not in names
    assert cli.run("cat", "a/b/f.txt", check=True).stdout == "hello"
    cli.run("cp", "-r", "a", "a2", check=True)
    assert cli.run("cat", "a2/b/f.txt", check=True).stdout == "hello"
    p = cli.run("rm", "a")
    assert p.returncode != 0 and "not empty" in p.stderr
    cli.run("rm", "-r", "a", "a2", check=True)
    p = cli.run("rm", "nothere")
    assert p.returncode != 0 and "no such file" in p.stderr
    cli.run("rm", "-f", "nothere", check=True)
    p = cli.run("mkdir", "g.txt")
    assert p.returncode != 0 and "exists" in p.stderr


def test_modes_ownership_and_denials(shared_server, cli_factory, tmp_path):
    s = shared_server
    alice, ca = login_new_user(s, cli_factory, "a")
    bob, cb = login_new_user(s, cli_factory, "b")
    f = tmp_path / "secret.txt"
    f.write_text("top secret")
    ca.run("put", str(f), check=True)
    p = cb.run("cat", "/home/%s/secret.txt" % alice)
    assert p.returncode != 0 and "permission denied" in p.stderr
    p = cb.run("ls", "/home/%s" % alice)
    assert p.returncode != 0 and "permission denied" in p.stderr
    ca.run("chmod", "0755", ".", check=True)
    ca.run("chmod", "o-r", "secret.txt", check=True)
    assert ca.json("stat", "secret.txt")["mode"] == "0640"
    assert cb.run("ls", "/home/%s" % alice, check=True).stdout.strip() == "secret.txt"
    p = cb.run("cat", "/home/%s/secret.txt" % alice)
    assert p.returncode != 0 and "permission denied" in p.stderr
    p = ca.run("chown", bob, "secret.txt")
    assert p.returncode != 0 and "permission denied" in p.stderr
    admin = cli_factory(s, "adm")
    admin.login("admin", ADMIN_PASSWORD)
    admin.run("chown", "%s:%s" % (bob, bob), "/home/%s/secret.txt" % alice, check=True)
    assert cb.run("cat", "/home/%s/secret.txt" % alice, check=True).stdout == "top secret"
    p = cb.run("chgrp", alice, "/home/%s/secret.txt" % alice)
    assert p.returncode != 0 and "permission denied" in p.stderr
    assert ca.run("umask", check=True).stdout.strip() == "0022"
    ca.run("umask", "0077", check=True)
    ca.run("put", str(f), "private.txt", check=True)
    assert ca.json("stat", "private.txt")["mode"] == "0600"


def test_project_files_and_df(shared_server, cli_factory, tmp_path):
    s = shared_server
    owner, co = login_new_user(s, cli_factory, "o")
    dev, cd = login_new_user(s, cli_factory, "d")
    prj = unique("pf")
    co.run("project", "create", prj, check=True)
    co.run("project", "add-member", prj, dev, "--role", "developer", check=True)
    f = tmp_path / "shared.csv"
    f.write_text("a\n")
    cd.run("put", str(f), "/projects/%s/" % prj, check=True)
    e = co.json("ls", "-l", "/projects/%s" % prj)[0]
    assert e["name"] == "shared.csv" and e["group"] == prj
    df = co.json("df")
    assert any(x["scope"] == "project:" + prj for x in df["items"])
    assert "project:" + prj in co.run("df", check=True).stdout


def test_share_link_with_plain_curl(shared_server, cli_factory, tmp_path):
    s = shared_server
    name, cli = login_new_user(s, cli_factory)
    f = tmp_path / "results.csv"
    f.write_text("answer,42\n")
    cli.run("put", str(f), check=True)
    link = cli.json("share", "create", "results.csv", "--expires", "1h")
    assert link["url"].startswith("http")
    r = requests.get(link["url"], timeout=10)
    assert r.status_code == 200 and r.text == "answer,42\n"
    assert link["id"] in cli.run("share", "ls", check=True).stdout
    cli.run("share", "rm", link["id"], check=True)
    assert requests.get(link["url"], timeout=10).status_code == 404


def test_stdin_and_stdout(shared_server, cli_factory):
    s = shared_server
    name, cli = login_new_user(s, cli_factory)
    cli.run("put", "-", "piped.txt", input="from a pipe\n", check=True)
    assert cli.run("get", "piped.txt", "-", check=True).stdout == "from a pipe\n"


def test_admin_fsck_gc_volumes(shared_server, cli_factory):
    s = shared_server
    admin = cli_factory(s, "adm-fsck")
    admin.login("admin", ADMIN_PASSWORD)
    rep = admin.json("admin", "fsck", "--verify")
    assert rep["clean"] is True
    assert "clean" in admin.run("admin", "fsck", check=True).stdout
    g = admin.json("admin", "gc")
    assert "removed" in g
    v = unique("cv")
    admin.run("admin", "volume", "create", v, "--capacity", "1G", check=True)
    assert v in admin.run("admin", "volume", "ls", check=True).stdout
    admin.run("admin", "volume", "rm", v, check=True)
    name, cli = login_new_user(s, cli_factory)
    p = cli.run("admin", "fsck")
    assert p.returncode != 0 and "permission denied" in p.stderr


def test_put_survives_a_server_restart(tmp_path, cli_factory):
    """A large `cove put` resumes where it stopped when the server is killed
    in the middle and comes back."""
    import subprocess
    import time
    from conftest import COVE, Server
    s = Server(str(tmp_path / "data"))
    s.start()
    cli = cli_factory(s, "resume")
    cli.login("admin", ADMIN_PASSWORD)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(200):
            f.write(os.urandom(1 << 20))
    env = dict(os.environ, HOME=cli.home, ASAN_OPTIONS="detect_leaks=1")
    env.pop("COVE_TOKEN", None)
    put = subprocess.Popen([COVE, "put", str(big), "big.bin"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until part of the file has arrived, then kill the server
    deadline = time.time() + 60
    while time.time() < deadline:
        parts = [f for f in os.listdir(s.data + "/uploads")] if os.path.isdir(s.data + "/uploads") else []
        if parts and os.path.getsize(os.path.join(s.data, "uploads", parts[0])) > (20 << 20):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("upload never started")
    s.kill()
    time.sleep(1.5)
    s2 = Server(s.data)
    s2.port, s2.url = s.port, s.url
    s2.start()
    try:
        out, err = put.communicate(timeout=300)
        assert put.returncode == 0, err
        assert "resuming" in err
        import hashlib
        want = hashlib.sha256(big.read_bytes()).hexdigest()
        st = cli.json("stat", "big.bin")
        assert st["size"] == 200 << 20 and st["sha256"] == want
    finally:
        put.kill()
        assert s2.stop() == 0
        s2.assert_clean()
