"""The VO's container section reaches the glideins: request ads carry its glidein
parameters, entries whose container policy conflicts with the VO's get no request, and a
section the glidein could not read back is a config error naming it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gwms_core.config import ConfigError, load_config
from gwms_core.frontend.demand import decide
from gwms_core.frontend.model import Entry, JobGroup
from gwms_core.frontend.service import container_conflicts, request_ads
from gwms_core.frontend.settings import settings_from_config

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs/examples/frontend.yaml"


def _entry(name: str, policy: str | None) -> Entry:
    attrs = {} if policy is None else {"GLIDEIN_SINGULARITY_REQUIRE": policy}
    return Entry(name=name, site="T2_XX_A", cpus=8, memory=16000, grid_type="batch",
                 in_downtime=False, attrs=attrs)


@pytest.mark.parametrize(("vo", "entry", "conflict"), [
    ("optional", None, False),
    ("never", None, False),
    ("required", None, False),
    ("never", "required", True),
    ("required", "never", True),
    ("never", "never", False),
    ("required", "REQUIRED", False),   # the entry's word is read case-insensitively
    ("optional", "sometimes", True),   # an unknown word cannot be honoured
    ("preferred", "optional", False),
])
def test_container_conflicts(vo: str, entry: str | None, conflict: bool) -> None:
    out = container_conflicts([_entry("E", entry)], vo)
    assert ("E" in out) is conflict
    if conflict:
        assert out["E"]


def test_request_ads_carry_the_vo_container_params() -> None:
    data = load_config(EXAMPLE).data
    data = {**data, "container": {"runtime": "apptainer", "policy": "required",
                                  "default_images": {"rhel9": "/cvmfs/img/el9",
                                                     "default": "/cvmfs/img/el9"},
                                  "binds": ["/cvmfs"]}}
    settings = settings_from_config(data)
    assert settings.container_policy == "required"
    group = settings.groups[0]
    entry = _entry("E1", None)
    groups = [JobGroup(key=("T2_XX_A", 1), attrs={"DESIRED_Sites": "T2_XX_A",
                                                  "RequestCpus": 1},
                       cpus=1, memory=2000, idle=30)]
    decision = decide(groups, [entry], [], group.match, group.config)
    (ad,) = request_ads(settings, group, decision, {entry.name: entry}, "cm:9618")
    assert ad["GlideinParamGLIDEIN_Singularity_Use"] == "required"
    assert ad["GlideinParamSINGULARITY_IMAGES_DICT"] == ("default:/cvmfs/img/el9,"
                                                         "rhel9:/cvmfs/img/el9")
    assert ad["GlideinParamGLIDEIN_CONTAINER_ALLOWED_PREFIXES"] == "/cvmfs/"
    assert ad["GlideinParamGLIDEIN_CONTAINER_BINDS"] == "/cvmfs"
    # without a container section the ads carry no container parameters
    bare = replace(settings, container_params={})
    (ad,) = request_ads(bare, group, decision, {entry.name: entry}, "cm:9618")
    assert not [k for k in ad if "SINGULARITY" in k.upper() or "CONTAINER" in k]


def test_a_container_value_the_glidein_cannot_read_is_a_config_error(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "container:\n", "container:\n  binds: [\"/a,/b\"]\n", 1)
    bad = tmp_path / "frontend.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    (problem,) = [p for p in err.value.problems if p.path and p.path[0] == "container"]
    assert "binds" in str(problem) and "frontend.yaml:" in str(problem)
