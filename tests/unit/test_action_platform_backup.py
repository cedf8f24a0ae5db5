"""platform_backup's action run on a fake host: the plan it hands to the host's steps (snapshot, then verify when
asked), how the repository reaches the host, the events it records, and what it refuses before the host is asked."""
import pytest

from ansible_collections.aiplatform.stack.plugins.action import platform_backup

from .action_harness import events_of, run_action, types_of

ARCHIVE = "aiplatform.stack.platform_archive"
KEY = "a-backup-key-long-enough-for-the-rule"
REPO = "/var/backups/aiplatform/restic"
CATALOG = {
    "web": {"project": "aiplatform-web", "images": {"web": "lab/web:2"},
            "backup": {"volumes": [{"name": "web_data"}, {"name": "web_cache", "optional": True}]}},
    "db": {"project": "aiplatform-db", "images": {"db": "lab/db:1"}},
}


def host_steps(overrides=None):
    """The host module's answers by step; `overrides` replaces some."""
    answers = {"snapshot": {"run": "20261207T101500Z-node1", "snapshot": "f1les", "size": 4096, "added": 512,
                            "forgotten": ["0ld1", "0ld2"],
                            "events": [{"type": "BACKUP_PAUSE", "service": "web", "message": "paused", "level": "WARN"}]},
               "verify": {"subset": "10%"}}
    answers.update(overrides or {})
    return lambda name, module_args: answers[module_args["step"]]


def take_backup(answer=None, **args):
    args = {"catalog": CATALOG, "here": ["web", "db"], "enabled": ["web", "db"], "repository": REPO,
            "secrets_dir": "/srv/aiplatform/secrets", "key": KEY, "keep_rules": {"daily": 7}, **args}
    return run_action(platform_backup, args, answer or host_steps(), {"inventory_hostname": "node1"})


def test_the_host_takes_the_run_in_one_step_with_the_repository_and_its_password():
    result, host = take_backup(facts={"release": "1.2"}, repository_env={"RESTIC_REST_PASSWORD": "pw"})
    assert [args["step"] for name, args in host.calls] == ["snapshot"]
    (taken,) = host.sent(ARCHIVE)
    assert [v["name"] for v in taken["plan"]["volumes"]] == ["web_data"]  # the optional cache is left out
    assert taken["plan"]["secrets"] == ["web", "db"] and taken["host"] == "node1" and taken["pause"] is True
    assert taken["repository"] == REPO and taken["password"] == KEY and taken["image"] == "restic/restic:0.19.1"
    assert taken["repository_env"] == {"RESTIC_REST_PASSWORD": "pw"} and taken["keep_rules"] == {"daily": 7}
    assert taken["facts"] == {"release": "1.2"} and taken["secrets_dir"] == "/srv/aiplatform/secrets"


def test_optional_volumes_are_taken_when_asked_for():
    result, host = take_backup(include_optional=True)
    assert [v["name"] for v in host.sent(ARCHIVE)[0]["plan"]["volumes"]] == ["web_data", "web_cache"]


def test_a_backup_reports_its_run_size_growth_and_what_retention_removed():
    result, host = take_backup()
    assert result["changed"] is True and not result.get("failed") and result["archive"] is None
    assert (result["run"], result["snapshot"], result["size"], result["added"]) == (
        "20261207T101500Z-node1", "f1les", 4096, 512)
    assert result["forgotten"] == ["0ld1", "0ld2"]
    assert types_of(result) == ["BACKUP_START", "BACKUP_PAUSE", "BACKUP_PRUNED", "BACKUP_SUCCESS"]
    assert "1 volume(s), the secrets of web, db" in result["events"][0]["message"] and REPO in result["events"][0]["message"]
    assert "removed 2 snapshot(s) of node1" in events_of(result, "BACKUP_PRUNED")[0]["message"]
    success = events_of(result, "BACKUP_SUCCESS", "backup")[0]
    assert success["archive"] == "20261207T101500Z-node1" and success["size"] == 4096 and success["added"] == 512


def test_verify_reads_back_the_asked_share_after_the_backup():
    result, host = take_backup(verify="10%", record="/srv/aiplatform/.aiplatform-backup.json")
    assert [args["step"] for name, args in host.calls] == ["snapshot", "verify"]
    checked = host.sent(ARCHIVE)[1]
    assert checked["subset"] == "10%" and checked["repository"] == REPO and checked["password"] == KEY
    assert checked["record"] == "/srv/aiplatform/.aiplatform-backup.json"
    assert types_of(result)[-2:] == ["BACKUP_VERIFIED", "BACKUP_SUCCESS"]


@pytest.mark.parametrize("args, words", [
    ({"key": "short"}, "aiplatform_backup_key"),
    ({"repository": ""}, "aiplatform_backup_repository: empty"),
    ({"repository": "sftp:backup@host:/srv/repo"}, "aiplatform_backup_ssh_identity"),
    ({"repository": "rclone:remote:bucket"}, "rclone"),
    ({"verify": "lots"}, "aiplatform_backup_verify"),
    ({"keep_upgrades": "0"}, "aiplatform_upgrade_keep_snapshots"),
])
def test_what_cannot_work_fails_as_config_before_the_host_is_asked_anything(args, words):
    result, host = take_backup(**args)
    assert host.calls == [] and result["failed"] and result["category"] == "config"
    assert words in result["msg"] and types_of(result) == ["BACKUP_FAIL"]


def test_a_service_that_is_not_enabled_fails_naming_it():
    result, host = take_backup(services=["nope"])
    assert host.calls == [] and result["failed"] and "nope not enabled" in result["msg"]


def test_nothing_placed_here_is_no_change_and_no_run():
    result, host = take_backup(here=[])
    assert host.calls == [] and result["changed"] is False and result["archive"] is None
    assert types_of(result) == ["BACKUP_SUCCESS"] and "nothing" in result["events"][0]["message"]


def test_a_step_that_fails_on_the_host_fails_the_backup_naming_the_step_with_its_category():
    result, host = take_backup(answer=host_steps({"snapshot": {"failed": True, "msg": "no space left",
                                                               "category": "disk"}}))
    assert result["failed"] and result["msg"] == "snapshot: no space left" and result["category"] == "disk"
    fail = events_of(result, "BACKUP_FAIL", "backup")[0]
    assert fail["category"] == "disk" and fail["message"] == "snapshot: no space left"


def test_a_module_killed_before_it_answered_is_an_interrupted_backup():
    result, host = take_backup(verify="10%", answer=host_steps({"verify": {"failed": True, "rc": 137,
                                                                           "module_stderr": ""}}))
    assert result["failed"] and result["category"] == "interrupted" and result["msg"].startswith("verify: ")


def test_an_sftp_repository_sends_the_hosts_key_files_and_others_do_not():
    result, host = take_backup(repository="sftp:backup@nas:/srv/restic", ssh_identity="/root/.ssh/backup",
                               ssh_known_hosts="/root/.ssh/known_hosts")
    (taken,) = host.sent(ARCHIVE)
    assert taken["ssh_identity"] == "/root/.ssh/backup" and taken["ssh_known_hosts"] == "/root/.ssh/known_hosts"
    result, host = take_backup(ssh_identity="/root/.ssh/backup", ssh_known_hosts="/root/.ssh/known_hosts")
    assert "ssh_identity" not in host.sent(ARCHIVE)[0]
