"""What a generating source needs from the installation: backends, schema, overrides."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gwms_core.entrygen.merge import Overrides, load_overrides


def backend_context() -> tuple[frozenset[str], dict[str, Any]]:
    """Names of the enabled backends, and the composed schema of one entry."""
    from gwms_core.config.schema import schema_for
    from gwms_core.manager import get_registry
    from gwms_core.types import Family

    registry = get_registry()
    entry_schema: dict[str, Any] = schema_for("entries", registry)["$defs"]["entry"]
    return frozenset(registry.names(Family.BACKEND)), entry_schema


def overrides_from_options(options: Mapping[str, Any], base_dir: Path) -> Overrides:
    """The override file named by ``options['override_file']`` (relative to
    ``base_dir``), or empty overrides."""
    name = options.get("override_file")
    if not name:
        return Overrides()
    path = Path(str(name))
    return load_overrides(path if path.is_absolute() else base_dir / path)
