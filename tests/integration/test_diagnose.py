"""cove admin diagnose: one bundle for a bug report, with nothing secret in it."""
import json
import os

from conftest import Server


def test_diagnose_bundle(tmp_path, cli_factory):
    # a weak admin password makes the server log a warning at start
    s = Server(str(tmp_path / "data"), env={"COVE_ADMIN_PASSWORD": "short"}).start()
    try:
        tok = s.login("admin", "short")["access_token"]
        r = s.get("/v1/admin/diagnose", tok)
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["version"] and d["uptime_s"] >= 0 and d["host"]["cpus"] >= 1
        assert d["config"]["listen"] == "127.0.0.1:%d" % s.port
        assert d["config"]["data"] == s.data
        assert d["fsck"]["clean"] is True
        assert d["health"]["database"] == "ok"
        warned = [x for x in d["recent_log"] if x["msg"] == "COVE_ADMIN_PASSWORD is weak"]
        assert warned and warned[0]["level"] == "warn"
        text = r.text
        assert "short\"" not in text.replace('"short"', "")  # the password is nowhere
        assert tok not in text
        r = s.get("/v1/admin/diagnose?fsck=false", tok)
        assert r.status_code == 200 and "fsck" not in r.json()
        assert s.get("/v1/admin/diagnose?fsck=maybe", tok).status_code == 400
        alice = s.register("alice")
        assert s.get("/v1/admin/diagnose", alice).status_code == 403
        assert s.get("/v1/admin/diagnose").status_code == 401

        cli = cli_factory(s)
        cli.login("admin", "short")
        os.chdir(str(tmp_path))
        p = cli.run("admin", "diagnose", check=True)
        assert p.stdout.startswith("wrote cove-diagnose-") and "fsck clean" in p.stdout, p.stdout
        name = p.stdout.split()[1].rstrip(":")
        path = os.path.join(str(tmp_path), name)
        assert os.stat(path).st_mode & 0o077 == 0
        b = json.load(open(path))
        assert b["config"]["threads"] >= 1 and b["recent_log"]
        out = str(tmp_path / "bundle.json")
        p = cli.run("admin", "diagnose", "--no-fsck", "--output", out, check=True)
        assert "fsck skipped" in p.stdout
        # never over an existing file
        p = cli.run("admin", "diagnose", "--output", out)
        assert p.returncode != 0 and "cannot create" in p.stderr
    finally:
        assert s.stop() == 0
        s.assert_clean()
