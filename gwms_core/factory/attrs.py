"""ClassAd attribute names the factory writes and reads, in one place.

Every name here is documented in docs/factory.md and docs/attributes.md
("Factory"). GlideinWMS names are used where the meaning is the same; the
``Gwms*`` names are new and have no GlideinWMS counterpart.
"""

from __future__ import annotations

# --------------------------------------------------------------- glidein job tags
#: Factory name (configuration ``name``). GlideinWMS: same.
FACTORY = "GlideinFactory"
#: Glidein (factory instance) name; the factory name again unless configured. GlideinWMS: same.
GLIDEIN_NAME = "GlideinName"
#: Entry the glidein was submitted for. GlideinWMS: same.
ENTRY = "GlideinEntryName"
#: Client (request) the glidein serves: the request ad's ``ClientName``. GlideinWMS: same.
CLIENT = "GlideinClient"
#: Authenticated identity of the frontend that asked. GlideinWMS: ``GlideinFrontendName``
#: holds the frontend's name; here it holds the identity the collector authenticated.
FRONTEND = "GlideinFrontendName"
#: The request ad's ``ReqName``.
REQUEST = "GwmsRequestName"
#: Unique id of the submission batch (one transaction) that created the job.
SUBMISSION = "GwmsSubmissionId"
#: Number of times the factory released this glidein from hold.
RELEASES = "GwmsReleases"
#: Credential the glidein was submitted with: the request ad's attribute of the same name,
#: an id the frontend chose (never a secret). GlideinWMS: same name, same meaning. Glideins
#: submitted before this tag existed have none and count as :data:`DEFAULT_CREDENTIAL`.
CREDENTIAL = "GlideinCredentialIdentifier"
#: Credential id of a request ad without ``GlideinCredentialIdentifier`` (a frontend older
#: than per-credential requests) and of a glidein without the tag.
DEFAULT_CREDENTIAL = "default"

#: Tags every glidein carries (the factory queries on them).
TAGS = (FACTORY, GLIDEIN_NAME, ENTRY, CLIENT, FRONTEND, REQUEST, SUBMISSION)

# --------------------------------------------------------------- HTCondor job attributes read
JOB_ATTRS = (
    "ClusterId", "ProcId", "GlobalJobId", "JobStatus", "GridJobId", "GridJobStatus",
    "EnteredCurrentStatus", "QDate", "HoldReasonCode", "HoldReasonSubCode", "NumHolds",
    "NumSystemHolds", "LastHoldReason", *TAGS, RELEASES, CREDENTIAL,
)

# --------------------------------------------------------------- entry ad (MyType glidefactory)
ENTRY_MYTYPE = "glidefactory"
#: Request ads the frontends advertise (GlideinWMS MyType).
REQUEST_MYTYPE = "glideclient"
#: Per-(entry, client) status ads the factory advertises back (GlideinWMS MyType).
CLIENT_STATUS_MYTYPE = "glidefactoryclient"

# --------------------------------------------------------------- request ad (MyType glideclient)
REQ_NAME = "ReqName"
REQ_GLIDEIN = "ReqGlidein"
CLIENT_NAME = "ClientName"
FRONTEND_NAME = "FrontendName"
GROUP_NAME = "GroupName"
REQ_IDLE = "ReqIdleGlideins"
REQ_MAX = "ReqMaxGlideins"
REQ_REMOVE = "ReqRemoveExcess"
REQ_REMOVE_MARGIN = "ReqRemoveExcessMargin"
AUTH_IDENTITY = "AuthenticatedIdentity"
#: Prefix of encrypted request parameters (credentials); handed to the credentials seam.
ENC_PARAM_PREFIX = "GlideinEncParam"
#: Prefix of clear request parameters.
PARAM_PREFIX = "GlideinParam"
#: Glideins of this request's (factory, entry, client, credential) that recently joined
#: the frontend's pool: ``"schedd#cluster.proc,..."`` (:mod:`gwms_core.factory.inpool`).
#: The factory never removes a listed glidein as waiting. New; no GlideinWMS counterpart.
IN_POOL = "GlideinsInPool"
#: How many glideins the frontend left out of :data:`IN_POOL` (over its cap).
IN_POOL_DROPPED = "GlideinsInPoolDropped"

# --------------------------------------------------------------- glidein startd ad
#: The factory schedd's ``Name``, and the glidein's ``ClusterId``/``ProcId`` there: the
#: glidein's ``--schedd``/``--cluster``/``--proc`` options. GlideinWMS: same names.
GLIDEIN_SCHEDD = "GLIDEIN_Schedd"
GLIDEIN_CLUSTER = "GLIDEIN_ClusterId"
GLIDEIN_PROC = "GLIDEIN_ProcId"
#: The glidein's ``GlideinCredentialIdentifier`` (``--credential-id``).
GLIDEIN_CREDENTIAL = "GLIDEIN_CredentialIdentifier"
