"""Every default value of the configuration, in one place.

The JSON schemas in :mod:`gwms_core.config.schema` read their ``default`` values
from here, and so does the code that fills in unset options. Change a default here
and ``gwms schema --write`` regenerates the committed schemas.
"""

from __future__ import annotations

#: Seconds between two factory or frontend cycles.
CYCLE_SECONDS = 60
#: Seconds between two polls of a service's input while it waits for its next cycle
#: (``--wake-poll``; gwms_core.wake): a change starts the cycle early. 0: off.
WAKE_POLL_SECONDS = 2.0

#: Entry glidein size.
ENTRY_CPUS = 1
ENTRY_MEMORY_MB_PER_CPU = 2000
ENTRY_WALLTIME_SECONDS = 48 * 3600
ENTRY_GPUS = 0

#: Entry limits (GlideinWMS factory defaults for per-entry and per-frontend limits).
ENTRY_MAX_GLIDEINS = 10000
ENTRY_MAX_IDLE = 2000
ENTRY_MAX_HELD = 1000
FRONTEND_MAX_GLIDEINS = 5000
FRONTEND_MAX_IDLE = 100
FRONTEND_MAX_HELD = 50

#: Factory: glideins submitted per entry per cycle, at most.
MAX_SUBMIT_PER_CYCLE = 100
#: Factory: seconds an idle glidein may wait in the site queue before removal.
IDLE_LIFETIME_SECONDS = 24 * 3600
#: Factory: seconds after a client's request disappears (no accepted request ad) before its
#: waiting glideins are removed as orphans; 0 disables (they wait for the idle lifetime).
ORPHAN_GRACE_SECONDS = 600
#: Factory work directory.
FACTORY_WORK_DIR = "/var/lib/gwms/factory"
#: Factory: directory (relative to ``work_dir`` unless absolute) that receives each glidein's
#: stdout/stderr as ``<entry>/<client>/<cluster>.<proc>.out|err``; "" keeps no output.
FACTORY_GLIDEIN_LOG_DIR = "logs"

#: Factory held-glidein policy: releases per glidein before it is removed instead.
HELD_MAX_RELEASES = 3
#: Seconds a glidein stays held before its first release (doubled after each release).
HELD_RELEASE_BACKOFF_SECONDS = 300
#: HoldReasonCodes never released: the job's own policy expression (3), process creation
#: (6), input/output files and transfers (7, 8, 12, 13), memory/disk/size limits
#: (26, 27, 34, 35). Every other code is recoverable.
HELD_UNRECOVERABLE_CODES = (3, 6, 7, 8, 12, 13, 26, 27, 34, 35)
#: HoldReasonCode 1 (held by a person with condor_hold): leave such glideins alone.
HELD_LEAVE_USER_HOLDS = True

#: Authentication method an entry uses when it does not name one.
ENTRY_AUTH_METHOD = "idtokens"

#: Token lifetime for glidein IDTOKENs.
IDTOKEN_LIFETIME_SECONDS = 2 * 24 * 3600

#: Frontend group defaults.
GROUP_MATCH_EXPR = "true"
GROUP_START_EXPR = "true"

#: Environment variable listing plugin names (comma separated) not to load.
ENV_DISABLE_PLUGINS = "GWMS_DISABLE_PLUGINS"
#: Environment variable: when set to 1, no plugin is loaded from entry points.
ENV_NO_EXTERNAL_PLUGINS = "GWMS_NO_EXTERNAL_PLUGINS"
#: Entry-point group third-party plugin distributions register in.
ENTRY_POINT_GROUP = "gwms"

#: Frontend: glideins that joined the pool (startd ``DaemonStartTime``) at most this many
#: seconds ago are listed in each request ad's ``GlideinsInPool`` so the factory never
#: removes them as "waiting" while its queue still shows them idle (the queue's
#: ``JobStatus`` lags the site by the blahp and gridmanager poll intervals, about 1-5 min).
GLIDEINS_IN_POOL_WINDOW_SECONDS = 900
#: Frontend: at most this many glideins listed per request ad (newest joins kept).
GLIDEINS_IN_POOL_MAX = 500
