"""Screenshot of the Answer page on the flagship at R = 20 (docs/screenshots/answer.png).

    .venv/bin/python docs/screenshots/shoot_answer.py [R]

Starts `streamlit run app/streamlit_app.py` on a free port, opens the Answer page in Debian's Chromium
(Playwright), sets R with the slider's arrow keys, waits for the chart and saves a full-page PNG.
"""

import sys
from pathlib import Path

from _dashboard import CHROMIUM_ARGS as ARGS
from _dashboard import served
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
R = int(sys.argv[1]) if len(sys.argv) > 1 else 20

with served() as url, sync_playwright() as p:
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
