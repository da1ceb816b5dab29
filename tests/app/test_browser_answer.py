"""In a real Chromium (Debian's, driven by Playwright): a shared link reproduces the view; Compare without a rule
that others override runs without an exception and shows dates; the Answer page renders its table and chart.

Skips when /usr/bin/chromium or playwright is missing; never runs `playwright install`.
"""

import os
import re
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
MFU = "mfu:lab-cn:job1:ascend910b"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.timeout(300),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
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


@pytest.fixture
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser.new_page(viewport={"width": 1500, "height": 2000})
        browser.close()


def _settled(page, timeout=120_000):
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)


def test_shared_link_applies_two_levers(app_url, page):
    link = (f"{app_url}/scenario?scenario=tests/data/tiny.yaml&seed=9&lever.{MFU}=0.3"
            "&lever.rule_on:us_2022_10=0")
    page.goto(link, wait_until="domcontentloaded")
    page.wait_for_function("document.body.innerText.includes('2 lever(s) changed')", timeout=60_000)
    _settled(page)
    body = page.inner_text("body")
    assert "edited" in body
    assert "Traceback" not in body
    seed = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInputField"]').first
    sync_api.expect(seed).to_have_value("9", timeout=30_000)
    # both levers show the link's values: the rule's toggle is off, the MFU slider at 0.30
    page.wait_for_selector('[data-testid="stCheckbox"]:has-text("us_2022_10")', timeout=60_000)
    page.wait_for_selector('[data-testid="stSlider"]:has-text("0.30")', state="attached", timeout=60_000)
    rule = page.locator('[data-testid="stCheckbox"]', has_text="us_2022_10").locator("input")
    assert rule.count() == 1 and not rule.first.is_checked()
    sliders = page.locator('[data-testid="stSlider"]').all_inner_texts()
    assert any("0.30" in t for t in sliders), sliders
    assert "seed=9" in page.url and "lever.rule_on" in page.url.replace("%3A", ":")


def test_compare_without_us_2023_10_shows_dates_and_no_exception(app_url, page):
    page.goto(f"{app_url}/compare?scenario=bytedance_ascend.yaml", wait_until="domcontentloaded")
    page.get_by_text("Without chosen rules").click()
    page.wait_for_selector('[data-testid="stMultiSelect"]', timeout=60_000)
    page.locator('[data-testid="stMultiSelect"]').click()
    page.keyboard.type("us_2023_10 ")
    page.get_by_role("option", name=re.compile(r"^us_2023_10 —")).click()
    page.keyboard.press("Escape")
    _settled(page)
    body = page.inner_text("body")
    assert "Traceback" not in body and "ScenarioError" not in body
    page.get_by_role("button", name=re.compile(r"Run \d+ paired replications")).click()
    page.wait_for_function("document.body.innerText.includes('finishes')", timeout=240_000)
    _settled(page, 240_000)
    body = page.inner_text("body")
    assert "Traceback" not in body and not page.locator('[data-testid="stException"]').count()
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=30_000)
    page.wait_for_function(  # the grid fills its accessible cells after it draws
        "[...document.querySelectorAll('[data-testid=\"stDataFrame\"] [role=\"gridcell\"]')]"
        ".some(c => /^20\\d\\d-\\d\\d-\\d\\d$/.test(c.textContent.trim()))", timeout=30_000)
    cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]').all_text_contents()
    assert any(re.fullmatch(r"20\d\d-\d\d-\d\d", c.strip()) for c in cells), cells[:20]
    assert any(re.fullmatch(r"([+\u2212-][\d,]+|0) d", c.strip()) for c in cells), cells[:20]  # days, "0 d" unsigned


def test_answer_page_shows_the_options_table_and_chart(app_url, page, tmp_path):
    page.goto(f"{app_url}/?scenario=tests/data/tiny.yaml", wait_until="domcontentloaded")
    page.wait_for_selector(CHART, timeout=120_000)
    _settled(page)
    body = page.inner_text("body")
    assert "Question." in body and "R = 10" in body and "Traceback" not in body
    shot = tmp_path / "answer_tiny.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def test_run_page_from_a_link_explains_a_lever_that_moves_nothing(app_url, page):
    page.goto(f"{app_url}/run?scenario=tests/data/tiny.yaml&lever.yield:smic:ascend910b=0.9",
              wait_until="domcontentloaded")
    page.wait_for_function("document.body.innerText.includes('moves nothing here')", timeout=120_000)
    _settled(page)
    page.wait_for_function("document.body.innerText.includes('Chips blocked (denied + refused)')", timeout=60_000)
    body = page.inner_text("body")
    assert "Traceback" not in body
    assert re.search(r"run tiny@[0-9a-f]{16}:7", body), body[:2000]  # an edited run's own id, with the badge
    assert "limited by packaging capacity (in 12 of 12 months with assembly), not dies" in body
    assert "Cost, $ per PFLOP trained" in body and "Chips blocked (denied + refused)" in body
    assert re.search(r"20\d\d-\d\d-\d\d", body)  # finish date as a date


def test_network_view_leaves_domestic_flows_open(app_url, page):
    page.goto(f"{app_url}/network?scenario=bytedance_ascend.yaml", wait_until="domcontentloaded")
    page.wait_for_selector(CHART, timeout=120_000)
    _settled(page)
    body = page.inner_text("body")
    assert "outside the rules' jurisdiction" in body and "Traceback" not in body
    assert "2 of 38 edges blocked" in body  # the foreign HBM edges; not smic's dies nor cxmt's HBM (domestic)
