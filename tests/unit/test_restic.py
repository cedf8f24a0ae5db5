"""Backups in a restic repository without Docker: fakes answer the docker and restic calls the way restic 0.19 does."""
import json
import os
import tempfile

import pytest

from ansible_collections.aiplatform.stack.plugins.action.platform_restore import judge
from ansible_collections.aiplatform.stack.plugins.module_utils import backup, private_json, restic

from .test_backup import CATALOG, ENABLED

PASSWORD = "a-backup-key-of-enough-length"
IMAGE = "restic/restic:0.19.1"
REPO = tempfile.mkdtemp(prefix="aiplatform-test-restic-")  # a repository directory on "the host" (the fakes fill it)


class FakeRestic:
    """Answers `docker` and `docker run <restic image>` calls; records each with its environment."""

    def __init__(self, repo_rc=0, fail=None, dump_fails=None, volumes=("aiplatform_redis_data", "aiplatform_n8n_data")):
        self.calls, self.pipes, self.forgotten, self.pruned, self.backup_rc = [], [], [], 0, 0
        self.repo_rc, self.fail, self.dump_fails, self.volumes = repo_rc, fail, dump_fails, set(volumes)
        self.snapshots, self.files = [], {}

    def restic_args(self, argv):
        return argv[argv.index(IMAGE) + 1:] if IMAGE in argv else None

    def __call__(self, argv, stdin_path=None, stdout_path=None, env=None, timeout=None):
        self.calls.append((argv, env))
        args = self.restic_args(argv)
        line = " ".join(argv)
        if self.fail and self.fail in line:
            return 1, "", f"Fatal: {self.fail} failed"
        if args is None:
            if argv[1] == "ps":
                return 0, "aiplatform-redis\n", ""
            if argv[1:3] == ["volume", "inspect"]:
                return (0, "[]", "") if argv[3] in self.volumes else (1, "", "no such volume")
            if argv[1:3] == ["volume", "ls"]:
                return 0, "\n".join(sorted(self.volumes)), ""
            if "server_version" in line:
                return 0, "15.10\n", ""
            return 0, "", ""
        cmd = args[args.index("--retry-lock") + 2:]
        if cmd[:2] == ["cat", "config"]:
            return self.repo_rc, "", "Fatal: wrong password or no key found" if self.repo_rc == 12 else ""
        if cmd[0] == "init":
            self.repo_rc = 0
            return 0, "created restic repository", ""
        if cmd[0] == "backup":
            if self.backup_rc:
                return self.backup_rc, json.dumps({"message_type": "summary", "snapshot_id": "partial"}), \
                    "error: open /aiplatform/volumes/x: permission denied"
            sid = f"{len(self.snapshots) + 1:064x}"
            self.snapshots.append({"id": sid, "time": f"2026-12-07T10:00:0{len(self.snapshots)}Z", "tags": tags(cmd),
                                   "hostname": cmd[cmd.index("--host") + 1]})
            if "/aiplatform" in cmd and "--stdin" not in cmd:
                mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]
                manifest = next(m for m in mounts if m.endswith(":/aiplatform/manifest.json:ro")).split(":")[0]
                self.files[sid] = open(manifest).read()
            return 0, json.dumps({"message_type": "summary", "snapshot_id": sid, "total_bytes_processed": 1000,
                                  "data_added_packed": 100}) + "\n", ""
        if cmd[0] == "snapshots":  # restic: each --tag a list that must all be there; several --tag: any of them
            wanted = [set(t.split(",")) for t in tags(cmd)]
            host = cmd[cmd.index("--host") + 1]
            return 0, json.dumps([s for s in self.snapshots if any(w <= set(s["tags"]) for w in wanted)
                                  and s["hostname"] == host]), ""
        if cmd[0] == "dump":
            if self.dump_fails and self.dump_fails in cmd:
                return 1, "", "Fatal: ciphertext verification failed"
            if cmd[-1] == "/aiplatform/manifest.json":
                return 0, self.files[cmd[-2]], ""
            if cmd[-1].startswith("/aiplatform/secrets/"):
                return 0, json.dumps({"key": "value-of-" + cmd[-1]}), ""
            return 0, "CREATE ROLE n8n;\n", ""
        if cmd[0] == "forget":
            if "--keep-daily" in cmd:  # one group (host): the newest files snapshot kept, the others removed
                files = [s for s in self.snapshots if restic.FILES_TAG in s["tags"]]
                if "--dry-run" not in cmd:
                    self.snapshots = [s for s in self.snapshots if s not in files[:-1]]
                return 0, json.dumps([{"keep": files[-1:], "remove": files[:-1]}]) + "\n", ""
            self.forgotten += cmd[1:]
            self.snapshots = [s for s in self.snapshots if s["id"] not in cmd[1:]]
        if cmd[0] == "prune":
            self.pruned += 1
        return 0, "", ""

    def pipe(self, producer, consumer, env=None):
        self.pipes.append((producer, consumer))
        if self.fail and self.fail in " ".join(producer):
            return 1, 0, json.dumps({"message_type": "summary", "snapshot_id": "half"}), "pg_dump: error"
        if self.restic_args(consumer):
            rc, out, err = self(consumer, env=env)
            return 0, rc, out, err
        return 0, 0, "", ""


def tags(cmd):
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == "--tag"]


def archive(fake, repository=REPO, host="app1"):
    return restic.ResticArchive(repository, PASSWORD, IMAGE, host, run=fake, pipe=fake.pipe)


def wanted(services=None):
    out = backup.plan(CATALOG, ["postgres", "redis", "n8n", "dify"], ENABLED, services)
    out["secrets"] = out["services"]
    return out


@pytest.mark.parametrize(("value", "ok"), [("/var/backups/restic", True), ("rest:https://backup:8000/app1/", True),
                                           ("rest:http://10.0.0.5:8000/", True), ("s3:s3.amazonaws.com/bucket", True),
                                           ("backups/restic", False), ("/var/../etc", False), ("/", False),
                                           ("ftp://x", False)])
def test_a_repository_is_an_absolute_path_or_a_restic_url(value, ok):
    problem = restic.repository_problem(value)
    assert (problem is None) == ok
    if not ok:
        assert "aiplatform_backup_repository" in problem and repr(value) in problem


def test_a_bad_repository_is_refused_before_any_command():
    fake = FakeRestic()
    with pytest.raises(backup.BackupError, match="aiplatform_backup_repository") as exc:
        archive(fake, repository="relative/path")
    assert exc.value.category == "config" and not fake.calls


def test_the_password_reaches_restic_only_through_the_environment():
    fake = FakeRestic()
    argv = archive(fake).restic("snapshots")
    assert PASSWORD not in " ".join(argv) and argv[argv.index("-e") + 1] == "RESTIC_PASSWORD"
    assert archive(fake).env["RESTIC_PASSWORD"] == PASSWORD
    # a repository on the host: mounted, no network; only reading capabilities
    assert argv[argv.index("--network") + 1] == "none" and f"{REPO}:/repo" in argv
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--cap-add"] == ["DAC_READ_SEARCH"]
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and argv[argv.index("--pull") + 1] == "never"
    remote = archive(fake, repository="rest:https://backup:8000/app1/").restic("snapshots")
    assert "--network" not in remote and remote[remote.index("-r") + 1] == "rest:https://backup:8000/app1/"
    writes = archive(fake).restic("restore", writes=True)
    assert "CHOWN" in writes and "DAC_READ_SEARCH" not in writes


def test_retention_options():
    assert restic.retention_args({"daily": 7, "weekly": 4, "monthly": 0}) == ["--keep-daily", "7", "--keep-weekly", "4"]
    assert restic.retention_args({}) == []


def test_a_missing_repository_is_created_for_a_backup_but_not_for_a_restore(tmp_path):
    fake = FakeRestic(repo_rc=restic.RC_NO_REPOSITORY)
    missing = str(tmp_path / "restic")
    with pytest.raises(backup.BackupError, match=f"no restic repository at {missing}"):
        archive(fake, repository=missing).open_repository(create=False)
    assert not fake.calls and not os.path.exists(missing)  # not even docker's bind mount made it
    assert archive(fake, repository=missing).open_repository(create=True) is True
    assert any(a[-1] == "init" for a, dummy in fake.calls)
    assert os.stat(missing).st_mode & 0o777 == 0o700
    # an empty directory: restic says there is no repository in it
    fake = FakeRestic(repo_rc=restic.RC_NO_REPOSITORY)
    with pytest.raises(backup.BackupError, match=f"no restic repository at {missing}"):
        archive(fake, repository=missing).open_repository(create=False)


def test_a_wrong_key_is_a_config_error_that_says_so():
    fake = FakeRestic(repo_rc=restic.RC_WRONG_PASSWORD)
    with pytest.raises(backup.BackupError, match="refuses the key") as exc:
        archive(fake).take(wanted(), "/nonexistent", 0.0)
    assert exc.value.category == "config"
    assert not fake.pipes  # nothing dumped


def test_a_backup_streams_each_database_then_writes_the_files_snapshot_last(tmp_path):
    fake = FakeRestic()
    (tmp_path / "n8n.json").write_text('{"N8N_ENCRYPTION_KEY": "k"}')
    taken = archive(fake).take(wanted(), str(tmp_path), 0.0, keep={"daily": 7})
    producers = [" ".join(p) for p, dummy in fake.pipes]
    assert "pg_dumpall" in producers[0] and all("-Z0" in p for p in producers[1:])
    assert [c[c.index("--stdin-filename") + 1] for dummy, c in fake.pipes] == [
        "/aiplatform/pg/roles.sql", "/aiplatform/pg/n8n.dump", "/aiplatform/pg/dify.dump", "/aiplatform/pg/dify_plugin.dump"]
    files = fake.snapshots[-1]
    assert "part=files" in files["tags"] and f"run={taken['run']}" in files["tags"] and files["hostname"] == "app1"
    manifest = json.loads(taken["manifest_text"])
    assert manifest["engine"] == "restic" and manifest["format"] == restic.FORMAT
    by_path = {f["path"]: f for f in manifest["files"]}
    # the manifest names the database snapshots, so a restore reads exactly this run's
    assert by_path["/aiplatform/pg/n8n.dump"]["snapshot"] == fake.snapshots[1]["id"]
    assert by_path["/aiplatform/secrets"]["services"] == ["n8n"]  # only the stored secrets
    files_call = next(a for a, dummy in fake.calls if restic.FILES_TAG in a)
    mounts = [files_call[i + 1] for i, a in enumerate(files_call) if a == "-v"]
    assert "aiplatform_redis_data:/aiplatform/volumes/aiplatform_redis_data:ro" in mounts
    assert f"{tmp_path}/n8n.json:/aiplatform/secrets/n8n.json:ro" in mounts
    # the writers of the volumes are paused around the files snapshot, and resumed
    names = [" ".join(a[1:3]) for a, dummy in fake.calls]
    assert names.index("pause aiplatform-redis") < names.index("run --rm", names.index("pause aiplatform-redis"))
    assert "unpause aiplatform-redis" in names
    assert taken["forgotten"] == [] and fake.pruned == 0 and taken["size"] == 5000 and taken["added"] == 500
    assert not os.path.exists(files_call[files_call.index(IMAGE) - 1].split(":")[0])  # the manifest's scratch copy


def test_a_failed_pg_dump_leaves_no_snapshot_and_fails():
    fake = FakeRestic(fail="pg_dump -U aiplatform -Fc -Z0 -d n8n")
    with pytest.raises(backup.BackupError, match="pg_dump n8n"):
        archive(fake).take(wanted(), "/nonexistent", 0.0)
    assert any(a[-2:] == ["forget", "half"] for a, dummy in fake.calls)
    assert not any(restic.FILES_TAG in a for a, dummy in fake.calls)  # no manifest: the run is not complete


def test_a_restore_reads_every_part_back_before_it_changes_anything(tmp_path):
    fake = FakeRestic()
    taken = archive(fake).take(wanted(), str(tmp_path), 0.0)
    checked = archive(fake).check("app1", "latest")
    assert checked["snapshot"] == taken["snapshot"] and checked["run"] == taken["run"] and not checked["problems"]
    dumps = [a[a.index("dump") + 1:] for a, dummy in fake.calls if "dump" in a and IMAGE in a]
    assert ["--archive", "tar", taken["snapshot"], "/aiplatform"] in dumps
    assert len(dumps) == 1 + 4 + 1  # the manifest, four database parts, the files
    plan, reasons = judge(checked, "ignored: restic authenticates", CATALOG, ["postgres", "redis", "n8n"], False, False)
    assert not reasons and plan["snapshot"] == taken["snapshot"]

    damaged = FakeRestic(dump_fails="/aiplatform/pg/n8n.dump")
    damaged.snapshots, damaged.files = fake.snapshots, fake.files
    problems = archive(damaged).check("app1", taken["run"])["problems"]
    assert problems == [f"read back /aiplatform/pg/n8n.dump of {taken['run']}: Fatal: ciphertext verification failed"]


def test_no_backup_of_the_host_names_the_runs_there_are(tmp_path):
    fake = FakeRestic()
    taken = archive(fake).take(wanted(), str(tmp_path), 0.0)
    with pytest.raises(backup.BackupError, match=f"no backup 'nope' of host app1 .*{taken['run']}"):
        archive(fake).check("app1", "nope")
    with pytest.raises(backup.BackupError, match=r"no backup 'latest' of host app2 .*none"):
        archive(fake, host="app2").check("app2", "latest")
    assert archive(fake, host="app2").check("app1", taken["snapshot"][:8])["run"] == taken["run"]


def test_restore_parts_come_from_restic(tmp_path):
    fake = FakeRestic()
    arch = archive(fake)
    arch.feed(["docker", "exec", "-i", "aiplatform-postgres", "pg_restore"], "pg_restore n8n", "files1",
              {"path": "/aiplatform/pg/n8n.dump", "snapshot": "db1"})
    producer, consumer = fake.pipes[-1]
    assert producer[-3:] == ["dump", "db1", "/aiplatform/pg/n8n.dump"] and consumer[-1] == "pg_restore"
    assert arch.read_text("files1", {"path": "/aiplatform/pg/roles.sql", "snapshot": "db0"}) == "CREATE ROLE n8n;\n"
    arch.fill_volume("files1", {"volume": "aiplatform_n8n_data", "service": "n8n"}, "ignored")
    argv = fake.calls[-1][0]
    # the volume where its folder lands under /r: its root gets the backup's owner and mode too
    assert argv[-6:] == ["restore", "files1", "--include", "/aiplatform/volumes/aiplatform_n8n_data", "--target", "/r"]
    assert "aiplatform_n8n_data:/r/aiplatform/volumes/aiplatform_n8n_data" in argv and "CHOWN" in argv
    assert arch.read_secrets_of("files1", ["n8n"]) == {"n8n": {"key": "value-of-/aiplatform/secrets/n8n.json"}}


def test_last_json_and_pick_run():
    out = 'noise\n{"message_type":"status"}\n{"message_type":"summary","snapshot_id":"abc"}\n'
    assert restic.last_json(out, "summary")["snapshot_id"] == "abc" and restic.last_json("", "summary") == {}
    snaps = [{"id": "aaaaaaaa11", "time": "2026-12-01", "tags": ["run=r1"]},
             {"id": "bbbbbbbb22", "time": "2026-12-02", "tags": ["run=r2"]}]
    assert restic.pick_run(snaps, "latest")["id"] == "bbbbbbbb22"
    assert restic.pick_run(snaps, "r1")["id"] == "aaaaaaaa11" and restic.pick_run(snaps, "aaaaaaaa")["id"] == "aaaaaaaa11"
    assert restic.pick_run(snaps, "aaa") is None and restic.pick_run([], "latest") is None


def test_the_repository_credentials_travel_by_name_like_the_password():
    fake = FakeRestic()
    arch = restic.ResticArchive("s3:s3.example.test/bucket", PASSWORD, IMAGE, "app1", run=fake, pipe=fake.pipe,
                                repository_env={"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"})
    argv = arch.restic("snapshots")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-e"] == ["RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID",
                                                                      "AWS_SECRET_ACCESS_KEY"]
    assert "s3cr3t" not in " ".join(argv) and arch.env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t"
    for bad in ({"aws_key": "x"}, {"RESTIC_PASSWORD": "x"}, {"A=B": "x"}):
        with pytest.raises(backup.BackupError, match="aiplatform_backup_repository_env"):
            restic.ResticArchive(REPO, PASSWORD, IMAGE, "app1", run=fake, pipe=fake.pipe, repository_env=bad)


@pytest.mark.parametrize(("subset", "ok"), [("10%", True), ("2.5%", True), ("2/7", True), ("500M", True),
                                            ("1G", True), ("", False), ("ten", False), ("10 %", False), ("-1/7", False)])
def test_the_share_of_data_a_check_reads_back(subset, ok):
    assert (restic.subset_problem(subset) is None) == ok


def test_verify_reads_back_a_share_of_an_existing_repository(tmp_path):
    fake = FakeRestic()
    archive(fake).verify("10%")
    assert fake.calls[-1][0][-3:] == ["check", "--read-data-subset", "10%"]
    with pytest.raises(backup.BackupError, match="aiplatform_backup_verify"):
        archive(fake).verify("all")
    with pytest.raises(backup.BackupError, match="no restic repository"):
        archive(FakeRestic(), repository=str(tmp_path / "missing")).verify("10%")
    failing = FakeRestic(fail="--read-data-subset")
    with pytest.raises(backup.BackupError, match="restic repair"):
        archive(failing).verify("10%")


def test_the_last_backup_is_kept_for_status_and_warns_when_old(tmp_path):
    path = str(tmp_path / backup.RECORD)
    assert backup.record_finding(private_json.read(path), 26, now=1000.0) == {
        "kind": "backup", "level": "INFO", "message": "backup: none recorded on this host (playbooks/backup.yml)"}
    backup.write_record(path, name="20261207T100000Z-app1", time=0.0, where="/srv/restic", engine="restic",
                        size=2 << 20, added=3 << 10)
    backup.write_record(path, verified=3600.0, verified_subset="10%")  # merged: the backup's facts stay
    assert os.stat(path).st_mode & 0o777 == 0o600
    fresh = backup.record_finding(private_json.read(path), 26, now=5 * 3600.0)
    assert fresh["level"] == "INFO" and fresh["message"] == (
        "backup: last 20261207T100000Z-app1 5.0 h ago, into /srv/restic (2.0 MiB read, +3.0 KiB stored); its data "
        "last verified 4.0 h ago (10%)")
    old = backup.record_finding(private_json.read(path), 26, now=30 * 3600.0)
    assert old["level"] == "WARN" and "older than aiplatform_backup_max_age (26 h)" in old["message"]
    assert backup.record_finding(private_json.read(path), 0, now=900 * 3600.0)["level"] == "INFO"


def test_the_modules_default_image_is_the_one_the_role_pins():
    import yaml

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "roles", "aiplatform", "defaults", "main.yml")) as fh:
        assert yaml.safe_load(fh)["aiplatform_backup_restic_image"] == restic.DEFAULT_IMAGE


def test_retention_keeps_whole_runs_and_drops_every_part_of_the_others(tmp_path):
    fake = FakeRestic()
    first = archive(fake).take(wanted(), str(tmp_path), 0.0)
    # a failed run between: its database parts are left (no files snapshot names them)
    fake.fail = "pg_dump -U aiplatform -Fc -Z0 -d dify_plugin"
    with pytest.raises(backup.BackupError):
        archive(fake).take(wanted(), str(tmp_path), 3600.0)
    fake.fail = None
    third = archive(fake).take(wanted(), str(tmp_path), 7200.0, keep={"daily": 1})
    left = {restic.run_of(s) for s in fake.snapshots}
    assert left == {third["run"]}, left  # the first run's and the failed run's parts went with it
    assert first["snapshot"] in third["forgotten"] and fake.pruned == 1
    manifest = json.loads(third["manifest_text"])
    assert {f["snapshot"] for f in manifest["files"] if f.get("snapshot")} <= {s["id"] for s in fake.snapshots}


def test_a_files_snapshot_restic_could_not_complete_is_forgotten(tmp_path):
    fake = FakeRestic()
    fake.backup_rc = 3  # restic saved a snapshot without some files
    with pytest.raises(backup.BackupError, match="permission denied"):
        archive(fake)._files_snapshot("{}", [], "r1", [], pause=False)
    assert fake.forgotten == ["partial"]


def test_a_timeout_removes_the_restic_container(tmp_path):
    calls = []

    def run(argv, stdin_path=None, stdout_path=None, env=None, timeout=None):
        calls.append((argv, timeout))
        return (restic.TIMEOUT_RC, "", "did not finish") if "check" in argv else (0, "", "")

    arch = restic.ResticArchive(REPO, PASSWORD, IMAGE, "app1", run=run, pipe=None)
    with pytest.raises(backup.BackupError) as exc:
        arch.verify("10%")
    assert exc.value.category == "command_timeout"
    name = next(a for a, dummy in calls if "check" in a)
    assert calls[-1][0] == ["docker", "rm", "-f", name[name.index("--name") + 1]]
    assert all(t == backup.DATA_LIMIT for a, t in calls if IMAGE in a)


@pytest.mark.parametrize("value", ["rclone:remote:bucket", "rest:https://user:secret@backup:8000/app1/",
                                   "sftp:", "sftp:nas", "sftp://nas", "sftp:a b@nas:/p", "sftp:-v:/p",
                                   "sftp:-oProxyCommand=touch${IFS}x@nas:/p", "sftp://-oProxyCommand=x@nas//p"])
def test_unwired_schemes_malformed_sftp_and_passwords_in_the_url_are_refused(value):
    assert "aiplatform_backup_repository" in restic.repository_problem(value)


@pytest.mark.parametrize(("value", "target"), [
    ("sftp:backup@nas:/srv/restic", {"user": "backup", "host": "nas", "port": 22}),
    ("sftp:nas.lan:restic/app1", {"user": "", "host": "nas.lan", "port": 22}),
    ("sftp://backup@10.0.0.5:2222//srv/restic", {"user": "backup", "host": "10.0.0.5", "port": 2222}),
    ("sftp://nas/srv/restic", {"user": "", "host": "nas", "port": 22}),
])
def test_sftp_repositories_in_restics_two_forms(value, target):
    assert restic.repository_problem(value) is None and restic.sftp_target(value) == target


def test_sftp_runs_ssh_with_the_hosts_identity_and_only_its_known_hosts(tmp_path):
    identity, known = tmp_path / "id", tmp_path / "known_hosts"
    identity.write_text("key")
    known.write_text("nas ssh-ed25519 AAAA")
    fake = FakeRestic()
    arch = restic.ResticArchive("sftp://backup@nas:2222//srv/restic", PASSWORD, IMAGE, "app1", run=fake,
                                pipe=fake.pipe, ssh_identity=str(identity), ssh_known_hosts=str(known))
    argv = arch.restic("snapshots")
    assert f"{identity}:/aiplatform-ssh/identity:ro" in argv and f"{known}:/aiplatform-ssh/known_hosts:ro" in argv
    assert "--network" not in argv  # the server is reached over the network
    command = argv[argv.index("-o") + 1]
    assert command == ("sftp.command=ssh -F /dev/null -i /aiplatform-ssh/identity -o UserKnownHostsFile="
                       "/aiplatform-ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -p 2222 backup@nas "
                       "-s sftp")
    assert argv.index("-o") > argv.index(IMAGE)  # restic's option, after the image
    # not sftp: no ssh
    assert "-o" not in archive(fake).restic("snapshots")


def test_an_sftp_repository_without_its_key_files_is_refused_naming_the_variable(tmp_path):
    with pytest.raises(backup.BackupError, match="aiplatform_backup_ssh_identity: an sftp: repository needs"):
        restic.ResticArchive("sftp:nas:/srv/restic", PASSWORD, IMAGE, "app1", run=FakeRestic())
    with pytest.raises(backup.BackupError, match="aiplatform_backup_ssh_identity: /nonexistent/id is not a file"):
        restic.ResticArchive("sftp:nas:/srv/restic", PASSWORD, IMAGE, "app1", run=FakeRestic(),
                             ssh_identity="/nonexistent/id", ssh_known_hosts=str(tmp_path))
    (tmp_path / "id").write_text("key")
    with pytest.raises(backup.BackupError, match=r"aiplatform_backup_ssh_known_hosts: .* is not a file"):
        restic.ResticArchive("sftp:nas:/srv/restic", PASSWORD, IMAGE, "app1", run=FakeRestic(),
                             ssh_identity=str(tmp_path / "id"), ssh_known_hosts=str(tmp_path / "missing"))


def test_pipe_files_streams_and_reports_each_side(tmp_path):
    rc1, rc2, out, err = restic.pipe_files(["sh", "-c", "printf abc"], ["sh", "-c", "cat; echo done >&2"])
    assert (rc1, rc2, out) == (0, 0, "abc") and "done" in err
    rc1, rc2, out, err = restic.pipe_files(["sh", "-c", "echo broken >&2; exit 4"], ["cat"])
    assert (rc1, rc2) == (4, 0) and "broken" in err
    rc1, rc2, out, err = restic.pipe_files(["sh", "-c", "sleep 5"], ["cat"], timeout=0.5)
    assert rc2 == restic.TIMEOUT_RC and "did not finish" in err


def test_the_restore_plan_writes_only_the_secrets_of_the_services_placed_here():
    manifest = {"files": [{"path": "/aiplatform/secrets", "kind": "secrets", "services": ["n8n", "redis", "dify"]}]}
    plan = backup.restore_plan(manifest, CATALOG, ["postgres", "n8n"])
    assert plan["secrets"] and plan["secret_services"] == ["n8n"]


def test_pre_upgrade_runs_outlive_the_keep_rules_and_only_the_newest_are_kept(tmp_path):
    fake = FakeRestic()
    first = archive(fake).take(wanted(), str(tmp_path), 0.0, purpose="pre-upgrade")
    second = archive(fake).take(wanted(), str(tmp_path), 3600.0, purpose="pre-upgrade")
    assert restic.PRE_UPGRADE in next(s for s in fake.snapshots if s["id"] == first["snapshot"])["tags"]
    assert json.loads(first["manifest_text"])["purpose"] == "pre-upgrade"
    # a nightly backup after the upgrade: the daily rule would keep it alone; the pre-upgrade runs stay
    nightly = archive(fake).take(wanted(), str(tmp_path), 7200.0, keep={"daily": 1})
    assert {restic.run_of(s) for s in fake.snapshots} == {first["run"], second["run"], nightly["run"]}
    # the newest pre-upgrade run kept: the first goes, every part of it
    archive(fake).take(wanted(), str(tmp_path), 9000.0, keep={"daily": 1}, keep_upgrades=1)
    left = {restic.run_of(s) for s in fake.snapshots}
    assert first["run"] not in left and second["run"] in left, left


def test_a_pre_upgrade_run_is_not_counted_by_the_keep_rules_and_is_found_by_name(tmp_path):
    fake = FakeRestic()
    nightly = archive(fake).take(wanted(), str(tmp_path), 0.0)
    upgrade = archive(fake).take(wanted(), str(tmp_path), 3600.0, purpose="pre-upgrade")
    files = [s for s in fake.snapshots if restic.FILES_TAG in s["tags"]]
    assert [restic.run_of(s) for s in files] == [nightly["run"]]  # the rules choose among part=files only
    assert restic.pick_run(archive(fake).snapshots("app1"), "pre-upgrade")["id"] == upgrade["snapshot"]
    assert restic.pick_run(archive(fake).snapshots("app1"), "latest")["id"] == upgrade["snapshot"]


def test_database_parts_of_a_run_still_being_taken_are_left_alone(tmp_path):
    fake = FakeRestic()
    archive(fake).take(wanted(), str(tmp_path), 0.0)
    # another backup of this host has streamed its database parts and not yet written its files snapshot
    fake.snapshots.append({"id": "f" * 64, "time": "x", "tags": ["aiplatform", "run=20261208T030000Z-app1", "part=db"],
                           "hostname": "app1"})
    now = restic.run_started("20261208T030000Z-app1") + 60
    archive(fake).forget({"daily": 1}, "", None, now=now)
    assert "f" * 64 in {s["id"] for s in fake.snapshots}
    archive(fake).forget({"daily": 1}, "", None, now=now + restic.ORPHAN_GRACE)
    assert "f" * 64 not in {s["id"] for s in fake.snapshots}
