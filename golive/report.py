"""The sign-off artifact: per-item results, the go/no-go verdict, the JSON document, the static HTML
sign-off table, the SHA-256 manifest, and the final leak scan of everything written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from golive.checklist import Checklist, Item
from golive.config import Release
from golive.evidence import Observation
from golive.outcomes import Outcome, worst
from golive.secrets import Leak, SecretRegistry

FORMAT = "golive.report/1"
NO_CHECK_YET = "no check yet"


@dataclass(frozen=True)
class Stamp:
    """What every artifact is stamped with."""

    stage: str
    environment: str
    tier: str
    strict: bool
    release: Release
    run_id: str
    operator: str
    started_at: str
    finished_at: str = ""


@dataclass
class CheckResult:
    """One pytest test's outcome (a check, or one parametrisation of it)."""

    nodeid: str
    item_id: str
    outcome: Outcome
    reason: str
    duration_s: float
    evidence: list[Observation] = field(default_factory=list)
    side_effect: str | None = None


@dataclass(frozen=True)
class ItemResult:
    item: Item
    outcome: Outcome
    reason: str
    evidence: tuple[Observation, ...]
    duration_s: float
    tests: tuple[str, ...]
    side_effects: tuple[str, ...]


def item_results(
    checklist: Checklist, stage: str | None, tests: list[CheckResult], checked_items: frozenset[str]
) -> list[ItemResult]:
    """Every item of the stage, in checklist order; items without a test are *not verified*, saying why."""
    by_item: dict[str, list[CheckResult]] = {}
    for test in tests:
        by_item.setdefault(test.item_id, []).append(test)
    results = []
    for item in checklist.for_stage(stage):
        mine = by_item.get(item.id, [])
        if not mine:
            reason = "its check was not selected in this run" if item.id in checked_items else NO_CHECK_YET
            results.append(ItemResult(item, Outcome.NOT_VERIFIED, reason, (), 0.0, (), ()))
            continue
        outcome = worst([t.outcome for t in mine])
        reasons = [f"{_param(t.nodeid)}{t.reason}" for t in mine if t.outcome == outcome and t.reason]
        results.append(
            ItemResult(
                item=item,
                outcome=outcome,
                reason="; ".join(dict.fromkeys(reasons)),
                evidence=tuple(o for t in mine for o in t.evidence),
                duration_s=round(sum(t.duration_s for t in mine), 3),
                tests=tuple(t.nodeid for t in mine),
                side_effects=tuple(sorted({t.side_effect for t in mine if t.side_effect})),
            )
        )
    return results


def _param(nodeid: str) -> str:
    """'checks/x.py::test_y[canary]' -> '[canary] ' so a reason says which target it is about."""
    return nodeid[nodeid.index("[") :].split("]")[0] + "] " if nodeid.endswith("]") else ""


@dataclass(frozen=True)
class Verdict:
    go: bool
    blocking: tuple[ItemResult, ...]

    @property
    def label(self) -> str:
        return "GO" if self.go else "NO-GO"


def verdict(results: list[ItemResult], strict: bool) -> Verdict:
    """Strict: anything not passed, attested or validly waived blocks. Otherwise only failures and errors do."""
    blocking_outcomes = {o for o in Outcome if not o.clears} if strict else {Outcome.FAILED, Outcome.ERROR}
    blocking = tuple(r for r in results if r.outcome in blocking_outcomes)
    return Verdict(go=bool(results) and not blocking, blocking=blocking)


def tick_rows(checklist: Checklist, results: list[ItemResult]) -> list[dict[str, Any]]:
    """Section 8: each tick computed from its items' outcomes in this run, so it cannot disagree with them."""
    by_id = {r.item.id: r for r in results}
    rows = []
    for tick in checklist.ticks:
        here = [by_id[i] for i in tick.items if i in by_id]
        if not here:
            status, detail = "elsewhere", "proved in another stage"
        elif all(r.outcome.clears for r in here):
            status, detail = "ticked", ", ".join(f"{r.item.id} {r.outcome.value}" for r in here)
        else:
            status = "not ticked"
            detail = ", ".join(f"{r.item.id} {r.outcome.value}" for r in here if not r.outcome.clears)
        rows.append({"title": tick.title, "items": list(tick.items), "status": status, "detail": detail})
    return rows


def document(stamp: Stamp, results: list[ItemResult], decision: Verdict, ticks: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON artifact (a public format, documented in the README)."""
    return {
        "format": FORMAT,
        "stage": stamp.stage,
        "environment": stamp.environment,
        "tier": stamp.tier,
        "strict": stamp.strict,
        "release": stamp.release.model_dump(),
        "run_id": stamp.run_id,
        "operator": stamp.operator,
        "started_at": stamp.started_at,
        "finished_at": stamp.finished_at,
        "verdict": "go" if decision.go else "no-go",
        "blocking": [r.item.id for r in decision.blocking],
        "items": [
            {
                "id": r.item.id,
                "title": r.item.title,
                "section": r.item.section,
                "stages": list(r.item.stages),
                "owner": r.item.owner,
                "proof": r.item.proof,
                "outcome": r.outcome.value,
                "reason": r.reason,
                "evidence": [
                    {"subject": o.subject, "measured": o.measured, "expected": o.expected, "ok": o.ok}
                    for o in r.evidence
                ],
                "duration_s": r.duration_s,
                "tests": list(r.tests),
                "side_effects": list(r.side_effects),
            }
            for r in results
        ],
        "ticks": ticks,
    }


_COLOURS = {
    Outcome.PASSED: "#1a7f37",
    Outcome.ATTESTED: "#1a7f37",
    Outcome.WAIVED: "#9a6700",
    Outcome.NOT_VERIFIED: "#9a6700",
    Outcome.ERROR: "#cf222e",
    Outcome.FAILED: "#cf222e",
}


def signoff_html(stamp: Stamp, results: list[ItemResult], decision: Verdict, ticks: list[dict[str, Any]]) -> str:
    """The static sign-off section: readable with scripts stripped (ticket systems strip them)."""
    cell = 'style="border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left"'
    colour = "#1a7f37" if decision.go else "#cf222e"
    stamp_rows = [
        ("Stage", stamp.stage),
        ("Environment", f"{stamp.environment} ({stamp.tier}{', strict' if stamp.strict else ''})"),
        ("Release", stamp.release.tag),
        ("Commit", stamp.release.commit),
        ("Artifact digest", stamp.release.digest),
        ("Run id", stamp.run_id),
        ("Operator", stamp.operator),
        ("Started", stamp.started_at),
        ("Finished", stamp.finished_at),
    ]
    out = [
        '<section id="golive-signoff">',
        f'<h2 id="golive-verdict" style="color:{colour}">Verdict: {decision.label}</h2>',
    ]
    if decision.blocking:
        blockers = ", ".join(f"{r.item.id} ({r.outcome.value})" for r in decision.blocking)
        out.append(f"<p><strong>Blocking:</strong> {escape(blockers)}</p>")
    out.append('<table id="golive-stamp" style="border-collapse:collapse">')
    out += [f"<tr><th {cell}>{escape(k)}</th><td {cell}>{escape(v)}</td></tr>" for k, v in stamp_rows]
    out.append("</table>")
    out.append("<h3>Sign-off</h3>")
    out.append('<table id="golive-items" style="border-collapse:collapse">')
    out.append(
        "<tr>"
        + "".join(f"<th {cell}>{h}</th>" for h in ("Item", "Title", "Owner", "Outcome", "Evidence / reason"))
        + "</tr>"
    )
    for r in results:
        lines = [o.summary() for o in r.evidence]
        if r.reason:
            lines.insert(0, r.reason)
        lines += [f"side effect: {s}" for s in r.side_effects]
        details = "<br>".join(escape(line) for line in lines) or "&nbsp;"
        out.append(
            f"<tr><td {cell}>{escape(r.item.id)}</td><td {cell}>{escape(r.item.title)}</td>"
            f"<td {cell}>{escape(r.item.owner)}</td>"
            f'<td {cell}><strong style="color:{_COLOURS[r.outcome]}">{escape(r.outcome.value)}</strong></td>'
            f"<td {cell}>{details}</td></tr>"
        )
    out.append("</table>")
    out.append("<h3>Final quick ticks (section 8)</h3>")
    out.append('<table id="golive-ticks" style="border-collapse:collapse">')
    for t in ticks:
        mark = {"ticked": "[x]", "not ticked": "[ ]", "elsewhere": "[-]"}[t["status"]]
        out.append(
            f"<tr><td {cell}>{mark}</td><td {cell}>{escape(t['title'])}</td><td {cell}>{escape(t['detail'])}</td></tr>"
        )
    out.append("</table></section>")
    return "\n".join(out)


def write_manifest(paths: list[Path], manifest: Path) -> None:
    """`sha256sum -c`-compatible manifest of the artifacts."""
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in paths]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")


def leak_scan(registry: SecretRegistry, paths: list[Path]) -> list[Leak]:
    """Scan every artifact for every secret; on a hit the artifacts are removed, never left behind."""
    existing = [p for p in paths if p.exists()]
    leaks = registry.scan_files(existing)
    if leaks:
        for path in existing:
            path.unlink()
    return leaks


def write_json(doc: dict[str, Any], path: Path, registry: SecretRegistry) -> None:
    path.write_text(registry.scrub(json.dumps(doc, indent=2, default=str)) + "\n", encoding="utf-8")
