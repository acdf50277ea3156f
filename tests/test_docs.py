"""The README is the user's reference: every key of the environment file and every sandbox fault is documented
there, so a setting or a fault cannot ship undocumented."""

from __future__ import annotations

import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from golive.config import Environment
from golive.sandbox.faults import FAULTS
from tests.e2e.harness import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n{title}\n")
    end = README.find("\n## ", start + len(title) + 1)
    return README[start : end if end != -1 else None]


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (directly, in a union, an Optional or a list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType, list, tuple) or hasattr(annotation, "__metadata__"):
        return [model for arg in get_args(annotation) for model in _models(arg)]
    return []


def config_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted keys of every leaf setting of the environment file."""
    keys = set()
    for name, field in model.model_fields.items():
        nested = _models(field.annotation)
        if nested:
            for sub in nested:
                keys |= config_keys(sub, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def documented_keys(table: str) -> set[str]:
    """Keys named in the first column of the configuration table: `a.b.c`, `.d` (a sibling of the row's first
    key), a bare `e` after a full key or `[[table]]` (a field of that key)."""
    keys: set[str] = set()
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        base = parent = ""
        for token in re.findall(r"`([^`]+)`", line.split(" | ")[0]):
            if token.startswith("[["):
                base = token.strip("[]")
                keys.add(base)
            elif token.startswith("."):
                keys.add(parent + token)
            elif "." in token:
                keys.add(token)
                base, parent = token, token.rsplit(".", 1)[0]
            else:
                keys.add(f"{base}.{token}" if base else token)
    return keys


def test_every_environment_setting_is_in_the_configuration_reference():
    documented = documented_keys(_section("## Configuration reference"))
    missing = []
    for key in sorted(config_keys(Environment)):
        parts = key.split(".")
        if not any(".".join(parts[:n]) in documented for n in range(1, len(parts) + 1)):
            missing.append(key)
    assert not missing, f"settings missing from README's configuration reference: {missing}"


def test_every_sandbox_fault_is_in_the_fault_table_with_its_items():
    table = _section("### Faults")
    rows = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            first, items = line.split(" | ")[:2]
            for name in re.findall(r"`([^`]+)`", first):
                rows[name] = items
    for name, fault in FAULTS.items():
        assert name in rows, f"fault {name} is not in README's fault table"
        for item in fault.items:
            assert item in rows[name], f"README's row of fault {name} does not name {item}"
