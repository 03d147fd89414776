"""What the factory does per glidein so that the pilot flushes its log to the server.

For each glidein it submits, the factory calls :func:`prepare_glidein_log`: a token
for exactly that entry and glidein is minted, written to a mode-0600 file in the
factory's spool, and the pilot arguments are returned. The factory adds the file to
the job's ``transfer_input_files`` (HTCondor puts it in the job's sandbox, the pilot's
working directory) and the arguments to the pilot's command line. The token never goes
into the environment or the arguments (both are ClassAd attributes anyone who can
query the schedd can read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from gwms_core.logserver.tokens import DEFAULT_LIFETIME_SECONDS, NAME_RE, KeyRing, mint

#: Name of the token file in the glidein's sandbox.
TOKEN_FILE_NAME = "gwms_log.token"
#: Name of the glidein's log on the server.
LOG_NAME = "glidein.jsonl"


@dataclass(frozen=True)
class GlideinLogSetup:
    """What the factory adds to one glidein's job."""

    #: Upload URL the pilot POSTs to.
    log_url: str
    #: The token file on the factory host (add it to ``transfer_input_files``).
    token_file: Path
    #: Pilot arguments: ``--log-url URL --log-token-file gwms_log.token``.
    pilot_args: tuple[str, ...]


def log_url(base_url: str, entry: str, glidein: str, name: str = LOG_NAME) -> str:
    """``https://server:port/logs/<entry>/<glidein>/<name>`` (pure)."""
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("the log server URL must be https://HOST[:PORT][/PREFIX]")
    for what, value in (("entry", entry), ("glidein", glidein), ("log", name)):
        if not NAME_RE.match(value):
            raise ValueError(f"{what} name {value!r} is not a plain name")
    base = base_url.rstrip("/")
    return f"{base}/logs/{quote(entry, safe='')}/{quote(glidein, safe='')}/{name}"


def pilot_args(url: str, token_name: str = TOKEN_FILE_NAME) -> tuple[str, ...]:
    """The pilot's log arguments (pure)."""
    return ("--log-url", url, "--log-token-file", token_name)


def prepare_glidein_log(base_url: str, keyring: KeyRing, entry: str, glidein: str,
                        token_dir: str | Path, *, now: float | None = None,
                        lifetime: int = DEFAULT_LIFETIME_SECONDS) -> GlideinLogSetup:
    """Mint the glidein's token, write it to ``token_dir/<glidein>/gwms_log.token``
    (mode 0600, atomically) and return what to add to its job."""
    url = log_url(base_url, entry, glidein)
    token = mint(keyring, entry, glidein, now=now, lifetime=lifetime)
    directory = Path(token_dir) / entry / glidein
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / TOKEN_FILE_NAME
    tmp = directory / f".{TOKEN_FILE_NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (token + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return GlideinLogSetup(log_url=url, token_file=path, pilot_args=pilot_args(url))
