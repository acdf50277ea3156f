"""The checklist as data: items and section-8 ticks, loaded from checklist.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

STAGES: tuple[str, ...] = ("preflight", "canary", "smoke", "postlaunch")
CHECKLIST_PATH = Path(__file__).resolve().parent.parent / "checklist.toml"

Proof = Literal["automated", "attestation"]


@dataclass(frozen=True)
class Item:
    """One checklist line with a stable id."""

    id: str
    title: str
    section: str
    stages: tuple[str, ...]
    owner: str
    proof: Proof


@dataclass(frozen=True)
class Tick:
    """A "final quick tick" of section 8, computed from its items."""

    title: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Checklist:
    items: tuple[Item, ...]
    ticks: tuple[Tick, ...]

    def get(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def ids(self) -> frozenset[str]:
        return frozenset(item.id for item in self.items)

    def for_stage(self, stage: str | None) -> tuple[Item, ...]:
        """Items proved in a stage; every item when no single stage is selected."""
        if stage is None:
            return self.items
        return tuple(item for item in self.items if stage in item.stages)


ITEM_FIELDS = ("id", "title", "section", "stages", "owner", "proof")


class ChecklistError(ValueError):
    """checklist.toml is inconsistent."""


def _item(number: int, raw: Any) -> Item:
    try:
        return Item(
            id=raw["id"],
            title=raw["title"],
            section=raw["section"],
            stages=tuple(raw["stages"]),
            owner=raw["owner"],
            proof=raw["proof"],
        )
    except (KeyError, TypeError) as exc:
        raise ChecklistError(
            f"checklist: item {number} is not a table with {', '.join(ITEM_FIELDS)} ({exc!r})"
        ) from None


def parse_checklist(text: str) -> Checklist:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChecklistError(f"checklist: not valid TOML: {exc}") from None
    items: list[Item] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.get("item", []), start=1):
        item = _item(number, raw)
        if item.id in seen:
            raise ChecklistError(f"checklist: item {item.id} is listed twice")
        unknown = set(item.stages) - set(STAGES)
        if unknown or not item.stages:
            raise ChecklistError(
                f"checklist: item {item.id} has stages {list(item.stages)}; expected some of {list(STAGES)}"
            )
        if item.proof not in ("automated", "attestation"):
            raise ChecklistError(f"checklist: item {item.id} proof {item.proof!r}; expected automated or attestation")
        seen.add(item.id)
        items.append(item)
    ticks = tuple(Tick(title=raw["title"], items=tuple(raw["items"])) for raw in data.get("tick", []))
    for tick in ticks:
        missing = [i for i in tick.items if i not in seen]
        if missing:
            raise ChecklistError(f"checklist: tick {tick.title!r} names unknown items {missing}")
    return Checklist(items=tuple(items), ticks=ticks)


@cache
def load_checklist(path: Path = CHECKLIST_PATH) -> Checklist:
    return parse_checklist(path.read_text(encoding="utf-8"))
