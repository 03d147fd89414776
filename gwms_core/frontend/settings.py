"""A validated frontend configuration, turned into the decision's dataclasses.

Pure: :func:`settings_from_config` reads the mapping :func:`gwms_core.config.load_config`
returns (defaults already filled in) and builds one :class:`GroupSettings` per group,
with its compiled match expression and its :class:`~.model.GroupConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gwms_core import defaults
from gwms_core.frontend.matchexpr import MatchExpression
from gwms_core.frontend.model import (
    EntryLimits,
    GroupConfig,
    RemovalConfig,
    RemovalLevel,
    TotalLimits,
)


@dataclass(frozen=True, slots=True)
class UserPool:
    """One user pool: its collector, optional schedd names and the job query."""

    collector: str
    schedds: tuple[str, ...]
    job_query: str


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """One frontend group, ready for the decision."""

    name: str
    match: MatchExpression
    start_expr: str
    job_constraint: str
    config: GroupConfig


@dataclass(frozen=True, slots=True)
class FrontendSettings:
    """The whole frontend configuration."""

    name: str
    wms_collector: str
    cycle_seconds: int
    user_pools: tuple[UserPool, ...]
    groups: tuple[GroupSettings, ...]
    credentials: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    #: The VO's container policy (``container.policy``; ``optional`` without a section).
    container_policy: str = "optional"
    #: Glidein parameters from the ``container`` section (every request ad carries them as
    #: ``GlideinParam<name>``): see :func:`gwms_core.containers.glidein_params`.
    container_params: Mapping[str, str] = field(default_factory=dict)
    factory_identity: str = ""
    #: ``glideins_in_pool.window_s``: glideins whose startd started at most this many
    #: seconds ago are listed in ``GlideinsInPool`` (:mod:`gwms_core.frontend.inpool`).
    in_pool_window_s: int = defaults.GLIDEINS_IN_POOL_WINDOW_SECONDS
    #: ``glideins_in_pool.max``: most glideins listed per request ad; 0 disables the list.
    in_pool_max: int = defaults.GLIDEINS_IN_POOL_MAX


def _entry_limits(group: Mapping[str, Any]) -> EntryLimits:
    base = EntryLimits()
    running = group.get("running_glideins_per_entry", {})
    idle = group.get("idle_glideins_per_entry", {})
    vms = group.get("idle_vms_per_entry", {})
    return EntryLimits(
        max_running=running.get("max", base.max_running),
        min_running=running.get("min", base.min_running),
        relative_to_queue=running.get("relative_to_queue", base.relative_to_queue),
        max_idle=idle.get("max", base.max_idle),
        reserve_idle=idle.get("reserve", base.reserve_idle),
        max_idle_glideins=vms.get("max", base.max_idle_glideins),
        curb_idle_glideins=vms.get("curb", base.curb_idle_glideins),
    )


def _totals(idle_vms: Mapping[str, Any], running: Mapping[str, Any]) -> TotalLimits:
    base = TotalLimits()
    return TotalLimits(
        max_glideins=running.get("max", base.max_glideins),
        curb_glideins=running.get("curb", base.curb_glideins),
        max_idle_glideins=idle_vms.get("max", base.max_idle_glideins),
        curb_idle_glideins=idle_vms.get("curb", base.curb_idle_glideins),
    )


def _removal(raw: Mapping[str, Any]) -> RemovalConfig:
    base = RemovalConfig()
    return RemovalConfig(
        type=RemovalLevel[raw.get("type", base.type.name)],
        wait=raw.get("wait", base.wait),
        requests_tracking=raw.get("requests_tracking", base.requests_tracking),
        margin=raw.get("margin", base.margin),
        disable=raw.get("disable", base.disable),
    )


def settings_from_config(data: Mapping[str, Any]) -> FrontendSettings:
    """Build :class:`FrontendSettings` from a validated ``kind: frontend`` mapping."""
    limits = data.get("limits", {})
    frontend_totals = _totals(limits.get("idle_vms_total", {}),
                              limits.get("running_glideins_total", {}))
    global_totals = _totals(limits.get("idle_vms_total_global", {}),
                            limits.get("running_glideins_total_global", {}))
    groups = []
    for name, raw in sorted(data["groups"].items()):
        base = GroupConfig()
        config = GroupConfig(
            entry=_entry_limits(raw),
            group=_totals(raw.get("idle_vms_total", {}), raw.get("running_glideins_total", {})),
            frontend=frontend_totals,
            global_=global_totals,
            ramp_up_attenuation=raw.get("ramp_up_attenuation", base.ramp_up_attenuation),
            min_memory=raw.get("min_memory", base.min_memory),
            old_idle_age=raw.get("old_idle_age", base.old_idle_age),
            removal=_removal(raw.get("removal", {})),
            ignore_down_entries=raw.get("ignore_down_entries", base.ignore_down_entries),
        )
        groups.append(GroupSettings(
            name=name,
            match=MatchExpression.compile(raw.get("match_expr", "true")),
            start_expr=raw.get("start_expr", "true"),
            job_constraint=raw.get("job_constraint", "true"),
            config=config,
        ))
    pools = tuple(
        UserPool(p["collector"], tuple(p.get("schedds", ())), p["job_query"])
        for p in data["user_pools"]
    )
    in_pool = data.get("glideins_in_pool") or {}
    container = data.get("container")
    container_params: dict[str, str] = {}
    if container is not None:
        from gwms_core.containers import glidein_params

        container_params = glidein_params(container)  # validated: see config/validate.py
    return FrontendSettings(
        name=data["name"],
        wms_collector=data["wms_collector"],
        cycle_seconds=data["cycle_seconds"],
        user_pools=pools,
        groups=tuple(groups),
        credentials=tuple(data.get("credentials", ())),
        factory_identity=data.get("factory_identity", ""),
        container_policy=str((container or {}).get("policy", "optional")),
        container_params=container_params,
        in_pool_window_s=int(in_pool.get("window_s", defaults.GLIDEINS_IN_POOL_WINDOW_SECONDS)),
        in_pool_max=int(in_pool.get("max", defaults.GLIDEINS_IN_POOL_MAX)),
    )
