"""Test fixture: registers an entry source named 'static', which the core already has."""

from gwms_core import hookimpl
from gwms_core.types import EntrySource


class _Nothing:
    def load(self, options, base_dir):  # type: ignore[no-untyped-def]
        return []


@hookimpl
def gwms_entry_sources():  # type: ignore[no-untyped-def]
    yield EntrySource(name="static", schema={"type": "object"}, handler=_Nothing())
