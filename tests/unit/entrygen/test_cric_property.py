"""Property: whatever the glidein entries hold, each one is either kept or skipped with
exactly one note, parsing never raises, and every kept entry is a valid entry."""

from __future__ import annotations

from typing import Any

from entrygen_support import glidein_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core.config.schema import schema_for
from gwms_core.entrygen.merge import assemble
from gwms_core.manager import build_registry
from gwms_plugins.entry_sources.cric import candidates_from_cric

SUPPORTED = frozenset({"condor", "batch", "arc"})
ENTRY_SCHEMA = schema_for("entries", build_registry(external=False))["$defs"]["entry"]

ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
                st.text(max_size=12), st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
FIELDS = {
    "gridtype": st.one_of(st.sampled_from(["condor", "arc", "batch slurm", "batch torque",
                                           "cream", "nordugrid", ""]), ANY),
    "gatekeeper": st.one_of(st.sampled_from(["ce.x.org ce.x.org:9619", "ce.x.org:9619",
                                             "a b c", "pilot@login.x.org", ""]), ANY),
    "queue_status": st.one_of(st.sampled_from(["Production", "production", "Test"]), ANY),
    "GLIDEIN_CPUS": st.one_of(st.sampled_from(["8", "1", "", "eight", 0, 4]), ANY),
    "GLIDEIN_MaxMemMBs": st.one_of(st.sampled_from([None, 2000, "2000", -1]), ANY),
    "GLIDEIN_Max_Walltime": st.one_of(st.sampled_from([None, 3600, 30]), ANY),
    "GLIDEIN_Supported_VOs": st.one_of(st.sampled_from(["CMS", "CMS,DUNE", ""]), ANY),
    "GLIDEIN_REQUIRED_OS": st.one_of(st.sampled_from(["any", "rhel9"]), ANY),
    "cr_name": st.one_of(st.sampled_from(["E1", "E2", "E3", "bad name", ""]), ANY),
    "rsl": st.one_of(st.sampled_from(["", "(queue=q)"]), ANY),
    "attrs": st.one_of(st.none(), st.dictionaries(st.sampled_from(["A", "b c"]), ANY,
                                                  max_size=2)),
}


@st.composite
def glidein_entries(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 20)) == 0:
        return draw(ANY)  # not even an object
    entry = glidein_entry()
    for key, strategy in FIELDS.items():
        if draw(st.booleans()):
            entry[key] = draw(strategy)
        elif draw(st.integers(0, 8)) == 0:
            entry.pop(key, None)
    return entry


@settings(max_examples=300, deadline=None)
@given(st.lists(glidein_entries(), max_size=6), st.booleans())
def test_every_entry_is_kept_or_noted_once(entries: list[Any], non_production: bool) -> None:
    doc = {"U": {"rebus-site": {"name": "S"}, "glideinentries": entries}}
    cands, notes = candidates_from_cric(doc, supported_grid_types=SUPPORTED,
                                        include_non_production=non_production)
    assert len(cands) + len(notes) == len(entries)
    result = assemble(cands, entry_schema=ENTRY_SCHEMA, skipped=notes)
    # Each candidate ends up as an entry or as exactly one note.
    assert len(result.entries) + len(result.skipped) == len(entries)
    for note in result.skipped:
        assert note.unit == "U" and "\n" not in str(note)
    for name, entry in result.entries.items():
        assert entry.name == name and entry.cpus >= 1 and entry.grid_type in SUPPORTED
