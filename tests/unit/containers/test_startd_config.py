"""Startd knobs for container jobs, evaluated with the real ClassAd library (classad2).

Each row: the glidein's mode and a job ad -> does the job match (START gate), does it
run in a container (SINGULARITY_JOB), in which image (SINGULARITY_IMAGE_EXPR).
"""

from __future__ import annotations

import re

import classad2
import pytest

from gwms_core.containers import (
    Mode,
    StartdSpec,
    allowed_expr,
    glidein_params,
    image_expr,
    startd_config,
    strip_nv,
)

IMAGES = {"default": "/images/bookworm", "el9": "/cvmfs/img/el9"}
ALLOWED = ("/images/", "/cvmfs/")


def expand(knobs: dict[str, str], name: str) -> str:
    """Expand $(NAME) macros of ``knobs`` the way HTCondor's configuration does;
    $(START) stands for a START that is true."""
    value = knobs[name]
    for _ in range(5):
        value = re.sub(r"\$\((\w+)\)",
                       lambda m: "true" if m.group(1) == "START" else f"({knobs[m.group(1)]})",
                       value)
    return value


def evaluate(knobs: dict[str, str], name: str, job: dict[str, object]) -> object:
    machine = classad2.ClassAd()
    target = classad2.ClassAd(job)
    expr = classad2.ExprTree(expand(knobs, name))
    return expr.eval(machine, target)


def run(mode: Mode, job: dict[str, object], use: bool = True) -> tuple[object, object, object]:
    knobs = startd_config(StartdSpec(use=use, mode=mode, binary="/usr/bin/apptainer",
                                     images=IMAGES, allowed_prefixes=ALLOWED))
    start = evaluate(knobs, "START", job)
    in_container = evaluate(knobs, "SINGULARITY_JOB", job)
    image = evaluate(knobs, "SINGULARITY_IMAGE_EXPR", job) if use else None
    return start, in_container, image


OWN = {"SingularityImage": "/images/custom"}
OUTSIDE = {"SingularityImage": "/home/alice/img"}
DOTS = {"SingularityImage": "/images/../home/alice/img"}
EL9 = {"REQUIRED_OS": "el9"}
PLAIN: dict[str, object] = {}
U = classad2.Value.Undefined

# mode, job, (START, SINGULARITY_JOB, image)
CASES = [
    (Mode.OPTIONAL, OWN, (True, True, "/images/custom")),
    (Mode.OPTIONAL, PLAIN, (True, False, "/images/bookworm")),
    (Mode.OPTIONAL, OUTSIDE, (False, True, "/home/alice/img")),
    (Mode.OPTIONAL, DOTS, (False, True, "/images/../home/alice/img")),
    (Mode.PREFERRED, OWN, (True, True, "/images/custom")),
    (Mode.PREFERRED, PLAIN, (True, True, "/images/bookworm")),
    (Mode.PREFERRED, EL9, (True, True, "/cvmfs/img/el9")),
    (Mode.PREFERRED, {"REQUIRED_OS": "EL9"}, (True, True, "/images/bookworm")),
    (Mode.PREFERRED, OUTSIDE, (False, True, "/home/alice/img")),
    (Mode.REQUIRED, OWN, (True, True, "/images/custom")),
    (Mode.REQUIRED, PLAIN, (True, True, "/images/bookworm")),
    (Mode.REQUIRED, EL9, (True, True, "/cvmfs/img/el9")),
    (Mode.REQUIRED, OUTSIDE, (False, True, "/home/alice/img")),
]


@pytest.mark.parametrize(("mode", "job", "expected"), CASES)
def test_which_jobs_match_and_run_in_which_image(mode: Mode, job: dict[str, object],
                                                 expected: tuple[object, ...]) -> None:
    assert run(mode, job) == expected


@pytest.mark.parametrize("job", [OWN, PLAIN, OUTSIDE])
def test_without_container_a_job_naming_an_image_does_not_match(job: dict[str, object]) -> None:
    start, in_container, _ = run(Mode.PREFERRED, job, use=False)
    assert start is ("SingularityImage" not in job)
    assert in_container is False


def test_required_without_any_image_refuses_the_job() -> None:
    knobs = startd_config(StartdSpec(use=True, mode=Mode.REQUIRED, images={},
                                     allowed_prefixes=ALLOWED))
    assert evaluate(knobs, "START", PLAIN) is False
    assert evaluate(knobs, "SINGULARITY_JOB", PLAIN) is False
    knobs = startd_config(StartdSpec(use=True, mode=Mode.PREFERRED, images={},
                                     allowed_prefixes=ALLOWED))
    assert evaluate(knobs, "START", PLAIN) is True  # preferred: runs without a container
    assert evaluate(knobs, "SINGULARITY_JOB", PLAIN) is False


def test_star_allows_any_location_but_not_dots() -> None:
    knobs = {"GWMS_CONTAINER_IMAGE": '"/anywhere/img"', "A": allowed_expr(("*",))}
    assert evaluate(knobs, "A", {}) is True
    knobs["GWMS_CONTAINER_IMAGE"] = '"/x/../y"'
    assert evaluate(knobs, "A", {}) is False
    knobs = {"GWMS_CONTAINER_IMAGE": '"/CVMFS/img"', "A": allowed_expr(("/cvmfs/",))}
    assert evaluate(knobs, "A", {}) is False  # case-sensitive


def test_binds_target_dir_and_extra_arguments() -> None:
    spec = StartdSpec(use=True, mode=Mode.OPTIONAL, binds=("/etc/hosts", "/d:/data:ro"),
                      target_dir="/work", extra_arguments="--nv -B /x -nv --cleanenv")
    knobs = startd_config(spec)
    assert knobs["SINGULARITY_BIND_EXPR"] == '"/etc/hosts /d:/data:ro"'
    assert knobs["SINGULARITY_TARGET_DIR"] == "/work"
    # --nv comes from HTCondor itself, only for a slot with AssignedGPUs
    assert knobs["SINGULARITY_EXTRA_ARGUMENTS"] == '"-B /x --cleanenv"'
    assert knobs["SINGULARITY_USE_PID_NAMESPACES"] == "False"


@pytest.mark.parametrize(("args", "out"), [("--nv", ""), ("-nv  -c", "-c"), ("--nvx", "--nvx"),
                                           ("", "")])
def test_strip_nv(args: str, out: str) -> None:
    assert strip_nv(args) == out


def test_image_expr_escapes_and_orders() -> None:
    expr = image_expr({"b": 'x"y', "a": "/p", "default": "/d"})
    assert expr.index('"a"') < expr.index('"b"')
    assert '"x\\"y"' in expr
    value = classad2.ExprTree(expr).eval(classad2.ClassAd(), classad2.ClassAd({"REQUIRED_OS": "b"}))
    assert value == 'x"y'


def test_glidein_params_from_the_frontend_section() -> None:
    params = glidein_params({"runtime": "apptainer", "policy": "required",
                             "default_images": {"default": "/images/bookworm", "el9": "/cvmfs/el9"},
                             "binds": ["/etc/hosts"], "extra_arguments": "--cleanenv"})
    assert params == {
        "GLIDEIN_Singularity_Use": "required",
        "SINGULARITY_IMAGES_DICT": "default:/images/bookworm,el9:/cvmfs/el9",
        "GLIDEIN_CONTAINER_ALLOWED_PREFIXES": "/cvmfs/",
        "GLIDEIN_CONTAINER_BINDS": "/etc/hosts",
        "GLIDEIN_CONTAINER_EXTRA_ARGS": "--cleanenv",
    }


@pytest.mark.parametrize("bad", [{"policy": "always"}, {"default_images": {"a b": "/x"}},
                                 {"binds": ["/a,/b"]}, {"allowed_image_prefixes": [""]},
                                 {"extra_arguments": "a\nb"}])
def test_glidein_params_refuses_what_the_glidein_cannot_read(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        glidein_params(bad)
