"""The HTML evidence report in a real browser (headless Chromium): the chart and the control mapping
render, markup from a scenario title or an operator name stays text, nothing is fetched, it prints.

Skipped when Chromium is not installed, unless `CI` is set: then a missing browser is a failure.
(Debian/Ubuntu: `apt-get install -y chromium`.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from drillkit.journal.signing import KEY_ENV
from drillkit.reports.evidence import build_report
from drillkit.reports.evidence_render import render
from tests.reports.test_evidence_report import CLAUSES, build_home, until

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if p
                 and Path(p).exists()), None)  # fmt: skip


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI is set: apt-get install -y chromium)")
        pytest.skip("chromium is not installed")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    saved = os.environ.pop(KEY_ENV, None)
    try:
        home = build_home(tmp_path_factory.mktemp("browser") / "home")
        html = home.parent / "evidence.html"
        html.write_text(render(build_report(home, until=until()), "html", home=home), encoding="utf-8")
    finally:
        if saved is not None:
            os.environ[KEY_ENV] = saved
    return html


def test_the_browser_renders_chart_and_mapping_and_shows_markup_as_text(page: Path, tmp_path: Path) -> None:
    r = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert '<svg id="rollback-chart"' in dom and dom.count('<circle class="rollback') == 5
    assert '<path class="target"' in dom and "RTO target 5 min" in dom
    mapping = dom[dom.index('id="control-mapping"') : dom.index("</table>", dom.index('id="control-mapping"'))]
    assert mapping.count("<tr>") == len(CLAUSES) + 1  # the header row and one per clause
    # The title's <script> and the operator's <img onerror> arrived as text: nothing ran, nothing was injected.
    assert "&lt;script&gt;document.body.setAttribute" in dom and "&lt;img src=x onerror=" in dom
    assert "<script" not in dom and "<img" not in dom
    assert "data-pwned" not in re.sub(r"&lt;script&gt;.*?&lt;/script&gt;", "", dom)
    assert "<title>Rollback evidence: acme-support" in dom and "pwned</title>" not in dom


def test_the_page_prints_to_pdf_and_screenshots(page: Path, tmp_path: Path) -> None:
    pdf, png = tmp_path / "evidence.pdf", tmp_path / "evidence.png"
    r = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert r.returncode == 0 and pdf.exists(), r.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2
    r = chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,2400", page.as_uri())
    assert r.returncode == 0 and png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000
