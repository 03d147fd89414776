"""The small frozen dataclasses that plugins register, one per hook family.

A registration hook (see :mod:`gwms_core.hookspecs`) yields instances of these
classes. Each carries

* ``name``: the name operators write in configuration (normalised to lower case),
* ``schema``: a JSON Schema (2020-12) object describing the plugin's options,
* the object that does the work (``handler`` or ``backend``), typed by a Protocol,
* ``description``: one line shown by ``gwms plugins list``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from gwms_core.entries import Entry

JSONSchema = Mapping[str, Any]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class Family(enum.Enum):
    """The four plugin families."""

    AUTH = "auth"
    CONTAINER = "container"
    ENTRY_SOURCE = "entry_source"
    BACKEND = "backend"

    def __str__(self) -> str:
        return self.value


class PluginDefinitionError(ValueError):
    """A plugin registered something malformed (bad name, schema that is not an object)."""


# --------------------------------------------------------------------------- handlers


@runtime_checkable
class AuthHandler(Protocol):
    """Issues and checks one kind of credential."""

    def issue(self, subject: str, options: Mapping[str, Any]) -> Credential:
        """Return a new credential for ``subject`` (a glidein, a frontend, ...)."""
        ...

    def check(self, credential: Credential, options: Mapping[str, Any]) -> None:
        """Raise :class:`CredentialError` naming the failed check, or return None."""
        ...


@runtime_checkable
class ContainerHandler(Protocol):
    """Configures HTCondor's startd to launch jobs in containers."""

    def startd_config(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """Return HTCondor configuration knobs for the glidein's startd."""
        ...


@runtime_checkable
class EntrySourceHandler(Protocol):
    """Produces factory entries from somewhere (a YAML file, CRIC, a collector)."""

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Sequence[Entry]:
        """Return the entries. ``base_dir`` resolves relative paths in ``options``."""
        ...


@runtime_checkable
class BackendHandler(Protocol):
    """Turns an entry into an HTCondor-G grid-universe submit description."""

    def grid_resource(self, entry: Entry) -> str:
        """The ``grid_resource`` submit command for glideins of ``entry``."""
        ...

    def submit_description(
        self, entry: Entry, options: Mapping[str, Any]
    ) -> Mapping[str, str]:
        """Backend-specific submit commands (without executable/arguments)."""
        ...


# --------------------------------------------------------------------------- credentials


class CredentialError(ValueError):
    """A credential failed a check; the message names the check, never the secret."""

    def __init__(self, check: str, detail: str = "") -> None:
        self.check = check
        self.detail = detail
        super().__init__(f"{check}: {detail}" if detail else check)


@dataclass(frozen=True, slots=True)
class Credential:
    """A secret plus the metadata that may be shown. ``repr`` never shows the secret."""

    method: str
    secret: bytes = field(repr=False)
    subject: str = ""
    expires: float | None = None
    scopes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"<{self.method} credential for {self.subject or '?'}>"


# --------------------------------------------------------------------------- registrations


def _normalise(obj: object, name: str, schema: JSONSchema) -> None:
    clean = name.strip().lower()
    if not _NAME_RE.match(clean):
        raise PluginDefinitionError(
            f"plugin name {name!r} is invalid: use lower case letters, digits, '-' or '_', "
            "starting with a letter"
        )
    if not isinstance(schema, Mapping) or schema.get("type", "object") != "object":
        raise PluginDefinitionError(
            f"plugin {clean!r}: schema must be a JSON Schema object with type 'object'"
        )
    object.__setattr__(obj, "name", clean)


@dataclass(frozen=True, slots=True)
class AuthMethod:
    """An authentication method (IDTOKENS, SciTokens, GSI, ...)."""

    name: str
    schema: JSONSchema
    handler: AuthHandler
    description: str = ""
    family: ClassVar[Family] = Family.AUTH

    def __post_init__(self) -> None:
        _normalise(self, self.name, self.schema)


@dataclass(frozen=True, slots=True)
class ContainerRuntime:
    """A container runtime launched by HTCondor (Apptainer, Singularity)."""

    name: str
    schema: JSONSchema
    handler: ContainerHandler
    description: str = ""
    family: ClassVar[Family] = Family.CONTAINER

    def __post_init__(self) -> None:
        _normalise(self, self.name, self.schema)


@dataclass(frozen=True, slots=True)
class EntrySource:
    """A source of factory entries (static YAML, CRIC, OSG collector)."""

    name: str
    schema: JSONSchema
    handler: EntrySourceHandler
    description: str = ""
    family: ClassVar[Family] = Family.ENTRY_SOURCE

    def __post_init__(self) -> None:
        _normalise(self, self.name, self.schema)


@dataclass(frozen=True, slots=True)
class SubmissionBackend:
    """An HTCondor-G grid type (``condor``, ``batch``, ``arc``)."""

    name: str
    schema: JSONSchema
    handler: BackendHandler
    description: str = ""
    family: ClassVar[Family] = Family.BACKEND

    def __post_init__(self) -> None:
        _normalise(self, self.name, self.schema)


Registration = AuthMethod | ContainerRuntime | EntrySource | SubmissionBackend

__all__ = [
    "AuthHandler",
    "AuthMethod",
    "BackendHandler",
    "ContainerHandler",
    "ContainerRuntime",
    "Credential",
    "CredentialError",
    "EntrySource",
    "EntrySourceHandler",
    "Family",
    "JSONSchema",
    "PluginDefinitionError",
    "Registration",
    "SubmissionBackend",
]
