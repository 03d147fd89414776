"""ClassAds the factory advertises and the submit descriptions it builds (pure).

* :func:`entry_ad`: one ``MyType = "glidefactory"`` ad per entry: what the entry
  offers (site, size, grid type), its limits and its glidein counts.
* :func:`client_ad`: one ``MyType = "glidefactoryclient"`` ad per (entry, client) that
  sent a request: the counts of that client's glideins and whether the request was
  accepted (a refusal is reported here, with its reason).
* :func:`submit_description`: the submit commands of a glidein batch.

Attribute names: docs/factory.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gwms_core.entries import Entry
from gwms_core.factory import attrs as A
from gwms_core.factory.model import Counts, Request
from gwms_core.types import BackendHandler


def ad_name(entry: str, glidein: str, factory: str) -> str:
    """``entry@glidein@factory``: the entry ad's ``Name`` and what requests put in ``ReqName``."""
    return f"{entry}@{glidein}@{factory}"


def grid_type_label(entry: Entry) -> str:
    """``GLIDEIN_GridType``: the grid type, with the batch system for ``batch``."""
    if entry.grid_type == "batch":
        return f"batch {entry.batch_system or 'slurm'}"
    return entry.grid_type


def entry_ad(entry: Entry, factory: str, glidein: str, counts: Counts,
             grid_resource: str = "") -> dict[str, Any]:
    """The ``glidefactory`` ad of one entry."""
    lim = entry.limits
    ad: dict[str, Any] = {str(k): v for k, v in entry.attrs.items()}
    ad.update({
        "MyType": A.ENTRY_MYTYPE,
        "Name": ad_name(entry.name, glidein, factory),
        "FactoryName": factory,
        "GlideinName": glidein,
        "EntryName": entry.name,
        "GLIDEIN_Site": entry.site,
        "GLIDEIN_CPUS": entry.cpus,
        "GLIDEIN_MaxMemMBs": entry.memory_mb,
        "GLIDEIN_Max_Walltime": entry.walltime_s,
        "GLIDEIN_GPUs": entry.gpus,
        "GLIDEIN_GridType": grid_type_label(entry),
        "GLIDEIN_Gatekeeper": entry.gatekeeper,
        "GLIDEIN_GridResource": grid_resource,
        "GLIDEIN_OS": entry.os,
        "GLIDEIN_Queue": entry.queue,
        "GLIDEIN_In_Downtime": entry.in_downtime,
        "GLIDEIN_SupportedAuthenticationMethod": entry.auth_method,
        "GlideinAllowedFrontends": ",".join(entry.allowed_frontends),
        "GlideinConfigPerEntryMaxGlideins": lim.max_glideins,
        "GlideinConfigPerEntryMaxIdle": lim.max_idle,
        "GlideinConfigPerEntryMaxHeld": lim.max_held,
        "GlideinConfigPerFrontendMaxGlideins": lim.per_frontend_max_glideins,
        "GlideinConfigPerFrontendMaxIdle": lim.per_frontend_max_idle,
        "GlideinConfigPerFrontendMaxHeld": lim.per_frontend_max_held,
    })
    ad.update(monitor_attrs("GlideinMonitorTotalStatus", counts))
    return ad


def monitor_attrs(prefix: str, counts: Counts) -> dict[str, int]:
    """``<prefix>Idle``, ``Running``, ``Held``, ... from a :class:`Counts`."""
    return {
        f"{prefix}Unsubmitted": counts.unsubmitted,
        f"{prefix}Idle": counts.waiting,
        f"{prefix}Running": counts.running,
        f"{prefix}Held": counts.held,
        f"{prefix}Removed": counts.removed,
        f"{prefix}Total": counts.total,
    }


def client_ad(entry: str, client: str, factory: str, glidein: str, counts: Counts,
              identity: str = "", refused: str = "",
              request: Request | None = None,
              credential: str = A.DEFAULT_CREDENTIAL) -> dict[str, Any]:
    """The ``glidefactoryclient`` ad for one (entry, client, credential).

    ``Name`` is ``<entry ad Name>@<client>``, with ``@<credential id>`` appended unless the
    credential is the default one (so the ads of an older frontend keep their names).
    """
    name = f"{ad_name(entry, glidein, factory)}@{client}"
    if credential != A.DEFAULT_CREDENTIAL:
        name += f"@{credential}"
    ad: dict[str, Any] = {
        "MyType": A.CLIENT_STATUS_MYTYPE,
        "Name": name,
        A.CREDENTIAL: credential,
        "ReqClientName": client,
        "FactoryName": factory,
        "GlideinName": glidein,
        "EntryName": entry,
        "GwmsClientIdentity": identity,
        "GwmsRequestAccepted": not refused,
        "GwmsRequestRefusedReason": refused,
    }
    if request is not None:
        ad["GlideinMonitorRequestedIdle"] = request.idle
        ad["GlideinMonitorRequestedMaxGlideins"] = request.max_glideins
    ad.update(monitor_attrs("GlideinMonitorStatus", counts))
    return ad


def classad_string(value: str) -> str:
    """A Python string as a quoted ClassAd string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: Decrypted request parameters the factory delivers as files (names from
#: :mod:`gwms_core.credentials.selection`), and the file name each gets.
CREDENTIAL_FILES = {"PoolIdToken": "pool.idtoken", "SubmitCredential": "submit.credential"}


def credential_commands(files: Mapping[str, str], submit_method: str) -> tuple[dict[str, str],
                                                                               str]:
    """Submit commands delivering credential files, and the glidein's ``--token-file`` value.

    :param files: decrypted parameter name -> path of the file holding it (factory host).
    :param submit_method: ``GlideinParamSubmitCredentialMethod`` (``scitokens``, ``gsi``).
    :returns: (submit commands, token file name on the worker node or "").

    The pool token travels with the glidein (``transfer_input_files``); the submit
    credential is what HTCondor-G presents to the site: ``scitokens_file`` for a SciToken,
    ``x509userproxy`` for a proxy. Only paths appear here, never a secret.
    """
    desc: dict[str, str] = {}
    token = ""
    pool = files.get("PoolIdToken")
    if pool:
        desc["transfer_input_files"] = pool
        token = CREDENTIAL_FILES["PoolIdToken"]
    submit = files.get("SubmitCredential")
    if submit:
        if submit_method == "scitokens":
            desc["scitokens_file"] = submit
        elif submit_method == "gsi":
            desc["x509userproxy"] = submit
    return desc, token


#: Glidein attributes the factory sets from its own knowledge; a request parameter of
#: the same name is not passed on (``--param`` would override them on the worker node).
RESERVED_PARAMS = frozenset({
    "GLIDEIN_Factory", "GLIDEIN_Entry_Name", "GLIDEIN_Client", "GLIDECLIENT_Group",
    "GLIDEIN_Site", "GLIDEIN_Max_Walltime", "GLIDEIN_Id", "GLIDEIN_Name",
})
_PARAM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def usable_params(params: Mapping[str, str]) -> dict[str, str]:
    """Request parameters that may go on the glidein's command line: a shell-safe name,
    one line of value, and not one of :data:`RESERVED_PARAMS`."""
    return {k: v for k, v in params.items()
            if _PARAM_KEY.match(k) and k not in RESERVED_PARAMS
            and "\n" not in v and "\r" not in v}


#: Entry attributes the factory passes to its glideins as ``--param`` (they win over a
#: request parameter of the same name): the entry's container policy.
ENTRY_GLIDEIN_PARAMS = ("GLIDEIN_SINGULARITY_REQUIRE",)


def entry_glidein_params(entry: Entry) -> dict[str, str]:
    """The entry's own glidein parameters (:data:`ENTRY_GLIDEIN_PARAMS` it sets)."""
    return {k: str(entry.attrs[k]) for k in ENTRY_GLIDEIN_PARAMS if k in entry.attrs}


def glidein_arguments(entry: Entry, request: Request, factory: str, manifest_url: str,
                      manifest_sha256: str, collector: str = "",
                      extra: Mapping[str, str] | None = None, token_file: str = "",
                      schedd: str = "") -> str:
    """The glidein's command line (``glidein_startup.sh`` options), as HTCondor ``arguments``.

    The frontend and group come from the client name ``frontend.group`` when it has that
    form; request parameters (``GlideinParam*``) become ``--param KEY=VALUE``. The glidein
    learns its factory job: ``--schedd`` (the factory schedd's ``Name``, when known),
    ``--cluster $(Cluster) --proc $(Process)`` (expanded by the schedd at submission) and
    ``--credential-id``; it advertises them as ``GLIDEIN_Schedd``, ``GLIDEIN_ClusterId``,
    ``GLIDEIN_ProcId`` and ``GLIDEIN_CredentialIdentifier``, which is how the frontend
    names it in ``GlideinsInPool``.
    """
    frontend, _, group = request.client.partition(".")
    args = ["--manifest-url", manifest_url, "--manifest-sha256", manifest_sha256,
            "--factory", factory, "--entry", entry.name, "--frontend", frontend,
            "--site", entry.site, "--walltime", str(entry.walltime_s)]
    if group:
        args += ["--group", group]
    if schedd:
        args += ["--schedd", schedd]
    args += ["--cluster", "$(Cluster)", "--proc", "$(Process)",
             "--credential-id", request.credential]
    if collector:
        args += ["--collector", collector]
    if token_file:
        args += ["--token-file", token_file]
    for key, value in sorted({**usable_params(request.params), **(extra or {})}.items()):
        args += ["--param", f"{key}={value}"]
    # HTCondor's "new" argument syntax: the whole string in double quotes, each argument
    # in single quotes when it contains spaces or quotes.
    parts = []
    for a in args:
        if not a or any(c in a for c in " \t'\""):
            parts.append("'" + a.replace("'", "''").replace('"', '""') + "'")
        else:
            parts.append(a)
    return '"' + " ".join(parts) + '"'


def submit_description(
    entry: Entry,
    backend: BackendHandler,
    backend_options: Mapping[str, Any],
    request: Request,
    *,
    factory: str,
    glidein: str,
    submission_id: str,
    executable: str,
    arguments: str,
    log_dir: str = "",
    initialdir: str = "",
    plugin_attrs: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The submit description of one batch of glideins for ``request`` at ``entry``.

    Backend commands first, then the entry's ``submit_attrs`` and plugin commands
    (``gwms_submit_attributes``), then the credential commands
    (:func:`credential_commands`), then the factory's own tags, which nothing overrides.
    """
    desc: dict[str, str] = {
        "universe": "grid",
        "grid_resource": backend.grid_resource(entry),
        "executable": executable,
        "arguments": arguments,
        "transfer_executable": "true",
        "should_transfer_files": "YES",
        "when_to_transfer_output": "ON_EXIT",
        "notification": "Never",
    }
    if initialdir:
        # blahp changes to the job's initial directory before running the batch client:
        # it must exist where the schedd runs (not where the factory process happens to be).
        desc["initialdir"] = initialdir
    desc.update(backend.submit_description(entry, backend_options))
    desc.update(dict(entry.submit_attrs))
    desc.update(dict(plugin_attrs or {}))
    desc.update(dict(credentials or {}))
    if log_dir:
        desc["output"] = f"{log_dir}/$(Cluster).$(Process).out"
        desc["error"] = f"{log_dir}/$(Cluster).$(Process).err"
    tags = {
        A.FACTORY: factory,
        A.GLIDEIN_NAME: glidein,
        A.ENTRY: entry.name,
        A.CLIENT: request.client,
        A.FRONTEND: request.frontend,
        A.REQUEST: request.name,
        A.SUBMISSION: submission_id,
        A.CREDENTIAL: request.credential,
    }
    for key, value in tags.items():
        desc[f"+{key}"] = classad_string(value)
    desc[f"+{A.RELEASES}"] = "0"
    return desc


_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def path_component(name: str) -> str:
    """A name (entry, client) as one safe path component: characters outside
    ``[A-Za-z0-9_.@-]`` become ``_``; empty, ``.`` and ``..`` become ``_``."""
    out = _UNSAFE.sub("_", name)[:128]
    return "_" if out in ("", ".", "..") else out


def glidein_log_dir(base: str, entry: str, client: str) -> str:
    """Where one client's glideins at one entry leave their stdout/stderr:
    ``<base>/<entry>/<client>`` (each name made a safe path component; "" when ``base``
    is "")."""
    if not base:
        return ""
    return f"{base.rstrip('/')}/{path_component(entry)}/{path_component(client)}"


def describe_command(desc: Mapping[str, str]) -> str:
    """The submit description as text (for ``gwms factory status --explain`` and logs)."""
    return "".join(f"{k} = {v}\n" for k, v in desc.items()) + "queue\n"
