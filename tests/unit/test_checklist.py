import re
from pathlib import Path

import pytest

from golive.checklist import STAGES, ChecklistError, load_checklist, parse_checklist
from golive.plugin import stage_of

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "production-deployment-checklist.md"


def test_checklist_is_consistent():
    checklist = load_checklist()
    assert len(checklist.items) == 48
    assert len(checklist.ids()) == len(checklist.items)
    for item in checklist.items:
        assert re.fullmatch(r"[A-Z]+-\d\d", item.id)
        assert set(item.stages) <= set(STAGES)
    assert {i.id for i in checklist.for_stage("canary")} == {"OBS-01", "OBS-02", "CAN-01"}


def test_section_8_ticks_cover_the_seed_ticks():
    if not SEED.exists():
        pytest.skip("the seed checklist is not beside this checkout")
    seed_ticks = re.findall(r"- \[ \] (.+)", SEED.read_text(encoding="utf-8"))
    assert [t.title for t in load_checklist().ticks] == [t.strip() for t in seed_ticks]


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
