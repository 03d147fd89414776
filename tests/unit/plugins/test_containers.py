"""Container runtimes: the startd knobs HTCondor reads to launch jobs in Apptainer."""

from __future__ import annotations

from gwms_core.manager import build_registry
from gwms_core.types import Family


def test_startd_config_default_image_per_os_and_binds() -> None:
    rt = build_registry(external=False).get(Family.CONTAINER, "apptainer").handler
    cfg = rt.startd_config({"default_images": {"rhel9": "/cvmfs/img/el9"},
                            "binds": ["/cvmfs", "/etc/grid-security"],
                            "allowed_image_prefixes": ["/cvmfs/"]})
    assert cfg["SINGULARITY"] == "apptainer"
    assert cfg["SINGULARITY_IMAGE_EXPR"] == "$(GWMS_CONTAINER_IMAGE)"
    assert 'TARGET.REQUIRED_OS =?= "rhel9"' in cfg["GWMS_CONTAINER_IMAGE"]
    assert '"/cvmfs/img/el9"' in cfg["GWMS_CONTAINER_IMAGE"]
    # HTCondor reads a space-separated list
    assert cfg["SINGULARITY_BIND_EXPR"] == '"/cvmfs /etc/grid-security"'


def test_singularity_name_uses_its_binary() -> None:
    rt = build_registry(external=False).get(Family.CONTAINER, "singularity").handler
    assert rt.startd_config({})["SINGULARITY"] == "singularity"
