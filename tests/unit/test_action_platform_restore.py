"""platform_restore's action run on a fake host, one step per call: check refuses before anything changes, then
secrets (only this host's), volumes (one call each), databases, done. From a run in the restic repository, or from an
archive directory of 0.2 (its secrets decrypted here), which wins when both are named."""
import base64
import json

from ansible_collections.aiplatform.stack.plugins.action import platform_restore
from ansible_collections.aiplatform.stack.plugins.module_utils import backup

from .. import legacy_archive
from .action_harness import events_of, run_action, types_of

ARCHIVE, SLURP = "aiplatform.stack.platform_archive", "ansible.builtin.slurp"
KEY = "a-backup-key-long-enough-for-the-rule"
CATALOG = {"web": {"images": {"web": "lab/web:2"}, "backup": {"volumes": [{"name": "web_data"}]},
                   "secrets": {"key": {"kind": "token", "encrypts_data": True}, "password": {"kind": "token"}}},
           "postgres": {"container": "aiplatform-postgres", "images": {"postgres": "postgres:16.4"},
                        "admin": {"user": "pgadmin"}}}
FILES = [{"path": "volumes/web_data.tar", "size": 4096, "kind": "volume", "service": "web", "volume": "web_data"},
         {"path": "volumes/n8n_data.tar", "size": 10, "kind": "volume", "service": "n8n", "volume": "n8n_data"},
         {"path": "databases/web.dump", "size": 100, "kind": "database", "service": "web"},
         {"path": "secrets.enc", "size": 300, "kind": "secrets"}]
MANIFEST = json.dumps({"name": "aiplatform-node1-20261207", "size": 4406, "created": "2026-12-07T01:00:00Z",
                       "images": {"web": {"web": "lab/web:2"}}, "files": FILES, "postgres": {"admin_user": "oldadmin"}})
PLAN = {"volumes": FILES[:1], "databases": FILES[2:3], "secrets": True, "images": {"web_data": "lab/web:2"},
        "skipped": [], "old_admin": "oldadmin", "name": "aiplatform-node1-20261207", "size": 4406}


def checked(**found):
    return dict({"manifest_text": MANIFEST, "seal": backup.seal(MANIFEST, KEY), "problems": [], "running": [],
                 "volumes": []}, **found)


def restore(step, answers=None, **args):
    """Run one step; the host module answers by its own step (`answers`: {step or module: result})."""
    answers = answers or {}

    def answer(name, module_args):
        return answers[SLURP] if name == SLURP else answers[module_args["step"]]
    args = {"step": step, "archive": "/backups/aiplatform-node1-20261207", "key": KEY, "catalog": CATALOG,
            "here": ["web", "postgres"], **args}
    return run_action(platform_restore, args, answer, {"inventory_hostname": "node1"})


def test_the_check_hands_back_the_plan_for_this_host_and_changes_nothing():
    result, host = restore("check", {"check": checked()})
    assert host.sent(ARCHIVE) == [{"step": "check", "archive": "/backups/aiplatform-node1-20261207"}]
    assert result["changed"] is False and not result.get("failed")
    plan = result["plan"]
    assert plan["volumes"] == FILES[:1] and plan["databases"] == FILES[2:3] and plan["secrets"] is True
    assert plan["old_admin"] == "oldadmin" and plan["name"] == "aiplatform-node1-20261207"
    assert types_of(result) == ["RESTORE_PART", "RESTORE_START"]
    assert "volumes/n8n_data.tar (n8n is not placed on this host)" in result["events"][0]["message"]
    start = result["events"][1]
    assert "1 database file(s), 1 volume(s), secrets" in start["message"] and start["size"] == 4406


def test_a_manifest_whose_seal_does_not_match_is_refused_and_nothing_is_changed():
    result, host = restore("check", {"check": checked(seal="0" * 64)})
    assert result["failed"] and result["category"] == "config"
    assert "nothing was changed" in result["msg"] and "seal does not match" in result["msg"]
    assert types_of(result) == ["RESTORE_REFUSED"]


def test_a_running_platform_is_refused_unless_forced():
    refused, host = restore("check", {"check": checked(running=["aiplatform-web"])})
    assert refused["failed"] and "aiplatform-web" in refused["msg"] and "aiplatform_restore_force" in refused["msg"]
    forced, host = restore("check", {"check": checked(running=["aiplatform-web"])}, force=True)
    assert not forced.get("failed")


def test_an_unknown_step_fails_as_config_naming_the_steps():
    result, host = restore("later")
    assert host.calls == [] and result["failed"] and result["category"] == "config"
    assert result["msg"] == "step: one of check, secrets, volumes, databases, record, done"
    assert types_of(result) == ["RESTORE_FAIL"]


def test_a_short_key_is_refused_before_the_archive_is_read():
    result, host = restore("check", key="short")
    assert host.calls == [] and result["failed"] and "aiplatform_backup_key" in result["msg"]


def test_only_the_secrets_of_services_placed_here_are_decrypted_and_written():
    blob = legacy_archive.vault_secrets({"web": {"token": "s3cret"}, "n8n": {"key": "other"}}, KEY)
    answers = {SLURP: {"content": base64.b64encode(blob).decode()}, "write_secrets": {"restored": ["web"]}}
    result, host = restore("secrets", answers, plan=PLAN, secrets_dir="/srv/aiplatform/secrets")
    assert host.sent(SLURP) == [{"src": "/backups/aiplatform-node1-20261207/secrets.enc"}]
    (written,) = host.sent(ARCHIVE)
    assert written == {"step": "write_secrets", "secrets_dir": "/srv/aiplatform/secrets", "force": False,
                       "bundle": {"web": {"token": "s3cret"}}}
    assert result["changed"] is True and result["restored"] == ["web"]
    assert events_of(result, "RESTORE_PART")[0]["message"] == "secrets of web restored"


def test_an_archive_without_secrets_restores_none_and_reads_nothing():
    result, host = restore("secrets", plan=dict(PLAN, secrets=False))
    assert host.calls == [] and result["changed"] is False and result["restored"] == []


def test_a_secrets_file_that_cannot_be_read_fails_the_step_naming_it():
    result, host = restore("secrets", {SLURP: {"failed": True, "msg": "file not found"}}, plan=PLAN)
    assert result["failed"] and result["msg"] == "secrets.enc: file not found"
    assert types_of(result) == ["RESTORE_FAIL"]


def test_each_volume_is_restored_in_its_own_call_with_the_pinned_images():
    second = {"path": "volumes/web_cache.tar", "size": 8, "kind": "volume", "service": "web", "volume": "web_cache"}
    plan = dict(PLAN, volumes=[FILES[0], second])
    result, host = restore("volumes", {"restore_volumes": {"restored": ["one"]}}, plan=plan, pull=False)
    calls = host.sent(ARCHIVE)
    assert [c["items"] for c in calls] == [[FILES[0]], [second]]
    assert calls[0]["images"] == {"web_data": "lab/web:2"} and calls[0]["pull"] is False and calls[0]["force"] is False
    assert result["restored"] == ["one", "one"] and result["changed"] is True
    assert [e["message"] for e in events_of(result, "RESTORE_PART", "web")] == [
        "volume web_data restored (4.0 KiB)", "volume web_cache restored (8 B)"]


def test_the_databases_go_to_postgres_with_its_admin_skipping_the_old_admin_role():
    result, host = restore("databases", {"restore_databases": {"restored": ["web"]}}, plan=PLAN, force=True)
    (sent,) = host.sent(ARCHIVE)
    assert sent["postgres"] == {"container": "aiplatform-postgres", "admin_user": "pgadmin"}
    assert sent["items"] == FILES[2:3] and sent["skip_roles"] == ["oldadmin"] and sent["force"] is True
    assert result["changed"] is True and result["restored"] == ["web"]


def test_no_databases_in_the_plan_asks_postgres_nothing():
    result, host = restore("databases", plan=dict(PLAN, databases=[]))
    assert host.calls == [] and result["changed"] is False


def test_a_database_step_that_fails_on_the_host_is_a_restore_failure_with_its_category():
    result, host = restore("databases", {"restore_databases": {"failed": True, "msg": "role exists", "category": "config"}},
                           plan=PLAN)
    assert result["failed"] and result["msg"] == "restore_databases: role exists"
    assert events_of(result, "RESTORE_FAIL", "restore")[0]["category"] == "config"


def test_done_records_the_restore_as_a_success_naming_the_archive():
    result, host = restore("done", plan=PLAN, started_at=0)
    (success,) = events_of(result, "RESTORE_SUCCESS", "restore")
    assert success["message"].startswith("aiplatform-node1-20261207 restored") and success["size"] == 4406
    assert success["archive"] == "/backups/aiplatform-node1-20261207" and result["changed"] is False


REPO = "/var/backups/aiplatform/restic"


def test_from_the_repository_the_check_reads_the_run_back_on_the_host_with_the_password():
    found = dict(checked(), authenticated=True, seal="", snapshot="f1les", run="20261207T010000Z-node2")
    result, host = restore("check", {"check_snapshot": found}, archive="", repository=REPO, snapshot="latest",
                           from_host="node2")
    (sent,) = host.sent(ARCHIVE)
    assert sent == {"step": "check_snapshot", "host": "node1", "from_host": "node2", "which": "latest",
                    "repository": REPO, "password": KEY, "repository_env": {}, "image": "restic/restic:0.19.1"}
    assert not result.get("failed") and result["plan"]["snapshot"] == "f1les"  # restic authenticated: no seal


def test_from_the_repository_the_secrets_are_read_and_written_on_the_host():
    result, host = restore("secrets", {"restore_secrets": {"restored": ["web"]}}, archive="", repository=REPO,
                           plan=dict(PLAN, snapshot="f1les", secret_services=["web", "n8n"]), secrets_dir="/s")
    (sent,) = host.sent(ARCHIVE)
    assert sent["step"] == "restore_secrets" and sent["archive"] == "f1les" and sent["services"] == ["web"]
    assert sent["password"] == KEY and host.sent(SLURP) == []


def test_an_archive_directory_named_wins_over_the_repository():
    result, host = restore("check", {"check": checked()}, repository=REPO)
    assert host.sent(ARCHIVE) == [{"step": "check", "archive": "/backups/aiplatform-node1-20261207"}]
    volumes, host = restore("volumes", {"restore_volumes": {"restored": ["web_data"]}}, repository=REPO, plan=PLAN)
    (sent,) = host.sent(ARCHIVE)
    assert "repository" not in sent and sent["archive"] == "/backups/aiplatform-node1-20261207"


def test_neither_a_repository_nor_an_archive_is_refused_naming_both():
    result, host = restore("check", archive="", repository="")
    assert host.calls == [] and result["failed"] and result["category"] == "config"
    assert "aiplatform_backup_repository: empty, and no aiplatform_restore_from" in result["msg"]


def test_what_wrote_the_restored_data_is_recorded_on_the_host_once_it_is_back():
    result, host = restore("check", {"check": checked()})
    assert result["plan"]["written"] == {"web": {"images": ["lab/web:2"], "keys": ["key"]}}  # placed here only
    recorded, host = restore("record", {"record_data": {"recorded": ["web"]}}, base_dir="/srv/aiplatform",
                             plan=result["plan"], secrets_dir="/s", here=["web"])
    assert host.sent(ARCHIVE) == [{"step": "record_data", "base_dir": "/srv/aiplatform", "secrets_dir": "/s",
                                   "written": {"web": {"images": ["lab/web:2"], "keys": ["key"]}}}]
    assert recorded["changed"] and recorded["recorded"] == ["web"]
    elsewhere, host = restore("record", base_dir="/srv/aiplatform", plan=result["plan"], secrets_dir="/s",
                              here=["postgres"])
    assert host.calls == [] and elsewhere["changed"] is False


def test_upgrade_rollback_restores_only_the_services_own_parts():
    files = FILES + [{"path": "pg/roles.sql", "kind": "roles"}]
    text = json.dumps(dict(json.loads(MANIFEST), files=files, images={"web": {"web": "lab/web:1"}, "n8n": {"n8n": "n8n:1"}}))
    catalog = dict(CATALOG, n8n={"images": {"n8n": "n8n:1"}, "backup": {"volumes": [{"name": "n8n_data"}]}})
    cut, reasons = platform_restore.judge(dict(checked(), manifest_text=text, authenticated=True), KEY, catalog,
                                          ["web", "n8n", "postgres"], True, False, ["web"])
    assert not reasons
    assert [i["volume"] for i in cut["volumes"]] == ["web_data"] and cut["databases"] == FILES[2:3]
    assert cut["secrets"] is False and cut["written"] == {"web": {"images": ["lab/web:1"], "keys": ["key"]}}


def test_a_restore_of_some_services_judges_only_their_parts():
    other = json.dumps(dict(json.loads(MANIFEST), images={"web": {"web": "lab/web:2"}, "n8n": {"n8n": "n8n:9.0"}}))
    found = dict(checked(), manifest_text=other, authenticated=True)
    catalog = dict(CATALOG, n8n={"images": {"n8n": "n8n:1.0"}})  # n8n's backup is newer than its pin: refused...
    wanted, reasons = platform_restore.judge(found, KEY, catalog, ["web", "n8n", "postgres"], True, False)
    assert any("n8n" in r for r in reasons)
    wanted, reasons = platform_restore.judge(found, KEY, catalog, ["web", "n8n", "postgres"], True, False, ["web"])
    assert reasons == [] and [i["volume"] for i in wanted["volumes"]] == ["web_data"]  # ...but not web's restore
