"""A pytest plugin for the project's tests: writes each collected check's item and stage markers as JSON."""

import json
import os

import pytest

from golive.checklist import STAGES


def pytest_collection_finish(session: pytest.Session) -> None:
    found = [
        {
            "nodeid": item.nodeid,
            "item": [m.args[0] for m in item.iter_markers("item")],
            "stages": sorted({m.name for m in item.iter_markers() if m.name in STAGES}),
        }
        for item in session.items
    ]
    with open(os.environ["GOLIVE_COLLECT_DUMP"], "w", encoding="utf-8") as out:
        json.dump(found, out)
