"""Fixtures for the factory's real-daemon tests (personal HTCondor 23.9 in a trixie root).

Every test here skips, with the reason, when the daemons cannot run (not root, no root
directory built by ``tests/factory/setup-condor-root.sh``, no htcondor2 bindings).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import personal_condor as pcmod  # noqa: E402


@pytest.fixture(scope="session")
def condor() -> Iterator[pcmod.PersonalCondor]:
    """One personal HTCondor for the session."""
    with pcmod.running() as pc:
        yield pc


_names = itertools.count(1)


@pytest.fixture
def factory_name() -> str:
    """A factory name unique in the session: each test sees only its own glideins."""
    return f"fact{next(_names)}"


ADVERTISE = textwrap.dedent("""
    import json, sys, classad2, htcondor2
    ads = json.loads(sys.argv[2])
    coll = htcondor2.Collector(sys.argv[1])
    if sys.argv[3] == "update":
        coll.advertise([classad2.ClassAd(a) for a in ads], "UPDATE_AD_GENERIC")
    else:
        out = []
        for a in ads:
            q = classad2.ClassAd({"MyType": "Query", "TargetType": "glideclient"})
            q["Requirements"] = classad2.ExprTree('Name == "%s"' % a["Name"])
            out.append(q)
        coll.advertise(out, "INVALIDATE_ADS_GENERIC")
""")


def advertise_as(pc: pcmod.PersonalCondor, user: str, ads: list[dict[str, Any]],
                 command: str = "update") -> None:
    """Advertise ``ads`` from a separate process authenticated as ``user`` (a frontend)."""
    subprocess.run([sys.executable, "-c", ADVERTISE, pc.collector, json.dumps(ads), command],
                   env=pcmod.client_env(user), check=True, timeout=60)


@pytest.fixture
def frontend(condor: pcmod.PersonalCondor) -> Any:
    """``frontend(user, ads)`` advertises request ads as ``user``."""
    def _adv(user: str, ads: list[dict[str, Any]], command: str = "update") -> None:
        advertise_as(condor, user, ads, command)
    return _adv
