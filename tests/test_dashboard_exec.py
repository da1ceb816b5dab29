"""`exportsim dashboard` execs Streamlit: SIGTERM to the pid that was started stops the server (no orphan)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPORTSIM = Path(sys.executable).with_name("exportsim")

pytestmark = [pytest.mark.skipif(not EXPORTSIM.exists(), reason="exportsim console script not installed"),
              pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_stops_the_server():
    port = _free_port()
    env = {**os.environ, "EXPORTSIM_SCENARIO": str(ROOT / "tests" / "data" / "tiny.yaml")}
    proc = subprocess.Popen([str(EXPORTSIM), "dashboard", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(url, timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the dashboard did not report healthy within 60 s")
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            assert b"streamlit" in f.read()  # the started pid *is* Streamlit (exec'd)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        with pytest.raises(OSError, match="."):
            urllib.request.urlopen(url, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
