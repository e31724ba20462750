"""bench/sso.py - cove's CPU per single sign-on callback (run by bench/sso.sh).

A fake OpenID provider in this process (tests/integration/sso_util.py:
discovery, JWKS, a token endpoint answering with ID tokens signed here)
so that only cove's work is measured: the server's own CPU time (utime +
stime of its process, from /proc) over N logins, less the CPU of N
/start requests alone (each login needs one), divided by N.
  - returning login: the callback of an identity already provisioned
    (code exchange on loopback, ID token verification, provisioning's
    look-up and group sync, browser session)
  - first login: the same with a new identity (user, private group,
    home directory, projects from groups)
Targets: callback <= 2 ms of CPU; first-login provisioning <= 20 ms.
"""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("COVE_BIN", os.path.join(HERE, "..", "build", "cove"))

import sso_util as U  # noqa: E402
from conftest import Server  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def logins(s, subs):
    """(state, nonce, session) of each attempt, tokens registered."""
    out = []
    for sub in subs:
        http, state, nonce = U.start_attempt(s)
        code = "b-%s-%s" % (sub, state[:10])
        s.fake.tokens[code] = s.fake.sign(s.fake.claims(sub, nonce, groups=["lab-bench"]))
        out.append((http, state, code))
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="cove-bench-sso-")
    fake = U.FakeProvider()
    s = Server(os.path.join(tmp, "data"), {"COVE_LOG_LEVEL": "warn"},
               U.oidc_args(tmp, fake.issuer, "--oidc-project-groups", "^lab-"))
    s.start()
    s.fake = fake
    pid = s.proc.pid
    try:
        # warm: discovery and JWKS fetched, the project made
        for http, state, code in logins(s, ["warm"]):
            assert U.callback(s, http, fake, state, code).status_code == 302
        # the /start requests alone
        c0 = cpu(pid)
        logins(s, ["x%d" % i for i in range(N)])
        start_cpu = (cpu(pid) - c0) / N
        # first logins: N new identities
        att = logins(s, ["new%d" % i for i in range(N)])
        c0 = cpu(pid)
        t0 = time.time()
        for http, state, code in att:
            assert U.callback(s, http, fake, state, code).status_code == 302
        first_cpu = (cpu(pid) - c0) / N
        first_wall = (time.time() - t0) / N
        # returning logins: the same identities again
        att = logins(s, ["new%d" % i for i in range(N)])
        c0 = cpu(pid)
        t0 = time.time()
        for http, state, code in att:
            assert U.callback(s, http, fake, state, code).status_code == 302
        again_cpu = (cpu(pid) - c0) / N
        again_wall = (time.time() - t0) / N
    finally:
        s.stop()
        fake.stop()
    print("sso bench: %d logins each, cove release build, provider on loopback (its CPU not counted)" % N)
    print("  /start (state, nonce, PKCE, attempt row)   %6.2f ms CPU" % (start_cpu * 1000))
    print("  callback, returning user                   %6.2f ms CPU  (target <= 2 ms)   %6.2f ms wall" % (again_cpu * 1000, again_wall * 1000))
    print("  callback, first login (provisioning)       %6.2f ms CPU  (target <= 20 ms)  %6.2f ms wall" % (first_cpu * 1000, first_wall * 1000))


if __name__ == "__main__":
    main()
