"""Core-side credential pieces shared by the frontend, the factory and the auth plugins.

* :mod:`gwms_core.credentials.selection`: the one place that decides which credential a
  request carries for an entry, from the entry's ``auth_method``.
* :mod:`gwms_core.credentials.sealing`: credentials in requests are encrypted to the
  factory's public key (RSA-OAEP-SHA256 + AES-256-GCM).
* :mod:`gwms_core.credentials.trust`: the factory accepts a request only from the
  identity the collector authenticated.
* :mod:`gwms_core.credentials.leaks`: find secrets in logs, messages and ClassAds.
* :mod:`gwms_core.credentials.cli`: ``gwms credentials factory-key|pubkey-attrs|scan``.
"""

from __future__ import annotations
