"""docs/settings.md lists every GP and ESPL setting with its default and a reason for it, and
every removed ESPL setting with the value it is now fixed at."""

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from synth.espl._config import ESPLConfig
from synth.gp._config import GPConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"gp": GPConfig, "espl": ESPLConfig}


def _doc_rows(heading: str) -> dict[str, tuple[str, str]]:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\| `(\w+)` \| (.+?) \| (.*) \|$", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} documented twice"
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def _doc_value(cell: str):
    if cell == "(none)":
        return None
    if cell == "(required)":
        return dataclasses.MISSING
    return tomllib.loads(f"v = {cell.strip('`')}")["v"]


@pytest.mark.parametrize("table, heading", [("gp", "GP settings"), ("espl", "ESPL settings")])
def test_every_field_is_documented_with_its_default_and_a_reason(table, heading):
    cls = CONFIGS[table]
    rows = _doc_rows(heading)
    assert list(rows) == list(cls.field_names()), "docs/settings.md must list every field, in the dataclass's order"
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        cell, reason = rows[f.name]
        documented = _doc_value(cell)
        if documented is not dataclasses.MISSING and documented is not None:
            documented = cls.coerce(f.name, documented)
        assert documented == default, f"{f.name}: docs/settings.md says {cell}, the default is {default!r}"
        assert len(reason.split()) >= 4, f"{f.name}: give the reason for the default"


def test_every_removed_setting_is_documented_with_its_value_and_why():
    rows = _doc_rows("Removed ESPL settings")
    assert set(rows) == set(ESPLConfig.RETIRED)
    for name, (fixed, _) in ESPLConfig.RETIRED.items():
        assert _doc_value(rows[name][0]) == fixed, name
