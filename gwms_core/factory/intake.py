"""Request intake: the frontends' request ads (``MyType == "glideclient"``) to requests.

Pure: ads in (as mappings, from the collector), :class:`Intake` out. A request is
accepted only when

* it names an entry of this factory (``ReqGlidein`` or ``ReqName`` is
  ``entry@glidein@factory``, or just ``entry``),
* the collector authenticated its sender (``AuthenticatedIdentity`` is a ``user@domain``
  that is not an unauthenticated or unmapped connection, as
  :mod:`gwms_core.credentials.trust` decides), and
* that identity is on the entry's ``allowed_frontends`` (an item ``name@domain``
  matches the identity exactly; an item without ``@`` matches the identity's user part),
* its encrypted parameters (``GlideinEncParam*``), if any, are readable by the
  :class:`Decryptor` (the seam for :mod:`gwms_core.credentials`).

Anything else is a :class:`Refusal` with a reason that names no secret. A refused
request never stops the entry from serving the others.

A request is for one credential: ``GlideinCredentialIdentifier`` (an id the frontend
chose; :data:`CREDENTIAL_ID_PATTERN`). A request ad without it (a frontend older than
per-credential requests) is for :data:`~gwms_core.factory.attrs.DEFAULT_CREDENTIAL`.
Requests are kept one per (entry, frontend identity, client, credential)
(:func:`~gwms_core.factory.decide.merge_requests`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gwms_core.entries import Entry
from gwms_core.factory import attrs as A
from gwms_core.factory.decide import merge_requests
from gwms_core.factory.inpool import parse_in_pool
from gwms_core.factory.model import RemovalLevel, Request
from gwms_core.types import CredentialError

#: What a credential id may look like (it is tagged on jobs and shown in ads and logs).
CREDENTIAL_ID_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


def credential_id(ad: Mapping[str, Any]) -> str | None:
    """The request ad's credential id: ``GlideinCredentialIdentifier``, the default id when
    the ad has none, None when it is malformed (not a string of
    :data:`CREDENTIAL_ID_PATTERN`)."""
    raw = ad.get(A.CREDENTIAL)
    if raw is None:
        return A.DEFAULT_CREDENTIAL
    if not isinstance(raw, str) or not CREDENTIAL_ID_PATTERN.fullmatch(raw):
        return None
    return raw


class Decryptor(Protocol):
    """Turns a request's encrypted parameters into clear ones (the factory key's holder).

    ``encrypted`` maps the parameter name (without ``GlideinEncParam``) to the ad's value.
    Raise :class:`~gwms_core.types.CredentialError` when a value cannot be read; the
    message must name the check, never the secret.
    """

    def decrypt(self, identity: str, encrypted: Mapping[str, str]) -> Mapping[str, str]:
        """Return the clear parameters (secrets stay out of every log and ad)."""
        ...


class NoDecryptor:
    """The factory has no key: requests carrying encrypted parameters are refused."""

    def decrypt(self, identity: str, encrypted: Mapping[str, str]) -> Mapping[str, str]:
        """Refuse any encrypted parameter."""
        if encrypted:
            raise CredentialError("no factory key configured",
                                  f"{len(encrypted)} encrypted parameter(s) cannot be read")
        return {}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request ad that was not accepted, and why."""

    client: str
    identity: str
    entry: str
    reason: str
    #: The request's credential id (the default id when it had none or a malformed one).
    credential: str = A.DEFAULT_CREDENTIAL


@dataclass(frozen=True, slots=True)
class Intake:
    """Accepted requests, refusals, and clear credentials per (entry, client)."""

    requests: tuple[Request, ...] = ()
    refused: tuple[Refusal, ...] = ()
    #: Decrypted parameters per (entry, frontend identity, client, credential id); never
    #: logged or advertised.
    secrets: Mapping[tuple[str, str, str, str], Mapping[str, str]] = field(
        default_factory=dict, repr=False)


def target_entry(ad: Mapping[str, Any], factory: str, glidein: str) -> str | None:
    """The entry a request ad is for, or None when it is for another factory."""
    raw = ad.get(A.REQ_GLIDEIN) or ad.get(A.REQ_NAME)
    if not raw:
        return None
    parts = str(raw).split("@")
    if len(parts) == 1:
        return parts[0] or None
    if len(parts) == 3 and parts[1] == glidein and parts[2] == factory and parts[0]:
        return parts[0]
    return None


def identity_allowed(identity: str, allowed: Iterable[str]) -> bool:
    """Whether an authenticated identity is on an allow list (see the module docstring)."""
    user = identity.split("@", 1)[0]
    return any(item == identity or ("@" not in item and item == user) for item in allowed)


def check_identity(ad: Mapping[str, Any], allowed: Iterable[str]) -> tuple[str, str | None]:
    """(identity, refusal reason or None) for a request ad and an entry's allow list.

    The checks on the identity itself (present, ``user@domain``, not an unauthenticated
    or unmapped connection) are :func:`gwms_core.credentials.trust.check_request_identity`;
    an allow-list item without ``@`` names a user in any domain the collector authenticates.
    """
    from gwms_core.credentials.trust import check_request_identity

    raw = ad.get(A.AUTH_IDENTITY)
    identity = raw.strip() if isinstance(raw, str) else ""
    expanded = [identity] if identity and identity_allowed(identity, allowed) else []
    decision = check_request_identity(ad, expanded)
    if decision.accepted:
        return decision.identity, None
    reason = decision.reason
    if identity and not expanded and "not allowed" in reason:
        reason = f"identity {identity!r} is not allowed at this entry"
    return decision.identity, reason


def _int(ad: Mapping[str, Any], key: str) -> int | None:
    value = ad.get(key)
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def read_requests(
    ads: Iterable[Mapping[str, Any]],
    entries: Mapping[str, Entry],
    factory: str,
    glidein: str,
    decryptor: Decryptor | None = None,
) -> Intake:
    """Accept or refuse every request ad addressed to this factory."""
    decryptor = decryptor or NoDecryptor()
    accepted: list[Request] = []
    refused: list[Refusal] = []
    secrets: dict[tuple[str, str, str, str], Mapping[str, str]] = {}
    for ad in ads:
        if str(ad.get("MyType", A.REQUEST_MYTYPE)) != A.REQUEST_MYTYPE:
            continue
        entry_name = target_entry(ad, factory, glidein)
        if entry_name is None:
            continue
        client = str(ad.get(A.CLIENT_NAME) or ad.get("Name") or "")
        raw_identity = ad.get(A.AUTH_IDENTITY)
        identity = raw_identity.strip() if isinstance(raw_identity, str) else ""
        cred = credential_id(ad)

        def refuse(reason: str, entry_name: str = entry_name, client: str = client,
                   identity: str = identity,
                   cred: str = cred or A.DEFAULT_CREDENTIAL) -> None:
            refused.append(Refusal(client, identity, entry_name, reason, cred))

        entry = entries.get(entry_name)
        if entry is None:
            refuse("no such entry")
            continue
        if not client:
            refuse(f"no {A.CLIENT_NAME}")
            continue
        identity, why = check_identity(ad, entry.allowed_frontends)
        if why is not None:
            refuse(why, identity=identity)
            continue
        if cred is None:
            refuse(f"{A.CREDENTIAL} must be a string of 1 to 128 characters "
                   "A-Z a-z 0-9 _ . @ -")
            continue
        idle = _int(ad, A.REQ_IDLE)
        maxg = _int(ad, A.REQ_MAX)
        if idle is None or idle < 0 or maxg is None or maxg < 0:
            refuse(f"{A.REQ_IDLE} and {A.REQ_MAX} must be non-negative integers")
            continue
        encrypted = {k[len(A.ENC_PARAM_PREFIX):]: str(v) for k, v in ad.items()
                     if k.startswith(A.ENC_PARAM_PREFIX)}
        try:
            clear = decryptor.decrypt(identity, encrypted)
        except CredentialError as exc:
            refuse(f"credential refused: {exc.check}")
            continue
        params = {k[len(A.PARAM_PREFIX):]: str(v) for k, v in ad.items()
                  if k.startswith(A.PARAM_PREFIX)}
        accepted.append(Request(
            entry=entry_name, client=client, frontend=identity, idle=idle, max_glideins=maxg,
            remove=RemovalLevel.parse(ad.get(A.REQ_REMOVE, "NO")),
            margin=max(0, _int(ad, A.REQ_REMOVE_MARGIN) or 0),
            name=str(ad.get(A.REQ_NAME) or ""), params=params, credential=cred,
            in_pool=parse_in_pool(ad.get(A.IN_POOL)),
        ))
        if clear:
            secrets[(entry_name, identity, client, cred)] = dict(clear)
    return Intake(tuple(merge_requests(accepted)), tuple(refused), secrets)
