"""The request parameters that carry credentials: a pool token minted by the frontend's
``idtokens`` auth plugin, sealed to the factory key the entry ad publishes.

:func:`credential_params` returns the ``params`` callable :class:`~gwms_core.frontend.
service.Frontend` adds to every request ad: ``GlideinEncParamPoolIdToken`` (sealed for the
sender identity the WMS collector will authenticate, so the factory can check it), for an
entry whose ``GLIDEIN_SupportedAuthenticationMethod`` is not ``idtokens`` also
``GlideinEncParamSubmitCredential`` (e.g. a SciToken minted for the credential's
``subject``, default ``glidein``), and the clear ``GlideinParamSubmitCredentialMethod``.
:func:`gwms_core.credentials.selection.request_secrets` decides which secrets go in.
A token is minted once per credential and
reused until its auth plugin says it needs a refresh. An entry ad without a published key,
or an entry no credential fits, gets no credential parameters (the factory then has no
token to give the glidein, and says so).

The callable also has :meth:`CredentialParams.per_credential`: one
:class:`CredentialRequest` (credential id, weight, parameters) per credential that can
serve the entry (:func:`gwms_core.credentials.selection.plan_all_credentials`); each
carries only that credential's sealed secrets. :func:`gwms_core.frontend.service.
request_ads` sends one request ad per item. Calling the object directly gives the first
item's parameters (one credential per entry, as before).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gwms_core import entries
from gwms_core.frontend.model import Entry
from gwms_core.types import AuthHandler, Credential, CredentialError

log = logging.getLogger("gwms.frontend.credentials")

#: Prefixes of request ad parameters (GlideinWMS names).
CLEAR_PREFIX = "GlideinParam"
SEALED_PREFIX = "GlideinEncParam"
#: Entry ad attribute naming the entry's submit authentication method.
AUTH_METHOD_ATTR = "GLIDEIN_SupportedAuthenticationMethod"
#: Subject of the pool tokens glideins receive (``glidein@<trust domain>``).
GLIDEIN_SUBJECT = "glidein"


def _handler(method: str) -> AuthHandler:
    from typing import cast

    from gwms_core.manager import get_registry
    from gwms_core.types import Family

    return cast(AuthHandler, get_registry().get(Family.AUTH, method).handler)


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    """What one request ad carries for one credential: its id, weight and parameters."""

    credential_id: str
    weight: int
    #: ``GlideinEncParam*`` (sealed) and ``GlideinParam*`` (clear) attributes.
    params: Mapping[str, str] = field(repr=False)


class CredentialParams:
    """The ``params`` object for :class:`Frontend` (see the module doc)."""

    def __init__(self, credentials: Sequence[Mapping[str, Any]], sender_identity: str,
                 handler: Callable[[str], AuthHandler] = _handler) -> None:
        self.credentials = tuple(credentials)
        self.sender_identity = sender_identity
        self.handler = handler
        self._minted: dict[int, Credential] = {}

    def __repr__(self) -> str:
        return f"CredentialParams({len(self.credentials)} credential(s))"

    def _token(self, index: int, options: Mapping[str, Any]) -> Credential:
        h = self.handler(str(options.get("type", "")))
        cred = self._minted.get(index)
        if cred is not None:
            needs = getattr(h, "needs_refresh", None)
            if needs is None or not needs(cred, options).refresh:
                return cred
        opts = {k: v for k, v in options.items() if k not in ("type", "subject", "id",
                                                               "weight")}
        cred = h.issue(str(options.get("subject") or GLIDEIN_SUBJECT), opts)
        self._minted[index] = cred
        return cred

    def per_credential(self, entry: Entry) -> list[CredentialRequest]:
        """One item per credential that can serve ``entry``, in configuration order; []
        when none fits or the entry ad publishes no key (logged, never raised)."""
        from gwms_core.credentials.sealing import public_key_from_ad, seal_params
        from gwms_core.credentials.selection import plan_all_credentials, request_secrets

        out = []
        try:
            method = str(entry.attrs.get(AUTH_METHOD_ATTR, "") or "idtokens")
            plans = plan_all_credentials(
                entries.Entry(name=entry.name, grid_type=entry.grid_type, gatekeeper="",
                              site=entry.site, auth_method=method), self.credentials)
            public = public_key_from_ad(entry.attrs)
            for plan in plans:
                secrets = request_secrets(plan, lambda c: self._token(c.index, c.options))
                sealed = seal_params(secrets, public, sender_identity=self.sender_identity)
                params = {f"{SEALED_PREFIX}{k}": v for k, v in sealed.items()}
                params.update({f"{CLEAR_PREFIX}{k}": v for k, v in plan.clear_params().items()})
                out.append(CredentialRequest(plan.credential_id, plan.weight, params))
        except (CredentialError, KeyError, ValueError) as exc:
            log.warning("entry %s: no credential sent: %s", entry.name, exc)
            return []
        return out

    def __call__(self, entry: Entry) -> Mapping[str, str]:
        """The first credential's parameters ({} when none fits)."""
        items = self.per_credential(entry)
        return items[0].params if items else {}


class CredentialSplitOnly:
    """Like :class:`CredentialParams` but mints and seals nothing: the ids and weights only,
    so a dry cycle (``gwms frontend status``) shows the per-credential split."""

    def __init__(self, credentials: Sequence[Mapping[str, Any]]) -> None:
        self.credentials = tuple(credentials)

    def __repr__(self) -> str:
        return f"CredentialSplitOnly({len(self.credentials)} credential(s))"

    def per_credential(self, entry: Entry) -> list[CredentialRequest]:
        """One item (no parameters) per credential that can serve ``entry``."""
        from gwms_core.credentials.selection import plan_all_credentials

        method = str(entry.attrs.get(AUTH_METHOD_ATTR, "") or "idtokens")
        try:
            plans = plan_all_credentials(
                entries.Entry(name=entry.name, grid_type=entry.grid_type, gatekeeper="",
                              site=entry.site, auth_method=method), self.credentials)
        except CredentialError:
            return []
        return [CredentialRequest(p.credential_id, p.weight, {}) for p in plans]

    def __call__(self, entry: Entry) -> Mapping[str, str]:
        """No parameters."""
        return {}


def credential_params(credentials: Sequence[Mapping[str, Any]], sender_identity: str,
                      handler: Callable[[str], AuthHandler] = _handler) -> CredentialParams:
    """The ``params`` object for :class:`Frontend` (see the module doc).

    ``sender_identity`` must be the identity the WMS collector authenticates for this
    frontend (``user@domain``): the factory unseals only values sealed for it.
    """
    return CredentialParams(credentials, sender_identity, handler)


__all__ = ["GLIDEIN_SUBJECT", "CredentialParams", "CredentialRequest", "CredentialSplitOnly",
           "credential_params"]
