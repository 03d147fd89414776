"""The monitor's pages in a real headless Chromium driven by Playwright.

Needs Debian's ``chromium`` (``apt-get install chromium``) and the ``playwright``
Python package (its own browser download is not used). Skips with a reason otherwise.
Screenshots go to tests/artifacts/ (gitignored) for people to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from logserver_helpers import (
    CHROMIUM,
    FLAGS,
    VIEWER,
    Running,
    bearer,
    browser_login,
    failing_log,
    good_log,
    run_real_pilot,
)

from gwms_core.logserver.tokens import KeyRing

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright absent")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium absent (apt-get install chromium)")


def test_login_search_open_failing_glidein(logserver: Running, keyring: KeyRing) -> None:
    for i, entry in enumerate(("ce-alpha", "ce-beta")):
        for j in range(3):
            glidein = f"{entry}-{j:04d}"
            body = (failing_log(t0=1_764_000_000.0 + 600 * j, word="quasarflux")
                    if j == 1 and i == 0 else good_log(t0=1_764_000_000.0 + 600 * j))
            status, _, resp = logserver.request(
                "PUT", f"/logs/{entry}/{glidein}/glidein.jsonl", body,
                bearer(keyring, entry, glidein))
            assert status == 201, resp
    ARTIFACTS.mkdir(exist_ok=True)
    base = logserver.server.url
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            # the certificate is the test's own self-signed one
            context = browser.new_context(ignore_https_errors=True,
                                          viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            browser_login(page, base, *VIEWER)
            assert page.locator("#glideins tbody tr").count() == 6

            page.fill("#q", "quasarflux")
            page.click("#search")
            page.wait_for_selector("#hits")
            rows = page.locator("#glideins tbody tr")
            assert rows.count() == 1
            assert "ce-alpha-0001" in rows.first.inner_text()
            assert "quasarflux" in page.locator("#hits").inner_text()
            page.screenshot(path=str(ARTIFACTS / "logserver-search.png"), full_page=True)

            page.click("#glideins a.glidein")
            page.wait_for_selector("#failing")
            assert page.locator("#status").inner_text() == "failed"
            failing = page.locator("#failing").inner_text()
            assert "validate_node.sh" in failing and "quasarflux: need 10 GB" in failing
            assert page.locator("#timeline tbody tr").count() == 5
            page.check("#only-problems")  # the page's own script hides info rows
            assert page.locator("#timeline tbody tr:visible").count() == 2
            page.uncheck("#only-problems")
            page.screenshot(path=str(ARTIFACTS / "logserver-glidein.png"), full_page=True)

            with page.expect_download() as dl:
                page.click("#downloads a")
            saved = ARTIFACTS / "logserver-download.jsonl"
            dl.value.save_as(saved)
            assert b"validate_node.sh" in saved.read_bytes()
        finally:
            browser.close()


def test_real_pilot_failure_found_in_browser(logserver: Running, keyring: KeyRing,
                                             staged: tuple[str, Any], tmp_path: Path) -> None:
    """The acceptance path without the grid: this project's pilot fails validation and
    flushes to the server; a person searches a word its failing script printed."""
    for j in range(3):
        glidein = f"ok-{j:04d}"
        assert logserver.request("PUT", f"/logs/ce-test/{glidein}/glidein.jsonl",
                                 good_log(t0=1_764_000_000.0 + 600 * j),
                                 bearer(keyring, "ce-test", glidein))[0] == 201
    run, _ = run_real_pilot(logserver, keyring, staged, tmp_path, "ce-test", "4321.0")
    assert run.returncode == 1, run.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(ignore_https_errors=True,
                                          viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            browser_login(page, logserver.server.url, *VIEWER)
            page.fill("#q", "zorblatt")
            page.click("#search")
            page.wait_for_selector("#hits")
            rows = page.locator("#glideins tbody tr")
            assert rows.count() == 1 and "4321.0" in rows.first.inner_text()
            assert "vo/check_scratch.sh" in rows.first.inner_text()
            page.screenshot(path=str(ARTIFACTS / "logserver-pilot-search.png"), full_page=True)
            page.click("#glideins a.glidein")
            page.wait_for_selector("#failing")
            failing = page.locator("#failing").inner_text()
            assert "zorblatt quota exceeded" in failing
            assert "hunter2hunter2" not in page.content()
            page.screenshot(path=str(ARTIFACTS / "logserver-pilot-glidein.png"),
                            full_page=True)
        finally:
            browser.close()
