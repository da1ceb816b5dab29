"""Screenshots of the Scenario, Run, Compare and Network pages on the flagship (docs/screenshots/*.png).

    .venv/bin/python docs/screenshots/shoot_pages.py [page ...]

Starts `streamlit run app/streamlit_app.py` on a free port and drives Debian's Chromium (Playwright).  The Scenario
and Run pages open a shared link with SMIC's 910C die yield raised to 0.6 (a lever that moves nothing in the
flagship: the Run page says which constraint binds); Compare runs R = 5 against no rules; Network ranks the
simulated chokepoints (R = 1) from 2024-01-01.
"""

import sys
from pathlib import Path

from _dashboard import CHROMIUM_ARGS as ARGS
from _dashboard import served
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
LINK = "scenario=bytedance_ascend.yaml&seed=1&lever.yield:smic:ascend910c=0.6"
WANTED = sys.argv[1:] or ["scenario", "run", "compare", "network"]


def settled(page, timeout=600_000):
    page.wait_for_timeout(500)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)
    page.wait_for_timeout(1500)


def shoot(page, name):
    out = OUT / f"{name}.png"
    page.screenshot(path=str(out), full_page=True)
    print(out)  # noqa: T201


with served() as url, sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
    page = browser.new_page(viewport={"width": 1500, "height": 2600})
    if "scenario" in WANTED:
        page.set_viewport_size({"width": 1500, "height": 1300})
        page.goto(f"{url}/scenario?{LINK}", wait_until="domcontentloaded")
        page.wait_for_function("document.body.innerText.includes('Changed from file')", timeout=300_000)
        settled(page)
        page.get_by_role("tab", name="Supply").click()
        settled(page)
        shoot(page, "scenario")
    if "run" in WANTED:
        page.set_viewport_size({"width": 1500, "height": 2600})
        page.goto(f"{url}/run?{LINK}", wait_until="domcontentloaded")
        page.wait_for_function("document.body.innerText.includes('What limits this run')", timeout=600_000)
        settled(page)
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=300_000)
        settled(page)
        shoot(page, "run")
    if "compare" in WANTED:
        page.set_viewport_size({"width": 1500, "height": 2200})
        page.goto(f"{url}/compare?scenario=bytedance_ascend.yaml&seed=1", wait_until="domcontentloaded")
        page.get_by_role("button", name="Run 5 paired replications").click()
        page.wait_for_function("document.body.innerText.includes('finishes on average')", timeout=900_000)
        settled(page, 900_000)
        shoot(page, "compare")
    if "network" in WANTED:
        page.set_viewport_size({"width": 1500, "height": 2400})
        page.goto(f"{url}/network?scenario=bytedance_ascend.yaml&seed=1", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=300_000)
        settled(page)
        reps = page.locator('[data-testid="stNumberInputField"]').last
        reps.fill("1")
        reps.press("Enter")
        settled(page)
        page.get_by_role("button", name="Rank chokepoints").click()
        page.wait_for_function("document.body.innerText.includes('Spearman rank correlation')", timeout=900_000)
        settled(page, 900_000)
        shoot(page, "network")
    browser.close()
