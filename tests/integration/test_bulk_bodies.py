"""Big request bodies read straight from the socket (src/http/bulk.c).

A streamed body of 1 MiB or more with a Content-Length is read by a thread
of its own, off the event loop, when the server has read nothing of it yet:
always after "Expect: 100-continue", and when the header came alone. These
tests drive raw sockets to put the bytes on the wire each way, and check
what a client notices: the file reads back byte for byte, whichever way it
went; a body cut short, stalled, refused or interrupted by a stop or a
kill -9 leaves nothing behind; and the counter on /metrics tells which way
each body went."""
import hashlib
import os
import re
import signal
import socket
import threading
import time

from conftest import check_after_crash, start_server, tmp_files, unique

MiB = 1 << 20


def bulk_count(s, admin):
    m = s.get("/metrics", admin).text
    return int(re.search(r"^cove_http_bulk_bodies_total (\d+)$", m, re.M).group(1))


def newcomer(s, prefix):
    """An administrator's token (for /metrics), and a new user's name and token."""
    name = unique(prefix)
    return s.admin_token(), name, s.register(name)


def read_response(c, timeout=30):
    """Status, headers (lower-case names) and body of one answer; a 100
    Continue before it is skipped."""
    c.settimeout(timeout)
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                raise ConnectionError("closed before an answer: %r" % data)
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if status != 100:
            break
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(data) < n:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    return status, headers, data[:n]


def wait_continue(c, timeout=10):
    c.settimeout(timeout)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = c.recv(1)
        assert chunk, "closed while waiting for 100 Continue"
        got += chunk
    assert got.startswith(b"HTTP/1.1 100"), got


def header(method, path, tok, length, expect=False, extra=""):
    return ("%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Length: %d\r\n%s%s\r\n"
            % (method, path, tok, length, "Expect: 100-continue\r\n" if expect else "",
               extra)).encode()


def send_body(c, body, piece=200_003):
    for i in range(0, len(body), piece):
        c.sendall(body[i:i + piece])


def raw_upload(s, tok, method, path, body, how, extra=""):
    """Send body the way 'how' says and return the answer:
    expect   - the header with Expect: 100-continue, the body after the 100
    alone    - the header alone, a pause, then the body (no Expect)
    together - the header and the body's first 100 kB in one write"""
    c = socket.create_connection(("127.0.0.1", s.port))
    try:
        h = header(method, path, tok, len(body), how == "expect", extra)
        if how == "expect":
            c.sendall(h)
            wait_continue(c)
            send_body(c, body)
        elif how == "alone":
            c.sendall(h)
            time.sleep(0.3)
            send_body(c, body)
        else:
            c.sendall(h + body[:100_000])
            send_body(c, body[100_000:])
        return read_response(c)
    finally:
        c.close()


def test_big_bodies_go_straight_from_the_socket_and_land_intact(server):
    s = server
    admin, name, tok = newcomer(s, "bk")
    for how, taken in (("expect", 1), ("alone", 1), ("together", 0)):
        body = os.urandom(3 * MiB + 12345)
        before = bulk_count(s, admin)
        status, hdrs, answer = raw_upload(s, tok, "PUT", "/v1/fs/home/%s/%s.bin" % (name, how),
                                          body, how)
        assert status == 201, (how, answer)
        assert b'"sha256":"%s"' % hashlib.sha256(body).hexdigest().encode() in answer
        assert bulk_count(s, admin) - before == taken, how
        if taken:  # the server read the body itself: this connection ends
            assert hdrs.get("connection", "").lower() == "close"
        r = s.get("/v1/fs/home/%s/%s.bin" % (name, how), tok)
        assert r.status_code == 200 and r.content == body, how
    # a body just under 1 MiB is not worth a thread
    before = bulk_count(s, admin)
    small = os.urandom(MiB - 1)
    status, _, _ = raw_upload(s, tok, "PUT", "/v1/fs/home/%s/small" % name, small, "expect")
    assert status == 201 and bulk_count(s, admin) == before
    assert s.get("/v1/fs/home/%s/small" % name, tok).content == small


def test_second_request_on_a_connection_goes_the_ordinary_way(server):
    """After another request on a kept-alive connection the server cannot
    tell where the body starts from the socket's counters: it reads the
    body itself through libmicrohttpd, and the bytes still land right."""
    s = server
    admin, name, tok = newcomer(s, "ka")
    body = os.urandom(2 * MiB + 7)
    before = bulk_count(s, admin)
    c = socket.create_connection(("127.0.0.1", s.port))
    try:
        c.sendall(("GET /v1/fs/home/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (name, tok)).encode())
        status, hdrs, _ = read_response(c)
        assert status == 200 and hdrs.get("connection", "").lower() != "close"
        c.sendall(header("PUT", "/v1/fs/home/%s/second.bin" % name, tok, len(body), True))
        wait_continue(c)
        send_body(c, body)
        status, hdrs, _ = read_response(c)
        assert status == 201
        # and the connection is still good for a third request
        c.sendall(("GET /v1/fs/home/%s/second.bin HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % (name, tok)).encode())
        status, _, got = read_response(c)
        assert status == 200 and got == body
    finally:
        c.close()
    assert bulk_count(s, admin) == before


def no_parts(s):
    return not tmp_files(s.data, ".part")


def wait_for(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_bulk_body_cut_short_leaves_nothing(server):
    s = server
    admin, name, tok = newcomer(s, "cs")
    before = bulk_count(s, admin)
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(header("PUT", "/v1/fs/home/%s/cut.bin" % name, tok, 4 * MiB, True))
    wait_continue(c)
    send_body(c, os.urandom(int(1.5 * MiB)))
    c.close()
    assert wait_for(lambda: bulk_count(s, admin) == before + 1)
    assert s.get("/v1/fs/home/%s/cut.bin" % name, tok).status_code == 404
    assert wait_for(lambda: no_parts(s))
    assert s.get("/healthz").status_code == 200


def test_stalled_bulk_body_times_out(tmp_path):
    s = start_server(str(tmp_path), env={"COVE_CONN_TIMEOUT": "1s"})
    try:
        tok = s.admin_token()
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(header("PUT", "/v1/fs/home/admin/stall.bin", tok, 3 * MiB, True))
        wait_continue(c)
        send_body(c, os.urandom(MiB + 5))
        t0 = time.time()
        status, hdrs, body = read_response(c, timeout=15)
        assert status == 408 and b"no bytes of the request body" in body
        assert time.time() - t0 < 8
        c.close()
        s.http.close()  # its kept-alive connection outlived the 1 s timeout
        assert s.get("/v1/fs/home/admin/stall.bin", tok).status_code == 404
        assert wait_for(lambda: no_parts(s))
    finally:
        assert s.stop() == 0
        s.assert_clean()


def test_refused_bulk_body_is_drained_then_answered(server):
    """A session declared at 2 MiB refuses a 3 MiB append once it passes
    2 MiB: the client, still sending, gets the 413 (not a reset); the bytes
    before the refusal are kept and the offset says so at once, and the
    session takes the rest afterwards."""
    s = server
    name = unique("rf")
    tok = s.register(name)
    data = os.urandom(2 * MiB)
    up = s.post("/v1/uploads", tok, json={"path": "/home/%s/s.bin" % name, "size": len(data)}).json()
    url = "/v1/uploads/" + up["id"]
    status, _, body = raw_upload(s, tok, "PATCH", url, data + os.urandom(MiB), "expect",
                                 extra="Upload-Offset: 0\r\n")
    assert status == 413 and b"more bytes than" in body
    off = s.get(url, tok).json()["offset"]
    assert 0 <= off <= len(data)
    r = s.req("PATCH", url, tok, data=data[off:], headers={"Upload-Offset": str(off)})
    assert r.status_code == 200, r.text
    r = s.post(url + "/complete", tok)
    assert r.status_code == 201 and r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert s.get("/v1/fs/home/%s/s.bin" % name, tok).content == data


def test_browser_multipart_upload_takes_the_bulk_path(server):
    """A browser's form upload of a big file (no Expect, header first)."""
    s = server
    admin, name, tok = newcomer(s, "mb")
    big = os.urandom(2 * MiB + 99)
    b = "----cove%d" % os.getpid()
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % b).encode() + big + \
        ("\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.txt\"\r\n\r\n"
         "small one\r\n--%s--\r\n" % (b, b)).encode()
    before = bulk_count(s, admin)
    status, _, answer = raw_upload(s, tok, "POST", "/v1/fs/home/%s" % name, body, "alone",
                                   extra="Content-Type: multipart/form-data; boundary=%s\r\n" % b)
    assert status == 201, answer
    assert bulk_count(s, admin) == before + 1
    assert s.get("/v1/fs/home/%s/a.bin" % name, tok).content == big
    assert s.get("/v1/fs/home/%s/b.txt" % name, tok).content == b"small one"


def test_resumable_appends_take_the_bulk_path(server):
    s = server
    admin, name, tok = newcomer(s, "ra")
    data = os.urandom(5 * MiB + 333)
    up = s.post("/v1/uploads", tok, json={"path": "/home/%s/r.bin" % name, "size": len(data)}).json()
    url = "/v1/uploads/" + up["id"]
    before = bulk_count(s, admin)
    for lo, hi in ((0, 2 * MiB + 1), (2 * MiB + 1, len(data))):
        status, hdrs, body = raw_upload(s, tok, "PATCH", url, data[lo:hi], "expect",
                                        extra="Upload-Offset: %d\r\n" % lo)
        assert status == 200 and hdrs["upload-offset"] == str(hi), body
    assert bulk_count(s, admin) == before + 2
    r = s.post(url + "/complete", tok)
    assert r.status_code == 201 and r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert s.get("/v1/fs/home/%s/r.bin" % name, tok).content == data


def test_cli_put_of_a_big_file_takes_the_bulk_path(server, cli_factory, tmp_path):
    s = server
    admin = s.admin_token()
    cli = cli_factory(s)
    cli.login("admin", __import__("conftest").ADMIN_PASSWORD)
    local = tmp_path / "big.bin"
    data = os.urandom(6 * MiB + 1)
    local.write_bytes(data)
    before = bulk_count(s, admin)
    cli.run("put", str(local), "/home/admin/big.bin", check=True)
    assert bulk_count(s, admin) == before + 1
    assert s.get("/v1/fs/home/admin/big.bin", admin).content == data
    back = tmp_path / "back.bin"
    cli.run("get", "/home/admin/big.bin", str(back), check=True)
    assert back.read_bytes() == data


def test_stop_during_a_bulk_body(tmp_path):
    """SIGTERM while a client is half-way through a big body: the server
    stops promptly and cleanly, and nothing of the body is stored."""
    s = start_server(str(tmp_path))
    tok = s.admin_token()
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(header("PUT", "/v1/fs/home/admin/half.bin", tok, 8 * MiB, True))
    wait_continue(c)
    send_body(c, os.urandom(2 * MiB))
    t0 = time.time()
    assert s.stop(signal.SIGTERM, timeout=20) == 0
    assert time.time() - t0 < 10
    s.assert_clean()
    c.close()
    s2 = start_server(str(tmp_path))
    try:
        tok = s2.admin_token()
        assert s2.get("/v1/fs/home/admin/half.bin", tok).status_code == 404
        rep = s2.post("/v1/admin/fsck?verify=true", tok).json()
        assert rep["clean"] is True, rep
    finally:
        assert s2.stop() == 0
        s2.assert_clean()


def test_kill9_during_bulk_uploads(tmp_path):
    """kill -9 while eight clients send big bodies straight to the socket
    readers: every acknowledged upload reads back intact after a restart,
    nothing partial is visible, fsck is clean."""
    s = start_server(str(tmp_path))
    tok = s.admin_token()
    acked, lock = {}, threading.Lock()

    def go(i):
        for j in range(50):
            body = os.urandom(MiB + i * 4099 + j)
            path = "/home/admin/b%d-%d" % (i, j)
            try:
                status, _, _ = raw_upload(s, tok, "PUT", "/v1/fs" + path, body, "expect")
            except (OSError, ConnectionError, AssertionError, IndexError, ValueError):
                return
            if status in (200, 201):
                with lock:
                    acked[path] = hashlib.sha256(body).hexdigest()
    ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    [t.start() for t in ts]
    time.sleep(3.0)
    s.kill()
    [t.join() for t in ts]
    assert len(acked) >= 4
    check_after_crash(str(tmp_path), acked)
