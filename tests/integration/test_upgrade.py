"""Upgrades on the real engine with the real n8n: the snapshot first, n8n's own migration records (TypeORM) read
before and after, what was written before still there, and a downgrade refused before anything changes."""
import tempfile

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from . import appdata
from .conftest import docker

APPS = ["postgres", "redis", "n8n"]
# upgrade.yml backs up first: a key and a repository of the test's own
SNAPSHOTS = {"aiplatform_backup_key": appdata.KEY, "aiplatform_backup_dest": tempfile.mkdtemp(prefix="aiplatform-upgrade-")}


@pytest.fixture(scope="module")
def n8n_running(platform):
    run = platform.deploy({"aiplatform_services": APPS})
    assert run.rc == 0, run.stdout[-3000:]
    return run


def test_an_upgrade_reads_n8ns_own_migration_records_and_keeps_its_data(platform, n8n_running):
    status, flow = appdata.n8n(platform)("POST", "/rest/workflows", {"name": "kept-through-the-upgrade", "nodes": [],
                                                                     "connections": {}, "settings": {}})
    assert status == 200, flow
    docker("tag", "aiplatform-lab/n8n:current", "aiplatform-lab/n8n:2.41.1")
    run = platform.deploy({"aiplatform_services": APPS, "n8n_image": "aiplatform-lab/n8n:2.41.1", **SNAPSHOTS},
                          playbook="playbooks/upgrade.yml")
    assert run.rc == 0, run.stdout[-3000:]
    names = appdata.psql("SELECT name FROM migrations ORDER BY id").split()
    assert len(names) > 10, names  # n8n's own records, as it wrote them on its first start
    (start,) = run.of(ev.MIGRATION_START, "n8n")
    (done,) = run.of(ev.MIGRATION_OK, "n8n")
    assert start["migrations"] == len(names) and start["message"].endswith(f"the last {names[-1]}")
    assert done["message"] == f"no migration ran ({len(names)} recorded, the last {names[-1]})"  # the same release
    snapshot = [e for e in run.of(ev.BACKUP_SUCCESS) if "before the upgrade" in e["message"]]
    assert snapshot and snapshot[0]["time"] <= start["time"] < run.of(ev.DEPLOY_START, "n8n")[0]["time"] < done["time"]
    assert docker("inspect", "-f", "{{.Config.Image}}", "aiplatform-n8n").stdout.strip() == "aiplatform-lab/n8n:2.41.1"
    status, kept = appdata.n8n(platform)("GET", f"/rest/workflows/{flow['data']['id']}")
    assert status == 200 and kept["data"]["name"] == "kept-through-the-upgrade"


def test_a_downgrade_of_n8n_is_refused_naming_both_releases(platform, n8n_running):
    started = docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-n8n").stdout
    docker("tag", "aiplatform-lab/n8n:current", "aiplatform-lab/n8n:2.40.0")
    run = platform.deploy({"aiplatform_services": APPS, "n8n_image": "aiplatform-lab/n8n:2.40.0", **SNAPSHOTS},
                          playbook="playbooks/upgrade.yml")
    (refused,) = run.of(ev.DATA_REFUSED, "n8n")
    assert run.rc != 0 and refused["reason"] == "downgrade"
    assert "aiplatform-lab/n8n:2.40.0 is older than aiplatform-lab/n8n:2.41.1" in refused["message"]
    assert not run.of(ev.BACKUP_START) and not run.of(ev.DEPLOY_START)  # refused before the snapshot, too
    assert docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-n8n").stdout == started
