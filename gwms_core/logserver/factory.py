"""What the factory does per glidein so that the pilot flushes its log to the server.

For each glidein it submits, the factory calls :func:`prepare_glidein_log`: a token
for exactly that entry and glidein is minted, written to a mode-0600 file in the
factory's spool, and the pilot arguments are returned. The factory adds the file to
the job's ``transfer_input_files`` (HTCondor puts it in the job's sandbox, the pilot's
working directory) and the arguments to the pilot's command line. The token never goes
into the environment or the arguments (both are ClassAd attributes anyone who can
query the schedd can read).

When a glidein has left the factory's queue, the factory sends what it collected of it
(the pilot's stdout and stderr, the last :data:`COLLECT_MAX_BYTES` of each) to the same
glidein's log as ``factory.jsonl`` (:meth:`GlideinLogIssuer.upload_collected`), so a
pilot killed before its own flush still has a log on the server.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from gwms_core.logserver.tokens import (
    DEFAULT_LIFETIME_SECONDS,
    NAME_RE,
    KeyRing,
    load_keyring,
    mint,
)

if TYPE_CHECKING:
    from gwms_core.logserver.client import UploadAnswer

#: Name of the token file in the glidein's sandbox.
TOKEN_FILE_NAME = "gwms_log.token"
#: Name of the glidein's log on the server.
LOG_NAME = "glidein.jsonl"
#: Name of the log holding the files the factory collected for a glidein.
COLLECTED_NAME = "factory.jsonl"
#: Bytes of each collected file sent at most (the end of the file).
COLLECT_MAX_BYTES = 1 << 20
#: Lifetime of the token the factory mints for its own upload of collected files.
COLLECT_TOKEN_SECONDS = 600


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


# --------------------------------------------------------------- batches (the factory)

#: HTCondor submit macro of a job's number within its batch; expanded per job.
PROC_MACRO = "$(ProcId)"
#: Token directories older than the token lifetime plus this are pruned.
PRUNE_GRACE_SECONDS = 86400
_PLAIN_FILE = NAME_RE


def collected_log_name(submission_id: str, job_id: str) -> str | None:
    """The log name of a glidein job ``Cluster.Proc`` of batch ``submission_id``, as
    :func:`batch_glidein_names` gave it at submission (pure); None when the job carries
    no batch id or the result is not a plain name."""
    cluster, dot, proc = job_id.partition(".")
    name = f"{submission_id}.{proc}"
    if (not submission_id or not dot or not cluster.isdigit() or not proc.isdigit()
            or not NAME_RE.match(name)):
        return None
    return name


def _tail(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - limit))
        return f.read()


def batch_glidein_names(submission_id: str, count: int) -> list[str]:
    """Log names of the glideins of one batch, ``<submission id>.<ProcId>`` (pure).

    The cluster id is unknown before the submission; the batch id is known and is tagged
    on every job (``GwmsSubmissionId``), so a log name leads back to its job."""
    return [f"{submission_id}.{i}" for i in range(count)]


def _quoted_append(value: str, extra: str) -> str:
    """Append words to a value in HTCondor's quoted ("new") syntax, or start one."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1].strip()
        return f'"{inner} {extra}"' if inner else f'"{extra}"'
    if value:
        raise ValueError("arguments/environment must be in HTCondor's quoted syntax")
    return f'"{extra}"'


def batch_log_commands(description: Mapping[str, str], base_url: str, entry: str,
                       submission_id: str, token_dir: str | Path,
                       ca_file: str | Path | None = None) -> dict[str, str]:
    """``description`` with each glidein's log upload added (pure).

    ``$(ProcId)`` expands per job, so glidein ``i`` of the batch transfers
    ``<token_dir>/<entry>/<submission id>.i/gwms_log.token`` (written by
    :func:`prepare_glidein_log`) and runs with ``--log-url
    …/logs/<entry>/<submission id>.i/glidein.jsonl --log-token-file gwms_log.token``.
    With ``ca_file`` (the log server's CA certificate, or a bundle holding it) that file
    travels too and the job's environment gets ``SSL_CERT_FILE=<its name>``: curl and
    Python's ``urllib`` in the pilot then verify the server with it. (It replaces the
    default trust store for those clients: give a bundle if the pilot also fetches from
    HTTPS servers under other CAs.)
    """
    log_url(base_url, entry, f"{submission_id}.0")  # checks the URL and the names
    url = (f"{base_url.rstrip('/')}/logs/{quote(entry, safe='')}/"
           f"{submission_id}.{PROC_MACRO}/{LOG_NAME}")
    token = f"{Path(token_dir) / entry / f'{submission_id}.{PROC_MACRO}' / TOKEN_FILE_NAME}"
    desc = dict(description)
    desc["arguments"] = _quoted_append(desc.get("arguments", ""),
                                       " ".join(pilot_args(url)))
    files = [token]
    if ca_file is not None:
        name = Path(ca_file).name
        if not _PLAIN_FILE.match(name):
            raise ValueError(f"CA file name {name!r} is not a plain name")
        files.append(str(ca_file))
        desc["environment"] = _quoted_append(desc.get("environment", ""),
                                             f"SSL_CERT_FILE={name}")
    old = [f.strip() for f in desc.get("transfer_input_files", "").split(",") if f.strip()]
    desc["transfer_input_files"] = ",".join(old + files)
    return desc


class GlideinLogIssuer:
    """The factory's side of glidein logs: tokens for each batch, and the commands.

    Built from the factory configuration's ``log_server`` section; ``None`` from
    :meth:`from_options` when no log server is configured.
    """

    def __init__(self, base_url: str, keyring: KeyRing, token_dir: str | Path,
                 ca_file: str | Path | None = None,
                 lifetime: int = DEFAULT_LIFETIME_SECONDS) -> None:
        log_url(base_url, "entry", "glidein")  # fails early on a bad URL
        self.base_url = base_url
        self.keyring = keyring
        self.token_dir = Path(token_dir)
        self.ca_file = Path(ca_file) if ca_file else None
        self.lifetime = lifetime
        self._pruned = 0.0

    def __repr__(self) -> str:
        return f"GlideinLogIssuer({self.base_url!r}, token_dir={str(self.token_dir)!r})"

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None,
                     work_dir: str | Path) -> GlideinLogIssuer | None:
        """From ``log_server: {url, key_file, ca_file, token_lifetime_s}``; tokens go to
        ``<work_dir>/glidein-logs``. ``None`` without a URL; ``ValueError``/``OSError``
        when the key file is missing or unusable."""
        if not options or not options.get("url"):
            return None
        key_file = options.get("key_file")
        if not key_file:
            raise ValueError("log_server.key_file is required with log_server.url")
        ca = options.get("ca_file")
        if ca and not Path(str(ca)).is_file():
            raise ValueError(f"log_server.ca_file {ca} is not a file")
        return cls(str(options["url"]), load_keyring(str(key_file)),
                   Path(work_dir) / "glidein-logs", str(ca) if ca else None,
                   int(options.get("token_lifetime_s", DEFAULT_LIFETIME_SECONDS)))

    def add_to_batch(self, description: Mapping[str, str], entry: str,
                     submission_id: str, count: int,
                     now: float | None = None) -> dict[str, str]:
        """Mint and write one token per glidein of the batch; return the description
        with the upload commands (:func:`batch_log_commands`)."""
        now = time.time() if now is None else now
        if now - self._pruned > 3600:
            self.prune(now)
            self._pruned = now
        for name in batch_glidein_names(submission_id, count):
            prepare_glidein_log(self.base_url, self.keyring, entry, name, self.token_dir,
                                now=now, lifetime=self.lifetime)
        return batch_log_commands(description, self.base_url, entry, submission_id,
                                  self.token_dir, self.ca_file)

    def upload_collected(self, entry: str, glidein: str, job_id: str,
                         paths: Sequence[Path], now: float | None = None,
                         timeout: float = 10.0) -> UploadAnswer | None:
        """Send the collected files that exist among ``paths`` (their last
        :data:`COLLECT_MAX_BYTES`) as attachment records of ``<glidein>/factory.jsonl``,
        with a token minted for that glidein now; None when no file exists. Raises
        ``OSError`` when the server cannot be reached."""
        from gwms_core.logserver.client import attachment_record, encode, upload

        now = time.time() if now is None else now
        records = []
        for path in paths:
            try:
                data = _tail(path, COLLECT_MAX_BYTES)
                when = path.stat().st_mtime
            except FileNotFoundError:
                continue
            records.append(attachment_record(path.name, data, when=when,
                                             attrs={"job_id": job_id}))
        if not records:
            return None
        token = mint(self.keyring, entry, glidein, now=now, lifetime=COLLECT_TOKEN_SECONDS)
        return upload(self.base_url, token, entry, glidein, COLLECTED_NAME, encode(records),
                      cafile=str(self.ca_file) if self.ca_file else None, timeout=timeout)

    def prune(self, now: float) -> int:
        """Remove token directories of glideins whose token expired a day ago."""
        limit = now - self.lifetime - PRUNE_GRACE_SECONDS
        removed = 0
        if not self.token_dir.is_dir():
            return 0
        for entry_dir in self.token_dir.iterdir():
            if not entry_dir.is_dir():
                continue
            for d in entry_dir.iterdir():
                try:
                    if d.is_dir() and d.stat().st_mtime < limit:
                        shutil.rmtree(d, ignore_errors=True)
                        removed += 1
                except OSError:
                    continue
        return removed
