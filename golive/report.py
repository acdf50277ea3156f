"""The sign-off artifact: per-item results, the go/no-go verdict, the JSON document, the static HTML
sign-off table, the SHA-256 manifest, and the final leak scan of everything written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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
NO_CHECK_YET = (
    "no check yet: none was collected in this run (a path argument, --ignore or a check module that did not import "
    "leaves it out)"
)


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
    stage_order: dict[str, str | bool | None] | None = None  # golive.stage_order.Gate.record()


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
    undecided: bool = False  # inconclusive: a person must decide (golive.outcomes.inconclusive)


@dataclass(frozen=True)
class ItemResult:
    item: Item
    outcome: Outcome
    reason: str
    evidence: tuple[Observation, ...]
    duration_s: float
    tests: tuple[str, ...]
    side_effects: tuple[str, ...]
    # Some or all of the item's checks gave no result in this run (none collected, filtered out by -k or --deselect,
    # or the run stopped before them): nothing shows the item was measured, so it blocks whatever the mode.
    not_run: bool = False
    # A check could not decide (an inconclusive canary): it blocks in every mode until attested or waived.
    undecided: bool = False


def item_results(
    checklist: Checklist,
    stage: str | None,
    tests: list[CheckResult],
    checked_items: frozenset[str],
    deselected: Mapping[str, list[str]] | None = None,
) -> list[ItemResult]:
    """Every item of the stage, in checklist order; items without a result are *not verified*, saying why, and
    marked ``not_run``.

    ``deselected`` maps items to their checks that a filter (-k, --deselect) left out of the run: such an
    item is not verified and ``not_run``, even when the checks that did run passed.
    """
    by_item: dict[str, list[CheckResult]] = {}
    for test in tests:
        by_item.setdefault(test.item_id, []).append(test)
    left_out = deselected or {}
    results = []
    for item in checklist.for_stage(stage):
        mine = by_item.get(item.id, [])
        skipped = left_out.get(item.id, [])
        if not mine:
            if skipped:
                reason = "its check was not selected in this run"
            elif item.id in checked_items:
                reason = "its check was collected but gave no result (the run stopped before it)"
            else:
                reason = NO_CHECK_YET
            results.append(ItemResult(item, Outcome.NOT_VERIFIED, reason, (), 0.0, (), (), not_run=True))
            continue
        outcome = worst([t.outcome for t in mine])
        reasons = [f"{_param(t.nodeid)}{t.reason}" for t in mine if t.outcome == outcome and t.reason]
        if skipped:
            outcome = worst([outcome, Outcome.NOT_VERIFIED])
            reasons.append(f"{len(skipped)} of its checks were filtered out of this run: {', '.join(skipped)}")
        results.append(
            ItemResult(
                item=item,
                outcome=outcome,
                reason="; ".join(dict.fromkeys(reasons)),
                evidence=tuple(o for t in mine for o in t.evidence),
                duration_s=round(sum(t.duration_s for t in mine), 3),
                tests=tuple(t.nodeid for t in mine),
                side_effects=tuple(sorted({t.side_effect for t in mine if t.side_effect})),
                not_run=bool(skipped),
                undecided=any(t.undecided for t in mine),
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
    incomplete: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "GO" if self.go else "NO-GO"


def verdict(results: list[ItemResult], strict: bool, incomplete: tuple[str, ...] = ()) -> Verdict:
    """Strict: anything not passed, attested or validly waived blocks. Otherwise failures, errors, items with no
    result in this run (no check collected, checks filtered out) and items a check could not decide
    (inconclusive) do. A run that did not complete (interrupted, a collection error, a crashed check) is never a
    go, and says why."""
    blocking_outcomes = {o for o in Outcome if not o.clears} if strict else {Outcome.FAILED, Outcome.ERROR}
    blocking = tuple(
        r for r in results if r.outcome in blocking_outcomes or ((r.not_run or r.undecided) and not r.outcome.clears)
    )
    proved = any(r.outcome.clears for r in results)
    return Verdict(go=proved and not blocking and not incomplete, blocking=blocking, incomplete=incomplete)


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
        "incomplete": list(decision.incomplete),
        "stage_order": stamp.stage_order,
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


def stage_order_text(record: dict[str, str | bool | None]) -> str:
    """One line for the stamp: the previous stage passed, or it did not and who let this stage start anyway."""
    if record.get("in_order"):
        return f"after {record.get('previous')} passed ({record.get('artifact')})"
    if record.get("ignored_because"):
        return f"IGNORED: {record.get('refusal')}; started because: {record.get('ignored_because')}"
    return f"refused: {record.get('refusal')}"


def stamp_properties(stamp: Stamp, decision: Verdict) -> list[tuple[str, str]]:
    """The stamp as JUnit testsuite properties (CI shows them beside the results)."""
    release = stamp.release
    return [
        ("golive.stage", stamp.stage),
        ("golive.environment", stamp.environment),
        ("golive.tier", stamp.tier),
        ("golive.strict", str(stamp.strict).lower()),
        ("golive.release", release.tag),
        ("golive.commit", release.commit),
        ("golive.digest", release.digest),
        *([("golive.pipeline", release.pipeline)] if release.pipeline else []),
        ("golive.run_id", stamp.run_id),
        ("golive.operator", stamp.operator),
        ("golive.started_at", stamp.started_at),
        ("golive.finished_at", stamp.finished_at),
        *([("golive.stage_order", stage_order_text(stamp.stage_order))] if stamp.stage_order else []),
        ("golive.verdict", decision.label),
        ("golive.blocking", " ".join(r.item.id for r in decision.blocking)),
    ]


def signoff_html(stamp: Stamp, results: list[ItemResult], decision: Verdict, ticks: list[dict[str, Any]]) -> str:
    """The static sign-off section: readable with scripts stripped (ticket systems strip them)."""
    # explicit colours: pytest-html's light grey text is too faint for a sign-off (contrast below 4.5:1)
    cell = 'style="border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left;color:#1f2328"'
    tight = cell[:-1] + ';white-space:nowrap"'
    colour = "#1a7f37" if decision.go else "#cf222e"
    stamp_rows = [
        ("Stage", stamp.stage),
        ("Environment", f"{stamp.environment} ({stamp.tier}{', strict' if stamp.strict else ''})"),
        ("Release", stamp.release.tag),
        ("Commit", stamp.release.commit),
        ("Artifact digest", stamp.release.digest),
        *([("CI pipeline", stamp.release.pipeline)] if stamp.release.pipeline else []),
        ("Run id", stamp.run_id),
        ("Operator", stamp.operator),
        ("Started", stamp.started_at),
        ("Finished", stamp.finished_at),
        *([("Stage order", stage_order_text(stamp.stage_order))] if stamp.stage_order else []),
    ]
    out = [
        '<section id="golive-signoff" style="color:#1f2328">',
        f'<h2 id="golive-verdict" style="color:{colour}">Verdict: {decision.label}</h2>',
    ]
    if decision.incomplete:
        out.append(f"<p><strong>Incomplete run:</strong> {escape('; '.join(decision.incomplete))}</p>")
    if decision.blocking:
        blockers = ", ".join(f"{r.item.id} ({r.outcome.value})" for r in decision.blocking)
        out.append(f'<p style="max-width:80em"><strong>Blocking:</strong> {escape(blockers)}</p>')
    out.append('<table id="golive-stamp" style="border-collapse:collapse">')
    out += [f"<tr><th {cell}>{escape(k)}</th><td {cell}>{escape(v)}</td></tr>" for k, v in stamp_rows]
    out.append("</table>")
    out.append('<h3 style="color:#1f2328">Sign-off</h3>')
    out.append('<table id="golive-items" style="border-collapse:collapse">')
    out.append(
        "<tr>"
        + "".join(f"<th {cell}>{h}</th>" for h in ("Item", "Title", "Owner", "Outcome", "Evidence / reason"))
        + "</tr>"
    )
    for r in results:
        lines = [escape(r.reason)] if r.reason else []
        lines += [evidence_html(o) for o in r.evidence]
        lines += [escape(f"side effect: {s}") for s in r.side_effects]
        details = "".join(f"<div>{line}</div>" for line in lines) or "&nbsp;"
        out.append(
            f"<tr><td {tight}>{escape(r.item.id)}</td><td {cell}>{escape(r.item.title)}</td>"
            f"<td {tight}>{escape(r.item.owner)}</td>"
            f'<td {cell}><strong style="color:{_COLOURS[r.outcome]}">{escape(r.outcome.value)}</strong></td>'
            f"<td {cell}>{details}</td></tr>"
        )
    out.append("</table>")
    out.append('<h3 style="color:#1f2328">Final quick ticks (section 8)</h3>')
    out.append('<table id="golive-ticks" style="border-collapse:collapse">')
    out.append(
        "<tr>" + "".join(f"<th {cell}>{h}</th>" for h in ("Tick", "Final quick tick", "From its items")) + "</tr>"
    )
    for t in ticks:
        mark = {"ticked": "[x]", "not ticked": "[ ]", "elsewhere": "[-]"}[t["status"]]
        out.append(
            f"<tr><td {cell}>{mark}</td><td {cell}>{escape(t['title'])}</td><td {cell}>{escape(t['detail'])}</td></tr>"
        )
    out.append("</table></section>")
    return "\n".join(out)


OPEN_ROWS = 10
_TABLE_CELL = 'style="border:1px solid #ddd;padding:1px 4px;text-align:left;color:#1f2328"'


def evidence_html(observation: Observation) -> str:
    """One observation as HTML: its summary line, and a table measurement's every row in a table (a long one folded
    under the summary, which stays visible without JavaScript; the data is never shortened)."""
    found = observation.table
    if found is None:
        return escape(observation.summary())
    columns, rows = found
    head = "".join(f"<th {_TABLE_CELL}>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td {_TABLE_CELL}>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    summary = f"<summary>{escape(observation.summary())}</summary>"
    grid = f'<table style="border-collapse:collapse;font-size:90%"><tr>{head}</tr>{body}</table>'
    shown = " open" if len(rows) <= OPEN_ROWS else ""  # a short table (the instances) is shown unfolded
    return f'<details class="golive-table"{shown}>{summary}{grid}</details>'


def _cell(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)


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
