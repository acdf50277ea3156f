from datetime import date, datetime, timedelta

from golive.checklist import load_checklist
from golive.outcomes import Outcome
from golive.report import CheckResult, item_results
from golive.waivers import apply_waivers, load_waivers

TODAY = date(2026, 11, 26)
OWNERS = {"support-lead": "Neha Kapoor", "platform": "Arjun Menon"}
ITEM_OWNERS = {item.id: item.owner for item in load_checklist().items}


def waiver_file(tmp_path, **fields):
    entry = {"item": "TEAM-01", "approver": "Asha Rao", "justification": "training moved after launch",
             "ticket": "OPS-1", "expires": TODAY + timedelta(days=3)} | fields  # fmt: skip
    body = "".join(
        f'{k} = "{v}"\n' if isinstance(v, str) else f"{k} = {v}\n" for k, v in entry.items() if v is not None
    )
    path = tmp_path / "v1.waivers.toml"
    path.write_text("[[waiver]]\n" + body)
    return load_waivers(path, OWNERS, ITEM_OWNERS, TODAY)


def failing_team01():
    results = item_results(
        load_checklist(), "preflight",
        [CheckResult("checks/t.py::test", "TEAM-01", Outcome.FAILED, "held_on: 45 days ago, limit 30", 0.1)],
        frozenset(),
    )  # fmt: skip
    return results


def test_valid_waiver_waives_and_keeps_the_finding(tmp_path):
    (team01,) = [r for r in apply_waivers(failing_team01(), waiver_file(tmp_path)) if r.item.id == "TEAM-01"]
    assert team01.outcome is Outcome.WAIVED
    assert team01.reason == (
        f"waived by Asha Rao (OPS-1, expires {TODAY + timedelta(days=3)}): training moved after launch "
        "[was failed: held_on: 45 days ago, limit 30]"
    )


def test_invalid_waivers_waive_nothing_and_say_why(tmp_path):
    cases = {
        "expired on 2026-11-25": {"expires": TODAY - timedelta(days=1)},
        "missing ticket": {"ticket": None},
        "expires must be a date (YYYY-MM-DD), got datetime.datetime(2026, 11, 29, 10, 0)": {
            "expires": datetime(2026, 11, 29, 10, 0)
        },
        "approver Neha Kapoor owns TEAM-01 (support-lead); someone else must approve": {"approver": "Neha Kapoor"},
        "approver NEHA Kapoor owns TEAM-01 (support-lead); someone else must approve": {"approver": " NEHA  Kapoor "},
        "missing approver": {"approver": "   "},
        "missing justification": {"justification": " \t"},
        "missing ticket, expires": {"ticket": "", "expires": None},
    }
    for expected, fields in cases.items():
        (team01,) = [
            r for r in apply_waivers(failing_team01(), waiver_file(tmp_path, **fields)) if r.item.id == "TEAM-01"
        ]
        assert team01.outcome is Outcome.FAILED
        assert team01.reason.startswith("held_on: 45 days ago, limit 30; waiver refused: v1.waivers.toml waiver 1")
        assert team01.reason.endswith(expected), team01.reason


def test_owner_must_be_named_for_the_two_person_rule(tmp_path):
    waivers = waiver_file(tmp_path, item="DB-02")
    assert waivers.refused["DB-02"] == [
        "v1.waivers.toml waiver 1 (DB-02): the dba owning DB-02 is not named in [owners]: two-person rule unchecked"
    ]


def test_no_file_no_waivers_and_passing_items_are_untouched(tmp_path):
    waivers = load_waivers(tmp_path / "none.toml", OWNERS, ITEM_OWNERS, TODAY)
    assert waivers.waivers == {}
    results = failing_team01()
    assert apply_waivers(results, waivers) == results


def test_a_waiver_file_that_is_not_a_list_of_tables_or_not_text_waives_nothing(tmp_path):
    path = tmp_path / "v1.waivers.toml"
    cases = {
        b'waiver = "TEAM-01"\n': "v1.waivers.toml: waiver must be an array of [[waiver]] tables, got str",
        b"[waiver]\nitem = 'TEAM-01'\n": "v1.waivers.toml: waiver must be an array of [[waiver]] tables, got dict",
        b"\xff\xfe[[waiver]]": "v1.waivers.toml: not valid TOML ('utf-8' codec can't decode byte 0xff",
    }
    for body, expected in cases.items():
        path.write_bytes(body)
        waivers = load_waivers(path, OWNERS, ITEM_OWNERS, TODAY)
        assert waivers.waivers == {}
        assert waivers.refused[""][0].startswith(expected), waivers.refused


def test_refusals_no_item_can_carry_are_for_the_run_to_report(tmp_path):
    cases = {
        "TEAM-1": "v1.waivers.toml waiver 1 (TEAM-1): TEAM-1 is not a checklist item",
        "": "v1.waivers.toml waiver 1 (no item): missing item",
    }
    for item, expected in cases.items():
        waivers = waiver_file(tmp_path, item=item)
        assert waivers.waivers == {}
        assert waivers.unattached() == [f"waiver refused: {expected}; no go-live until the waiver file is fixed"]
    misspelled_and_incomplete = waiver_file(tmp_path, item="TEAM-1", ticket=None)
    assert misspelled_and_incomplete.refused == {"": ["v1.waivers.toml waiver 1 (TEAM-1): missing ticket"]}
    expired = waiver_file(tmp_path, expires=TODAY - timedelta(days=1))
    assert expired.unattached() == []  # its item, TEAM-01, says why
    (tmp_path / "v1.waivers.toml").write_text("[[waiver]\n")
    broken = load_waivers(tmp_path / "v1.waivers.toml", OWNERS, ITEM_OWNERS, TODAY)
    assert broken.unattached()[0].startswith("waiver refused: v1.waivers.toml: not valid TOML (")
