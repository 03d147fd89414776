"""gwms_core.staging: manifest format, names, scripts list, params, atomic build, bundle."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwms_core import staging
from gwms_core.staging import Manifest, ManifestEntry, Script, StagingError

NAME = st.lists(st.from_regex(r"[A-Za-z0-9._+-]{1,12}", fullmatch=True)
                .filter(lambda p: p not in (".", "..")), min_size=1, max_size=3
                ).map("/".join).filter(lambda n: n != staging.MANIFEST_NAME)


def test_manifest_text_is_sha256sum_format_sorted() -> None:
    m = Manifest((ManifestEntry("b", "1" * 64), ManifestEntry("a/x.sh", "2" * 64)))
    assert m.text == f"{'2' * 64}  a/x.sh\n{'1' * 64}  b\n"
    assert m.digest == hashlib.sha256(m.text.encode()).hexdigest()


@pytest.mark.parametrize("name", ["", "/abs", "a/", "../x", "a/../b", "a//b", "./a", ".",
                                  "a b", "a;b", "$(x)", "é", staging.MANIFEST_NAME, "a\nb"])
def test_bad_names_refused(name: str) -> None:
    with pytest.raises(StagingError):
        staging.check_name(name)


@pytest.mark.parametrize("name", ["a", "lib/log.sh", "x-1_2+3.tar.gz", ".hidden", "a/.b/c"])
def test_good_names_accepted(name: str) -> None:
    assert staging.check_name(name) == name


def test_render_refuses_duplicates_and_bad_digests() -> None:
    with pytest.raises(StagingError, match="duplicate"):
        staging.render_manifest([ManifestEntry("a", "0" * 64), ManifestEntry("a", "1" * 64)])
    with pytest.raises(StagingError, match="64 lower-case hex"):
        staging.render_manifest([ManifestEntry("a", "A" * 64)])


@given(st.dictionaries(NAME, st.binary(max_size=64), max_size=8))
def test_parse_render_round_trip(files: dict[str, bytes]) -> None:
    entries = [ManifestEntry(n, staging.sha256_hex(d)) for n, d in files.items()]
    text = staging.render_manifest(entries)
    parsed = staging.parse_manifest(text)
    assert parsed.text == text
    assert set(parsed.names()) == set(files)


@pytest.mark.parametrize("text, line", [
    ("garbage\n", 1),
    (f"{'0' * 64}  a\n{'0' * 64} b\n", 2),            # one space
    (f"{'0' * 64}  a\n{'0' * 64}  ../etc\n", 2),
    (f"{'0' * 63}  a\n", 1),
])
def test_parse_names_the_bad_line(text: str, line: int) -> None:
    with pytest.raises(StagingError, match=f"manifest.sha256:{line}:"):
        staging.parse_manifest(text)


def test_build_staging_writes_files_and_manifest(tmp_path: Path) -> None:
    src = tmp_path / "src.sh"
    src.write_text("#!/bin/sh\n")
    src.chmod(0o755)
    plain = tmp_path / "data.txt"
    plain.write_text("data\n")
    out = tmp_path / "out"
    m = staging.build_staging({"bin/src.sh": src, "data.txt": plain,
                               "gen.sh": b"#!/bin/bash\n", "gen.txt": b"x"}, out)
    assert m.names() == ("bin/src.sh", "data.txt", "gen.sh", "gen.txt")
    assert (out / "bin/src.sh").read_text() == "#!/bin/sh\n"
    assert (out / "manifest.sha256").read_text() == m.text
    assert staging.read_manifest(out) == m
    assert stat.S_IMODE((out / "bin/src.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "gen.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "data.txt").stat().st_mode) == 0o644
    assert not list(out.rglob(".*.*"))  # no temporary files left
    # sha256sum agrees with the manifest
    subprocess.run(["sha256sum", "--strict", "-c", "--quiet", "manifest.sha256"], cwd=out,
                   check=True)


def test_build_staging_from_paths_uses_base_names(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("a")
    m = staging.build_staging([a], tmp_path / "out")
    assert m.names() == ("a.txt",)


def test_build_staging_refuses_bad_input_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(StagingError):
        staging.build_staging({"ok": b"1", "../evil": b"2"}, out)
    assert not out.exists()


def test_restaging_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = staging.build_staging({"a": b"1"}, out)
    second = staging.build_staging({"a": b"2"}, out)
    assert first.digest != second.digest
    assert staging.read_manifest(out).digest == second.digest


def test_write_atomic_leaves_old_content_on_failure(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        staging.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_scripts_order_and_list_format() -> None:
    scripts = [Script("g.sh", "group", 1), Script("e.sh", "entry", 5),
               Script("f2.sh", "factory", 20), Script("f1.sh", "factory", 20),
               Script("p.sh", "frontend", 1, kind="periodic", period=300)]
    assert [s.name for s in staging.order_scripts(scripts)] == [
        "f1.sh", "f2.sh", "e.sh", "p.sh", "g.sh"]
    text = staging.render_scripts_list(scripts)
    assert text.splitlines()[0] == "factory 020 setup f1.sh 0"
    assert "frontend 001 periodic p.sh 300" in text.splitlines()


@pytest.mark.parametrize("kwargs, match", [
    ({"level": "site"}, "level"),
    ({"kind": "cron"}, "kind"),
    ({"order": 1000}, "order"),
    ({"kind": "periodic"}, "period >= 1"),
    ({"period": 5}, "only periodic"),
])
def test_script_validation(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"name": "s.sh", "level": "entry", **kwargs}
    with pytest.raises(StagingError, match=match):
        Script(**args)  # type: ignore[arg-type]


def test_scripts_list_refuses_same_script_twice_with_same_kind() -> None:
    with pytest.raises(StagingError, match="twice"):
        staging.render_scripts_list([Script("a.sh", "entry"), Script("a.sh", "group")])
    # the same file as setup and periodic is fine (gwms_drain.sh is both)
    staging.render_scripts_list(staging.BUILTIN_SCRIPTS)


def test_params_render() -> None:
    assert staging.render_params({"B": 2, "A": "x y", "C": True}) == "A=x y\nB=2\nC=true\n"
    with pytest.raises(StagingError):
        staging.render_params({"bad-key": 1})
    with pytest.raises(StagingError):
        staging.render_params({"K": "two\nlines"})


def test_bundle_pilot_inlines_libraries_between_markers() -> None:
    startup = (f"#!/bin/bash\nA=1\n{staging.BUNDLE_BEGIN}\nsource x\n{staging.BUNDLE_END}\n"
               "main\n")
    out = staging.bundle_pilot(startup, [("log.sh", "f() { :; }"), ("b.sh", "g() { :; }\n")])
    assert "source x" not in out
    assert out.index("f() { :; }") < out.index("g() { :; }") < out.index("main")
    with pytest.raises(StagingError):
        staging.bundle_pilot("#!/bin/bash\n", [])


def test_glidein_files_stage_pilot_libs_builtins_and_list(tmp_path: Path) -> None:
    files = staging.glidein_files(params={"GLIDEIN_CPUS": 4},
                                  extra={"vo/x.sh": b"#!/bin/bash\n"},
                                  scripts=(*staging.BUILTIN_SCRIPTS,
                                           Script("vo/x.sh", "group")))
    assert {"glidein_startup.sh", "lib/log.sh", "gwms_cron_wrapper.sh",
            "scripts/gwms_cpu_memory.sh", "scripts.list", "glidein.params",
            "vo/x.sh"} <= set(files)
    pilot = files["glidein_startup.sh"]
    assert isinstance(pilot, bytes)
    assert b"gwms_json_escape()" in pilot and b'source "${GWMS_SELF_DIR}' not in pilot
    with pytest.raises(StagingError, match=r"not staged: vo/missing\.sh"):
        staging.glidein_files(scripts=(Script("vo/missing.sh", "group"),))
