"""Helpers of the single sign-on tests: a real OpenID Provider
(tests/oidc/provider.mjs, node-oidc-provider) on a loopback port, a fake
one in this process for forged ID tokens (refusal cases only), and the
browser's part of the code and device flows driven with requests."""
import base64
import hashlib
import html
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from conftest import COVE, ROOT, Server

PROVIDER = os.path.join(ROOT, "tests", "oidc", "provider.mjs")
NAME = "EGI Check-in"
SLUG = "egi-check-in"
SECRET = "s3cret-of-the-client"


class RealProvider:
    def __init__(self, cove_port, accounts):
        cb = "http://127.0.0.1:%d/v1/auth/oidc/%s/callback" % (cove_port, SLUG)
        clients = [{"client_id": "cove", "client_secret": SECRET, "redirect_uris": [cb],
                    "post_logout_redirect_uris": ["http://127.0.0.1:%d/" % cove_port],
                    "grant_types": ["authorization_code",
                                    "urn:ietf:params:oauth:grant-type:device_code"],
                    "response_types": ["code"]}]
        env = dict(os.environ, PORT="0", CLIENTS=json.dumps(clients),
                   ACCOUNTS=json.dumps(accounts))
        self.proc = subprocess.Popen(["node", PROVIDER], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, text=True)
        deadline = time.time() + 20
        self.issuer = None
        self.lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith("READY "):
                self.issuer = line.split()[1]
                break
        assert self.issuer, "provider did not start:\n" + "".join(self.lines)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def rotate(self):
        return requests.post(self.issuer + "/test/rotate", timeout=10).json()["kid"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def cove_with_provider(tmp, issuer_args, env=None, port=None):
    s = Server(os.path.join(str(tmp), "data"), env, issuer_args)
    if port:
        s.port = port
        s.url = "http://127.0.0.1:%d" % port
    return s


def secret_file(tmp):
    p = os.path.join(str(tmp), "client-secret")
    with open(p, "w") as f:
        f.write(SECRET + "\n")  # the newline is not part of the secret
    return p


def oidc_args(tmp, issuer, *extra):
    return ["--oidc-issuer", issuer, "--oidc-client-id", "cove",
            "--oidc-client-secret-file", secret_file(tmp), "--oidc-name", NAME,
            "--oidc-jwks-refetch", "0"] + list(extra)


def form_of(page, form_id=None):
    """(action, fields) of the page's form (by id, or the first)."""
    forms = re.findall(r"<form\b([^>]*)>(.*?)</form>", page, re.S)
    for attrs, body in forms:
        if form_id and ('id="%s"' % form_id) not in attrs:
            continue
        action = re.search(r'action="([^"]*)"', attrs)
        fields = {}
        for inp in re.findall(r"<input\b[^>]*>", body):
            n = re.search(r'name="([^"]*)"', inp)
            v = re.search(r'value="([^"]*)"', inp)
            if n:
                fields[html.unescape(n.group(1))] = html.unescape(v.group(1)) if v else ""
        return html.unescape(action.group(1)) if action else "", fields
    raise AssertionError("no form in page:\n" + page[:2000])


def provider_login(http, page_resp, login, password):
    """Fill the provider's login form; returns the response after it
    (redirects followed)."""
    action, fields = form_of(page_resp.text)
    fields.update({"login": login, "password": password})
    url = urllib.parse.urljoin(page_resp.url, action)
    return http.post(url, data=fields, allow_redirects=True, timeout=30)


def browser_login(cove, login, password, ret="/files", http=None):
    """The whole code flow as a browser does it; returns (session, last
    response, the callback's response)."""
    http = http or requests.Session()
    r = http.get(cove.url + "/v1/auth/oidc/%s/start?return=%s" % (SLUG, urllib.parse.quote(ret)),
                 allow_redirects=True, timeout=30)
    assert r.status_code == 200, r.text
    r = provider_login(http, r, login, password)
    cb = [h for h in r.history if "/callback" in h.url]
    return http, r, (cb[0] if cb else r)


def me(cove, http):
    return http.get(cove.url + "/v1/me", timeout=10)


def device_login(cove, login, password):
    r = requests.post(cove.url + "/v1/auth/oidc/%s/device" % SLUG, timeout=30)
    assert r.status_code == 200, r.text
    d = r.json()
    pending = requests.post(cove.url + "/v1/auth/oidc/%s/device/token" % SLUG,
                            json={"device_id": d["device_id"]}, timeout=30)
    assert pending.status_code == 202, pending.text
    assert pending.json()["status"] == "authorization_pending"
    device_approve(d["verification_uri_complete"], login, password)
    r = requests.post(cove.url + "/v1/auth/oidc/%s/device/token" % SLUG,
                      json={"device_id": d["device_id"]}, timeout=30)
    return r


def device_approve(uri_complete, login, password):
    """The user's part of a device login, at the provider."""
    http = requests.Session()
    page = http.get(uri_complete, timeout=30)
    # an auto-submitted form carrying the user code, then the confirmation
    for _ in range(3):
        if 'name="login"' in page.text:
            break
        action, fields = form_of(page.text)
        fields.pop("abort", None)
        page = http.post(urllib.parse.urljoin(page.url, action), data=fields, timeout=30)
    page = provider_login(http, page, login, password)
    assert page.status_code == 200, page.text


# ---- a fake provider for forged ID tokens ------------------------------------

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class FakeProvider:
    """Discovery, JWKS and a token endpoint that answers each code with
    the ID token the test put there (tokens[code])."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fake-1"
        self.tokens = {}
        self.jwks_fetches = 0
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    self.reply(200, fake.discovery())
                elif self.path == "/jwks":
                    fake.jwks_fetches += 1
                    self.reply(200, {"keys": [fake.public_jwk()]})
                else:
                    self.reply(404, {})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                code = form.get("code", [""])[0]
                if code not in fake.tokens:
                    return self.reply(400, {"error": "invalid_grant"})
                self.reply(200, {"access_token": "x", "token_type": "Bearer",
                                 "id_token": fake.tokens[code]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.issuer = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def discovery(self):
        i = self.issuer
        return {"issuer": i, "authorization_endpoint": i + "/auth", "token_endpoint": i + "/token",
                "jwks_uri": i + "/jwks", "id_token_signing_alg_values_supported": ["RS256"],
                "authorization_response_iss_parameter_supported": True}

    def public_jwk(self):
        n = self.key.public_key().public_numbers()
        def enc(x):
            return b64u(x.to_bytes((x.bit_length() + 7) // 8, "big"))
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                "n": enc(n.n), "e": enc(n.e)}

    def claims(self, sub, nonce, **over):
        now = int(time.time())
        c = {"iss": self.issuer, "aud": "cove", "sub": sub, "iat": now, "exp": now + 300,
             "nonce": nonce, "preferred_username": sub}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def sign(self, claims, alg="RS256", kid=None, key=None):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        header = {"alg": alg, "typ": "JWT", "kid": kid or self.kid}
        h = b64u(json.dumps(header).encode())
        p = b64u(json.dumps(claims).encode())
        signing = (h + "." + p).encode()
        if alg == "none":
            return h + "." + p + "."
        if alg == "HS256":
            import hmac
            return h + "." + p + "." + b64u(hmac.new(key, signing, hashlib.sha256).digest())
        sig = self.key.sign(signing, padding.PKCS1v15(), hashes.SHA256())
        return h + "." + p + "." + b64u(sig)

    def stop(self):
        self.httpd.shutdown()


def start_attempt(cove, ret="/"):
    """Begin a login; returns (session with the attempt cookie, state, nonce)."""
    http = requests.Session()
    r = http.get(cove.url + "/v1/auth/oidc/%s/start?return=%s" % (SLUG, urllib.parse.quote(ret)),
                 allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
    assert q["code_challenge_method"] == ["S256"]
    return http, q["state"][0], q["nonce"][0]


def callback(cove, http, fake, state, code, iss=None):
    params = {"code": code, "state": state, "iss": iss or fake.issuer}
    return http.get(cove.url + "/v1/auth/oidc/%s/callback" % SLUG, params=params,
                    allow_redirects=False, timeout=30)
