"""The web app in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium, installed
by `make install`; never downloaded) to sign in, open a village and a household card and record a
visit, at 360 px and 1280 px, keyboard first; screenshots go to tests/artefacts/ (git-ignored)."""

import os
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from riskmodel.api import create_app
from riskmodel.api.accounts import create_user
from riskmodel.bench import free_port
from riskmodel.visits import visits_of

from .conftest import service_tracking

CHROMIUM = Path(os.environ.get("RISKMODEL_CHROMIUM", "/usr/bin/chromium"))
ARTEFACTS = Path(__file__).parent / "artefacts"
PASSWORD = "browser test pass"

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.usefixtures("service_env"),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason=f"no Chromium at {CHROMIUM} (make install installs Debian's chromium)",
    ),
]


@pytest.fixture(scope="module")
def site(service):
    """The app on a real server in a thread, and a township account."""
    rows = service["rows"]
    township = service["own"]
    create_user(service["engine"], "browser-township", PASSWORD, "township", township)
    port = free_port()
    settings = service["settings"].model_copy(update={"sign_in_per_minute": 10_000})
    with service_tracking(service):
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.time() + 120
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        assert server.started, "the app did not start"
        yield {"url": f"http://127.0.0.1:{port}", "rows": rows, "township": township, **service}
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    ARTEFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_cadre_signs_in_opens_a_village_and_a_card_and_records_a_visit(site, browser, width):
    rows = site["rows"]
    mine = rows[(rows["township_id"] == site["township"]) & rows["on_worklist"]]
    hh, village = mine["hh_id"].iloc[0 if width == 360 else -1], None
    village = mine.loc[mine["hh_id"] == hh, "village_id"].iloc[0]
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.set_default_timeout(20_000)

    # sign in with the keyboard only: the name field has focus, Tab to the password, Enter
    page.goto(f"{site['url']}/app/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.keyboard.type("browser-township")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/app/townships/{site['township']}")
    assert page.get_by_role("heading", level=1).inner_text().endswith("概览")
    page.screenshot(path=ARTEFACTS / f"overview-{width}.png", full_page=True)

    page.get_by_role("link", name=village, exact=True).first.click()
    page.wait_for_url(f"**/app/villages/{village}")
    page.get_by_label("风险等级").select_option("")
    page.get_by_role("button", name="筛选").click()
    assert "监测台账" in page.get_by_role("heading", level=1).inner_text()
    page.screenshot(path=ARTEFACTS / f"village-{width}.png", full_page=True)
    assert _no_horizontal_overflow(page)

    page.get_by_role("link", name=hh, exact=True).click()
    page.wait_for_url(f"**/app/households/{hh}")
    assert page.locator("svg.chart").count() == 1
    page.screenshot(path=ARTEFACTS / f"household-{width}.png", full_page=True)
    assert _no_horizontal_overflow(page)

    page.get_by_role("link", name="登记走访").click()
    page.get_by_label("核实人").fill(f"宽{width}干部")
    page.get_by_label("风险属实").check()
    page.get_by_label("纳入监测").check()
    page.get_by_label("因病").check()
    page.get_by_label("健康帮扶").check()
    page.get_by_label("备注（最多 500 字）").fill("浏览器测试登记")
    page.screenshot(path=ARTEFACTS / f"visit-{width}.png", full_page=True)
    page.get_by_label("备注（最多 500 字）").focus()
    page.keyboard.press("Tab")  # the save button is next
    assert page.evaluate("document.activeElement.textContent") == "保存走访记录"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/app/households/{hh}*")

    assert page.get_by_text(f"宽{width}干部").count() == 1
    assert visits_of(site["engine"], hh)[0]["cadre"] == f"宽{width}干部"
    page.screenshot(path=ARTEFACTS / f"household-visited-{width}.png", full_page=True)
    page.close()


def _no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
