import re
import tomllib
from pathlib import Path

import pytest

from golive.checklist import STAGES, ChecklistError, load_checklist, parse_checklist
from golive.plugin import stage_of

DOCS = Path(__file__).resolve().parents[2] / "docs"
SEED = DOCS / "production-deployment-checklist.md"  # the team's checklist, as it was handed over


def test_checklist_is_consistent():
    checklist = load_checklist()
    assert len(checklist.items) == 48
    assert len(checklist.ids()) == len(checklist.items)
    for item in checklist.items:
        assert re.fullmatch(r"[A-Z]+-\d\d", item.id)
        assert set(item.stages) <= set(STAGES)
    assert {i.id for i in checklist.for_stage("canary")} == {"OBS-01", "OBS-02", "CAN-01"}


def test_section_8_ticks_cover_the_seed_ticks():
    seed_ticks = re.findall(r"- \[ \] (.+)", SEED.read_text(encoding="utf-8"))
    assert [t.title for t in load_checklist().ticks] == [t.strip() for t in seed_ticks]


def seed_lines() -> list[str]:
    """Every bullet and numbered step of the seed's sections 1 to 7."""
    text = SEED.read_text(encoding="utf-8")
    body = text[text.index("1) Environment validation") : text.index("8) Operational checklist")]
    return [line.strip() for line in body.splitlines() if re.match(r"\s*(- |\d+\. )", line)]


def test_no_line_of_the_seed_is_dropped():
    coverage = tomllib.loads((DOCS / "seed-coverage.toml").read_text(encoding="utf-8"))["line"]
    mapped = {entry["seed"]: entry["items"] for entry in coverage}
    lines = seed_lines()
    assert len(lines) == 50
    assert [line for line in lines if line not in mapped] == []
    assert [quoted for quoted in mapped if quoted not in lines] == []
    ids = load_checklist().ids()
    for quoted, items in mapped.items():
        assert items, quoted
        assert set(items) <= ids, (quoted, set(items) - ids)
    assert set().union(*mapped.values()) == ids  # and every item answers to a line of the seed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[item]]\nid="A-01"\ntitle="t"\nsection="s"\nstages=["launch"]\nowner="o"\nproof="automated"\n', "stages"),
        ('[[item]]\nid="A-01"\ntitle="t"\nsection="s"\nstages=["smoke"]\nowner="o"\nproof="vibes"\n', "proof"),
        ('[[tick]]\ntitle="t"\nitems=["NOPE-01"]\n', "unknown items"),
        ('[[item]]\nid="A-01"\ntitle="t"\n', r"item 1 is not a table with id, title, section, stages, owner, proof"),
        ("item = [1]\n", "item 1 is not a table"),
        ("[[item]\n", "not valid TOML"),
    ],
)
def test_inconsistent_checklists_are_refused(text, message):
    with pytest.raises(ChecklistError, match=message):
        parse_checklist(text)


@pytest.mark.parametrize(
    ("expr", "stage"),
    [
        ("preflight", "preflight"),
        ("canary and not side_effect", "canary"),
        ("not preflight", None),
        ("preflight or smoke", None),
        ("smoke and postlaunch", None),
        ("", None),
    ],
)
def test_stage_of_marker_expression(expr, stage):
    assert stage_of(expr) == stage
