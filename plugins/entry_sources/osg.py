"""Entry source ``osg``: entries from HTCondor-CE ads in a collector (the OSG way).

An HTCondor-CE configured by osg-configure advertises its schedd ad with
``OSG_Resource``, ``OSG_ResourceGroup``, ``OSG_BatchSystems`` and
``OSG_ResourceCatalog``: a list of nested ads, one per subcluster, resource
entry or pilot section. A pilot section (``IsPilotEntry = true``) describes the
pilots the site wants: ``Name``, ``CPUs``, ``Memory`` (MB), ``MaxWallTime``
(minutes), ``GPUs``, ``WholeNode``, ``EstimatedCPUs``, ``MaxPilots``,
``AllowedVOs`` (a list), ``Queue``, ``OS``, ``RequireSingularity``,
``SendTests``. Each pilot section becomes one entry.

:func:`entries_from_ads` is pure (ads as ``classad2.ClassAd`` or dicts in,
candidates and skip notes out); :class:`OsgSource` queries the collector.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gwms_core import hookimpl
from gwms_core.entries import Entry
from gwms_core.entrygen.context import backend_context, overrides_from_options
from gwms_core.entrygen.merge import assemble
from gwms_core.entrygen.model import Candidate, Generated, Skipped, SourceError
from gwms_core.entrygen.naming import derived_name, host_label
from gwms_core.entrygen.safety import DEFAULT_MAX_DROP_FRACTION
from gwms_core.types import EntrySource

log = logging.getLogger("gwms.entry_source.osg")

DEFAULT_CE_PORT = 9619
#: Attributes fetched from each CE ad.
PROJECTION = ("Name", "OSG_Resource", "OSG_ResourceGroup", "OSG_BatchSystems",
              "OSG_ResourceCatalog", "CollectorHost")
DEFAULT_CONSTRAINT = "OSG_ResourceCatalog =!= undefined"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Entries from HTCondor-CE ads (OSG_ResourceCatalog) in a collector.",
    "additionalProperties": False,
    "required": ["collector"],
    "properties": {
        "collector": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+(:[0-9]{1,5})?$",
                      "description": "host[:port] of the collector holding the CE ads."},
        "constraint": {"type": "string", "default": DEFAULT_CONSTRAINT,
                       "description": "ClassAd constraint on the schedd ads queried."},
        "ce_port": {"type": "integer", "minimum": 1, "maximum": 65535,
                    "default": DEFAULT_CE_PORT,
                    "description": "CE port put into the gatekeeper (HTCondor-CE: 9619)."},
        "use_collector_host": {
            "type": "boolean", "default": False,
            "description": "Gatekeeper 'Name CollectorHost' from the ad (a plain remote "
                           "schedd) instead of Name:ce_port (an HTCondor-CE)."},
        "best_fit": {
            "type": "boolean", "default": False,
            "description": "Also make one entry per CE from its non-pilot sections "
                           "(smallest memory and wall time, GCD of CPUs)."},
        "refresh_seconds": {"type": "integer", "minimum": 60, "default": 3600},
        "max_drop_fraction": {"type": "number", "minimum": 0, "maximum": 1,
                              "default": DEFAULT_MAX_DROP_FRACTION},
        "override_file": {"type": "string", "minLength": 1,
                          "description": "Operator overrides (allow, drop, pin, entries)."},
    },
}


def plain(value: Any) -> Any:
    """A ``classad2`` value as plain Python (ClassAd -> dict, lists kept, exprs as text)."""
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _int(section: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(key, f"expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise _Bad(key, f"must be at least {minimum}, got {value}")
    return value


def _bool(section: Mapping[str, Any], key: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise _Bad(key, f"expected a boolean, got {type(value).__name__} {value!r}")
    return value


def _text(section: Mapping[str, Any], key: str) -> str:
    value = section.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(key, f"expected a string, got {type(value).__name__} {value!r}")
    return value.strip()


def _vos(section: Mapping[str, Any]) -> tuple[str, ...]:
    value = section.get("AllowedVOs")
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad("AllowedVOs", f"expected a list of strings, got {value!r}")
    # Sites write VO names with varying case and stray quotes.
    return tuple(sorted({v.replace('"', "").strip().lower() for v in value if v.strip()}))


def gatekeeper_of(ad: Mapping[str, Any], ce_port: int, use_collector_host: bool) -> str:
    """``host:port`` of an HTCondor-CE, or ``schedd collector`` for a plain schedd."""
    name = str(ad["Name"]).strip().lower()
    collector = ad.get("CollectorHost")
    if use_collector_host and isinstance(collector, str) and collector.strip():
        first = collector.split(",")[0].strip()
        return f"{name} {first}"
    return f"{name}:{ce_port}"


def _base(ad: Mapping[str, Any], gatekeeper: str) -> dict[str, Any]:
    data: dict[str, Any] = {"grid_type": "condor", "gatekeeper": gatekeeper,
                            "site": str(ad["OSG_ResourceGroup"]).strip()}
    attrs: dict[str, Any] = {}
    resource = ad.get("OSG_Resource")
    if isinstance(resource, str) and resource.strip():
        attrs["GLIDEIN_ResourceName"] = resource.strip()
    batch = ad.get("OSG_BatchSystems")
    if isinstance(batch, str) and batch.strip():
        attrs["OSG_BatchSystems"] = batch.strip()
    data["attrs"] = attrs
    return data


def pilot_candidate(ad: Mapping[str, Any], section: Mapping[str, Any], index: int,
                    gatekeeper: str) -> Candidate:
    """One entry from one pilot section of a CE's resource catalogue."""
    pilot = _text(section, "Name")
    if not pilot:
        raise _Bad("Name", "is required but missing")
    cpus = _int(section, "CPUs", 1)
    est_cpus = _int(section, "EstimatedCPUs", 1)
    memory = _int(section, "Memory", 1)
    walltime = _int(section, "MaxWallTime", 1)
    gpus = _int(section, "GPUs", 0)
    max_pilots = _int(section, "MaxPilots", 0)
    whole_node = _bool(section, "WholeNode")
    require_container = _bool(section, "RequireSingularity")
    queue = _text(section, "Queue")
    os_name = _text(section, "OS")
    vos = _vos(section)
    data = _base(ad, gatekeeper)
    attrs = data["attrs"]
    submit: dict[str, Any] = {}
    if whole_node:
        submit["MY.WantWholeNode"] = "true"
        if est_cpus is not None or cpus is not None:
            data["cpus"] = est_cpus if est_cpus is not None else cpus
            attrs["GLIDEIN_ESTIMATED_CPUS"] = data["cpus"]
    else:
        if cpus is not None:
            data["cpus"] = cpus
        if memory is not None:
            data["memory_mb"] = memory
    if walltime is not None:
        data["walltime_s"] = walltime * 60
    if gpus:
        data["gpus"] = gpus
    if queue:
        data["queue"] = queue
    if os_name:
        data["os"] = os_name
    if max_pilots:
        data["limits"] = {"max_glideins": max_pilots}
    if vos:
        attrs["GLIDEIN_Supported_VOs"] = ",".join(vos)
    if require_container:
        attrs["OSG_RequireSingularity"] = True
    if submit:
        data["submit_attrs"] = submit
    name = derived_name("OSG", data["site"], host_label(gatekeeper), pilot)
    return Candidate(name=name, unit=str(ad["Name"]), data=data, vos=vos,
                     field_prefix=f"OSG_ResourceCatalog[{index}]", unit_kind="CE")


def best_fit_candidate(ad: Mapping[str, Any], sections: Sequence[Mapping[str, Any]],
                       gatekeeper: str) -> Candidate | None:
    """One entry that fits every non-pilot section: GCD of CPUs, smallest memory and
    wall time, VOs allowed everywhere (None when no section says anything)."""
    cpus: int | None = None
    memory: int | None = None
    walltime: int | None = None
    vos: set[str] | None = None
    for section in sections:
        c = _int(section, "CPUs", 1)
        m = _int(section, "Memory", 1)
        w = _int(section, "MaxWallTime", 1)
        v = set(_vos(section))
        cpus = c if cpus is None else (math.gcd(cpus, c) if c is not None else cpus)
        memory = m if memory is None else (min(memory, m) if m is not None else memory)
        walltime = w if walltime is None else (min(walltime, w) if w is not None else walltime)
        if v:
            vos = v if vos is None else vos & v
    if cpus is None and memory is None and walltime is None:
        return None
    data = _base(ad, gatekeeper)
    if cpus is not None:
        data["cpus"] = cpus
    if memory is not None:
        data["memory_mb"] = memory
    if walltime is not None:
        data["walltime_s"] = walltime * 60
    vo_list = tuple(sorted(vos or ()))
    if vo_list:
        data["attrs"]["GLIDEIN_Supported_VOs"] = ",".join(vo_list)
    name = derived_name("OSG", data["site"], host_label(gatekeeper), "bestfit")
    return Candidate(name=name, unit=str(ad["Name"]), data=data, vos=vo_list,
                     field_prefix="OSG_ResourceCatalog", unit_kind="CE")


def entries_from_ads(ads: Iterable[Any], *, ce_port: int = DEFAULT_CE_PORT,
                     use_collector_host: bool = False,
                     best_fit: bool = False) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates and skip notes from CE ads (``classad2.ClassAd`` objects or dicts)."""
    cands: list[Candidate] = []
    notes: list[Skipped] = []
    for number, raw in enumerate(ads):
        ad = plain(raw)
        if not isinstance(ad, Mapping):
            notes.append(Skipped(f"#{number}", "", "not a ClassAd", unit_kind="ad"))
            continue
        name = ad.get("Name")
        if not isinstance(name, str) or not name.strip():
            notes.append(Skipped(f"#{number}", "Name", "missing or not a string",
                                 unit_kind="ad"))
            continue
        group = ad.get("OSG_ResourceGroup")
        if not isinstance(group, str) or not group.strip():
            notes.append(Skipped(name, "OSG_ResourceGroup", "missing or not a string",
                                 unit_kind="CE"))
            continue
        catalogue = ad.get("OSG_ResourceCatalog")
        if not isinstance(catalogue, list):
            got = "missing" if catalogue is None else f"a {type(catalogue).__name__}"
            notes.append(Skipped(name, "OSG_ResourceCatalog", f"expected a list, got {got}",
                                 unit_kind="CE"))
            continue
        gatekeeper = gatekeeper_of(ad, ce_port, use_collector_host)
        others: list[Mapping[str, Any]] = []
        for index, section in enumerate(catalogue):
            field = f"OSG_ResourceCatalog[{index}]"
            if not isinstance(section, Mapping):
                notes.append(Skipped(name, field, "not a nested ClassAd", unit_kind="CE"))
                continue
            if section.get("IsPilotEntry") is not True:
                others.append(section)
                continue
            try:
                cands.append(pilot_candidate(ad, section, index, gatekeeper))
            except _Bad as bad:
                label = section.get("Name") if isinstance(section.get("Name"), str) else ""
                notes.append(Skipped(name, f"{field}.{bad.field}", bad.reason,
                                     entry=str(label), unit_kind="CE"))
        if best_fit and others:
            try:
                fit = best_fit_candidate(ad, others, gatekeeper)
            except _Bad as bad:
                notes.append(Skipped(name, f"OSG_ResourceCatalog.{bad.field}", bad.reason,
                                     entry="bestfit", unit_kind="CE"))
                continue
            if fit is not None:
                cands.append(fit)
    return cands, notes


def query_ce_ads(collector: str, constraint: str = DEFAULT_CONSTRAINT) -> list[Any]:
    """Schedd ads from ``collector`` matching ``constraint`` (SourceError on failure)."""
    try:
        import htcondor2
    except ImportError as exc:  # pragma: no cover - htcondor is installed with gwms
        raise SourceError(f"the htcondor Python bindings are missing: {exc}") from None
    try:
        coll = htcondor2.Collector(collector)
        return list(coll.query(htcondor2.AdType.Schedd, constraint=constraint,
                               projection=list(PROJECTION)))
    except Exception as exc:  # HTCondorException, ValueError, ...
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"collector {collector}: query failed: {text}") from None


class OsgSource:
    """HTCondor-CE ads with an OSG resource catalogue to entries."""

    def generate(self, options: Mapping[str, Any], base_dir: Path) -> Generated:
        """Entries plus every skip note; SourceError when the collector fails."""
        overrides = overrides_from_options(options, base_dir)
        collector = str(options["collector"])
        ads = query_ce_ads(collector, str(options.get("constraint", DEFAULT_CONSTRAINT)))
        supported, entry_schema = backend_context()
        if "condor" not in supported:
            raise SourceError("the 'condor' backend is not enabled; OSG CEs need it")
        cands, notes = entries_from_ads(
            ads, ce_port=int(options.get("ce_port", DEFAULT_CE_PORT)),
            use_collector_host=bool(options.get("use_collector_host", False)),
            best_fit=bool(options.get("best_fit", False)))
        return assemble(cands, overrides, entry_schema=entry_schema, skipped=notes,
                        source=f"osg collector {collector}")

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Sequence[Entry]:
        """The good entries; each skipped one is logged as one warning line."""
        return self.generate(options, base_dir).good_entries(log)


@hookimpl
def gwms_entry_sources() -> Iterable[EntrySource]:
    """Register the ``osg`` entry source."""
    yield EntrySource(name="osg", schema=SCHEMA, handler=OsgSource(),
                      description="entries from HTCondor-CE ads (OSG_ResourceCatalog)")
