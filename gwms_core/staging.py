"""The glidein staging area: files a glidein downloads, and their sha256 manifest.

The factory builds one directory per staging area (served over HTTP(S) by any web
server). It holds the staged files and ``manifest.sha256``, whose format is the text
format of ``sha256sum`` (so ``sha256sum -c manifest.sha256`` in the directory checks it):

.. code-block:: text

    <64 lower-case hex digits><two spaces><relative name>\\n

one line per file, sorted by name, no comments, no other lines. A name is a relative
POSIX path made of ``[A-Za-z0-9._+-]`` components separated by ``/``; no component is
empty, ``.`` or ``..`` (the glidein refuses anything else before it downloads).

The sha256 of ``manifest.sha256`` itself (:attr:`Manifest.digest`) travels on the
glidein's command line (``--manifest-sha256``): the glidein checks the manifest against
it, then every file against the manifest, and stops before running anything on the
first mismatch, naming the file.

Two optional staged files have a meaning for the glidein (``docs/glidein.md``):

* ``scripts.list``: setup, validation and periodic scripts with their level and
  order (:func:`render_scripts_list`);
* ``glidein.params``: ``KEY=VALUE`` lines of glidein parameters.

Everything here is a pure function except :func:`build_staging` and
:func:`write_atomic`, which write files atomically (temporary file in the same
directory, ``fsync``, ``os.replace``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: File name of the manifest inside a staging directory.
MANIFEST_NAME = "manifest.sha256"
#: File name of the script list inside a staging directory.
SCRIPTS_LIST_NAME = "scripts.list"
#: File name of the glidein parameters inside a staging directory.
PARAMS_NAME = "glidein.params"

#: Levels at which scripts run, in the order they run.
LEVELS: tuple[str, ...] = ("factory", "entry", "frontend", "group")
#: Kinds of scripts: ``setup`` runs once before HTCondor starts, ``periodic`` runs as a
#: startd cron job every ``period`` seconds.
KINDS: tuple[str, ...] = ("setup", "periodic")

_COMPONENT_RE = re.compile(r"^[A-Za-z0-9._+-]+$")
_LINE_RE = re.compile(r"^([0-9a-f]{64})  (\S+)$")
_PARAM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StagingError(ValueError):
    """A staging input is malformed (bad name, duplicate, unreadable manifest line)."""


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid staged-file name, else raise :class:`StagingError`."""
    if not name or name.startswith("/") or name.endswith("/"):
        raise StagingError(f"invalid staged name {name!r}: must be a relative path")
    for part in name.split("/"):
        if part in ("", ".", "..") or not _COMPONENT_RE.match(part):
            raise StagingError(
                f"invalid staged name {name!r}: components use [A-Za-z0-9._+-], "
                "no empty, '.' or '..' component"
            )
    if name == MANIFEST_NAME:
        raise StagingError(f"{MANIFEST_NAME!r} is reserved for the manifest")
    return name


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One staged file: its name relative to the staging directory and its sha256."""

    name: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """The entries of ``manifest.sha256``, sorted by name."""

    entries: tuple[ManifestEntry, ...]

    @property
    def text(self) -> str:
        """The exact text of ``manifest.sha256``."""
        return render_manifest(self.entries)

    @property
    def digest(self) -> str:
        """sha256 (hex) of :attr:`text`: the value of the glidein's ``--manifest-sha256``."""
        return sha256_hex(self.text.encode("ascii"))

    def names(self) -> tuple[str, ...]:
        """Staged names, sorted."""
        return tuple(e.name for e in self.entries)

    def get(self, name: str) -> ManifestEntry | None:
        """The entry named ``name``, or None."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def render_manifest(entries: Iterable[ManifestEntry]) -> str:
    """The text of a manifest; entries are sorted by name, duplicates refused."""
    ordered = sorted(entries, key=lambda e: e.name)
    seen: set[str] = set()
    lines = []
    for entry in ordered:
        check_name(entry.name)
        if entry.name in seen:
            raise StagingError(f"duplicate staged name {entry.name!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", entry.sha256):
            raise StagingError(f"{entry.name}: sha256 must be 64 lower-case hex digits")
        seen.add(entry.name)
        lines.append(f"{entry.sha256}  {entry.name}\n")
    return "".join(lines)


def parse_manifest(text: str) -> Manifest:
    """Parse the text of ``manifest.sha256``; raise :class:`StagingError` naming the line."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE_RE.match(line)
        if not match:
            raise StagingError(f"{MANIFEST_NAME}:{number}: expected '<sha256>  <name>'")
        try:
            check_name(match.group(2))
        except StagingError as exc:
            raise StagingError(f"{MANIFEST_NAME}:{number}: {exc}") from None
        entries.append(ManifestEntry(match.group(2), match.group(1)))
    manifest = Manifest(tuple(sorted(entries, key=lambda e: e.name)))
    render_manifest(manifest.entries)  # refuses duplicates
    return manifest


# --------------------------------------------------------------------------- scripts


@dataclass(frozen=True, slots=True)
class Script:
    """A setup/validation or periodic script the glidein runs.

    ``level`` is one of :data:`LEVELS`; scripts run by level, then ``order``, then name.
    ``period`` (seconds) is required for ``kind="periodic"`` and zero otherwise.
    """

    name: str
    level: str
    order: int = 50
    kind: str = "setup"
    period: int = 0

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.level not in LEVELS:
            raise StagingError(f"{self.name}: level must be one of {', '.join(LEVELS)}")
        if self.kind not in KINDS:
            raise StagingError(f"{self.name}: kind must be one of {', '.join(KINDS)}")
        if not 0 <= self.order <= 999:
            raise StagingError(f"{self.name}: order must be within 0..999")
        if self.kind == "periodic" and self.period < 1:
            raise StagingError(f"{self.name}: a periodic script needs period >= 1 second")
        if self.kind == "setup" and self.period != 0:
            raise StagingError(f"{self.name}: only periodic scripts have a period")


def order_scripts(scripts: Iterable[Script]) -> list[Script]:
    """Scripts in the order the glidein runs them: level, order, name."""
    return sorted(scripts, key=lambda s: (LEVELS.index(s.level), s.order, s.name))


def render_scripts_list(scripts: Iterable[Script]) -> str:
    """Text of ``scripts.list``: ``<level> <order> <kind> <name> <period>`` per line."""
    ordered = order_scripts(scripts)
    keys = [(s.name, s.kind) for s in ordered]
    if len(set(keys)) != len(keys):
        raise StagingError("a script is listed twice with the same kind")
    return "".join(f"{s.level} {s.order:03d} {s.kind} {s.name} {s.period}\n" for s in ordered)


def render_params(params: Mapping[str, str | int | float | bool]) -> str:
    """Text of ``glidein.params``: sorted ``KEY=VALUE`` lines; values on one line."""
    lines = []
    for key in sorted(params):
        if not _PARAM_KEY_RE.match(key):
            raise StagingError(f"parameter name {key!r} is not [A-Za-z_][A-Za-z0-9_]*")
        value = params[key]
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if "\n" in text or "\r" in text or "\0" in text:
            raise StagingError(f"parameter {key}: value must be one line")
        lines.append(f"{key}={text}\n")
    return "".join(lines)


# --------------------------------------------------------------------------- pilot bundle

#: Markers in glidein_startup.sh around the block that sources glidein/lib/*.sh.
BUNDLE_BEGIN = "# >>> gwms libraries >>>"
BUNDLE_END = "# <<< gwms libraries <<<"


def bundle_pilot(startup_text: str, libraries: Sequence[tuple[str, str]]) -> str:
    """A single-file pilot: the sourcing block of ``glidein_startup.sh`` replaced by
    the libraries' text (``(name, text)`` pairs, in order).

    The result is what a factory submits as the glidein's executable, so the pilot
    can download and verify files before it trusts anything it downloaded.
    """
    begin = startup_text.find(BUNDLE_BEGIN)
    end = startup_text.find(BUNDLE_END)
    if begin < 0 or end < begin:
        raise StagingError("glidein_startup.sh has no library block markers")
    parts = [startup_text[:begin], BUNDLE_BEGIN, " (bundled)\n"]
    for name, text in libraries:
        parts.append(f"# --- {name}\n")
        parts.append(text if text.endswith("\n") else text + "\n")
    parts.append(startup_text[end:])
    return "".join(parts)


# --------------------------------------------------------------------------- glidein area

#: Built-in scripts of glidein/scripts/, as the factory lists them by default.
BUILTIN_SCRIPTS: tuple[Script, ...] = (
    Script("scripts/gwms_os.sh", "factory", 10),
    Script("scripts/gwms_disk.sh", "factory", 20),
    Script("scripts/gwms_cpu_memory.sh", "factory", 30),
    Script("scripts/gwms_gpu.sh", "factory", 40),
    Script("scripts/gwms_container.sh", "factory", 50),
    Script("scripts/gwms_drain.sh", "factory", 60),
    Script("scripts/gwms_drain.sh", "factory", 60, kind="periodic", period=60),
)


def default_glidein_dir() -> Path:
    """The ``glidein/`` directory of this source tree (next to ``gwms_core/``)."""
    return Path(__file__).resolve().parent.parent / "glidein"


def glidein_files(
    glidein_dir: Path | None = None,
    scripts: Sequence[Script] = BUILTIN_SCRIPTS,
    params: Mapping[str, str | int | float | bool] | None = None,
    extra: Mapping[str, Path | bytes] | None = None,
) -> dict[str, Path | bytes]:
    """The files of a glidein staging area, ready for :func:`build_staging`.

    ``glidein_startup.sh`` (the single-file pilot of :func:`pilot_text`, which a factory
    submits as the glidein's executable), ``lib/*.sh`` (sourced by the scripts) and
    ``gwms_cron_wrapper.sh`` from ``glidein_dir``, the built-in scripts
    under ``scripts/``, ``scripts.list`` rendered from ``scripts`` (built-ins plus any VO
    script, whose file must be given in ``extra``), ``glidein.params`` from ``params``,
    and ``extra`` (VO scripts, ``condor.tar.gz``, ...) as given.
    """
    base = Path(glidein_dir) if glidein_dir is not None else default_glidein_dir()
    files: dict[str, Path | bytes] = {"glidein_startup.sh": pilot_text(base).encode()}
    for lib in sorted((base / "lib").glob("*.sh")):
        files[f"lib/{lib.name}"] = lib
    files["gwms_cron_wrapper.sh"] = base / "gwms_cron_wrapper.sh"
    for script in sorted((base / "scripts").glob("*.sh")):
        files[f"scripts/{script.name}"] = script
    for name, source in (extra or {}).items():
        files[check_name(name)] = source
    missing = sorted({s.name for s in scripts} - set(files))
    if missing:
        raise StagingError(f"scripts listed but not staged: {', '.join(missing)}")
    files[SCRIPTS_LIST_NAME] = render_scripts_list(scripts).encode()
    if params:
        files[PARAMS_NAME] = render_params(params).encode()
    return files


def pilot_text(glidein_dir: Path | None = None) -> str:
    """The single-file pilot: ``glidein_startup.sh`` with ``lib/*.sh`` bundled in."""
    base = Path(glidein_dir) if glidein_dir is not None else default_glidein_dir()
    startup = (base / "glidein_startup.sh").read_text()
    libs = _bundle_order(base)
    return bundle_pilot(startup, [(p.name, p.read_text()) for p in libs])


def _bundle_order(base: Path) -> list[Path]:
    """Libraries in the order glidein_startup.sh sources them."""
    startup = (base / "glidein_startup.sh").read_text()
    names = re.findall(r'^source "\$\{GWMS_SELF_DIR\}/lib/([A-Za-z0-9_.-]+)"$', startup, re.M)
    return [base / "lib" / n for n in names]


# --------------------------------------------------------------------------- I/O edge


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (same-directory temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_staging(
    src_files: Mapping[str, Path | bytes] | Iterable[Path], out_dir: Path
) -> Manifest:
    """Copy ``src_files`` into ``out_dir`` and write ``manifest.sha256``; return the manifest.

    ``src_files`` maps staged names to a source path or to the bytes to stage; a plain
    iterable of paths stages each under its base name. Every file is written atomically
    before the manifest, and the manifest last, so a reader never sees a manifest that
    names a file not yet in place. Executable source files stay executable, and so do
    bytes that start with ``#!``.
    """
    items: list[tuple[str, Path | bytes]]
    if isinstance(src_files, Mapping):
        items = list(src_files.items())
    else:
        items = [(Path(p).name, Path(p)) for p in src_files]
    entries = []
    seen: set[str] = set()
    contents: list[tuple[str, bytes, int]] = []
    for name, source in items:
        check_name(name)
        if name in seen:
            raise StagingError(f"duplicate staged name {name!r}")
        seen.add(name)
        if isinstance(source, bytes):
            data, mode = source, (0o755 if source.startswith(b"#!") else 0o644)
        else:
            data = source.read_bytes()
            mode = 0o755 if os.access(source, os.X_OK) else 0o644
        contents.append((name, data, mode))
        entries.append(ManifestEntry(name, sha256_hex(data)))
    manifest = Manifest(tuple(sorted(entries, key=lambda e: e.name)))
    text = manifest.text  # validates before anything is written
    out_dir = Path(out_dir)
    for name, data, mode in contents:
        write_atomic(out_dir / name, data, mode)
    write_atomic(out_dir / MANIFEST_NAME, text.encode("ascii"))
    return manifest


def tarball_members(paths: Iterable[str]) -> list[str]:
    """The members of a condor tarball from a package's file list (``dpkg -L`` output):
    paths under ``/usr`` except documentation, manual pages and Python modules, made
    relative (``usr/sbin/condor_master``), sorted, without duplicates."""
    keep = set()
    for raw in paths:
        path = raw.strip()
        if not path.startswith("/usr/") or path.startswith(
                ("/usr/share/doc/", "/usr/share/man/", "/usr/lib/python3")):
            continue
        keep.add(path.lstrip("/"))
    return sorted(keep)


def condor_tarball(out: Path, root: Path = Path("/"),
                   packages: Sequence[str] = ("condor",)) -> list[str]:
    """Write ``out`` (``.tar.gz``): the files of the installed ``packages`` under ``root``
    (a Debian system), with paths relative to ``root`` (``usr/sbin/condor_master``...), so
    the glidein can run that HTCondor from its work directory. Returns the members.

    Only the packages' own files are included: the libraries they need from other
    packages (libc, libssl, ...) must exist on the worker node.
    """
    import subprocess
    import tarfile

    listing = []
    for package in packages:
        proc = subprocess.run(
            ["dpkg-query", f"--admindir={Path(root) / 'var/lib/dpkg'}", "-L", package],
            capture_output=True, text=True, check=True)
        listing += proc.stdout.splitlines()
    members = [m for m in tarball_members(listing)
               if (Path(root) / m).is_symlink() or (Path(root) / m).is_file()]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for member in members:
                tar.add(Path(root) / member, arcname=member, recursive=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return members


def read_manifest(out_dir: Path) -> Manifest:
    """Parse ``out_dir/manifest.sha256``."""
    return parse_manifest((Path(out_dir) / MANIFEST_NAME).read_text("ascii"))


__all__ = [
    "BUILTIN_SCRIPTS",
    "BUNDLE_BEGIN",
    "BUNDLE_END",
    "KINDS",
    "LEVELS",
    "MANIFEST_NAME",
    "PARAMS_NAME",
    "SCRIPTS_LIST_NAME",
    "Manifest",
    "ManifestEntry",
    "Script",
    "StagingError",
    "build_staging",
    "bundle_pilot",
    "check_name",
    "condor_tarball",
    "default_glidein_dir",
    "glidein_files",
    "order_scripts",
    "parse_manifest",
    "pilot_text",
    "read_manifest",
    "render_manifest",
    "render_params",
    "render_scripts_list",
    "sha256_hex",
    "tarball_members",
    "write_atomic",
]
