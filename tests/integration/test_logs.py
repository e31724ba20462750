"""--log-file and rotation: logs go to the file, and after the file is
moved away a SIGHUP makes the server write a new one, losing no line."""
import json
import os
import signal
import time

from conftest import Server


def lines(path):
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def test_log_file_is_reopened_on_sighup(tmp_path):
    log = str(tmp_path / "cove.log")
    s = Server(str(tmp_path / "data"), args=["--log-file", log]).start()
    try:
        tok = s.admin_token()
        assert os.stat(log).st_mode & 0o077 == 0
        assert any(x["msg"] == "cove serving" for x in lines(log))
        os.rename(log, log + ".1")
        s.get("/v1/me", tok)  # still written to the moved file
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(log):
            time.sleep(0.05)
        assert os.path.exists(log)
        # the server keeps serving, and the new file gets the new lines
        for _ in range(3):
            assert s.get("/v1/me", tok).status_code == 200
        deadline = time.time() + 10
        while time.time() < deadline:
            new = lines(log)
            if sum(1 for x in new if x.get("path") == "/v1/me") >= 3:
                break
            time.sleep(0.05)
        assert any(x["msg"] == "log file reopened" for x in new)
        # a request's line is written once it is answered: the first one's
        # may land on either side of the SIGHUP, but none is lost
        old = lines(log + ".1")
        n_new = sum(1 for x in new if x.get("path") == "/v1/me")
        n_old = sum(1 for x in old if x.get("path") == "/v1/me")
        assert n_new >= 3 and n_old + n_new == 4, (n_old, n_new)
        # the file cannot be reopened: the server says so and goes on
        os.rename(log, log + ".2")
        os.mkdir(log)
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert s.get("/v1/me", tok).status_code == 200
        assert "cannot open the log file" in s.output()
        os.rmdir(log)
    finally:
        assert s.stop() == 0
        s.assert_clean()


def test_an_unwritable_log_file_stops_the_start(tmp_path):
    import subprocess
    from conftest import COVE
    p = subprocess.run([COVE, "serve", "--data", str(tmp_path / "d"), "--log-file",
                        str(tmp_path / "no" / "such" / "dir" / "cove.log")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "cannot open the log file" in p.stderr
