"""Entry generation: catalogue entries -> merged, checked, reviewable entry sets.

Pure functions over plain data, used by the ``cric`` and ``osg`` entry sources
and by ``gwms entries generate``:

* :mod:`~gwms_core.entrygen.model`: :class:`Candidate`, :class:`Skipped`,
  :class:`Generated`, :class:`SourceError`;
* :mod:`~gwms_core.entrygen.naming`: stable entry names;
* :mod:`~gwms_core.entrygen.merge`: layered merge (defaults, catalogue,
  overrides), duplicates, allow/drop/pin;
* :mod:`~gwms_core.entrygen.diff`: added / removed / changed attributes;
* :mod:`~gwms_core.entrygen.safety`: the drop-fraction check;
* :mod:`~gwms_core.entrygen.output`: the ``kind: entries`` YAML file;
* :mod:`~gwms_core.entrygen.fetch`: file and HTTPS reading (the I/O edge);
* :mod:`~gwms_core.entrygen.cached`: :class:`CachedSource` for live use.
"""

from __future__ import annotations

from gwms_core.entrygen.cached import CachedSource, NoEntriesYet
from gwms_core.entrygen.diff import EntrySetDiff, diff_entries, format_diff
from gwms_core.entrygen.merge import Overrides, assemble, load_overrides
from gwms_core.entrygen.model import Candidate, Generated, Skipped, SourceError
from gwms_core.entrygen.naming import derived_name, is_valid_name
from gwms_core.entrygen.output import render_entries, write_atomic
from gwms_core.entrygen.safety import DEFAULT_MAX_DROP_FRACTION, DropCheck, check_drop

__all__ = [
    "DEFAULT_MAX_DROP_FRACTION",
    "CachedSource",
    "Candidate",
    "DropCheck",
    "EntrySetDiff",
    "Generated",
    "NoEntriesYet",
    "Overrides",
    "Skipped",
    "SourceError",
    "assemble",
    "check_drop",
    "derived_name",
    "diff_entries",
    "format_diff",
    "is_valid_name",
    "load_overrides",
    "render_entries",
    "write_atomic",
]
