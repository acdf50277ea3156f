"""Evidence: what a check measured, against which expectation, shown beside the verdict."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from golive.secrets import REGISTRY

USER_PROPERTY = "golive.evidence"

Json = str | int | float | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class Observation:
    """One measurement: the subject measured, what was measured, what was expected, and whether it held."""

    subject: str
    measured: Mapping[str, Json]
    expected: Mapping[str, Json] = field(default_factory=dict)
    ok: bool | None = None

    @property
    def table(self) -> tuple[list[str], list[list[Json]]] | None:
        """(columns, rows) when the measurement is a table (see ``table()``), else None."""
        columns, rows = self.measured.get("columns"), self.measured.get("rows")
        if set(self.measured) != {"columns", "rows"} or not isinstance(columns, list) or not isinstance(rows, list):
            return None
        if not all(isinstance(c, str) for c in columns) or not all(isinstance(r, list) for r in rows):
            return None
        return columns, rows

    def summary(self) -> str:
        mark = {True: "ok", False: "FAIL", None: "info"}[self.ok]
        if self.table is not None:  # the rows are shown whole beside it (report.evidence_html), never cut here
            columns, rows = self.table
            return f"[{mark}] {self.subject}: {len(rows)} rows ({', '.join(columns)})"
        parts = []
        for key, value in self.measured.items():
            text = f"{key} {_short(value)}"
            if key in self.expected:
                text += f" (expected {_short(self.expected[key])})"
            parts.append(text)
        return f"[{mark}] {self.subject}: " + ", ".join(parts)


def table(columns: Sequence[str], rows: Iterable[Sequence[Json]]) -> dict[str, Json]:
    """A measurement that is a table (a series of samples, one row per instance): the JSON keeps every row, and
    the HTML shows it whole as a table instead of one shortened line."""
    return {"columns": list(columns), "rows": [list(row) for row in rows]}


def _short(value: Json) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


class Evidence:
    """Collects a check's observations; they travel with the test report (also across xdist workers)."""

    def __init__(self, user_properties: list[tuple[str, object]]) -> None:
        self._user_properties = user_properties

    def record(
        self,
        subject: str,
        measured: Mapping[str, Json],
        expected: Mapping[str, Json] | None = None,
        ok: bool | None = None,
    ) -> Observation:
        observation = Observation(subject=subject, measured=dict(measured), expected=dict(expected or {}), ok=ok)
        payload = REGISTRY.scrub(json.dumps(asdict(observation), default=str))
        self._user_properties.append((USER_PROPERTY, payload))
        return observation


def observations_from(user_properties: list[tuple[str, object]]) -> list[Observation]:
    found = []
    for key, value in user_properties:
        if key == USER_PROPERTY and isinstance(value, str):
            found.append(Observation(**json.loads(value)))
    return found
