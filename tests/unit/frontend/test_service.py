"""The frontend service's pure parts: overload, entry ads, glidein summaries, request ads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwms_core.config import load_config
from gwms_core.frontend.demand import decide
from gwms_core.frontend.service import (
    entry_from_ad,
    glideins_from_ads,
    request_ads,
    schedd_overload,
)
from gwms_core.frontend.settings import settings_from_config

ROOT = Path(__file__).resolve().parents[3]

OVERLOAD = [
    ({"MaxJobsRunning": 100, "TotalRunningJobs": 10}, None),
    ({"MaxJobsRunning": 100, "TotalRunningJobs": 95}, "95 running jobs of MaxJobsRunning 100"),
    ({"CurbMatchmaking": True}, "CurbMatchmaking is true"),
    ({"CurbMatchmaking": False, "MaxJobsRunning": 0, "TotalRunningJobs": 5}, None),
    ({"TransferQueueNumWaitingToUpload": 10, "TransferQueueMaxUploading": 10},
     "transfer queue full (10 waiting to upload, limit 10)"),
    ({}, None),
]


@pytest.mark.parametrize(("ad", "why"), OVERLOAD)
def test_schedd_overload(ad: dict[str, object], why: str | None) -> None:
    assert schedd_overload(ad) == why


ENTRY_AD = {"MyType": "glidefactory", "Name": "E1@gwms-factory@gwms-factory",
            "FactoryName": "gwms-factory", "EntryName": "E1", "GLIDEIN_Site": "T2_XX_A",
            "GLIDEIN_CPUS": 8, "GLIDEIN_MaxMemMBs": 16000, "GLIDEIN_GridType": "batch slurm",
            "GLIDEIN_In_Downtime": False}


def test_entry_from_ad() -> None:
    e = entry_from_ad(ENTRY_AD)
    assert (e.name, e.site, e.cpus, e.memory, e.grid_type) == \
        ("E1@gwms-factory@gwms-factory", "T2_XX_A", 8, 16000, "batch slurm")
    assert e.classad_attrs()["GLIDEIN_Site"] == "T2_XX_A"


def test_glideins_from_slot_ads() -> None:
    # one partitionable glidein with two dynamic slots; one static glidein, unclaimed
    ads = [
        {"Name": "slot1@g1@node1", "GLIDEIN_Factory": "gwms-factory",
         "GLIDEIN_Entry_Name": "E1", "SlotType": "Partitionable", "PartitionableSlot": True,
         "Cpus": 6, "Memory": 12000, "TotalSlotCpus": 8, "TotalSlotMemory": 16000},
        {"Name": "slot1_1@g1@node1", "GLIDEIN_Factory": "gwms-factory",
         "GLIDEIN_Entry_Name": "E1", "SlotType": "Dynamic", "Cpus": 1, "Memory": 2000},
        {"Name": "slot1_2@g1@node1", "GLIDEIN_Factory": "gwms-factory",
         "GLIDEIN_Entry_Name": "E1", "SlotType": "Dynamic", "Cpus": 1, "Memory": 2000},
        {"Name": "slot1@g2@node2", "GLIDEIN_Factory": "gwms-factory",
         "GLIDEIN_Entry_Name": "E2", "SlotType": "Static", "Cpus": 1, "Memory": 2000,
         "State": "Unclaimed"},
    ]
    names = {("gwms-factory", "E1"): "E1@gwms-factory@gwms-factory"}
    g1, g2 = glideins_from_ads(ads, names)
    assert (g1.name, g1.entry, g1.total_cpus, g1.idle_cpus, g1.running_jobs,
            g1.partitionable) == ("g1@node1", "E1@gwms-factory@gwms-factory", 8, 6, 2, True)
    assert (g2.entry, g2.idle_cpus, g2.running_jobs, g2.partitionable) == ("E2", 1, 0, False)


def test_request_ads_carry_names_counts_and_start() -> None:
    settings = settings_from_config(load_config(ROOT / "docs/examples/frontend.yaml").data)
    group = settings.groups[0]
    entry = entry_from_ad(ENTRY_AD)
    from gwms_core.frontend.model import JobGroup

    groups = [JobGroup(key=("T2_XX_A", 1), attrs={"DESIRED_Sites": "T2_XX_A",
                                                  "RequestCpus": 1},
                       cpus=1, memory=2000, idle=30)]
    decision = decide(groups, [entry], [], group.match, group.config)
    (ad,) = request_ads(settings, group, decision, {entry.name: entry}, "cm:9618")
    assert ad["MyType"] == "glideclient"
    assert ad["Name"] == "E1@gwms-factory@gwms-factory@vofrontend.main@default"
    assert ad["GlideinCredentialIdentifier"] == "default"
    assert ad["ReqName"] == ad["ReqGlidein"] == "E1@gwms-factory@gwms-factory"
    assert ad["ClientName"] == "vofrontend.main"
    assert ad["GlideinParamGLIDEIN_Collector"] == "cm:9618"
    assert ad["GlideinParamGLIDECLIENT_Group_Start"] == 'TARGET.VO =?= "test"'
    # 30 idle 1-core jobs on one 8-core entry: ceil(30 / 8) = 4 glideins needed;
    # ramp-up floor(4 / 3) = 1; no old idle jobs, so no reserve; under max_idle 10
    assert ad["ReqIdleGlideins"] == 1
    assert ad["GlideinMonitorMatchedIdle"] == 30
    assert ad["ReqRemoveExcess"] == "NO"


def test_glideins_from_slot_ads_count_gpus() -> None:
    # a 2-GPU partitionable glidein with one GPU claimed by a dynamic slot; a static slot
    # whose GPUs attribute is undefined (no GPUs)
    ads = [
        {"Name": "slot1@g1@node1", "GLIDEIN_Factory": "f", "GLIDEIN_Entry_Name": "E1",
         "SlotType": "Partitionable", "PartitionableSlot": True, "Cpus": 7, "Memory": 30000,
         "TotalSlotCpus": 8, "TotalSlotMemory": 32000, "GPUs": 1, "TotalSlotGPUs": 2},
        {"Name": "slot1_1@g1@node1", "GLIDEIN_Factory": "f", "GLIDEIN_Entry_Name": "E1",
         "SlotType": "Dynamic", "Cpus": 1, "Memory": 2000, "GPUs": 1},
        {"Name": "slot1@g2@node2", "GLIDEIN_Factory": "f", "GLIDEIN_Entry_Name": "E1",
         "SlotType": "Static", "Cpus": 1, "Memory": 2000, "State": "Claimed"},
    ]
    g1, g2 = glideins_from_ads(ads, {})
    assert (g1.total_gpus, g1.idle_gpus, g1.running_jobs) == (2, 1, 1)
    assert (g2.total_gpus, g2.idle_gpus, g2.running_jobs) == (0, 0, 1)


def test_entry_from_ad_reads_gpus() -> None:
    assert entry_from_ad({**ENTRY_AD, "GLIDEIN_GPUs": 2}).gpus == 2
    assert entry_from_ad(ENTRY_AD).gpus == 0
    assert entry_from_ad(ENTRY_AD).classad_attrs()["GLIDEIN_GPUs"] == 0


def test_a_job_the_schedd_shows_running_makes_its_glidein_busy() -> None:
    """The startd ad can still say Unclaimed for a few seconds after a job started; the
    running job's RemoteHost makes the glidein busy at once, so ALL is not sent."""
    from gwms_core.frontend import Entry, EntryHistory, GroupConfig, Job, MatchExpression
    from gwms_core.frontend.model import RemovalConfig, RemovalLevel
    from gwms_core.frontend.service import busy_startds, mark_busy

    ads = [{"Name": "slot1@glidein_7@node1", "GLIDEIN_Factory": "f",
            "GLIDEIN_Entry_Name": "E", "SlotType": "Static", "Cpus": 1, "Memory": 2000,
            "State": "Unclaimed"}]
    jobs = [Job("s", 5, 0, 2, 0, {"RemoteHost": "slot1@glidein_7@node1"}),
            Job("s", 5, 1, 1, 0, {"RemoteHost": "slot1@elsewhere@node9"}),  # idle: ignored
            Job("s", 5, 2, 2, 0, {})]
    assert busy_startds(jobs) == {"glidein_7@node1"}
    glideins = glideins_from_ads(ads, {})
    assert glideins[0].running_jobs == 0
    (g,) = mark_busy(glideins, busy_startds(jobs))
    assert g.running_jobs == 1
    config = GroupConfig(removal=RemovalConfig(type=RemovalLevel.ALL))
    expr = MatchExpression.compile("true")
    history = {"E": EntryHistory(no_idle_jobs=4)}
    (req,) = decide([], [Entry("E", "A")], [g], expr, config, history=history).requests
    assert req.req_remove_excess is RemovalLevel.IDLE and req.req_max_glideins == 1
    (req,) = decide([], [Entry("E", "A")], glideins, expr, config, history=history).requests
    assert req.req_remove_excess is RemovalLevel.ALL  # what the stale startd ad alone gave
