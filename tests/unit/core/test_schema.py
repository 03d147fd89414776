"""The composed schemas are committed under docs/schema and must match the code."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gwms_core.cli import schema_text
from gwms_core.config.schema import KINDS, schema_for
from gwms_core.manager import build_registry

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("kind", KINDS)
def test_committed_schema_matches_code(kind: str) -> None:
    committed = ROOT / "docs" / "schema" / f"{kind}.schema.json"
    generated = schema_text(schema_for(kind, build_registry(external=False)))
    assert committed.exists(), f"missing {committed}: run gwms schema --write docs/schema"
    assert committed.read_text() == generated, \
        f"{committed} drifted from the code: run gwms schema --write docs/schema"


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_2020_12(kind: str) -> None:
    schema = json.loads((ROOT / "docs" / "schema" / f"{kind}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_plugin_options_are_composed() -> None:
    schema = schema_for("factory", build_registry(external=False))
    assert "entry_source.static" in schema["$defs"]
    assert schema["$defs"]["entry_source.static"]["properties"]["type"] == {"const": "static"}
    assert set(schema["properties"]["backends"]["properties"]) == {"arc", "batch", "condor"}
