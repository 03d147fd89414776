"""Sharing an entry's request between the credentials that can serve it (pure).

The decision (:mod:`gwms_core.frontend.demand`) makes one :class:`~.model.Request` per
entry and group. When several of the frontend's credentials can serve the entry
(:func:`gwms_core.credentials.selection.plan_all_credentials`), the frontend sends one
request ad per credential, and :func:`split_request` shares the numbers between them:

* ``ReqIdleGlideins`` and ``ReqMaxGlideins`` are each apportioned by the credentials'
  weights with the largest-remainder rule (:func:`apportion`): credential i first gets
  ``floor(N * w_i / W)``, then the units left over go one each to the largest remainders
  ``N * w_i mod W``, ties to the credential listed first. The shares are never negative
  and add up to N exactly, so with one credential (or any weights) the totals are the
  single-request numbers.
* A credential of weight 0 gets 0 and 0 (its ad still goes out, so the factory keeps
  governing its glideins: with a removal level they are brought down to 0). When every
  weight is 0, every share is 0.
* Everything else (removal level and margin, ``GlideinMonitor*`` figures, downtime) is
  copied: it describes the entry, not the credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gwms_core.frontend.model import Request


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Shares of ``total`` by ``weights`` (largest remainder; see the module doc).

    :raises ValueError: a negative total or weight.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("apportion: total and weights must be non-negative")
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def split_request(request: Request, weights: Sequence[int]) -> list[Request]:
    """One request per credential weight, in the order given (see the module doc)."""
    idle = apportion(request.req_idle_glideins, weights)
    maxg = apportion(request.req_max_glideins, weights)
    return [replace(request, req_idle_glideins=i, req_max_glideins=m)
            for i, m in zip(idle, maxg, strict=True)]


__all__ = ["apportion", "split_request"]
