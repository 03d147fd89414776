"""The single-user factory checks behind ``gwms factory upgrade-check``."""

from __future__ import annotations

from pathlib import Path

from gwms_core.factory.upgrade import PathInfo, check_jobs, check_paths, check_state, stat_path


def test_paths() -> None:
    ok = PathInfo(Path("/w"), "work directory", uid=1000, mode=0o755)
    assert check_paths([ok], 1000, "fact") == []
    found = check_paths([
        PathInfo(Path("/missing"), "staging directory"),
        PathInfo(Path("/w"), "work directory", uid=0, mode=0o777),
    ], 1000, "fact")
    assert [f.fix for f in found] == ["install -d -o fact -m 0755 /missing", "chown -R fact /w",
                                      "chmod go-w /w"]
    assert all(f.severity == "error" for f in found)


def test_stat_path(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    info = stat_path(tmp_path, "x")
    assert (info.mode, info.is_dir) == (0o750, True)
    assert stat_path(tmp_path / "nope", "x").uid is None


def test_jobs() -> None:
    jobs = [{"Owner": "fact", "GlideinFactory": "f1"},
            {"Owner": "old", "GlideinFactory": "f1"}, {"Owner": "old", "GlideinFactory": "f1"},
            {"Owner": "fact"},  # untagged grid job of the factory user
            {"Owner": "someone", "GlideinFactory": "f2"}]
    found = check_jobs(jobs, "f1", "fact")
    assert [(f.severity, f.what.split(" ")[0]) for f in found] == [("error", "2"),
                                                                  ("warning", "1")]
    assert check_jobs(jobs[:1], "f1", "fact") == []


def test_state() -> None:
    assert check_state("", Path("s")) == []
    assert check_state("missing", Path("s")) == []
    assert check_state("corrupt (ValueError)", Path("s"))[0].severity == "warning"
