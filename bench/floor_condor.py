"""The pilot floor's configuration, shared by the bench scripts.

The pilot floor is a bare ``condor_master`` with a startd-only configuration, started
by hand, to its slot ad in the collector: what a glidein costs at the least. Its
configuration must match the glidein's where it matters for that time (security,
execution inside a batch job), so those lines are not written here: they are read from
the glidein's own renderer, ``glidein/lib/condor.sh`` (``gwms_condor_config_render``),
every line ``NAME = value`` of its "Security" and "Execution" blocks whose value has no
shell expansion. A change there reaches both benches' floors.

Used by ``bench/pilot_start.py`` (a pool in the Debian 13 root) and
``bench/idle_to_running.py`` (the deployed e2e grid).
"""

from __future__ import annotations

import re
from pathlib import Path

CONDOR_SH = Path(__file__).resolve().parent.parent / "glidein" / "lib" / "condor.sh"

#: Comment lines that open the blocks of gwms_condor_config_render taken over.
_BLOCKS = ("# Security", "# Execution inside a batch job")
_KNOB = re.compile(r"^([A-Z][A-Z0-9_]*) =(?: (.*))?$")


def glidein_knobs(path: Path = CONDOR_SH) -> list[str]:
    """``NAME = value`` lines of the glidein's security and execution blocks.

    A block runs from its opening comment to the next empty line or heredoc end; lines
    whose value holds a shell expansion (``${...}``, ``$(...)`` of the shell) are left
    out, and ``\\$`` (a literal ``$`` in the heredoc) becomes ``$``.
    """
    out: list[str] = []
    inside = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith(_BLOCKS):
            inside = True
            continue
        if not inside:
            continue
        if not line or line == "EOF":
            inside = False
            continue
        m = _KNOB.match(line)
        value = (m.group(2) or "") if m else ""
        if not m or "${" in value or re.search(r"(?<!\\)\$\(", value):
            continue
        value = value.replace("\\$", "$")
        out.append(f"{m.group(1)} = {value}".rstrip())
    if not any(k.startswith("SEC_DEFAULT_AUTHENTICATION_METHODS") for k in out):
        raise RuntimeError(f"no security settings found in {path}: its layout changed")
    return out


def floor_config(local: str, collector: str, name: str, memory_mb: int = 512) -> str:
    """The floor's complete condor_config (startd only, one partitionable slot).

    ``local`` is the LOCAL_DIR as the daemons see it; it must hold ``log spool execute
    lock run tokens.d passwords.d`` and the IDTOKEN in ``tokens.d``. The slot ad carries
    ``BENCH_NAME = "<name>"`` so the bench can find it and a job can require it.
    """
    lines = [
        "RELEASE_DIR = /usr",
        "SBIN = /usr/sbin",
        "BIN = /usr/bin",
        "LIBEXEC = /usr/libexec/condor",
        f"LOCAL_DIR = {local}",
        "LOG = $(LOCAL_DIR)/log",
        "SPOOL = $(LOCAL_DIR)/spool",
        "EXECUTE = $(LOCAL_DIR)/execute",
        "LOCK = $(LOCAL_DIR)/lock",
        "RUN = $(LOCAL_DIR)/run",
        "LOCAL_CONFIG_FILE =",
        "LOCAL_CONFIG_DIR =",
        f"CONDOR_HOST = {collector}",
        "COLLECTOR_HOST = $(CONDOR_HOST)",
        "DAEMON_LIST = MASTER, STARTD",
        f"MASTER_NAME = {name}",
        f"STARTD_NAME = {name}",
        "USE_SHARED_PORT = false",
        *glidein_knobs(),
        "NUM_CPUS = 1",
        f"MEMORY = {memory_mb}",
        "NUM_SLOTS_TYPE_1 = 1",
        "SLOT_TYPE_1 = cpus=100%, memory=100%, disk=100%, swap=100%",
        "SLOT_TYPE_1_PARTITIONABLE = true",
        f'BENCH_NAME = "{name}"',
        "STARTD_ATTRS = $(STARTD_ATTRS) BENCH_NAME",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(floor_config("/tmp/floor", "cm.dns.podman", "floor_example"), end="")
