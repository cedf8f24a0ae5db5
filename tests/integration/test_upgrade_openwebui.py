"""A real upgrade with real migrations: the real Open WebUI from the lab's older release (0.12.0, lab/images/openwebui-
previous) to the pinned one, which adds two alembic revisions. The snapshot first, the revision read before and
after, a chat made before still there; the older release refused on the migrated data - and shown to fail there on
its own, which is why the way back is the snapshot - and the snapshot restored, with the older release and its chat."""
import json
import os
import re
import subprocess
import tempfile
import urllib.request

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from . import appdata
from .conftest import ROOT, docker, wait_for_images

PINNED = re.search(r"^ARG OPEN_WEBUI_VERSION=(\S+)$", open(os.path.join(
    ROOT, "lab", "images", "openwebui", "Dockerfile")).read(), re.M).group(1)
OLDER = open(os.path.join(ROOT, "lab", "images", "openwebui-previous", "PREVIOUS")).read().strip().split("=")[1]
OLD, NEW = f"aiplatform-lab/openwebui:{OLDER}", f"aiplatform-lab/openwebui:{PINNED}"
APPS = ["postgres", "redis", "litellm", "openwebui"]
SNAPSHOTS = {"aiplatform_backup_key": appdata.KEY, "aiplatform_backup_dest": tempfile.mkdtemp(prefix="aiplatform-upgrade-")}
FOUND = {}  # what one test leaves the next: the pre-upgrade run, the revisions


def call(path, token=None, body=None, method=None):
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"http://127.0.0.1:8080{path}", headers=headers, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def sign_in(platform):
    password = json.load(open(os.path.join(platform.base_dir, "secrets", "openwebui.json")))["admin_password"]
    return call("/api/v1/auths/signin", body={"email": appdata.EMAIL, "password": password})["token"]


def revision():
    return appdata.as_admin("SELECT version_num FROM alembic_version", "openwebui")


def image_and_start():
    return docker("inspect", "-f", "{{.Config.Image}} {{.State.StartedAt}}", "aiplatform-openwebui").stdout.strip()


@pytest.fixture(scope="module")
def older_release(platform):
    wait_for_images({OLD})
    docker("tag", "aiplatform-lab/openwebui:current", NEW)
    run = platform.deploy({"aiplatform_services": APPS, "openwebui_image": OLD})
    assert run.rc == 0, run.stdout[-3000:]
    assert call("/api/config")["version"] == OLDER
    chat = call("/api/v1/chats/new", sign_in(platform), {"chat": {"title": "kept-through-the-upgrade", "messages": []}})
    FOUND.update(chat=chat["id"], before=revision())
    return run


def test_the_upgrade_snapshots_first_migrates_and_keeps_the_chat(platform, older_release):
    run = platform.deploy({"aiplatform_services": APPS, "openwebui_image": NEW, **SNAPSHOTS},
                          playbook="playbooks/upgrade.yml")
    assert run.rc == 0, run.stdout[-3000:]
    after = revision()
    assert call("/api/config")["version"] == PINNED and after != FOUND["before"]
    (done,) = run.of(ev.MIGRATION_OK, "openwebui")
    assert done["message"] == f"migrated from revision {FOUND['before']} to {after}"
    (snapshot,) = [e for e in run.of(ev.BACKUP_SUCCESS) if "before the upgrade" in e["message"]]
    assert snapshot["time"] < run.of(ev.DEPLOY_START, "openwebui")[0]["time"]
    assert call(f"/api/v1/chats/{FOUND['chat']}", sign_in(platform))["title"] == "kept-through-the-upgrade"
    FOUND.update(after=after, run=snapshot["archive"])


def test_the_older_release_is_refused_and_would_not_start_on_the_migrated_data(platform, older_release):
    before = image_and_start()
    run = platform.deploy({"aiplatform_services": APPS, "openwebui_image": OLD})
    (refused,) = run.of(ev.DATA_REFUSED, "openwebui")
    assert run.rc != 0 and f"{OLD} is older than {NEW}" in refused["message"]
    assert image_and_start() == before  # nothing changed
    # Why the way back is the snapshot, not the old image: the older release on this data, started by hand with the
    # service's own configuration, stops at its start (alembic knows no such revision)
    env = json.loads(docker("inspect", "-f", "{{json .Config.Env}}", "aiplatform-openwebui").stdout)
    nets = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "aiplatform-openwebui").stdout)
    with tempfile.NamedTemporaryFile("w", prefix="aiplatform-env-", delete=False) as fh:  # 0600: secrets inside
        fh.write("\n".join(env) + "\n")
    try:
        proc = subprocess.run(["docker", "run", "--rm", "--name", "aiplatform-openwebui-older-by-hand", "--env-file",
                               fh.name, "--network", next(n for n in nets if "postgres" in n), OLD],
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        os.unlink(fh.name)
        docker("rm", "-f", "aiplatform-openwebui-older-by-hand", check=False)
    assert proc.returncode != 0 and f"Can't locate revision identified by '{FOUND['after']}'" in proc.stdout + proc.stderr
    assert revision() == FOUND["after"]  # and it changed nothing


def test_the_pre_upgrade_snapshot_brings_the_older_release_back_with_its_chat(platform, older_release):
    run = platform.deploy({"aiplatform_services": APPS, "openwebui_image": OLD, "aiplatform_restore_snapshot": FOUND["run"],
                           "aiplatform_restore_force": True, **SNAPSHOTS}, playbook="playbooks/restore.yml")
    assert run.rc == 0, [e["message"] for e in run.of(ev.RESTORE_REFUSED)] or run.stdout[-3000:]
    assert image_and_start().split()[0] == OLD and call("/api/config")["version"] == OLDER
    assert revision() == FOUND["before"]
    assert call(f"/api/v1/chats/{FOUND['chat']}", sign_in(platform))["title"] == "kept-through-the-upgrade"
    again = platform.deploy({"aiplatform_services": APPS, "openwebui_image": OLD})  # the record says what was restored
    assert again.rc == 0 and not again.of(ev.DATA_REFUSED), again.stdout[-3000:]


def test_a_new_release_that_fails_after_migrating_is_rolled_back_with_its_data(platform, older_release):
    """After the restore above (0.12.0 with its chat). The new release is a stand-in for a broken one: the real code of
    the pin migrates the database (Open WebUI runs alembic when its config is imported), then the container exits
    (without its server's start, the import stops on a missing static directory; `exit 3` otherwise)."""
    broken = f"aiplatform-lab/openwebui:{PINNED}.1"
    subprocess.run(["docker", "build", "-q", "-t", broken, "-"], input=f'FROM {NEW}\nCMD ["sh", "-c", "python -c '
                   f'\\"import open_webui.config\\" && exit 3"]\n', text=True, check=True, capture_output=True,
                   env=dict(os.environ, DOCKER_BUILDKIT="0"))
    run = platform.deploy({"aiplatform_services": APPS, "openwebui_image": broken, **SNAPSHOTS},
                          playbook="playbooks/upgrade.yml")
    assert run.rc != 0
    # the deploy's own rollback put the older image back alone: it does not come up on the migrated database
    loops = [e["message"] for e in run.of(ev.RESTART_LOOP, "openwebui")]
    assert any(f"Can't locate revision identified by '{FOUND['after']}'" in m for m in loops), loops
    (failed,) = run.of(ev.MIGRATION_FAIL, "openwebui")
    assert failed["rolled_back_onto_migrated"] and f"to {FOUND['after']}" in failed["message"]
    (back,) = run.of(ev.UPGRADE_ROLLED_BACK, "openwebui")
    assert OLD in back["message"] and back["time"] > failed["time"]
    # what the restore put back: the older release, healthy, on its own revision, with the chat made before
    assert image_and_start().split()[0] == OLD and call("/api/config")["version"] == OLDER
    assert revision() == FOUND["before"]
    assert call(f"/api/v1/chats/{FOUND['chat']}", sign_in(platform))["title"] == "kept-through-the-upgrade"
    FOUND["rollback"] = run
