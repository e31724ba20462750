"""cove's permission decisions, compared with the Linux kernel's.

For a grid of directory and file modes, owners and groups, the same tree is
built twice: in cove (through the HTTP API, as admin) and in a local
directory (as root, with the same numeric uids and gids). Then each of three
users performs the same operations in both: through cove's API with their
token, and on the local tree in a child process that has become that user
(setgroups, setgid, setuid). Every decision must agree. Operations that
succeed change both trees alike, so later operations meet equal states.
"""
import itertools
import os
import shutil
import stat
import tempfile

import pytest

from conftest import unique

DIR_MODES = [0o700, 0o750, 0o755, 0o770, 0o777, 0o1777, 0o711, 0o733, 0o500, 0o070]
FILE_MODES = [0o600, 0o640, 0o644, 0o666, 0o604, 0o060]


def as_user(uid, gid, groups, fn):
    """Run fn() as uid/gid/groups in a child; True if it raised nothing."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            os.umask(0o022)
            fn()
            os._exit(0)
        except PermissionError:
            os._exit(1)
        except Exception:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 1), "kernel operation failed unexpectedly (%d)" % code
    return code == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other uids")
def test_permissions_match_the_kernel(shared_server):
    s = shared_server
    at = s.admin_token()
    names = [unique("ka"), unique("kb"), unique("kc")]
    toks = {n: s.register(n) for n in names}
    team = unique("kteam")
    s.post("/v1/groups", at, json={"name": team, "members": [names[0], names[2]]})
    info = {n: s.get("/v1/users/" + n, at).json() for n in names}
    team_gid = s.get("/v1/groups/" + team, at).json()["gid"]
    ids = {n: (info[n]["uid"], info[n]["gid"],
               [info[n]["gid"]] + ([team_gid] if n != names[1] else [])) for n in names}
    vol = unique("kv")
    assert s.post("/v1/volumes", at, json={"name": vol}).status_code == 201
    local = tempfile.mkdtemp(prefix="cove-kernel-")
    os.chmod(local, 0o755)
    owner, other_owner = names[0], names[1]
    compared = 0
    mismatches = []
    try:
        cases = list(itertools.product(DIR_MODES, FILE_MODES, [owner, other_owner], names))
        for i, (dmode, fmode, fowner, caller) in enumerate(cases):
            d = "c%d" % i
            cdir, cfile = "/volumes/%s/%s" % (vol, d), "/volumes/%s/%s/f" % (vol, d)
            ldir, lfile = os.path.join(local, d), os.path.join(local, d, "f")
            fgroup = team if fowner == owner else other_owner
            # cove: built by admin
            s.post("/v1/fs" + cdir, at, json={"op": "mkdir"})
            s.req("PUT", "/v1/fs" + cfile, at, data=b"data")
            s.req("PATCH", "/v1/fs" + cfile, at, json={"owner": fowner, "group": fgroup})
            s.req("PATCH", "/v1/fs" + cfile, at, json={"mode": "%04o" % fmode})
            s.req("PATCH", "/v1/fs" + cdir, at, json={"owner": owner, "group": team})
            s.req("PATCH", "/v1/fs" + cdir, at, json={"mode": "%04o" % dmode})
            # kernel: the same, by root
            os.mkdir(ldir)
            with open(lfile, "wb") as f:
                f.write(b"data")
            fuid = ids[fowner][0]
            fgid = team_gid if fowner == owner else ids[other_owner][1]
            os.chown(lfile, fuid, fgid)
            os.chmod(lfile, fmode)
            os.chown(ldir, ids[owner][0], team_gid)
            os.chmod(ldir, dmode)
            uid, gid, groups = ids[caller]
            tok = toks[caller]
            ops = [
                ("read", lambda: open(lfile, "rb").read(),
                 lambda: s.get("/v1/fs" + cfile, tok)),
                ("list", lambda: os.listdir(ldir),
                 lambda: s.get("/v1/fs" + cdir, tok)),
                ("write", lambda: open(lfile, "r+b").write(b"x"),
                 lambda: s.req("PUT", "/v1/fs" + cfile, tok, data=b"xata")),
                ("create", lambda: open(os.path.join(ldir, "new"), "xb").close(),
                 lambda: s.req("PUT", "/v1/fs%s/new" % cdir, tok, data=b"")),
                ("chmod", lambda: os.chmod(lfile, 0o604),
                 lambda: s.req("PATCH", "/v1/fs" + cfile, tok, json={"mode": "0604"})),
                ("chgrp", lambda: os.chown(lfile, -1, team_gid),
                 lambda: s.req("PATCH", "/v1/fs" + cfile, tok, json={"group": team})),
                ("rename", lambda: os.rename(lfile, os.path.join(ldir, "g")),
                 lambda: s.post("/v1/fs" + cfile, tok, json={"op": "move", "to": cdir + "/g"})),
                ("unlink", lambda: os.unlink(os.path.join(ldir, "g") if os.path.exists(os.path.join(ldir, "g")) else lfile),
                 None),
            ]
            moved = False
            for op, kernel, http in ops:
                k = as_user(uid, gid, groups, kernel)
                if op == "unlink":
                    target = cdir + ("/g" if moved else "/f")
                    r = s.req("DELETE", "/v1/fs" + target, tok)
                else:
                    r = http()
                c = r.status_code < 300
                assert r.status_code < 300 or r.status_code == 403, (op, r.status_code, r.text)
                if op == "rename" and c:
                    moved = True
                compared += 1
                if k != c:
                    mismatches.append("%s as %s: dir %04o file %04o owned by %s -> kernel %s, cove %s"
                                      % (op, caller, dmode, fmode, fowner,
                                         "allowed" if k else "denied", "allowed" if c else "denied"))
        print("compared %d decisions with the kernel" % compared)
        assert not mismatches, "\n".join(mismatches[:40])
        assert compared >= 2880
    finally:
        shutil.rmtree(local, ignore_errors=True)
