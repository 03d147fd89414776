"""The factory (Python) and the pilot (bash) agree on the staging formats."""

from __future__ import annotations

import subprocess

from glidein_helpers import GLIDEIN
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core import staging

NAMES = ["a", "lib/log.sh", "x-1_2+3.tar.gz", ".hidden", "a/.b/c", "", "/abs", "a/", "../x",
         "a/../b", "a//b", "./a", ".", "..", "a b", "a;b", "$(x)", "é", "manifest.sha256",
         "a*", "a\\b", "-rf", "a:b", "~", "a/b/c/d/e"]


def bash_accepts(names: list[str]) -> list[bool]:
    script = (f'source "{GLIDEIN}/lib/stage.sh"; '
              'for n in "$@"; do if gwms_stage_check_name "$n"; then echo 1; '
              'else echo 0; fi; done')
    out = subprocess.run(["bash", "-c", script, "check", *names], capture_output=True,
                         text=True, check=True).stdout.split()
    return [v == "1" for v in out]


def python_accepts(name: str) -> bool:
    try:
        staging.check_name(name)
    except staging.StagingError:
        return False
    return True


def test_name_rules_agree_on_a_table() -> None:
    assert bash_accepts(NAMES) == [python_accepts(n) for n in NAMES]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab./-_+ $;\\é", max_size=8), min_size=1, max_size=20))
def test_name_rules_agree_on_random_names(names: list[str]) -> None:
    assert bash_accepts(names) == [python_accepts(n) for n in names]
