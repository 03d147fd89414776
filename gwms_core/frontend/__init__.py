"""The frontend's decision core: from idle jobs to glidein requests, with no I/O.

- :mod:`.model`: the plain data (jobs, entries, glideins, limits, requests).
- :mod:`.matchexpr`: match expressions in ClassAd syntax, compiled for speed.
- :mod:`.demand`: grouping, proportional demand, limits, curbs and removal levels.

See ``docs/frontend-decision.md`` for the formulas and their defaults.
"""

from __future__ import annotations

from .demand import (
    Decision,
    EntryDemand,
    MatchReport,
    choose_removal,
    compute_req_idle,
    compute_req_max,
    count_glideins,
    decide,
    decide_from_matches,
    group_jobs,
    is_usable_idle,
    match_groups,
    proportional_demand,
)
from .matchexpr import MatchExpression, MatchExpressionError, MatchResult
from .model import (
    JOB_IDLE,
    JOB_RUNNING,
    Entry,
    EntryHistory,
    EntryLimits,
    Glidein,
    GlideinCounts,
    GroupConfig,
    Job,
    JobGroup,
    PoolCounts,
    RemovalConfig,
    RemovalLevel,
    Request,
    TotalLimits,
)

__all__ = [
    "JOB_IDLE",
    "JOB_RUNNING",
    "Decision",
    "Entry",
    "EntryDemand",
    "EntryHistory",
    "EntryLimits",
    "Glidein",
    "GlideinCounts",
    "GroupConfig",
    "Job",
    "JobGroup",
    "MatchExpression",
    "MatchExpressionError",
    "MatchReport",
    "MatchResult",
    "PoolCounts",
    "RemovalConfig",
    "RemovalLevel",
    "Request",
    "TotalLimits",
    "choose_removal",
    "compute_req_idle",
    "compute_req_max",
    "count_glideins",
    "decide",
    "decide_from_matches",
    "group_jobs",
    "is_usable_idle",
    "match_groups",
    "proportional_demand",
]
