"""Meta-tests: every hook is documented with its exact signature, and tested."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gwms_core import hookspecs

ROOT = Path(__file__).resolve().parents[3]
HOOKS = [n for n in hookspecs.__all__ if n.startswith("gwms_")]


def _signature(name: str) -> str:
    sig = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
    return f"def {name}{sig}"


def test_all_lists_every_hookspec() -> None:
    marked = {n for n, f in vars(hookspecs).items()
              if callable(f) and hasattr(f, "gwms_spec")}
    assert marked == set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook: str) -> None:
    docs = "\n".join(p.read_text() for p in (ROOT / "docs" / "hooks").glob("*.md"))
    assert _signature(hook) in docs, f"docs/hooks/ lacks: {_signature(hook)}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring_with_params(hook: str) -> None:
    func = getattr(hookspecs, hook)
    doc = inspect.getdoc(func) or ""
    assert ":returns:" in doc
    for param in inspect.signature(func).parameters:
        assert f":param {param}:" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook: str) -> None:
    this = Path(__file__).resolve()
    texts = [p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p != this]
    assert any(hook in t for t in texts), f"no test mentions {hook}"
