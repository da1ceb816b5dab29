"""Screenshot of the Answer page on the flagship at R = 20 (docs/screenshots/answer.png).

    .venv/bin/python docs/screenshots/shoot_answer.py [R]

Starts `streamlit run app/streamlit_app.py` on a free port, opens the Answer page in Debian's Chromium
(Playwright), sets R with the slider's arrow keys, waits for the chart and saves a full-page PNG.
"""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
R = int(sys.argv[1]) if len(sys.argv) > 1 else 20
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", "--server.headless", "true",
                         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats",
                         "false", "--server.fileWatcherType", "none"], cwd=ROOT,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}"
try:
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.2)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        page.goto(f"{url}/?scenario=bytedance_ascend.yaml", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=600_000)
        handle = page.get_by_role("slider").first
        handle.focus()
        for _ in range(R - 10):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.body.innerText.includes('R = {R} paired')", timeout=900_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=900_000)
        page.wait_for_timeout(1500)
        out = ROOT / "docs" / "screenshots" / "answer.png"
        page.screenshot(path=str(out), full_page=True)
        print(out)  # noqa: T201
        browser.close()
finally:
    proc.terminate()
    proc.wait(10)
