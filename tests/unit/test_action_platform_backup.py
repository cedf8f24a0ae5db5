"""platform_backup's action run on a fake host: the plan it hands to the host's steps (read_secrets, take, close),
the secrets encrypted and the manifest sealed here, and the events it records."""
import json

from ansible_collections.aiplatform.stack.plugins.action import platform_backup
from ansible_collections.aiplatform.stack.plugins.module_utils import backup
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle

from .action_harness import events_of, run_action, types_of

ARCHIVE = "aiplatform.stack.platform_archive"
KEY = "a-backup-key-long-enough-for-the-rule"
CATALOG = {
    "web": {"project": "aiplatform-web", "images": {"web": "lab/web:2"},
            "backup": {"volumes": [{"name": "web_data"}, {"name": "web_cache", "optional": True}]}},
    "db": {"project": "aiplatform-db", "images": {"db": "lab/db:1"}},
}
MANIFEST = json.dumps({"size": 2048, "files": [
    {"path": "volumes/web_data.tar", "size": 2048, "sha256": "ab" * 32, "kind": "volume", "service": "web"}]})


def host_steps(overrides=None):
    """The host module's answers by step; `overrides` replaces some."""
    answers = {"read_secrets": {"values": {"web": {"token": "s3cret"}}},
               "take": {"archive": "/backups/.partial-node1", "manifest_text": MANIFEST,
                        "events": [{"type": "BACKUP_PAUSE", "service": "web", "message": "paused", "level": "WARN"}]},
               "close": {"archive": "/backups/aiplatform-node1-20261207", "pruned": ["aiplatform-node1-20261101"]}}
    answers.update(overrides or {})
    return lambda name, module_args: answers[module_args["step"]]


def take_backup(answer=None, **args):
    args = {"catalog": CATALOG, "here": ["web", "db"], "enabled": ["web", "db"], "dest": "/backups", "keep": 3,
            "secrets_dir": "/srv/aiplatform/secrets", "key": KEY, **args}
    return run_action(platform_backup, args, answer or host_steps(), {"inventory_hostname": "node1"})


def test_the_host_reads_the_secrets_takes_the_volumes_and_closes_the_archive_in_three_steps():
    result, host = take_backup(facts={"release": "1.2"})
    assert [args["step"] for name, args in host.calls] == ["read_secrets", "take", "close"]
    assert {name for name, args in host.calls} == {ARCHIVE}
    read, take, close = host.sent(ARCHIVE)
    assert read == {"step": "read_secrets", "secrets_dir": "/srv/aiplatform/secrets", "services": ["web", "db"]}
    assert [v["name"] for v in take["plan"]["volumes"]] == ["web_data"]  # the optional cache is left out
    assert take["dest"] == "/backups" and take["host"] == "node1" and take["pause"] is True
    assert take["facts"] == {"release": "1.2"}
    assert close["archive"] == "/backups/.partial-node1" and close["keep"] == 3 and close["host"] == "node1"


def test_the_secrets_travel_to_the_host_encrypted_with_the_key():
    result, host = take_backup()
    blob = host.sent(ARCHIVE)[1]["secrets_blob"]
    assert "s3cret" not in blob and secrets_bundle.decrypt(blob, KEY) == {"web": {"token": "s3cret"}}


def test_the_manifest_is_sealed_here_with_the_key():
    result, host = take_backup()
    assert backup.seal_matches(MANIFEST, host.sent(ARCHIVE)[2]["seal"], KEY)


def test_optional_volumes_are_taken_when_asked_for():
    result, host = take_backup(include_optional=True)
    assert [v["name"] for v in host.sent(ARCHIVE)[1]["plan"]["volumes"]] == ["web_data", "web_cache"]


def test_a_backup_reports_its_archive_files_size_and_what_it_pruned():
    result, host = take_backup()
    assert result["changed"] is True and not result.get("failed")
    assert result["archive"] == "/backups/aiplatform-node1-20261207" and result["size"] == 2048
    assert result["files"] == [{"path": "volumes/web_data.tar", "size": 2048, "sha256": "ab" * 32}]
    assert result["pruned"] == ["aiplatform-node1-20261101"]
    assert types_of(result) == ["BACKUP_START", "BACKUP_PAUSE", "BACKUP_PRUNED", "BACKUP_SUCCESS"]
    assert "1 volume(s), the secrets of web, db" in result["events"][0]["message"]
    assert "keeping the newest 3" in events_of(result, "BACKUP_PRUNED")[0]["message"]
    success = events_of(result, "BACKUP_SUCCESS", "backup")[0]
    assert success["archive"] == result["archive"] and success["size"] == 2048 and "1 files" in success["message"]


def test_a_short_key_fails_as_config_before_the_host_is_asked_anything():
    result, host = take_backup(key="short")
    assert host.calls == [] and result["failed"] and result["category"] == "config"
    assert "aiplatform_backup_key" in result["msg"] and types_of(result) == ["BACKUP_FAIL"]


def test_a_service_that_is_not_enabled_fails_naming_it():
    result, host = take_backup(services=["nope"])
    assert host.calls == [] and result["failed"] and "nope not enabled" in result["msg"]


def test_nothing_placed_here_is_no_change_and_no_archive():
    result, host = take_backup(here=[])
    assert host.calls == [] and result["changed"] is False and result["archive"] is None
    assert types_of(result) == ["BACKUP_SUCCESS"] and "nothing" in result["events"][0]["message"]


def test_no_secrets_on_the_host_sends_no_secrets_blob():
    result, host = take_backup(answer=host_steps({"read_secrets": {"values": {}}}))
    assert host.sent(ARCHIVE)[1]["secrets_blob"] is None and result["changed"] is True


def test_a_step_that_fails_on_the_host_fails_the_backup_naming_the_step_with_its_category():
    result, host = take_backup(answer=host_steps({"take": {"failed": True, "msg": "no space left", "category": "disk"}}))
    assert [args["step"] for name, args in host.calls] == ["read_secrets", "take"]  # nothing closed
    assert result["failed"] and result["msg"] == "take: no space left" and result["category"] == "disk"
    fail = events_of(result, "BACKUP_FAIL", "backup")[0]
    assert fail["category"] == "disk" and fail["message"] == "take: no space left"


def test_a_module_killed_before_it_answered_is_an_interrupted_backup():
    result, host = take_backup(answer=host_steps({"close": {"failed": True, "rc": 137, "module_stderr": ""}}))
    assert result["failed"] and result["category"] == "interrupted" and result["msg"].startswith("close: ")
