"""Submission backends: grid_resource and submit commands per grid type (table tests)."""

from __future__ import annotations

import pytest

from gwms_core.entries import Entry
from gwms_core.manager import build_registry
from gwms_core.types import Family


def _entry(**kw: object) -> Entry:
    base: dict[str, object] = {"name": "E", "grid_type": "condor", "gatekeeper": "ce.example.org",
                               "site": "S"}
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


def _backend(name: str):  # type: ignore[no-untyped-def]
    return build_registry(external=False).get(Family.BACKEND, name).handler


GRID_RESOURCE = [
    ("condor", {"gatekeeper": "ce.example.org"}, "condor ce.example.org ce.example.org:9619"),
    ("condor", {"gatekeeper": "ce.example.org:9618"}, "condor ce.example.org ce.example.org:9618"),
    ("condor", {"gatekeeper": "schedd2@sub.example.org:9618"},
     "condor schedd2@sub.example.org sub.example.org:9618"),
    ("condor", {"gatekeeper": "s1@h h:1234"}, "condor s1@h h:1234"),
    ("batch", {"gatekeeper": "local", "batch_system": "slurm"}, "batch slurm"),
    ("batch", {"gatekeeper": "bosco@login.site.org", "batch_system": "pbs"},
     "batch pbs bosco@login.site.org"),
    ("batch", {"gatekeeper": "local"}, "batch slurm"),
    ("arc", {"gatekeeper": "arc.site.org"}, "arc https://arc.site.org:443/arex"),
    ("arc", {"gatekeeper": "https://arc.site.org:8443/arex"}, "arc https://arc.site.org:8443/arex"),
]


@pytest.mark.parametrize(("grid", "kw", "expected"), GRID_RESOURCE)
def test_grid_resource(grid: str, kw: dict[str, object], expected: str) -> None:
    assert _backend(grid).grid_resource(_entry(grid_type=grid, **kw)) == expected


def test_condor_ce_attributes() -> None:
    e = _entry(cpus=8, memory_mb=16000, walltime_s=7200, queue="long")
    sub = _backend("condor").submit_description(e, {"ce_attributes": True})
    assert sub["+xcount"] == "8"
    assert sub["+maxMemory"] == "16000"
    assert sub["+maxWallTime"] == "120"
    assert sub["+queue"] == '"long"'
    assert sub["request_cpus"] == "8"
    plain = _backend("condor").submit_description(e, {"ce_attributes": False})
    assert "+xcount" not in plain


def test_batch_runtime_queue_and_gpus() -> None:
    e = _entry(grid_type="batch", gatekeeper="local", queue="debug", walltime_s=3600, gpus=1)
    sub = _backend("batch").submit_description(e, {})
    assert sub == {"request_cpus": "1", "request_memory": "2000", "request_gpus": "1",
                   "batch_runtime": "3600", "batch_queue": "debug"}


def test_entry_submit_attrs_override() -> None:
    from types import MappingProxyType
    e = _entry(grid_type="batch", gatekeeper="local",
               submit_attrs=MappingProxyType({"batch_queue": "special", "+Project": '"x"'}),
               queue="debug")
    sub = _backend("batch").submit_description(e, {})
    assert sub["batch_queue"] == "special"
    assert sub["+Project"] == '"x"'


def test_arc_resources() -> None:
    e = _entry(grid_type="arc", cpus=4, memory_mb=8000, walltime_s=3600, queue="grid")
    res = _backend("arc").submit_description(e, {})["arc_resources"]
    assert "<NumberOfSlots>4</NumberOfSlots>" in res
    assert "<QueueName>grid</QueueName>" in res
    assert f"<IndividualPhysicalMemory>{8000 * 1024 * 1024}</IndividualPhysicalMemory>" in res
