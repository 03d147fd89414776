"""Configuration validation: every bad-input case names file, line and path; valid samples pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwms_core.config import ConfigError, load_config, load_yaml, validate_data
from gwms_core.config.loader import LineMap, format_path

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


@pytest.mark.parametrize("name", ["factory.yaml", "frontend.yaml", "entries.yaml"])
def test_examples_are_valid(name: str) -> None:
    cfg = load_config(EXAMPLES / name)
    assert cfg.kind == name.split(".")[0]


def test_defaults_are_filled_in() -> None:
    cfg = load_config(EXAMPLES / "factory.yaml")
    assert cfg.data["max_submit_per_cycle"] == 100
    assert cfg.data["backends"]["condor"]["ce_attributes"] is True
    fe = load_config(EXAMPLES / "frontend.yaml")
    assert fe.data["container"]["allowed_image_prefixes"] == ["/cvmfs/"]
    assert fe.data["user_pools"][0]["job_query"].startswith("JobUniverse == 5")


def _problems(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    return [str(p) for p in info.value.problems]


FACTORY_HEAD = "kind: factory\nname: f\nwms_collector: cm:9618\n"

# (description, yaml text, expected substring of one problem, expected line)
BAD = [
    ("unknown plugin", FACTORY_HEAD + "entry_sources:\n  - type: statik\n    path: e\n",
     "entry_sources[0].type: 'statik' is not one of: 'cric', 'osg', 'static'", 5),
    ("missing required plugin option", FACTORY_HEAD + "entry_sources:\n  - type: static\n",
     "entry_sources[0]: 'path' is required but missing", 5),
    ("wrong type",
     FACTORY_HEAD + "cycle_seconds: often\nentry_sources: [{type: static, path: e}]\n",
     "cycle_seconds: expected integer, got str 'often'", 4),
    ("unknown key", FACTORY_HEAD + "entry_sources: [{type: static, path: e}]\ncolour: red\n",
     "colour: unknown key 'colour'", 5),
    ("unknown plugin option", FACTORY_HEAD +
     "entry_sources:\n  - type: static\n    path: e\n    refresh: 5\n",
     "entry_sources[0].refresh: unknown key 'refresh' (allowed: path, type)", 7),
    ("unknown backend", FACTORY_HEAD +
     "entry_sources: [{type: static, path: e}]\nbackends:\n  globus: {}\n",
     "backends.globus: unknown key 'globus' (allowed: arc, batch, condor)", 6),
    ("yaml syntax", FACTORY_HEAD + "entry_sources: [\n  - x\n", "YAML syntax error", None),
    ("duplicate key", FACTORY_HEAD + "name: g\nentry_sources: [{type: static, path: e}]\n",
     "name: duplicate key 'name' (first at line 2)", 4),
    ("wrong kind", "kind: frontdoor\n", "'kind' must be one of factory, frontend, entries", 1),
    ("empty", "", "expected a mapping at the top, got an empty file", 1),
    ("bad classad", "kind: frontend\nname: v\nwms_collector: cm\nuser_pools: [{collector: cm}]\n"
     "credentials: [{type: idtokens}]\ngroups:\n  main:\n    match_expr: 'job.A &&& 1'\n",
     "groups.main.match_expr: ClassAd expression 'job.A &&& 1' does not parse", 8),
    ("bad group name", "kind: frontend\nname: v\nwms_collector: cm\nuser_pools: [{collector: cm}]\n"
     "credentials: [{type: idtokens}]\ngroups:\n  'bad name': {}\n",
     "groups.bad name: invalid name 'bad name'", 7),
    ("entry bad grid type", "kind: entries\nentries:\n  E1:\n    grid_type: gt2\n"
     "    gatekeeper: g\n    site: s\n",
     "entries.E1.grid_type: 'gt2' is not one of: 'arc', 'batch', 'condor'", 4),
]


@pytest.mark.parametrize(("desc", "text", "expected", "line"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_path_and_line(tmp_path: Path, desc: str, text: str, expected: str,
                                       line: int | None) -> None:
    problems = _problems(tmp_path, text)
    matching = [p for p in problems if expected in p]
    assert matching, f"{desc}: {expected!r} not in {problems}"
    if line is not None:
        assert matching[0].startswith(f"{tmp_path / 'c.yaml'}:{line}: "), matching[0]
    else:
        assert str(tmp_path / "c.yaml") in matching[0]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    problems = _problems(tmp_path, FACTORY_HEAD + "cycle_seconds: x\nentry_sources: []\nzz: 1\n")
    assert len(problems) == 3


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_expect_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a entries configuration"):
        load_config(EXAMPLES / "factory.yaml", expect_kind="entries")


def test_disabled_plugin_in_config_is_unknown() -> None:
    data, lines = load_yaml(EXAMPLES / "factory.yaml")
    data["plugins"] = {"disable": ["static"]}
    with pytest.raises(ConfigError, match="'static' is not one of: 'cric'"):
        validate_data(data, "factory.yaml", lines)


def test_line_map_falls_back_to_parent() -> None:
    lm = LineMap({("a",): 3, ("a", "b"): 4})
    assert lm.line_of(("a", "b", "c", 0)) == 4
    assert lm.line_of(("z",)) is None


@pytest.mark.parametrize(("path", "text"), [((), "<root>"), (("a", 0, "b"), "a[0].b"),
                                            ((0,), "[0]")])
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text
