"""Fixtures shared by the real-daemon auth tests: one workspace and central manager per module."""

from __future__ import annotations

from collections.abc import Iterator

import auth_condor_pool as acp
import pytest


@pytest.fixture(scope="module")
def ws() -> Iterator[acp.Workspace]:
    """A private HTCondor workspace in the Debian 13 root; skips when it is unavailable."""
    reason = acp.unavailable()
    if reason:
        pytest.skip(reason)
    w = acp.Workspace.create()
    yield w
    w.cleanup()


@pytest.fixture(scope="module")
def cm(ws: acp.Workspace) -> acp.Daemons:
    """A collector whose POOL key HTCondor generated itself."""
    return acp.start_central_manager(ws)
