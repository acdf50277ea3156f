"""The sign-off report in a real browser: each stage's HTML, rendered by headless Chromium with JavaScript on and
off (ticket systems strip scripts), shows the verdict on the first screen and a visible sign-off row for every
item, agreeing with the JSON artifact. Screenshots go to reports/screenshots/ (or $GOLIVE_SCREENSHOTS) for CI
to keep and for people to look at: each test asserts its own are real PNGs of this run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from golive.checklist import STAGES
from golive.sandbox import Sandbox
from tests.chromium import Chromium, find_chromium, png_size
from tests.e2e.harness import ROOT, clean_environ, run_checks

WIDTH, HEIGHT = 1280, 1000  # a laptop screen: the verdict must show without scrolling
FAULT = "health-unhealthy"  # one faulted preflight, so a failed row and a GO-less verdict are rendered too
REPORTS = [*STAGES, f"preflight-{FAULT}"]
SCREENSHOTS = Path(os.environ.get("GOLIVE_SCREENSHOTS", ROOT / "reports" / "screenshots"))

# What the page shows, measured in the browser (DevTools evaluation works with the page's own scripts off).
MEASURE = """(() => {
  const seen = (el) => !!el && el.checkVisibility({opacityProperty: true, visibilityProperty: true})
      && el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().height > 0;
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (el) => {
    const a = luminance(rgb(getComputedStyle(el).color)), b = luminance(background(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; };
  const signoff = document.getElementById('golive-signoff');
  const verdict = document.getElementById('golive-verdict');
  const items = document.getElementById('golive-items');
  // the table's own rows and cells: an evidence cell may hold a table of its own (a series, an instance table)
  const rows = items ? [...items.rows].filter((tr) => tr.cells.length && tr.cells[0].tagName === 'TD') : [];
  return {
    signoff: seen(signoff) ? box(signoff) : null,
    verdict: verdict && {text: verdict.innerText.trim(), seen: seen(verdict), top: verdict.getBoundingClientRect().top,
                         contrast: contrast(verdict)},
    items_seen: seen(items),
    rows: rows.map((tr) => {
      const cells = [...tr.cells];
      const outcome = cells[3] && (cells[3].querySelector('strong') || cells[3]);
      return {cells: cells.map((td) => td.innerText.trim()), seen: cells.every(seen),
              outcome_contrast: outcome ? contrast(outcome) : 0};
    }),
    results_rows: document.querySelectorAll('#results-table tbody.results-table-row').length,
    page_width: document.documentElement.scrollWidth,
    viewport_width: innerWidth,
  };
})()"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.fail(
            "Chromium not found (looked for $GOLIVE_CHROMIUM, `chromium`, `chromium-browser`): the browser check "
            "needs Debian's chromium package (apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every stage's report from a run against a healthy sandbox, plus a preflight run with one fault."""
    reports = tmp_path_factory.mktemp("browser-reports")
    with Sandbox(tmp_path_factory.mktemp("browser-sandbox")) as sandbox:
        for stage in STAGES:
            sandbox.rollout.enter_stage(stage)  # smoke and postlaunch run after the rolling deploy
            run_checks(stage, clean_environ(sandbox.environ()), reports / stage)
        sandbox.rollout.enter_stage("preflight")
        sandbox.set_faults([FAULT])
        run_checks("preflight", clean_environ(sandbox.environ()), reports / f"preflight-{FAULT}")
    return reports


def _report(rendered: Path, name: str) -> tuple[Path, dict[str, Any]]:
    stage = name.split("-")[0]
    html, doc = rendered / name / f"{stage}.html", rendered / name / f"{stage}.json"
    written = sorted(p.name for p in (rendered / name).glob("*"))
    assert html.is_file(), f"the {name} run wrote no HTML report (found {written})"
    assert doc.is_file(), f"the {name} run wrote no JSON report (found {written})"
    return html, json.loads(doc.read_text(encoding="utf-8"))


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
@pytest.mark.parametrize("name", REPORTS)
def test_signoff_and_verdict_visible(chromium, rendered, name, javascript):
    html, doc = _report(rendered, name)
    label = f"{name}-{'js-on' if javascript else 'js-off'}"
    screenshot, signoff = SCREENSHOTS / f"{label}.png", SCREENSHOTS / f"{label}-signoff.png"
    for stale in (screenshot, signoff):  # from an earlier run: the files must be this run's
        stale.unlink(missing_ok=True)
    with Chromium(chromium, javascript=javascript) as browser:
        page = browser.open(html.as_uri(), WIDTH, HEIGHT)
        shown = page.evaluate(MEASURE)
        page.screenshot(screenshot)
        if shown["signoff"]:
            page.screenshot(signoff, shown["signoff"])
    # the screenshots CI keeps as artifacts: real PNGs, the first screen and the sign-off section
    assert png_size(screenshot) == (WIDTH, HEIGHT), f"{label}: {screenshot} is not a {WIDTH}x{HEIGHT} PNG"

    # The browser really ran (or really did not run) the page's scripts: pytest-html builds its results
    # table with JavaScript, one row per test.
    if javascript:
        assert shown["results_rows"] == sum(len(item["tests"]) for item in doc["items"])
    else:
        assert shown["results_rows"] == 0

    assert shown["signoff"], f"{label}: #golive-signoff is missing or not visible"
    assert png_size(signoff) is not None, f"{label}: {signoff} is not a PNG"
    verdict = shown["verdict"]
    expected = "Verdict: " + doc["verdict"].upper()
    assert verdict, f"{label}: #golive-verdict is missing"
    assert verdict["seen"], f"{label}: #golive-verdict is not visible"
    assert verdict["text"] == expected, f"{label}: verdict reads {verdict['text']!r}, the JSON says {expected!r}"
    assert 0 <= verdict["top"] < HEIGHT, (
        f"{label}: the verdict is {verdict['top']:.0f}px from the top, below the first {HEIGHT}px screen"
    )
    assert verdict["contrast"] >= 4.5, f"{label}: verdict contrast {verdict['contrast']:.2f}:1, expected >= 4.5:1"

    assert shown["items_seen"], f"{label}: #golive-items is not visible"
    rows = shown["rows"]
    assert [r["cells"][0] for r in rows] == [item["id"] for item in doc["items"]], f"{label}: sign-off rows"
    for row, item in zip(rows, doc["items"], strict=True):
        item_id, title, owner, outcome, details = row["cells"]
        assert row["seen"], f"{label}: the row of {item_id} is not visible"
        assert (title, owner, outcome) == (item["title"], item["owner"], item["outcome"]), f"{label}: {item_id}"
        assert item["reason"].replace("\n", " ") in details.replace("\n", " "), f"{label}: {item_id} reason"
        assert row["outcome_contrast"] >= 4.5, (
            f"{label}: {item_id} outcome contrast {row['outcome_contrast']:.2f}:1, expected >= 4.5:1"
        )
    assert shown["page_width"] <= shown["viewport_width"], (
        f"{label}: the page is {shown['page_width']}px wide in a {shown['viewport_width']}px window"
    )


def test_faulted_report_shows_the_failure(rendered):
    """The faulted run really failed its item, so the browser check above covers a failed row and NO-GO."""
    _, doc = _report(rendered, f"preflight-{FAULT}")
    (obs01,) = [item for item in doc["items"] if item["id"] == "OBS-01"]
    assert (obs01["outcome"], doc["verdict"]) == ("failed", "no-go")


def test_the_measurement_sees_hidden_parts(chromium, rendered, tmp_path):
    """The check is not vacuous: a verdict hidden by CSS, or a sign-off row hidden, is reported as not visible."""
    html, _ = _report(rendered, "preflight")
    hiding = "<style>#golive-verdict{visibility:hidden} #golive-items tr:nth-child(2){opacity:0}</style>"
    broken = tmp_path / "broken.html"
    broken.write_text(html.read_text(encoding="utf-8").replace("</head>", hiding + "</head>", 1), encoding="utf-8")
    with Chromium(chromium, javascript=False) as browser:
        shown = browser.open(broken.as_uri(), WIDTH, HEIGHT).evaluate(MEASURE)
    assert shown["verdict"]["seen"] is False
    assert [row["seen"] for row in shown["rows"][:2]] == [False, True]
