"""Entry source ``cric``: entries generated from a CRIC compute-unit JSON document.

The document (CMS CRIC ``/api/cms/computeunit/query/?json``, or a file saved
from it) is an object keyed by compute-unit name. Each unit carries the WLCG
site (``rebus-site.name``) and a list ``glideinentries``; every glidein entry
names a grid type (``gridtype``, or the CE ``flavour``), a ``gatekeeper``, a
``queue_status`` and the glidein size (``GLIDEIN_CPUS``, ``GLIDEIN_MaxMemMBs``,
``GLIDEIN_Max_Walltime``), plus ``GLIDEIN_REQUIRED_OS``,
``GLIDEIN_Supported_VOs``, ``GLIDEIN_CMSSite``, ``workdir``, ``rsl``,
``queue`` and ``cr_name``. See docs/plugins/entry-sources.md for the mapping.

:func:`candidates_from_cric` is pure (document in, candidates and skip notes
out); :class:`CricSource` adds reading (file or HTTPS) and the layered merge.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gwms_core import hookimpl
from gwms_core.entries import Entry
from gwms_core.entrygen.context import backend_context, overrides_from_options
from gwms_core.entrygen.fetch import parse_json, read_document
from gwms_core.entrygen.merge import assemble
from gwms_core.entrygen.model import Candidate, Generated, Skipped, SourceError
from gwms_core.entrygen.naming import derived_name, host_label, is_valid_name
from gwms_core.entrygen.safety import DEFAULT_MAX_DROP_FRACTION
from gwms_core.types import EntrySource

log = logging.getLogger("gwms.entry_source.cric")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Entries generated from a CRIC compute-unit JSON document (file or HTTPS).",
    "additionalProperties": False,
    "oneOf": [{"required": ["path"]}, {"required": ["url"]}],
    "properties": {
        "path": {"type": "string", "minLength": 1,
                 "description": "CRIC JSON file; relative to the configuration file."},
        "url": {"type": "string", "pattern": "^https://",
                "description": "CRIC query URL (HTTPS only)."},
        "token_file": {"type": "string", "minLength": 1,
                       "description": "File holding a bearer token sent to the URL."},
        "cert_file": {"type": "string", "minLength": 1,
                      "description": "Client certificate (PEM) for the URL."},
        "key_file": {"type": "string", "minLength": 1,
                     "description": "Private key of cert_file when not in the same file."},
        "ca_file": {"type": "string", "minLength": 1,
                    "description": "CA bundle that signs the server (default: system CAs)."},
        "timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 60},
        "include_non_production": {
            "type": "boolean", "default": False,
            "description": "Also generate queues whose queue_status is not Production."},
        "naming": {
            "enum": ["cric", "derived"], "default": "cric",
            "description": "cric: use the entry's cr_name when set; derived: always "
                           "<site>_<CE host label>[_<queue>]."},
        "refresh_seconds": {"type": "integer", "minimum": 60, "default": 3600},
        "max_drop_fraction": {"type": "number", "minimum": 0, "maximum": 1,
                              "default": DEFAULT_MAX_DROP_FRACTION},
        "override_file": {"type": "string", "minLength": 1,
                          "description": "Operator overrides (allow, drop, pin, entries)."},
    },
}

#: CE flavour in CRIC -> grid type, when an entry has no ``gridtype``.
FLAVOURS = {"HTCONDOR-CE": "condor", "ARC-CE": "arc", "CREAM-CE": "cream"}
#: Values of ``GLIDEIN_REQUIRED_OS`` meaning "no requirement".
ANY_OS = frozenset({"", "any"})
_RSL_PAIR = re.compile(r"\(\s*([A-Za-z_]+)\s*=\s*([^()]*?)\s*\)")
_ATTR_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+-]*$")


class _Bad(Exception):
    """A field of one glidein entry is unusable (internal)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _int(entry: Mapping[str, Any], key: str, minimum: int) -> int | None:
    """An integer field that CRIC may send as a number or a digit string; None if unset."""
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Bad(key, f"expected an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise _Bad(key, f"expected an integer, got {value!r}")
        value = int(text)
    if not isinstance(value, int):
        raise _Bad(key, f"expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise _Bad(key, f"must be at least {minimum}, got {value}")
    return value


def _str(entry: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = entry.get(key)
    if value is None:
        if required:
            raise _Bad(key, "is required but missing")
        return ""
    if not isinstance(value, str):
        raise _Bad(key, f"expected a string, got {type(value).__name__} {value!r}")
    if required and not value.strip():
        raise _Bad(key, "is empty")
    return value.strip()


def _vos(entry: Mapping[str, Any]) -> tuple[str, ...]:
    value = entry.get("GLIDEIN_Supported_VOs")
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise _Bad("GLIDEIN_Supported_VOs",
                   f"expected a comma-separated string, got {type(value).__name__}")
    return tuple(dict.fromkeys(v.strip() for v in items if v.strip()))


def _attr_map(entry: Mapping[str, Any], key: str) -> dict[str, str | int | float | bool]:
    value = entry.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Bad(key, f"expected an object, got {type(value).__name__}")
    out: dict[str, str | int | float | bool] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _ATTR_KEY.match(name):
            raise _Bad(f"{key}.{name}", "is not a valid attribute name")
        if not isinstance(item, str | int | float | bool):
            raise _Bad(f"{key}.{name}", f"expected a scalar, got {type(item).__name__}")
        out[name] = item
    return out


def grid_type_of(entry: Mapping[str, Any]) -> tuple[str, str]:
    """(grid type, batch system) from ``gridtype`` (``condor``, ``batch slurm``, ...)
    or, when absent, from the CE ``flavour``."""
    raw = entry.get("gridtype")
    if raw is None:
        flavour = _str(entry, "flavour")
        if not flavour:
            raise _Bad("gridtype", "is required but missing (and no flavour)")
        if flavour.upper() not in FLAVOURS:
            return flavour.lower(), ""
        return FLAVOURS[flavour.upper()], ""
    if not isinstance(raw, str) or not raw.strip():
        raise _Bad("gridtype", f"expected a non-empty string, got {raw!r}")
    words = raw.strip().lower().split()
    system = words[1] if words[0] == "batch" and len(words) > 1 else ""
    return words[0], system


def normalise_gatekeeper(grid_type: str, gatekeeper: str) -> str:
    """``host host:port`` (the HTCondor-C form) becomes ``host:port`` when both hosts match."""
    words = gatekeeper.split()
    if grid_type == "condor" and len(words) == 2:
        schedd, collector = words
        if schedd.lower() == collector.split(":", 1)[0].lower():
            return collector.lower()
        return f"{schedd} {collector}"
    if len(words) != 1 and grid_type != "batch":
        raise _Bad("gatekeeper", f"unexpected form {gatekeeper!r}")
    return gatekeeper


def parse_rsl(rsl: str) -> dict[str, list[str]]:
    """``(queue=x)(runtimeenvironment=A)(runtimeenvironment=B)`` -> key -> values."""
    out: dict[str, list[str]] = {}
    for key, value in _RSL_PAIR.findall(rsl):
        out.setdefault(key.lower(), []).append(value.strip().strip('"'))
    return out


def _candidate(unit: str, site: str, index: int, entry: Mapping[str, Any],
               naming: str) -> Candidate:
    grid_type, batch_system = grid_type_of(entry)
    gatekeeper = normalise_gatekeeper(grid_type, _str(entry, "gatekeeper", required=True))
    cpus = _int(entry, "GLIDEIN_CPUS", 1)
    memory = _int(entry, "GLIDEIN_MaxMemMBs", 1)
    walltime = _int(entry, "GLIDEIN_Max_Walltime", 60)
    cms_site = _str(entry, "GLIDEIN_CMSSite")
    required_os = _str(entry, "GLIDEIN_REQUIRED_OS")
    workdir = _str(entry, "workdir")
    rsl = _str(entry, "rsl")
    rsl_parts = parse_rsl(rsl)
    queue = _str(entry, "queue") or (rsl_parts.get("queue") or [""])[0]
    vos = _vos(entry)
    data: dict[str, Any] = {"grid_type": grid_type, "gatekeeper": gatekeeper, "site": site}
    if batch_system:
        data["batch_system"] = batch_system
    for key, value in (("cpus", cpus), ("memory_mb", memory), ("walltime_s", walltime)):
        if value is not None:
            data[key] = value
    if queue:
        data["queue"] = queue
    if required_os.lower() not in ANY_OS:
        data["os"] = required_os
    attrs: dict[str, Any] = {"CRIC_ComputeUnit": unit}
    if cms_site:
        attrs["GLIDEIN_CMSSite"] = cms_site
    if vos:
        attrs["GLIDEIN_Supported_VOs"] = ",".join(vos)
    if workdir:
        attrs["GLIDEIN_WorkDir"] = workdir
    if rsl:
        attrs["GLIDEIN_RSL"] = rsl
    attrs.update(_attr_map(entry, "attrs"))
    data["attrs"] = attrs
    submit = _attr_map(entry, "submit_attrs")
    if grid_type == "arc" and rsl_parts.get("runtimeenvironment"):
        submit.setdefault("arc_rte", ",".join(rsl_parts["runtimeenvironment"]))
    if submit:
        data["submit_attrs"] = submit
    cr_name = entry.get("cr_name")
    if naming == "cric" and cr_name not in (None, ""):
        if not isinstance(cr_name, str) or not is_valid_name(cr_name):
            raise _Bad("cr_name", f"{cr_name!r} is not a valid entry name "
                                  "(letters, digits, '_', '.', '-', starting with a letter)")
        name = cr_name
    else:
        name = derived_name(cms_site or site, host_label(gatekeeper), queue)
    return Candidate(name=name, unit=unit, data=data, vos=vos,
                     field_prefix=f"glideinentries[{index}]")


def candidates_from_cric(doc: Any, *, supported_grid_types: Collection[str],
                         include_non_production: bool = False,
                         naming: str = "cric") -> tuple[list[Candidate], list[Skipped]]:
    """Candidates (catalogue layer) and skip notes from a parsed CRIC document.

    Raises :class:`SourceError` when ``doc`` is not an object of compute units.
    Every other problem skips one unit or one glidein entry with a note naming
    the unit, the field and the reason.
    """
    if not isinstance(doc, Mapping):
        raise SourceError(f"expected a JSON object of compute units, got {type(doc).__name__}")
    cands: list[Candidate] = []
    notes: list[Skipped] = []
    for unit in sorted(doc):
        cu = doc[unit]
        if not isinstance(cu, Mapping):
            notes.append(Skipped(unit, "", f"expected an object, got {type(cu).__name__}"))
            continue
        rebus = cu.get("rebus-site")
        site = rebus.get("name") if isinstance(rebus, Mapping) else None
        entries = cu.get("glideinentries")
        if entries is None:
            notes.append(Skipped(unit, "glideinentries", "is required but missing"))
            continue
        if not isinstance(entries, list):
            notes.append(Skipped(unit, "glideinentries",
                                 f"expected a list, got {type(entries).__name__}"))
            continue
        if not isinstance(site, str) or not site.strip():
            notes.append(Skipped(unit, "rebus-site.name",
                                 f"missing or not a string, so its {len(entries)} glidein "
                                 "entries are skipped"))
            continue
        for index, entry in enumerate(entries):
            prefix = f"glideinentries[{index}]"
            if not isinstance(entry, Mapping):
                notes.append(Skipped(unit, prefix,
                                     f"expected an object, got {type(entry).__name__}"))
                continue
            label = entry.get("cr_name") if isinstance(entry.get("cr_name"), str) else ""
            status = entry.get("queue_status")
            if not include_non_production and \
                    not (isinstance(status, str) and status.lower() == "production"):
                notes.append(Skipped(unit, f"{prefix}.queue_status",
                                     f"{status!r} is not Production", entry=str(label),
                                     ignored=True))
                continue
            try:
                grid_type = grid_type_of(entry)[0]
                if grid_type not in supported_grid_types:
                    known = ", ".join(sorted(supported_grid_types))
                    notes.append(Skipped(unit, f"{prefix}.gridtype",
                                         f"grid type {grid_type!r} is not supported "
                                         f"(supported: {known})", entry=str(label),
                                         ignored=True))
                    continue
                cands.append(_candidate(unit, site.strip(), index, entry, naming))
            except _Bad as bad:
                notes.append(Skipped(unit, f"{prefix}.{bad.field}", bad.reason,
                                     entry=str(label)))
    return cands, notes


class CricSource:
    """CRIC compute units to entries (file or HTTPS URL), with operator overrides."""

    def generate(self, options: Mapping[str, Any], base_dir: Path) -> Generated:
        """Entries plus every skip note; SourceError when the document is unusable."""
        overrides = overrides_from_options(options, base_dir)
        raw, label = read_document(dict(options), base_dir)
        doc = parse_json(raw, label)
        supported, entry_schema = backend_context()
        cands, notes = candidates_from_cric(
            doc, supported_grid_types=supported,
            include_non_production=bool(options.get("include_non_production", False)),
            naming=str(options.get("naming", "cric")))
        return assemble(cands, overrides, entry_schema=entry_schema, skipped=notes,
                        source=f"cric {label}")

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Sequence[Entry]:
        """The good entries; each skipped one is logged as one warning line."""
        return self.generate(options, base_dir).good_entries(log)


@hookimpl
def gwms_entry_sources() -> Iterable[EntrySource]:
    """Register the ``cric`` entry source."""
    yield EntrySource(name="cric", schema=SCHEMA, handler=CricSource(),
                      description="entries from CRIC compute units (file or HTTPS)")
