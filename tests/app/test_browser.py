"""End to end in a real headless browser: Debian's chromium driven by Playwright against `streamlit run`.

Skips (with the reason) when /usr/bin/chromium or the playwright package is missing; never runs
`playwright install`.  Flags and timings: shared/reference/ecosystem.md section 5.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg'

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.timeout(180),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    """`streamlit run app/streamlit_app.py` on a free port of 127.0.0.1, on the tiny scenario."""
    port = _free_port()
    env = {**os.environ, "EXPORTSIM_SCENARIO": str(ROOT / "tests" / "data" / "tiny.yaml")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("streamlit did not report healthy within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 2200})
        browser.close()


def test_run_page_shows_kpis_and_charts_and_follows_the_seed(app_url, page, tmp_path):
    page.goto(f"{app_url}/run", wait_until="domcontentloaded")
    page.wait_for_selector(CHART, timeout=60_000)
    assert page.locator('[data-testid="stMetric"]').count() >= 6
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 5
    assert "lab-cn/job1 finishes" in page.inner_text("body")
    caption = page.get_by_text("seed 7 ·").first
    assert caption.is_visible()

    seed = page.get_by_test_id("stNumberInputField").first  # interact: the sidebar seed 7 -> 8
    seed.fill("8")
    seed.press("Enter")
    page.wait_for_function("document.body.innerText.includes('seed 8 ·')", timeout=30_000)
    page.wait_for_selector(CHART, timeout=30_000)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=30_000)  # rerun done
    page.wait_for_timeout(500)  # let plotly's transition finish before the picture
    shot = tmp_path / "run_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
