"""The pilot log server and monitor: upload tokens, storage, search, REST API and web UI.

Modules: :mod:`~gwms_core.logserver.tokens` (mint/verify upload tokens),
:mod:`~gwms_core.logserver.records` (the glidein's JSON log format),
:mod:`~gwms_core.logserver.sanitize` (secret redaction),
:mod:`~gwms_core.logserver.extract` (per-glidein metadata),
:mod:`~gwms_core.logserver.index` (SQLite/FTS5 index behind a small interface),
:mod:`~gwms_core.logserver.blobs` (durable files), :mod:`~gwms_core.logserver.retention`,
:mod:`~gwms_core.logserver.users` (viewer logins), :mod:`~gwms_core.logserver.server`
(the HTTPS service) and :mod:`~gwms_core.logserver.web` (HTML pages).
"""
