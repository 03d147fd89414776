"""The glidein's bash rendering of the container knobs (gwms_container_config in
glidein/lib/container.sh) equals gwms_core.containers.startd_config, row by row."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from glidein_helpers import GLIDEIN

from gwms_core.containers import Mode, StartdSpec, startd_config

IMAGES = {"default": "/images/bookworm", "el9": "/cvmfs/x/el9", "q": '/img/"quoted"'}
SPECS = [
    StartdSpec(use=False, mode=Mode.NONE),
    StartdSpec(use=False, mode=Mode.REQUIRED),
    StartdSpec(use=True, mode=Mode.OPTIONAL, binary="/usr/bin/apptainer"),
    StartdSpec(use=True, mode=Mode.PREFERRED, binary="/opt/a", images=IMAGES,
               allowed_prefixes=("/images/", "/cvmfs/"), binds=("/etc/hosts", "/d:/data:ro"),
               target_dir="/work", extra_arguments="--userns --nv --cleanenv",
               pid_namespaces=True),
    StartdSpec(use=True, mode=Mode.REQUIRED, binary="/usr/bin/apptainer",
               images={"default": "/i"}, allowed_prefixes=("*",), unprivileged=False),
]


def bash_render(spec: StartdSpec, tmp: Path) -> dict[str, str]:
    images = tmp / "images"
    images.write_text("".join(f"{k} {v}\n" for k, v in spec.images.items()))
    script = (f'source "{GLIDEIN}/lib/attrs.sh"; source "{GLIDEIN}/lib/container.sh"; '
              'gwms_container_config "$@"')
    proc = subprocess.run(
        ["bash", "-c", script, "render", "true" if spec.use else "false", spec.mode.value,
         spec.binary, str(images), ",".join(spec.allowed_prefixes), ",".join(spec.binds),
         spec.target_dir, spec.extra_arguments, "true" if spec.unprivileged else "false",
         "true" if spec.pid_namespaces else "false"],
        capture_output=True, text=True, check=True)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.partition(" = ")
        out[key] = value
    return out


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.mode.value}-{s.use}")
def test_bash_and_python_render_the_same_knobs(spec: StartdSpec, tmp_path: Path) -> None:
    assert bash_render(spec, tmp_path) == startd_config(spec)
