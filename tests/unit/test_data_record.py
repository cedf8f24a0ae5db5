"""What wrote each service's data (module_utils/data_record.py) and prepare_host's refusal before anything changes:
an older release than the one that last wrote the data, or a key that encrypts it changed or lost."""
import json
import os
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.aiplatform.stack.plugins.module_utils import data_record, run_lock, secrets_store
from ansible_collections.aiplatform.stack.plugins.module_utils.project import ProjectDeployer
from ansible_collections.aiplatform.stack.plugins.modules import prepare_host

from .test_project import FILES, FakeDocker

N8N = {"encryption_key": {"kind": "token", "length": 48, "encrypts_data": True},
       "db_password": {"kind": "token", "length": 32}}


def test_releases_are_compared_under_the_image_name_whatever_the_registry():
    assert data_record.image_name("registry.example:5000/n8nio/n8n:1.2.3") == "n8n"
    assert data_record.image_name("n8nio/n8n@sha256:abc") == "n8n"
    assert data_record.release("n8nio/n8n:1.10.2") == (1, 10, 2) and data_record.release("x/y:current") is None
    assert data_record.release("localhost:5000/x") is None  # a registry port is not a tag


def test_a_start_raises_the_mark_and_an_older_release_does_not_lower_it(tmp_path):
    assert data_record.started(str(tmp_path), ["n8nio/n8n:1.80.0"])
    assert data_record.started(str(tmp_path), ["n8nio/n8n:1.90.1"])
    # the rollback of a failed upgrade starts 1.80 again on data 1.90 may have migrated
    assert not data_record.started(str(tmp_path), ["n8nio/n8n:1.80.0"])
    record = json.loads((tmp_path / data_record.RECORD).read_text())
    assert record["images"] == {"n8n": "n8nio/n8n:1.90.1"}
    assert stat.S_IMODE(os.stat(tmp_path / data_record.RECORD).st_mode) == 0o600


def test_tags_without_a_release_number_keep_the_last_one_started(tmp_path):
    data_record.started(str(tmp_path), ["lab/litellm:current"])
    data_record.started(str(tmp_path), ["lab/litellm:upgrade-2"])
    data_record.started(str(tmp_path), ["lab/litellm:current"])
    assert data_record.load_images(str(tmp_path)) == {"litellm": "lab/litellm:current"}


def test_an_older_release_is_refused_naming_both_and_the_fix(tmp_path):
    data_record.started(str(tmp_path), ["n8nio/n8n:1.90.1"])
    refused, warned = data_record.problems("n8n", str(tmp_path), ["n8nio/n8n:1.80.0"], {}, [], "/s/n8n.json")
    ((reason, text),) = refused
    assert reason == "downgrade" and "n8nio/n8n:1.80.0" in text and "n8nio/n8n:1.90.1" in text
    assert "image variable of n8n" in text and "aiplatform_restore_snapshot=pre-upgrade" in text and not warned
    for same_or_newer in (["n8nio/n8n:1.90.1"], ["n8nio/n8n:1.91.0"], ["n8nio/n8n:2.0.0"]):
        assert data_record.problems("n8n", str(tmp_path), same_or_newer, {}, [], "/s") == ([], [])


def test_an_uncomparable_change_of_tag_is_warned_of_not_refused(tmp_path):
    data_record.started(str(tmp_path), ["lab/litellm:current"])
    refused, (warning,) = data_record.problems("litellm", str(tmp_path), ["lab/litellm:upgrade-2"], {}, [], "/s")
    assert not refused and "lab/litellm:upgrade-2" in warning and "lab/litellm:current" in warning


def test_a_key_is_fingerprinted_once_and_a_changed_or_lost_one_is_refused(tmp_path):
    project = str(tmp_path / "n8n")
    values = {"encryption_key": "k" * 48, "db_password": "p" * 32}
    assert not data_record.record_keys(project, values, ["encryption_key"])  # never deployed: nothing to protect yet
    os.makedirs(project)
    assert data_record.record_keys(project, values, data_record.keys_of(N8N))
    text = (tmp_path / "n8n" / data_record.RECORD).read_text()
    assert "k" * 48 not in text and "db_password" not in text  # a fingerprint, salted, of the key only
    assert not data_record.record_keys(project, dict(values, encryption_key="other"), ["encryption_key"])
    assert data_record.problems("n8n", project, [], values, ["encryption_key"], "/s/n8n.json") == ([], [])
    for other in ("x" * 48, ""):  # replaced, or lost and about to be generated anew
        ((reason, text),) = data_record.problems("n8n", project, [], dict(values, encryption_key=other),
                                                 ["encryption_key"], "/s/n8n.json")[0]
        assert reason == "key" and "encryption_key" in text and "n8n" in text and "/s/n8n.json" in text


def test_a_restore_writes_what_it_restored_and_a_purge_forgets(tmp_path):
    project = str(tmp_path / "n8n")
    os.makedirs(project)
    data_record.started(project, ["n8nio/n8n:1.90.1"])
    data_record.restored(project, ["n8nio/n8n:1.80.0"], {"encryption_key": "old"}, ["encryption_key"])
    assert data_record.problems("n8n", project, ["n8nio/n8n:1.80.0"], {"encryption_key": "old"},
                                ["encryption_key"], "/s") == ([], [])
    assert data_record.problems("n8n", project, [], {"encryption_key": "new"}, ["encryption_key"], "/s")[0]
    data_record.forget(project)
    assert data_record.problems("n8n", project, ["n8nio/n8n:1.0.0"], {"encryption_key": "new"},
                                ["encryption_key"], "/s") == ([], [])


def test_the_deployer_records_the_release_before_up_and_check_mode_records_nothing(tmp_path):
    project = str(tmp_path / "p")
    ProjectDeployer(FakeDocker(), project, "p", check_mode=True).present(FILES)
    assert not os.path.exists(os.path.join(project, data_record.RECORD))
    docker = FakeDocker()
    ProjectDeployer(docker, project, "p").present(FILES)
    assert data_record.load_images(project) == {"x": "x:1"}
    ProjectDeployer(docker, project, "p").absent(remove_volumes=True)
    assert not os.path.exists(os.path.join(project, data_record.RECORD))


def run_prepare(monkeypatch, capsys, base, images, secrets=None):
    monkeypatch.setattr(prepare_host.host_checks, "precheck", lambda params, run: {"conflicts": [], "events": []})
    args = {"lock_dir": str(base), "run": "run-1", "secrets_dir": str(base / "secrets"),
            "secrets": {"n8n": secrets or N8N}, "images": {"n8n": images}}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)  # cores from 2.19 ask for one
    with pytest.raises(SystemExit):
        prepare_host.main()
    return json.loads(capsys.readouterr().out)


def test_prepare_host_records_the_keys_then_refuses_a_downgrade_and_a_lost_key_with_nothing_written(
        tmp_path, monkeypatch, capsys):
    first = run_prepare(monkeypatch, capsys, tmp_path, ["n8nio/n8n:1.90.1"])
    assert not first.get("failed") and first["generated"] == ["n8n.db_password", "n8n.encryption_key"]
    assert not (tmp_path / "n8n").exists()  # a first deploy: the project is not made here
    (tmp_path / "n8n").mkdir()  # the deploy's `up`
    (tmp_path / "n8n" / "compose.yml").write_text("services: {}\n")
    data_record.started(str(tmp_path / "n8n"), ["n8nio/n8n:1.90.1"])
    run_lock.release(str(tmp_path), "run-1")
    second = run_prepare(monkeypatch, capsys, tmp_path, ["n8nio/n8n:1.90.1"])  # the next run fingerprints the key
    assert not second.get("failed") and "encryption_key" in json.loads((tmp_path / "n8n" / data_record.RECORD).read_text())["keys"]
    assert second["recorded"] == {"n8n": {"n8n": "n8nio/n8n:1.90.1"}} and second["upgrading"] == []
    run_lock.release(str(tmp_path), "run-1")

    down = run_prepare(monkeypatch, capsys, tmp_path, ["n8nio/n8n:1.80.0"])
    assert down["failed"] and down["refused"] == [{"service": "n8n", "reason": "downgrade"}]
    assert [e["type"] for e in down["events"]] == ["DATA_REFUSED"]
    assert "1.80.0" in down["msg"] and "1.90.1" in down["msg"]
    assert not os.path.exists(os.path.join(str(tmp_path), run_lock.LOCK_NAME))  # given back: nothing will run

    secrets_file = tmp_path / "secrets" / "n8n.json"
    secrets_file.unlink()  # the secrets file lost: a new key would be generated for data encrypted with the old one
    lost = run_prepare(monkeypatch, capsys, tmp_path, ["n8nio/n8n:1.90.1"])
    assert lost["failed"] and lost["refused"] == [{"service": "n8n", "reason": "key"}]
    assert "encryption_key" in lost["msg"] and not secrets_file.exists()  # nothing generated, nothing written
    assert secrets_store.load(str(secrets_file)) == {}


def test_a_key_missing_for_a_project_deployed_before_any_record_is_refused(tmp_path):
    project = tmp_path / "n8n"
    project.mkdir()
    (project / "compose.yml").write_text("services: {}\n")  # deployed by a release that kept no record
    refused, dummy = data_record.problems("n8n", str(project), [], {"encryption_key": "new"}, ["encryption_key"],
                                          "/s/n8n.json", existing={})
    ((reason, text),) = refused
    assert reason == "key" and "is not in /s/n8n.json" in text and "deployed here before" in text


def test_a_damaged_record_is_refused_and_never_overwritten(tmp_path):
    project = tmp_path / "n8n"
    project.mkdir()
    (project / data_record.RECORD).write_text("{half a rec")
    ((reason, text),) = data_record.problems("n8n", str(project), ["n8nio/n8n:1.0.0"], {}, [], "/s")[0]
    assert reason == "record" and "cannot be read" in text
    assert not data_record.started(str(project), ["n8nio/n8n:1.0.0"])
    assert not data_record.record_keys(str(project), {"k": "v"}, ["k"])
    assert (project / data_record.RECORD).read_text() == "{half a rec"


def test_a_project_deployed_before_records_were_kept_is_known_by_its_last_compose_model(tmp_path):
    from ansible_collections.aiplatform.stack.plugins.module_utils import drift
    project = tmp_path / "n8n"
    project.mkdir()
    drift.remember(str(project), "hash1", {"services": {"n8n": {"image": "n8nio/n8n:1.90.1"}}})
    assert data_record.load_images(str(project)) == {"n8n": "n8nio/n8n:1.90.1"}
    assert data_record.changing(str(tmp_path), {"n8n": ["n8nio/n8n:1.91.0"]}) == ["n8n"]  # its first upgrade is one


def test_the_restores_record_step_puts_back_the_backups_release_and_restored_keys(tmp_path):
    from types import SimpleNamespace

    from ansible_collections.aiplatform.stack.plugins.modules import platform_archive
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "n8n.json").write_text(json.dumps({"encryption_key": "restored-key"}))
    (tmp_path / "n8n").mkdir()
    data_record.started(str(tmp_path / "n8n"), ["n8nio/n8n:1.90.1"])  # the failed upgrade's release
    params = {"step": "record_data", "base_dir": str(tmp_path), "secrets_dir": str(tmp_path / "secrets"),
              "written": {"n8n": {"images": ["n8nio/n8n:1.80.0"], "keys": ["encryption_key"]}}}
    out = platform_archive.run_step(SimpleNamespace(params=params, check_mode=False), None)
    assert out == {"recorded": ["n8n"], "changed": True}
    project = str(tmp_path / "n8n")
    assert data_record.problems("n8n", project, ["n8nio/n8n:1.80.0"], {"encryption_key": "restored-key"},
                                ["encryption_key"], "/s") == ([], [])
    assert data_record.problems("n8n", project, [], {"encryption_key": "the-lost-one"}, ["encryption_key"], "/s")[0]


def test_the_services_whose_release_changes_are_named_for_the_snapshot_before_an_upgrade(tmp_path):
    for service, image in (("n8n", "n8nio/n8n:1.90.1"), ("redis", "redis:7.4")):
        (tmp_path / service).mkdir()
        data_record.started(str(tmp_path / service), [image])
    wanted = {"n8n": ["n8nio/n8n:1.91.0"], "redis": ["redis:7.4"], "flowise": ["flowiseai/flowise:3.0"]}
    assert data_record.changing(str(tmp_path), wanted) == ["n8n"]  # a first deploy (flowise) is no upgrade


def test_a_backup_names_the_release_that_wrote_the_data_not_the_newer_pin(tmp_path):
    (tmp_path / "openwebui").mkdir()
    data_record.started(str(tmp_path / "openwebui"), ["ghcr.io/open-webui/open-webui:v0.12.0"])
    pinned = {"openwebui": {"openwebui": "ghcr.io/open-webui/open-webui:v0.12.4"}, "redis": {"redis": "redis:7.4"}}
    assert data_record.written(str(tmp_path), pinned) == {
        "openwebui": {"openwebui": "ghcr.io/open-webui/open-webui:v0.12.0"}, "redis": {"redis": "redis:7.4"}}


def test_a_failed_upgrade_that_migrated_nothing_sets_the_record_back_keeping_the_keys(tmp_path):
    project = tmp_path / "n8n"
    project.mkdir()
    data_record.started(str(project), ["n8nio/n8n:1.90.1"])
    data_record.record_keys(str(project), {"encryption_key": "k"}, ["encryption_key"])
    data_record.started(str(project), ["n8nio/n8n:1.91.0"])  # the upgrade's start, which failed before migrating
    assert data_record.set_back(str(project), {"n8n": "n8nio/n8n:1.90.1"})
    assert data_record.problems("n8n", str(project), ["n8nio/n8n:1.90.1"], {"encryption_key": "k"},
                                ["encryption_key"], "/s") == ([], [])
    assert data_record.problems("n8n", str(project), [], {"encryption_key": "x"}, ["encryption_key"], "/s")[0]
