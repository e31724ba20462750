"""cove serve over https (--tls-cert/--tls-key): a test CA made here with
openssl, the chain served, TLS 1.2/1.3 only with AEAD ciphers, HSTS, Secure
cookies, certificates reloaded on SIGHUP without dropping connections, and
clear startup errors for bad files. Plain http stays as it was."""
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, COVE, Server, start_server


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, check=True, **kw)


class Pki:
    """A private CA and server certificates it signs, in directory d."""

    def __init__(self, d, name="test CA"):
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        self.ca = self.p("ca.pem")
        self.ca_key = self.p("ca.key")
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.ca_key, "-out",
           self.ca, "-days", "30", "-subj", "/CN=" + name)

    def p(self, name):
        return os.path.join(self.d, name)

    def server(self, stem, sans="DNS:localhost,IP:127.0.0.1", days=10):
        """Sign a server certificate; returns (chain file, key file)."""
        key, csr, crt, ext = (self.p(stem + s) for s in (".key", ".csr", ".crt", ".ext"))
        chain = self.p(stem + "-chain.pem")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n" % sans)
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + stem)
        sh("openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
           self.ca_key, "-CAcreateserial", "-out", crt, "-days", str(days),
           "-extfile", ext)
        with open(chain, "w") as out:
            out.write(open(crt).read() + open(self.ca).read())
        return chain, key


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


def tls_server(tmp_path, pki, stem="srv", **kw):
    chain, key = pki.server(stem, **kw)
    s = start_server(str(tmp_path), args=["--tls-cert", chain, "--tls-key", key],
                     ca=pki.ca)
    return s, chain, key


def peer_cert(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            return t.getpeercert(binary_form=True)


def s_client(port, *args):
    """openssl s_client's handshake against the server: True if it got through."""
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost"] + list(args),
                       input="", capture_output=True, text=True, timeout=20)
    return p.returncode == 0 and "Cipher is (NONE)" not in p.stdout


def test_https_serves_the_chain_to_curl(tmp_path, pki):
    s, _, _ = tls_server(tmp_path, pki)
    try:
        p = subprocess.run(["curl", "-sS", "--cacert", pki.ca, "-o", "/dev/null",
                            "-w", "%{http_code}", s.url + "/healthz"],
                           capture_output=True, text=True, timeout=20)
        assert p.stdout == "200", p.stderr
        # the CA is not known to the system: without it curl refuses
        p = subprocess.run(["curl", "-sS", s.url + "/healthz"], capture_output=True,
                           text=True, timeout=20)
        assert p.returncode == 60, p.stderr
        out = s.output()
        assert "serving on https://127.0.0.1:%d" % s.port in out
        assert "the portal: https://127.0.0.1:%d/" % s.port in out
    finally:
        s.stop()
        s.assert_clean()


def test_only_tls12_and_13_with_aead_ciphers(tmp_path, pki):
    s, _, _ = tls_server(tmp_path, pki)
    try:
        assert s_client(s.port, "-tls1_3")
        assert s_client(s.port, "-tls1_2")
        assert s_client(s.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
        assert s_client(s.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305")
        # old protocols, even when the client would accept anything
        assert not s_client(s.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        assert not s_client(s.port, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
        # CBC (no AEAD), with or without ECDHE
        assert not s_client(s.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")
        assert not s_client(s.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384")
        assert not s_client(s.port, "-tls1_2", "-cipher", "AES128-SHA:AES128-GCM-SHA256")
        # TLS 1.3 with finite-field groups only
        assert not s_client(s.port, "-tls1_3", "-groups", "ffdhe2048")
    finally:
        s.stop()
        s.assert_clean()


def test_hsts_and_secure_cookies(tmp_path, pki):
    s, _, _ = tls_server(tmp_path, pki)
    try:
        for path in ("/healthz", "/", "/v1/me", "/no-such-route"):
            r = s.get(path)
            assert r.headers.get("Strict-Transport-Security") == "max-age=31536000", path
        r = s.post("/v1/auth/session", json={"username": "admin",
                                              "password": ADMIN_PASSWORD})
        assert r.status_code in (200, 201), r.text
        cookie = r.headers["Set-Cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie, cookie
    finally:
        s.stop()
        s.assert_clean()


def test_plain_http_is_unchanged(tmp_path):
    s = start_server(str(tmp_path))
    try:
        r = s.get("/healthz")
        assert r.status_code == 200
        assert "Strict-Transport-Security" not in r.headers
        r = s.post("/v1/auth/session", json={"username": "admin",
                                              "password": ADMIN_PASSWORD})
        assert "Secure" not in r.headers["Set-Cookie"]
        assert "serving on http://127.0.0.1:%d" % s.port in s.output()
    finally:
        s.stop()
        s.assert_clean()


def test_sighup_reloads_the_certificate_and_keeps_connections(tmp_path, pki):
    s, chain, key = tls_server(tmp_path, pki)
    try:
        first = peer_cert(s.port, pki.ca)
        # a kept-alive connection made with the first certificate
        kept = requests.Session()
        assert kept.get(s.url + "/healthz", verify=pki.ca).status_code == 200
        # a bad new certificate: the old one stays, the log says why
        good_chain = open(chain).read()
        with open(chain, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert s.proc.poll() is None
        assert "tls reload failed" in s.output()
        assert peer_cert(s.port, pki.ca) == first
        with open(chain, "w") as f:
            f.write(good_chain)
        # a new certificate and key in place of the old
        new_chain, new_key = pki.server("srv2")
        os.replace(new_chain, chain)
        os.replace(new_key, key)
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "tls certificate reloaded" not in s.output() and time.time() < deadline:
            time.sleep(0.1)
        assert "tls certificate reloaded" in s.output()
        # the old connection still answers, on the same socket
        conns_before = len(kept.adapters["https://"].poolmanager.pools)
        assert kept.get(s.url + "/healthz", verify=pki.ca).status_code == 200
        assert len(kept.adapters["https://"].poolmanager.pools) == conns_before
        # a new connection sees the new certificate
        second = peer_cert(s.port, pki.ca)
        assert second != first
        assert second == ssl.PEM_cert_to_DER_cert(open(pki.p("srv2.crt")).read())
    finally:
        s.stop()
        s.assert_clean()


def test_sighup_keeps_a_connection_open_across_the_reload(tmp_path, pki):
    """One raw TLS socket, two requests, a reload between them."""
    s, chain, key = tls_server(tmp_path, pki)
    try:
        ctx = ssl.create_default_context(cafile=pki.ca)
        raw = socket.create_connection(("127.0.0.1", s.port))
        t = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        req = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

        def answer():
            got = b""
            while b'{"status":"ok"}' not in got:
                chunk = t.recv(4096)
                assert chunk, got
                got += chunk
            return got
        t.sendall(req)
        assert b"200 OK" in answer()
        new_chain, new_key = pki.server("srv3")
        os.replace(new_chain, chain)
        os.replace(new_key, key)
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "tls certificate reloaded" not in s.output() and time.time() < deadline:
            time.sleep(0.1)
        t.sendall(req)
        assert b"200 OK" in answer()
        t.close()
    finally:
        s.stop()
        s.assert_clean()


def serve_fails(tmp_path, *args):
    p = subprocess.run([COVE, "serve", "--listen", "127.0.0.1:0", "--data",
                        str(tmp_path / "data")] + list(args), capture_output=True,
                       text=True, timeout=60,
                       env=dict(os.environ, COVE_ADMIN_PASSWORD=ADMIN_PASSWORD,
                                ASAN_OPTIONS="detect_leaks=1"))
    assert p.returncode not in (0, -6, -11), p.stderr
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("cove serve:")]
    assert lines, p.stderr
    return lines[-1]


def test_bad_tls_inputs_give_a_clear_startup_error(tmp_path, pki):
    chain, key = pki.server("srv")
    other_chain, other_key = pki.server("other")
    garbage = str(tmp_path / "garbage.pem")
    with open(garbage, "w") as f:
        f.write("this is not PEM\n")
    msg = serve_fails(tmp_path, "--tls-cert", chain)
    assert "--tls-cert and --tls-key go together" in msg
    msg = serve_fails(tmp_path, "--tls-key", key)
    assert "--tls-cert and --tls-key go together" in msg
    msg = serve_fails(tmp_path, "--tls-cert", str(tmp_path / "missing.pem"),
                      "--tls-key", key)
    assert "cannot read the TLS certificate" in msg and "missing.pem" in msg
    msg = serve_fails(tmp_path, "--tls-cert", chain, "--tls-key",
                      str(tmp_path / "missing.key"))
    assert "cannot read the TLS key" in msg
    msg = serve_fails(tmp_path, "--tls-cert", garbage, "--tls-key", key)
    assert "is not a PEM certificate" in msg
    msg = serve_fails(tmp_path, "--tls-cert", chain, "--tls-key", garbage)
    assert "is not a PEM private key" in msg
    msg = serve_fails(tmp_path, "--tls-cert", chain, "--tls-key", other_key)
    assert "does not go with the certificate" in msg


def cli(home, *args, env=None, input=None):
    e = dict(os.environ, HOME=str(home), ASAN_OPTIONS="detect_leaks=1")
    e.pop("COVE_TOKEN", None)
    e.pop("COVE_SERVER", None)
    e.pop("COVE_CA", None)
    e.update(env or {})
    os.makedirs(str(home), exist_ok=True)
    return subprocess.run([COVE] + list(args), input=input, capture_output=True,
                          text=True, env=e, timeout=60)


def login(home, url, *args, env=None):
    return cli(home, "login", "--server", url, "--username", "admin",
               "--password-stdin", *args, env=env, input=ADMIN_PASSWORD + "\n")


def test_cli_trusts_a_private_ca_with_ca_file_or_cove_ca(tmp_path, pki):
    s, _, _ = tls_server(tmp_path, pki)
    try:
        home = tmp_path / "home"
        p = login(home, s.url)
        assert p.returncode != 0
        msg = p.stderr.strip().splitlines()
        assert len(msg) == 1, p.stderr
        assert "signed by an unknown CA" in msg[0] and "--ca-file" in msg[0], p.stderr
        p = login(home, s.url, "--ca-file", pki.ca)
        assert p.returncode == 0, p.stderr
        # stored with the login: later commands trust it without the flag
        p = cli(home, "whoami", "--json")
        assert p.returncode == 0, p.stderr
        assert '"admin"' in p.stdout
        # COVE_CA, for a fresh home
        home2 = tmp_path / "home2"
        p = login(home2, s.url, env={"COVE_CA": pki.ca})
        assert p.returncode == 0, p.stderr
        p = cli(home2, "whoami", env={"COVE_CA": pki.ca})
        assert p.returncode == 0, p.stderr
        # the flag before a group's subcommand
        p = cli(home2, "user", "--ca-file", pki.ca, "ls")
        assert p.returncode == 0, p.stderr
        assert "admin" in p.stdout
        # a CA file that is not there
        p = login(tmp_path / "home3", s.url, "--ca-file", str(tmp_path / "nope.pem"))
        assert p.returncode != 0 and "cannot read the CA file" in p.stderr
    finally:
        s.stop()
        s.assert_clean()


def test_cli_refuses_expired_wrong_host_and_unknown_ca(tmp_path, pki):
    s, chain, key = tls_server(tmp_path, pki)
    home = tmp_path / "home"
    try:
        def serve(new_chain, new_key):
            os.replace(new_chain, chain)
            os.replace(new_key, key)
            n = s.output().count("tls certificate reloaded")
            s.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while s.output().count("tls certificate reloaded") == n and time.time() < deadline:
                time.sleep(0.1)

        serve(*pki.server("expired", days=-1))
        p = login(home, s.url, "--ca-file", pki.ca)
        assert p.returncode != 0
        assert p.stderr.strip() == "cove: refused %s: its TLS certificate has expired" % s.url

        serve(*pki.server("wronghost", sans="DNS:other.example"))
        p = login(home, s.url, "--ca-file", pki.ca)
        assert p.returncode != 0
        assert p.stderr.strip() == ("cove: refused %s: its TLS certificate is for "
                                    "another host name" % s.url)

        other = Pki(tmp_path / "other", name="other CA")
        serve(*other.server("stranger"))
        p = login(home, s.url, "--ca-file", pki.ca)
        assert p.returncode != 0
        assert p.stderr.strip() == ("cove: refused %s: its TLS certificate is signed "
                                    "by an unknown CA" % s.url)
    finally:
        s.stop()
        s.assert_clean()


def test_tls_auto_makes_the_ca_once_and_prints_its_fingerprint(tmp_path):
    tls_dir = tmp_path / "data" / "tls"
    s = Server(str(tmp_path / "data"), args=["--tls", "auto", "--tls-san", "cove.example"],
               ca=str(tls_dir / "ca.pem"))
    s.start()
    try:
        out = s.output()
        ca = str(tls_dir / "ca.pem")
        fp = subprocess.run(["openssl", "x509", "-in", ca, "-noout", "-fingerprint",
                             "-sha256"], capture_output=True, text=True,
                            check=True).stdout.strip().split("=", 1)[1]
        assert "made the private CA %s" % ca in out
        assert "its SHA-256 fingerprint: %s" % fp in out
        for name in ("ca.key", "server.key"):
            assert os.stat(str(tls_dir / name)).st_mode & 0o777 == 0o600
        text = subprocess.run(["openssl", "x509", "-in", str(tls_dir / "server.pem"),
                               "-noout", "-text"], capture_output=True, text=True,
                              check=True).stdout
        for san in ("DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
                    "DNS:cove.example", "DNS:" + socket.gethostname()):
            assert san in text, text
        assert "ecdsa-with-SHA256" in text
        p = subprocess.run(["curl", "-sS", "--cacert", ca, s.url + "/healthz"],
                           capture_output=True, text=True, timeout=20)
        assert p.stdout == '{"status":"ok"}', p.stderr
        first_server = open(str(tls_dir / "server.pem")).read()
    finally:
        s.stop()
        s.assert_clean()
    # a second start reuses both
    s.start()
    try:
        out = s.output().split("using the private CA", 1)
        assert len(out) == 2, s.output()
        assert "made the private CA" not in out[1]
        assert "made the server certificate" not in out[1]
        assert "its SHA-256 fingerprint: %s" % fp in out[1]
        assert open(str(tls_dir / "server.pem")).read() == first_server
        assert s.get("/healthz").status_code == 200
    finally:
        s.stop()
        s.assert_clean()
    # other names: a new server certificate from the same CA
    s.args = ["--tls", "auto", "--tls-san", "other.example"]
    s.start()
    try:
        assert open(str(tls_dir / "server.pem")).read() != first_server
        assert s.get("/healthz").status_code == 200
    finally:
        s.stop()
        s.assert_clean()


def test_tls_flags_conflicts(tmp_path, pki):
    chain, key = pki.server("srv")
    assert "--tls is auto or off" in serve_fails(tmp_path, "--tls", "maybe")
    assert "leave out --tls-cert" in serve_fails(tmp_path, "--tls", "auto",
                                                 "--tls-cert", chain, "--tls-key", key)


def test_big_upload_and_download_over_tls(tmp_path, pki):
    """A body over 1 MiB (read straight from the socket under plain http)
    goes through libmicrohttpd under TLS, and comes back the same."""
    s, _, _ = tls_server(tmp_path, pki)
    try:
        home = tmp_path / "home"
        assert login(home, s.url, "--ca-file", pki.ca).returncode == 0
        data = os.urandom(5 * 1024 * 1024 + 123)
        src = tmp_path / "big.bin"
        src.write_bytes(data)
        p = cli(home, "put", str(src), "big.bin")
        assert p.returncode == 0, p.stderr
        dst = tmp_path / "back.bin"
        p = cli(home, "get", "big.bin", str(dst))
        assert p.returncode == 0, p.stderr
        assert dst.read_bytes() == data
    finally:
        s.stop()
        s.assert_clean()
