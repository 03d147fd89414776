"""``gwms entries generate`` / ``diff``: report, diff, refuse, write; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from entrygen_support import CRIC_DIR, TOKEN, cric_doc, glidein_entry

from gwms_core.cli import main
from gwms_core.cli_entries import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_SKIPPED,
    EXIT_SOURCE,
    EXIT_USAGE,
)

FIXTURE = str(CRIC_DIR / "computeunits.json")


def _doc(tmp_path: Path, n: int, name: str = "cric.json", **over: object) -> Path:
    entries = [glidein_entry(cr_name=f"E{i:03d}",
                             gatekeeper=f"ce{i}.x.org ce{i}.x.org:9619", **over)
               for i in range(n)]
    path = tmp_path / name
    path.write_text(json.dumps(cric_doc(*entries)))
    return path


def generate(tmp_path: Path, *args: str) -> int:
    return main(["entries", "generate", "--source", "cric", "--out",
                 str(tmp_path / "entries.yaml"), *args])


def test_clean_catalogue_exit_0_and_rerun_is_a_no_op(tmp_path: Path, capsys) -> None:
    doc = _doc(tmp_path, 10)
    assert generate(tmp_path, "--path", str(doc)) == EXIT_OK
    first = (tmp_path / "entries.yaml").read_bytes()
    out = capsys.readouterr().out
    assert "10 added, 0 removed, 0 changed, 0 unchanged" in out
    assert generate(tmp_path, "--path", str(doc)) == EXIT_OK
    assert "0 added, 0 removed, 0 changed, 10 unchanged" in capsys.readouterr().out
    assert (tmp_path / "entries.yaml").read_bytes() == first


def test_skipped_entries_exit_3_one_line_each(tmp_path: Path, capsys) -> None:
    assert generate(tmp_path, "--path", FIXTURE) == EXIT_SKIPPED
    err = capsys.readouterr().err.splitlines()
    skipped = [line for line in err if line.startswith("skipped: ")]
    expected = json.loads((CRIC_DIR / "expected.json").read_text())
    assert len(skipped) == len(expected["invalid"])
    for unit, field in expected["invalid"]:
        assert any(f"compute unit {unit!r}" in s and
                   (not field or f"field {field!r}" in s) for s in skipped), (unit, field)
    assert any(line.startswith("ignored 5 catalogue entries by policy") for line in err)


def test_verbose_lists_ignored(tmp_path: Path, capsys) -> None:
    generate(tmp_path, "--path", FIXTURE, "-v")
    assert sum(line.startswith("ignored: ") for line in capsys.readouterr().err.splitlines()) \
        == 5


def test_diff_shows_changed_attributes(tmp_path: Path, capsys) -> None:
    generate(tmp_path, "--path", str(_doc(tmp_path, 4)))
    doc = json.loads((tmp_path / "cric.json").read_text())
    entries = doc["T2_XY_Test_CU1"]["glideinentries"]
    entries[1]["GLIDEIN_CPUS"] = "16"
    entries[2]["GLIDEIN_Supported_VOs"] = "CMS,DUNE"
    del entries[3]
    entries.append(glidein_entry(cr_name="NEW", gatekeeper="new.x.org new.x.org:9619"))
    (tmp_path / "cric.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert generate(tmp_path, "--path", str(tmp_path / "cric.json")) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert "+ NEW (condor new.x.org:9619, site XY-TEST)" in out
    assert "- E003" in out
    i = out.index("~ E001")
    assert out[i + 1:i + 2] == ["    cpus: 8 -> 16"]
    assert "    attrs.GLIDEIN_Supported_VOs: 'CMS' -> 'CMS,DUNE'" in out
    assert out[-2:] == ["1 added, 1 removed, 2 changed, 1 unchanged",
                        f"wrote {tmp_path / 'entries.yaml'}: 4 entries"]


def test_big_drop_is_refused_and_nothing_written(tmp_path: Path, capsys) -> None:
    generate(tmp_path, "--path", str(_doc(tmp_path, 10)))
    before = (tmp_path / "entries.yaml").read_bytes()
    small = _doc(tmp_path, 3, "small.json")
    capsys.readouterr()
    assert generate(tmp_path, "--path", str(small)) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "refused: 7 of 10 current entries would be removed (70%)" in err
    assert (tmp_path / "entries.yaml").read_bytes() == before
    assert generate(tmp_path, "--path", str(small), "--max-drop-fraction", "0.8") == EXIT_OK
    generate(tmp_path, "--path", str(_doc(tmp_path, 10)))
    assert generate(tmp_path, "--path", str(small), "--force") == EXIT_OK
    assert (tmp_path / "entries.yaml").read_bytes() != before


def test_drop_fraction_from_source_option(tmp_path: Path) -> None:
    generate(tmp_path, "--path", str(_doc(tmp_path, 10)))
    small = str(_doc(tmp_path, 3, "small.json"))
    assert generate(tmp_path, "--path", small, "--option", "max_drop_fraction=0.9") == EXIT_OK


def test_source_failures_exit_5_and_write_nothing(tmp_path: Path, capsys, https_server,
                                                  pki) -> None:
    (tmp_path / "bad.json").write_text("{oops")
    assert generate(tmp_path, "--path", str(tmp_path / "bad.json")) == EXIT_SOURCE
    assert "malformed JSON" in capsys.readouterr().err
    base, _ = https_server()
    assert generate(tmp_path, "--url", f"{base}/q", "--ca-file", str(pki.ca)) == EXIT_SOURCE
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "nothing written" in err and TOKEN not in err
    assert not (tmp_path / "entries.yaml").exists()


def test_generate_over_https_with_token(tmp_path: Path, https_server, pki) -> None:
    base, served = https_server()
    served.body = _doc(tmp_path, 5).read_bytes()
    token = tmp_path / "tok"
    token.write_text(TOKEN)
    assert generate(tmp_path, "--url", f"{base}/api", "--token-file", str(token),
                    "--ca-file", str(pki.ca)) == EXIT_OK
    assert "Source: cric https://127.0.0.1:" in (tmp_path / "entries.yaml").read_text()


def test_invalid_inputs_exit_1(tmp_path: Path, capsys) -> None:
    doc = str(_doc(tmp_path, 2))
    (tmp_path / "over.yaml").write_text("drop: 5\n")
    assert generate(tmp_path, "--path", doc, "--override", str(tmp_path / "over.yaml")) == \
        EXIT_INVALID
    assert f"{tmp_path / 'over.yaml'}:1: drop: expected array" in capsys.readouterr().err
    assert generate(tmp_path, "--path", doc, "--url", "https://x") == EXIT_INVALID
    assert "give exactly one of 'path' or 'url'" in capsys.readouterr().err
    assert generate(tmp_path, "--path", doc, "--collector", "cm") == EXIT_INVALID
    assert "this source accepts" in capsys.readouterr().err
    (tmp_path / "entries.yaml").write_text("kind: entries\nentries: {x: {site: s}}\n")
    assert generate(tmp_path, "--path", doc) == EXIT_INVALID
    assert "current entry file" in capsys.readouterr().err
    assert main(["entries", "generate", "--source", "nope", "--out", "x"]) == EXIT_INVALID
    assert generate(tmp_path, "--path", doc, "--option", "novalue") == EXIT_USAGE
    assert generate(tmp_path, "--path", doc, "--current", str(tmp_path / "none.yaml"),
                    "--max-drop-fraction", "2") == EXIT_USAGE


def test_override_file_applies(tmp_path: Path) -> None:
    (tmp_path / "over.yaml").write_text(
        "kind: entry-overrides\n"
        "frontends_by_vo: {CMS: [vofrontend]}\n"
        "drop: [E001]\n"
        "entries:\n  E00*: {limits: {max_idle: 5}}\n"
        "pin:\n  LOCAL: {grid_type: batch, batch_system: slurm, gatekeeper: local, "
        "site: T3_Local}\n")
    assert generate(tmp_path, "--path", str(_doc(tmp_path, 3)),
                    "--override", str(tmp_path / "over.yaml")) == EXIT_OK
    from gwms_core.config import load_config
    data = load_config(tmp_path / "entries.yaml").data["entries"]
    assert sorted(data) == ["E000", "E002", "LOCAL"]
    assert data["E000"]["allowed_frontends"] == ["vofrontend"]
    assert data["E002"]["limits"]["max_idle"] == 5
    assert data["LOCAL"]["grid_type"] == "batch"


def test_dry_run_writes_nothing(tmp_path: Path, capsys) -> None:
    assert generate(tmp_path, "--path", str(_doc(tmp_path, 2)), "--dry-run") == EXIT_OK
    assert "dry run:" in capsys.readouterr().out
    assert not (tmp_path / "entries.yaml").exists()


def test_static_source_through_the_same_command(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "docs" / "examples" / "entries.yaml"
    assert main(["entries", "generate", "--source", "static", "--path", str(example),
                 "--out", str(tmp_path / "copy.yaml")]) == EXIT_OK
    assert main(["entries", "diff", str(example), str(tmp_path / "copy.yaml")]) == EXIT_OK


def test_entries_diff_verb(tmp_path: Path, capsys) -> None:
    generate(tmp_path, "--path", str(_doc(tmp_path, 3)))
    (tmp_path / "a.yaml").write_bytes((tmp_path / "entries.yaml").read_bytes())
    generate(tmp_path, "--path", str(_doc(tmp_path, 3, GLIDEIN_CPUS="4")))
    capsys.readouterr()
    assert main(["entries", "diff", str(tmp_path / "a.yaml"),
                 str(tmp_path / "entries.yaml")]) == EXIT_SKIPPED
    assert "0 added, 0 removed, 3 changed, 0 unchanged" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--help"])
def test_help_lists_exit_codes(flag: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["entries", "generate", flag])
    assert "Exit codes: 0 written; nothing skipped" in " ".join(capsys.readouterr().out.split())
