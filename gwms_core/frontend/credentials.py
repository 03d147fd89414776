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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
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


def credential_params(credentials: Sequence[Mapping[str, Any]], sender_identity: str,
                      handler: Callable[[str], AuthHandler] = _handler,
                      ) -> Callable[[Entry], Mapping[str, str]]:
    """The ``params`` callable for :class:`Frontend` (see the module doc).

    ``sender_identity`` must be the identity the WMS collector authenticates for this
    frontend (``user@domain``): the factory unseals only values sealed for it.
    """
    from gwms_core.credentials.sealing import public_key_from_ad, seal_params
    from gwms_core.credentials.selection import plan_credentials, request_secrets

    minted: dict[int, Credential] = {}

    def token(index: int, options: Mapping[str, Any]) -> Credential:
        h = handler(str(options.get("type", "")))
        cred = minted.get(index)
        if cred is not None:
            needs = getattr(h, "needs_refresh", None)
            if needs is None or not needs(cred, options).refresh:
                return cred
        opts = {k: v for k, v in options.items() if k not in ("type", "subject")}
        cred = h.issue(str(options.get("subject") or GLIDEIN_SUBJECT), opts)
        minted[index] = cred
        return cred

    def params(entry: Entry) -> Mapping[str, str]:
        try:
            method = str(entry.attrs.get(AUTH_METHOD_ATTR, "") or "idtokens")
            plan = plan_credentials(entries.Entry(name=entry.name, grid_type=entry.grid_type,
                                                  gatekeeper="", site=entry.site,
                                                  auth_method=method), credentials)
            public = public_key_from_ad(entry.attrs)
            secrets = request_secrets(plan, lambda c: token(c.index, c.options))
        except (CredentialError, KeyError, ValueError) as exc:
            log.warning("entry %s: no credential sent: %s", entry.name, exc)
            return {}
        sealed = seal_params(secrets, public, sender_identity=sender_identity)
        out = {f"{SEALED_PREFIX}{k}": v for k, v in sealed.items()}
        out.update({f"{CLEAR_PREFIX}{k}": v for k, v in plan.clear_params().items()})
        return out

    return params


__all__ = ["GLIDEIN_SUBJECT", "credential_params"]
