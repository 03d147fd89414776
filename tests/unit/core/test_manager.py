"""The plugin manager: built-ins, disable list, duplicates, broken plugins, event hooks."""

from __future__ import annotations

import types

import pluggy
import pytest

from gwms_core import hookimpl, hookspecs, manager
from gwms_core.entries import Entry
from gwms_core.manager import Provider, _collect, build_registry
from gwms_core.types import EntrySource, Family


def test_every_family_has_a_builtin() -> None:
    reg = build_registry(external=False)
    assert {"idtokens", "scitokens", "gsi"} <= set(reg.names(Family.AUTH))
    assert {"apptainer", "singularity"} <= set(reg.names(Family.CONTAINER))
    assert {"static", "cric"} <= set(reg.names(Family.ENTRY_SOURCE))
    assert {"condor", "batch", "arc"} <= set(reg.names(Family.BACKEND))
    assert reg.broken == []
    assert all(i.provider.distribution == "gwms" for i in reg.all())


def test_builtin_list_matches_plugin_modules(repo_root) -> None:
    on_disk = {
        "gwms_plugins." + ".".join(p.relative_to(repo_root / "plugins").with_suffix("").parts)
        for p in (repo_root / "plugins").glob("*/*.py")
        if not p.name.startswith("_")
    }
    assert set(manager.BUILTIN_PLUGINS) == on_disk


@pytest.mark.parametrize("env", ["cric", "gwms_plugins.entry_sources.cric", "CRIC, gsi"])
def test_disable_by_env(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("GWMS_DISABLE_PLUGINS", env)
    reg = build_registry(external=False)
    assert "cric" not in reg.names(Family.ENTRY_SOURCE)
    assert "static" in reg.names(Family.ENTRY_SOURCE)


def test_get_unknown_names_the_choices() -> None:
    reg = build_registry(external=False)
    with pytest.raises(KeyError, match="known: arc, batch, condor"):
        reg.get(Family.BACKEND, "globus")


def _pm_with(*plugins: tuple[str, object]) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("gwms")
    pm.add_hookspecs(hookspecs)
    for name, obj in plugins:
        pm.register(obj, name=name)
    return pm


class _Src:
    def load(self, options, base_dir):  # type: ignore[no-untyped-def]
        return []


def _source_plugin(name: str) -> object:
    mod = types.SimpleNamespace()

    @hookimpl
    def gwms_entry_sources():  # type: ignore[no-untyped-def]
        yield EntrySource(name=name, schema={"type": "object"}, handler=_Src())

    mod.gwms_entry_sources = gwms_entry_sources
    return mod


def test_duplicate_names_both_distributions() -> None:
    pm = _pm_with(("a", _source_plugin("same")), ("b", _source_plugin("Same")))
    providers = {"a": Provider("a", "dist-a", "1"), "b": Provider("b", "dist-b", "2")}
    with pytest.raises(manager.PluginError, match=r"'dist-a'.*'dist-b'"):
        _collect(pm, providers, frozenset(), [])


def test_registration_hook_that_raises_is_reported_not_fatal() -> None:
    bad = types.SimpleNamespace()

    @hookimpl
    def gwms_entry_sources():  # type: ignore[no-untyped-def]
        raise OSError("disk on fire")

    bad.gwms_entry_sources = gwms_entry_sources
    pm = _pm_with(("good", _source_plugin("fine")), ("bad", bad))
    providers = {"good": Provider("good", "g", "1"), "bad": Provider("bad", "b", "1")}
    broken: list[manager.BrokenPlugin] = []
    features = _collect(pm, providers, frozenset(), broken)
    assert list(features[Family.ENTRY_SOURCE]) == ["fine"]
    assert broken == [manager.BrokenPlugin("bad", "b", "OSError: disk on fire")]


def test_wrong_type_and_bad_schema_are_broken() -> None:
    wrong = types.SimpleNamespace()

    @hookimpl
    def gwms_entry_sources():  # type: ignore[no-untyped-def]
        return ["not a dataclass"]

    wrong.gwms_entry_sources = gwms_entry_sources
    pm = _pm_with(("wrong", wrong))
    broken: list[manager.BrokenPlugin] = []
    _collect(pm, {"wrong": Provider("wrong", "w", "1")}, frozenset(), broken)
    assert "expected EntrySource" in broken[0].error


def _attr_plugin(attrs: dict[str, str]) -> object:
    mod = types.SimpleNamespace()

    @hookimpl
    def gwms_glidein_attributes(entry, group):  # type: ignore[no-untyped-def]
        return attrs

    mod.gwms_glidein_attributes = gwms_glidein_attributes
    return mod


ENTRY = Entry(name="e", grid_type="condor", gatekeeper="ce", site="S")


def test_event_hook_results_merge_and_conflicts_name_plugins() -> None:
    reg = build_registry(external=False)
    reg.manager.register(_attr_plugin({"A": "1"}), name="p1")
    reg.manager.register(_attr_plugin({"B": "2", "A": "1"}), name="p2")
    assert reg.glidein_attributes(ENTRY, "main") == {"A": "1", "B": "2"}
    reg.manager.register(_attr_plugin({"A": "3"}), name="p3")
    with pytest.raises(manager.PluginError, match=r"plugins 'p[12]' and 'p3' both set 'A'"):
        reg.glidein_attributes(ENTRY, "main")


def test_match_policy_and_submit_attributes_collect() -> None:
    reg = build_registry(external=False)
    mod = types.SimpleNamespace()

    @hookimpl
    def gwms_match_policy(group):  # type: ignore[no-untyped-def]
        return "job.Owner =!= \"banned\"" if group == "main" else None

    @hookimpl
    def gwms_submit_attributes(entry, frontend):  # type: ignore[no-untyped-def]
        return {"+Project": f'"{frontend}"'}

    mod.gwms_match_policy = gwms_match_policy
    mod.gwms_submit_attributes = gwms_submit_attributes
    reg.manager.register(mod, name="vo")
    assert reg.match_policy("main") == ['job.Owner =!= "banned"']
    assert reg.match_policy("other") == []
    assert reg.submit_attributes(ENTRY, "fe1") == {"+Project": '"fe1"'}


@pytest.mark.parametrize(("hook", "expected"), [
    ("gwms_auth_methods", {"idtokens", "scitokens", "gsi"}),
    ("gwms_container_runtimes", {"apptainer", "singularity"}),
    ("gwms_entry_sources", {"static", "cric"}),
    ("gwms_submission_backends", {"condor", "batch", "arc"}),
])
def test_registration_hooks_called_through_pluggy(hook: str, expected: set[str]) -> None:
    pm = build_registry(external=False).manager
    results = getattr(pm.hook, hook)()
    names = {item.name for result in results for item in result}
    assert expected <= names
