"""Every role variable is documented in meta/argument_specs.yml, and nothing else is.

Pure file checks (no grid needed): the defaults and the argument spec of each role of
the collection must name the same variables, with the same default where both set one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[2] / "collections/ansible_collections/gwms/glideinwms"
ROLES = COLLECTION / "roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "meta/argument_specs.yml").exists())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def test_top_level_roles_dir_only_links_into_the_collection() -> None:
    top = COLLECTION.parents[2].parent / "roles"
    for entry in top.iterdir():
        if entry.name == "README.md":
            continue
        assert entry.is_symlink(), f"roles/{entry.name} is not a symlink into the collection"
        assert entry.resolve() == (ROLES / entry.name).resolve(), entry
    for role in ROLES.iterdir():
        if role.is_dir():
            assert (top / role.name).is_symlink(), f"roles/{role.name} link is missing"


def test_every_role_has_an_argument_spec() -> None:
    assert ROLE_NAMES, ROLES
    for role in ROLES.iterdir():
        if (role / "defaults/main.yml").exists():
            assert (role / "meta/argument_specs.yml").exists(), role.name


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_defaults_and_argument_spec_name_the_same_variables(role: str) -> None:
    defaults = _load(ROLES / role / "defaults/main.yml")
    options = _load(ROLES / role / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) - set(options) == set(), "defaults missing from argument_specs"
    assert set(options) - set(defaults) == set(), "argument_specs options without a default"
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"
        if "default" in spec:
            assert spec["default"] == defaults[name], f"{name}: spec and defaults disagree"
        else:
            assert defaults[name] is None, f"{name}: default only in defaults/main.yml"
