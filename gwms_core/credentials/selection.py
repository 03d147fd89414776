"""The one place that decides which credentials a glidein request carries for an entry.

A request carries up to two secrets, each sealed to the factory's key
(:mod:`gwms_core.credentials.sealing`) as a ``GlideinEncParam<Name>`` attribute:

* ``PoolIdToken``: the IDTOKEN the glidein's startd uses to join the user pool, from the
  frontend's first ``idtokens`` credential. Every request needs it.
* ``SubmitCredential``: what the factory presents to the site, of the entry's declared
  ``auth_method``: a SciToken for a CE (``scitokens``), an X.509 proxy (``gsi``). For an
  entry whose ``auth_method`` is ``idtokens`` the site accepts the pool token itself, so
  no second credential is sent. The method travels in clear as
  ``GlideinParamSubmitCredentialMethod``.

:func:`plan_credentials` is pure: an entry and the frontend's ``credentials`` list (the
validated configuration items, each with ``type``) in, a :class:`CredentialPlan` out.
:func:`request_secrets` turns a plan into the clear ``{parameter: secret}`` to seal, with
the minting injected.

Several credentials can serve one entry (two ``idtokens`` credentials for an ``idtokens``
entry; two ``scitokens`` credentials, say "pilot" and "production", for a ``scitokens``
CE). :func:`plan_all_credentials` returns one plan per serving credential, in
configuration order: the serving credential is the one of the entry's ``auth_method``
(for an ``idtokens`` entry it is also the pool token); every plan of a non-``idtokens``
entry carries the frontend's first ``idtokens`` credential as pool token. Each plan
names its credential by :func:`credential_ids` (the item's ``id``, else
``<type>-<n>`` for the n-th credential of that type, from 0) and carries its ``weight``
(default 1), which :func:`gwms_core.frontend.credsplit.split_request` uses to share the
entry's request between the plans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gwms_core.entries import Entry
from gwms_core.types import Credential, CredentialError

#: Method of the pool token every glidein needs.
POOL_METHOD = "idtokens"
#: Encrypted parameter names (after ``GlideinEncParam``).
PARAM_POOL_TOKEN = "PoolIdToken"
PARAM_SUBMIT_CREDENTIAL = "SubmitCredential"
#: Clear parameter name (after ``GlideinParam``) naming the submit credential's method.
PARAM_SUBMIT_METHOD = "SubmitCredentialMethod"


@dataclass(frozen=True, slots=True)
class CredentialChoice:
    """One configured credential chosen for a purpose. ``options`` are not shown."""

    method: str
    index: int
    options: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class CredentialPlan:
    """What a request for ``entry`` carries."""

    entry: str
    pool: CredentialChoice
    submit: CredentialChoice | None
    #: Id of the serving credential (``GlideinCredentialIdentifier``; never a secret).
    credential_id: str = ""
    #: The serving credential's ``weight``.
    weight: int = 1

    def clear_params(self) -> dict[str, str]:
        """Clear request parameters describing the plan (no secret)."""
        method = self.submit.method if self.submit else self.pool.method
        return {PARAM_SUBMIT_METHOD: method}


def _first(credentials: Sequence[Mapping[str, Any]], method: str) -> CredentialChoice | None:
    for index, item in enumerate(credentials):
        if str(item.get("type", "")).lower() == method:
            return CredentialChoice(method=method, index=index, options=item)
    return None


#: Weight of a credential without ``weight``.
DEFAULT_WEIGHT = 1


def credential_ids(credentials: Sequence[Mapping[str, Any]]) -> list[str]:
    """The id of every configured credential, in order: its ``id``, else ``<type>-<n>``
    where n counts the earlier credentials of the same type (pure; duplicates are the
    configuration check's business)."""
    seen: dict[str, int] = {}
    out = []
    for item in credentials:
        kind = str(item.get("type", "")).lower()
        n = seen.get(kind, 0)
        seen[kind] = n + 1
        explicit = item.get("id")
        out.append(str(explicit) if explicit else f"{kind}-{n}")
    return out


def plan_all_credentials(entry: Entry,
                         credentials: Sequence[Mapping[str, Any]]) -> list[CredentialPlan]:
    """One plan per configured credential that can serve ``entry``, in configuration order
    (see the module doc).

    :raises CredentialError: ``no-credential`` when the frontend has no ``idtokens``
        credential, or none of the entry's ``auth_method``.
    """
    first = plan_credentials(entry, credentials)  # raises when nothing fits
    ids = credential_ids(credentials)
    method = entry.auth_method.lower()
    out = []
    for index, item in enumerate(credentials):
        if str(item.get("type", "")).lower() != method:
            continue
        choice = CredentialChoice(method=method, index=index, options=item)
        weight = int(item.get("weight", DEFAULT_WEIGHT))
        if method == POOL_METHOD:
            out.append(CredentialPlan(entry.name, choice, None, ids[index], weight))
        else:
            out.append(CredentialPlan(entry.name, first.pool, choice, ids[index], weight))
    return out


def plan_credentials(entry: Entry, credentials: Sequence[Mapping[str, Any]]) -> CredentialPlan:
    """Choose the credentials a request for ``entry`` carries (see the module doc): the
    first of :func:`plan_all_credentials`.

    :raises CredentialError: ``no-credential`` when the frontend has no ``idtokens``
        credential, or none of the entry's ``auth_method``.
    """
    have = sorted({str(c.get("type", "")) for c in credentials})
    pool = _first(credentials, POOL_METHOD)
    if pool is None:
        raise CredentialError("no-credential", f"entry {entry.name}: glideins need an "
                                               f"{POOL_METHOD} credential to join the pool; "
                                               f"configured: {', '.join(have) or 'none'}")
    method = entry.auth_method.lower()
    ids = credential_ids(credentials)
    if method == POOL_METHOD:
        return CredentialPlan(entry=entry.name, pool=pool, submit=None,
                              credential_id=ids[pool.index],
                              weight=int(pool.options.get("weight", DEFAULT_WEIGHT)))
    submit = _first(credentials, method)
    if submit is None:
        raise CredentialError("no-credential", f"entry {entry.name} needs a {method} "
                                               f"credential; configured: "
                                               f"{', '.join(have) or 'none'}")
    return CredentialPlan(entry=entry.name, pool=pool, submit=submit,
                          credential_id=ids[submit.index],
                          weight=int(submit.options.get("weight", DEFAULT_WEIGHT)))


def request_secrets(plan: CredentialPlan,
                    issue: Callable[[CredentialChoice], Credential]) -> dict[str, bytes]:
    """The clear secrets a request carries for ``plan``: ``{parameter name: secret}``.

    ``issue`` returns the credential of one configured choice (the frontend mints, or
    reuses until refresh, with the choice's auth plugin). The pool token is always
    there; the submit credential only when the entry's method is not the pool's. Seal
    the result with :func:`gwms_core.credentials.sealing.seal_params` before it goes into
    a request ad.

    :raises CredentialError: ``method`` when ``issue`` returns a credential of another
        method than the choice's (a plugin answered for the wrong method).
    """
    out: dict[str, bytes] = {}
    wanted = [(PARAM_POOL_TOKEN, plan.pool)]
    if plan.submit is not None:
        wanted.append((PARAM_SUBMIT_CREDENTIAL, plan.submit))
    for name, choice in wanted:
        cred = issue(choice)
        if cred.method.lower() != choice.method:
            raise CredentialError("method", f"entry {plan.entry}: {name} needs a "
                                            f"{choice.method} credential, got {cred.method}")
        out[name] = cred.secret
    return out


__all__ = [
    "DEFAULT_WEIGHT",
    "PARAM_POOL_TOKEN",
    "PARAM_SUBMIT_CREDENTIAL",
    "PARAM_SUBMIT_METHOD",
    "POOL_METHOD",
    "CredentialChoice",
    "CredentialPlan",
    "credential_ids",
    "plan_all_credentials",
    "plan_credentials",
    "request_secrets",
]
