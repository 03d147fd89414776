"""Shared fixtures: every test starts with a fresh plugin registry and no plugin env vars."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gwms_core import manager

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GWMS_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("GWMS_NO_EXTERNAL_PLUGINS", raising=False)
    manager.clear_cache()
    yield
    manager.clear_cache()


@pytest.fixture
def repo_root() -> Path:
    return ROOT
