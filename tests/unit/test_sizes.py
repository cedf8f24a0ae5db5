"""Sizes in status: disks with their trend and a warning threshold, the platform's volumes, the databases."""
import os
import stat

from ansible_collections.aiplatform.stack.plugins.action import platform_status
from ansible_collections.aiplatform.stack.plugins.module_utils import private_json, sizes

from .action_harness import events_of, run_action

GIB = 1024 ** 3


def test_human_sizes_are_binary_with_one_decimal():
    assert [sizes.human(n) for n in (0, 1023, 1536, 5 * 1024 ** 2, 3 * GIB + GIB // 2)] == [
        "0 B", "1023 B", "1.5 KiB", "5.0 MiB", "3.5 GiB"]


def test_a_disk_is_read_once_per_filesystem_and_a_missing_path_by_its_parent(tmp_path):
    inner = tmp_path / "a"
    inner.mkdir()
    (one,) = sizes.disks([str(tmp_path), str(inner), str(tmp_path / "not" / "yet")])
    assert one["path"] == str(tmp_path) and 0 < one["free"] <= one["total"] and 0 <= one["used_percent"] <= 100


def test_a_tree_counts_what_it_takes_on_disk_each_inode_once_links_not_followed(tmp_path):
    data = tmp_path / "v"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "blob").write_bytes(os.urandom(200_000))
    os.link(data / "sub" / "blob", data / "hardlink")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(os.urandom(500_000))
    os.symlink(outside, data / "elsewhere")
    took = sizes.tree_bytes(str(data))
    assert 200_000 <= took < 400_000  # the blob once, not its hard link twice, nothing through the symlink
    assert sizes.tree_bytes(str(tmp_path / "gone")) == 0


def test_only_the_platforms_volumes_are_listed_with_their_service():
    listing = ("aiplatform_n8n_data\taiplatform-n8n\t/var/lib/docker/volumes/aiplatform_n8n_data/_data\n"
               "other_data\tsomeproject\t/var/lib/docker/volumes/other_data/_data\n"
               "anonymous\t\t/var/lib/docker/volumes/anonymous/_data\n")
    assert sizes.platform_volumes(listing) == [{"name": "aiplatform_n8n_data", "service": "n8n",
                                                "mountpoint": "/var/lib/docker/volumes/aiplatform_n8n_data/_data"}]


def test_database_sizes_from_psql():
    assert sizes.database_sizes("n8n\t9867779\nplatform\t7631407\nbroken line\n") == {"n8n": 9867779,
                                                                                      "platform": 7631407}


def reading(free, used_percent, when):
    return {"time": when, "disks": [{"path": "/opt/aiplatform", "total": 100 * GIB, "free": free,
                                     "used_percent": used_percent}]}


def test_a_disk_past_the_threshold_warns_with_the_fix_and_the_trend_since_the_last_reading():
    before, now = reading(20 * GIB, 80.0, 1000.0), reading(10 * GIB, 90.0, 1000.0 + 7200)
    (finding,) = sizes.findings(now, before, 85, now=now["time"])
    assert finding["level"] == "WARN"
    assert "90% used, 10.0 GiB free of 100.0 GiB (-10.0 GiB free since 2.0 h ago)" in finding["message"]
    assert "aiplatform_disk_warn_percent (85)" in finding["message"] and "prune" in finding["message"]
    (first,) = sizes.findings(reading(20 * GIB, 80.0, 5.0), {}, 85, now=5.0)
    assert first["level"] == "INFO" and "since" not in first["message"]


def test_the_reading_is_kept_private_and_read_back(tmp_path):
    path = str(tmp_path / ".aiplatform-sizes.json")
    private_json.write(path, reading(1, 2.0, 3.0))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert private_json.read(path) == reading(1, 2.0, 3.0)
    (tmp_path / "bad.json").write_text("{not json")
    assert private_json.read(str(tmp_path / "bad.json")) == {} and private_json.read(str(tmp_path / "no")) == {}


PROBE, SIZES = "aiplatform.stack.service_probe", "aiplatform.stack.platform_sizes"
RUNNING = {"verdict": "ready", "detail": "ok", "containers": [{"name": "c", "status": "running", "restart_count": 0}]}
N8N = {"name": "n8n", "project": "aiplatform-n8n", "probe": {"type": "http", "port": 5678}, "database": {"name": "n8n"}}
DIFY = {"name": "dify", "project": "aiplatform-dify", "probe": {"type": "http", "port": 80},
        "database": [{"name": "dify"}, {"name": "dify_plugin"}]}
OWUI = {"name": "openwebui", "project": "aiplatform-openwebui", "probe": {"type": "http", "port": 8080}, "database": None}
PG = {"name": "postgres", "project": "aiplatform-postgres", "container": "aiplatform-postgres",
      "probe": {"type": "tcp", "port": 5432}}
MEASURED = {"disks": [], "volumes": [{"name": "aiplatform_n8n_data", "service": "n8n", "mountpoint": "/v", "bytes": 3 * 1024 ** 2}],
            "databases": {"n8n": 9 * 1024 ** 2, "platform": 7 * 1024 ** 2, "dify": 1024 ** 2, "dify_plugin": 2 * 1024 ** 2},
            "findings": [{"path": "/srv/aiplatform", "level": "WARN", "message": "disk of /srv/aiplatform: 91% used"},
                         {"path": "/var/lib/docker", "level": "INFO", "message": "disk of /var/lib/docker: 40% used"}]}


def status(measured, **args):
    def answer(name, module_args):
        return {"services": {n: RUNNING for n in ("n8n", "postgres", "dify", "openwebui")}} if name == PROBE else measured
    return run_action(platform_status, {"services": [PG, N8N, DIFY, OWUI], "projects_dir": "/srv/aiplatform", **args}, answer,
                      {"inventory_hostname": "node1", "hostvars": {}})


def test_status_shows_each_services_volumes_and_databases_and_warns_of_a_full_disk():
    result, host = status(MEASURED, sizes=True, disk_warn_percent="90")
    (asked,) = host.sent(SIZES)
    assert asked == {"paths": ["/srv/aiplatform"], "warn_percent": 90.0,
                     "state_file": "/srv/aiplatform/.aiplatform-sizes.json", "postgres": "aiplatform-postgres",
                     "backup_record": "/srv/aiplatform/.aiplatform-backup.json", "backup_max_age": 26.0}
    rows = {r["service"]: r for r in result["rows"]}
    assert rows["n8n"]["details"] == ["volume aiplatform_n8n_data: 3.0 MiB", "database n8n: 9.0 MiB"]
    assert rows["dify"]["details"] == ["database dify: 1.0 MiB", "database dify_plugin: 2.0 MiB"]
    assert rows["openwebui"]["details"] == []
    assert rows["postgres"]["details"] == ["database dify: 1.0 MiB", "database dify_plugin: 2.0 MiB",
                                           "database n8n: 9.0 MiB", "database platform: 7.0 MiB"]
    assert result["table"].splitlines()[-2:] == ["node1: disk of /srv/aiplatform: 91% used",
                                                 "node1: disk of /var/lib/docker: 40% used"]
    (warn,) = events_of(result, "SERVICE_STATUS", "host")  # a disk with room is no event
    assert warn["level"] == "WARN" and warn["state"] == "disk" and warn["disk"] == "/srv/aiplatform"
    assert result["sizes"]["databases"] == MEASURED["databases"]


def test_a_threshold_that_is_not_a_percentage_fails_naming_the_variable_before_anything_is_probed():
    for bad in ("lots", 0, 150):
        result, host = status(MEASURED, sizes=True, disk_warn_percent=bad)
        assert result["failed"] and "aiplatform_disk_warn_percent" in result["msg"] and "1 to 100" in result["msg"]
        assert host.calls == []


def test_an_old_backup_is_a_line_of_the_table_and_a_warning_of_the_host():
    stale = {"kind": "backup", "level": "WARN", "message": "backup: last r1 30.0 h ago, into /srv/restic; older than "
             "aiplatform_backup_max_age (26 h): run playbooks/backup.yml, or find why the scheduled run fails"}
    measured = dict(MEASURED, findings=[dict(f, level="INFO") for f in MEASURED["findings"]] + [stale])
    result, host = status(measured, sizes=True, backup_max_age="26")
    assert result["table"].splitlines()[-1] == f"node1: {stale['message']}"
    (warn,) = events_of(result, "SERVICE_STATUS", "host")
    assert warn["state"] == "backup" and "disk" not in warn and warn["message"] == stale["message"]
    for bad in ("daily", -1):
        result, host = status(MEASURED, sizes=True, backup_max_age=bad)
        assert result["failed"] and "aiplatform_backup_max_age" in result["msg"] and host.calls == []
