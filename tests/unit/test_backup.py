"""Backup and restore without Docker: a fake runner answers the docker calls and writes what they would write."""
import json
import os
import re

import pytest

from ansible_collections.aiplatform.stack.plugins.action.platform_restore import judge
from ansible_collections.aiplatform.stack.plugins.module_utils import backup, restic
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle

from .. import legacy_archive

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "a-backup-key-of-enough-length"

CATALOG = {
    "postgres": {"name": "postgres", "project": "aiplatform-postgres", "container": "aiplatform-postgres",
                 "images": {"postgres": "pgvector/pgvector:pg16"}, "admin": {"user": "aiplatform"}},
    "redis": {"name": "redis", "project": "aiplatform-redis", "container": "aiplatform-redis",
              "images": {"redis": "redis:7.4.1"},
              "backup": {"volumes": [{"name": "aiplatform_redis_data", "key": "redis_data", "image": "redis:7.4.1",
                                      "pause": ["aiplatform-redis"]}]}},
    "ollama": {"name": "ollama", "project": "aiplatform-ollama", "images": {"ollama": "ollama/ollama:0.5.1"},
               "backup": {"volumes": [{"name": "aiplatform_ollama_data", "key": "ollama_data", "optional": True}]}},
    "n8n": {"name": "n8n", "project": "aiplatform-n8n", "images": {"n8n": "n8nio/n8n:2.41.3"},
            "database": {"name": "n8n", "owner": "n8n"},
            "backup": {"volumes": [{"name": "aiplatform_n8n_data", "key": "n8n_data", "image": "n8nio/n8n:2.41.3"}]}},
    "dify": {"name": "dify", "project": "aiplatform-dify", "images": {"api": "langgenius/dify-api:1.10.1"},
             "database": [{"name": "dify", "extensions": ["vector"]}, {"name": "dify_plugin", "owner": "dify"}]},
}
ENABLED = ["postgres", "redis", "ollama", "n8n", "dify"]


class FakeDocker:
    """Answers docker calls; a tar or a dump writes bytes to stdout_path; records every call."""

    def __init__(self, running=("aiplatform-redis",), volumes=("aiplatform_redis_data", "aiplatform_n8n_data"),
                 databases=("postgres",), fail=None):
        self.calls = []
        self.running = list(running)
        self.volumes = set(volumes)
        self.databases = list(databases)
        self.fail = fail
        self.stdin = []

    def __call__(self, argv, stdin_path=None, stdout_path=None):
        self.calls.append(argv)
        if stdin_path:
            self.stdin.append(open(stdin_path, "rb").read())
        line = " ".join(argv)
        if self.fail and self.fail in line:
            return 1, "", f"{self.fail}: failed"
        if stdout_path:
            with open(stdout_path, "wb") as fh:
                fh.write(f"data of {argv[-1] if 'pg_dump' in line else line}".encode())
        if argv[1] == "ps":
            return 0, "\n".join(self.running) + "\n", ""
        if argv[1:3] == ["volume", "inspect"]:
            return (0, "[]", "") if argv[3] in self.volumes else (1, "", "no such volume")
        if argv[1:3] == ["volume", "ls"]:
            return 0, "\n".join(sorted(self.volumes)), ""
        if "SHOW server_version" in argv:
            return 0, "16.4\n", ""
        if "SELECT datname FROM pg_database" in argv:
            return 0, "\n".join(self.databases) + "\n", ""
        return 0, "", ""


def wanted(**kw):
    out = backup.plan(CATALOG, ["postgres", "redis", "n8n", "ollama"], ENABLED, **kw)
    out["secrets"] = out["services"]
    return out


# -- plan ------------------------------------------------------------------------------------------------------------
def test_plan_takes_databases_on_the_postgres_host_and_the_volumes_of_the_services_here():
    got = wanted()
    assert [d["name"] for d in got["databases"]] == ["n8n", "dify", "dify_plugin"]  # dify runs elsewhere: its data too
    assert got["databases"][1]["extensions"] == ["vector"] and got["databases"][2]["owner"] == "dify"
    assert [v["name"] for v in got["volumes"]] == ["aiplatform_redis_data", "aiplatform_n8n_data"]  # models: optional
    assert got["volumes"][0]["pause"] == ["aiplatform-redis"]
    assert got["postgres"] == {"container": "aiplatform-postgres", "admin_user": "aiplatform",
                               "image": "pgvector/pgvector:pg16"}
    assert set(got["images"]) == {"postgres", "redis", "n8n", "ollama", "dify"}


def test_plan_of_chosen_services_and_models_on_request():
    got = backup.plan(CATALOG, ["postgres", "redis", "n8n", "ollama"], ENABLED, ["n8n", "ollama"], True)
    assert got["services"] == ["n8n", "ollama"]
    assert [d["name"] for d in got["databases"]] == ["n8n"]
    assert [v["name"] for v in got["volumes"]] == ["aiplatform_n8n_data", "aiplatform_ollama_data"]
    assert got["volumes"][1]["image"] == "ollama/ollama:0.5.1"  # its own image when the description names none


def test_plan_on_a_host_without_postgres_takes_no_database():
    got = backup.plan(CATALOG, ["n8n"], ENABLED)
    assert got["databases"] == [] and got["postgres"] is None


def test_plan_refuses_a_service_that_is_not_enabled():
    with pytest.raises(backup.BackupError, match="flowise not enabled"):
        backup.plan(CATALOG, ["n8n"], ENABLED, ["flowise"])


# -- an archive directory of 0.2: read once, never written ----------------------------------------------------------
def take(tmp_path, when=1_800_000_000.0):
    """An archive as 0.2 wrote it of wanted(): every database, the volumes here, the secrets; sealed with KEY."""
    got = wanted()
    files = [{"path": "pg/roles.sql", "kind": "roles", "service": "postgres", "server_version": "16.4",
              "data": b"CREATE ROLE n8n;"}]
    files += [{"path": f"pg/{db['name']}.dump", "kind": "database", "service": db["service"], "database": db["name"],
               "owner": db["owner"], "extensions": db["extensions"], "data": f"data of {db['name']}".encode()}
              for db in got["databases"]]
    files += [{"path": f"volumes/{v['name']}.tar.gz", "kind": "volume", "service": v["service"], "volume": v["name"],
               "key": v["key"], "project": v["project"], "image": v["image"], "data": b"tar"} for v in got["volumes"]]
    final, manifest = legacy_archive.write(str(tmp_path), "app1", when, files, KEY,
                                           secrets={"n8n": {"encryption_key": "k" * 48}}, services=got["services"],
                                           images=got["images"], postgres=got["postgres"])
    return final, manifest


def test_the_legacy_layout_checks_clean_and_its_secrets_open_only_with_its_key(tmp_path):
    final, manifest = take(tmp_path)
    assert os.path.basename(final) == "20270115T080000Z-app1"
    assert backup.check(final)["problems"] == []
    blob = open(os.path.join(final, "secrets.enc")).read()
    assert blob.startswith("$ANSIBLE_VAULT;1.2;AES256;aiplatform_backup") and "k" * 48 not in blob
    assert secrets_bundle.decrypt(blob, KEY) == {"n8n": {"encryption_key": "k" * 48}}
    with pytest.raises(secrets_bundle.BundleError, match="cannot be decrypted"):
        secrets_bundle.decrypt(blob, "another-key-of-enough-length")
    with pytest.raises(secrets_bundle.BundleError, match="at least 16"):
        secrets_bundle.decrypt(blob, "short")


def test_a_directory_without_a_manifest_is_not_an_archive(tmp_path):
    with pytest.raises(backup.BackupError, match=r"no manifest\.json; not a complete archive directory"):
        backup.check(str(tmp_path))


def test_the_restore_fills_a_volume_from_its_tar_with_the_pinned_image_no_network_and_few_capabilities(tmp_path):
    final, manifest = take(tmp_path)
    docker = FakeDocker(volumes=())
    item = next(f for f in manifest["files"] if f.get("volume") == "aiplatform_n8n_data")
    backup.Archive(run=docker).restore_volume(final, item, "n8nio/n8n:2.41.3")
    untar = next(c for c in docker.calls if "tar" in c)
    assert untar[untar.index("--pull") + 1] == "never" and untar[untar.index("--network") + 1] == "none"
    assert "aiplatform_n8n_data:/v" in untar and untar[-4:] == ["-xzpf", "-", "-C", "/v"]
    # hardened like the platform's containers: every capability dropped but what restoring owners and modes needs
    assert untar[untar.index("--cap-drop") + 1] == "ALL" and "no-new-privileges" in untar
    assert [untar[i + 1] for i, a in enumerate(untar) if a == "--cap-add"] == ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"]
    assert docker.stdin == [b"tar"]


def checked(final, running=(), volumes=()):
    return dict(backup.check(final), running=list(running), volumes=list(volumes))


def test_a_sealed_archive_passes_the_restore_check(tmp_path):
    final, dummy = take(tmp_path)
    got, reasons = judge(checked(final), KEY, CATALOG, ["postgres", "redis", "n8n"], False, False)
    assert reasons == []
    assert [i["path"] for i in got["databases"]] == ["pg/roles.sql", "pg/n8n.dump", "pg/dify.dump", "pg/dify_plugin.dump"]
    assert [i["volume"] for i in got["volumes"]] == ["aiplatform_redis_data", "aiplatform_n8n_data"]
    assert got["images"] == {"aiplatform_redis_data": "redis:7.4.1", "aiplatform_n8n_data": "n8nio/n8n:2.41.3"}
    assert got["secrets"] and got["old_admin"] == "aiplatform"


def test_another_layout_restores_here_only_what_runs_here(tmp_path):
    final, dummy = take(tmp_path)
    got, reasons = judge(checked(final), KEY, CATALOG, ["n8n"], False, False)
    assert reasons == [] and got["databases"] == []
    assert [i["volume"] for i in got["volumes"]] == ["aiplatform_n8n_data"]
    assert any("postgres is not placed" in s for s in got["skipped"])


def test_a_changed_file_is_refused_before_anything_changes(tmp_path):
    final, dummy = take(tmp_path)
    with open(os.path.join(final, "pg", "n8n.dump"), "ab") as fh:
        fh.write(b"x")
    dummy_plan, reasons = judge(checked(final), KEY, CATALOG, ["postgres", "redis", "n8n"], False, False)
    assert reasons == ["pg/n8n.dump: 12 bytes, the manifest says 11"]
    with open(os.path.join(final, "pg", "n8n.dump"), "wb") as fh:
        fh.write(b"data of n8X")  # same size, other bytes
    assert judge(checked(final), KEY, CATALOG, ["n8n"], False, False)[1] == [
        "pg/n8n.dump: sha256 differs from the manifest (changed or damaged)"]


def test_a_changed_manifest_or_another_key_is_refused(tmp_path):
    final, dummy = take(tmp_path)
    assert "seal does not match" in judge(checked(final), "another-key-of-enough-length", CATALOG, ["n8n"], False,
                                          False)[1][0]
    path = os.path.join(final, "manifest.json")
    text = open(path).read().replace('"n8nio/n8n:2.41.3"', '"n8nio/n8n:2.41.4"', 1)
    open(path, "w").write(text)
    assert "seal does not match" in judge(checked(final), KEY, CATALOG, ["n8n"], False, False)[1][0]


def test_a_path_outside_the_archive_is_refused(tmp_path):
    manifest = {"format": 1, "files": [{"path": "../../etc/passwd", "size": 1, "sha256": "x"}]}
    assert backup.file_problems(str(tmp_path), manifest) == ["'../../etc/passwd': not a path inside the archive"]


def test_a_running_platform_or_existing_volumes_are_not_overwritten_unless_forced(tmp_path):
    final, dummy = take(tmp_path)
    here = ["postgres", "redis", "n8n"]
    reasons = judge(checked(final, ["aiplatform-n8n"], ["aiplatform_n8n_data"]), KEY, CATALOG, here, False, False)[1]
    assert "the platform runs on this host (aiplatform-n8n)" in reasons[0]
    assert "volume(s) aiplatform_n8n_data exist" in reasons[1]
    assert judge(checked(final, ["aiplatform-n8n"], ["aiplatform_n8n_data"]), KEY, CATALOG, here, True, False)[1] == []


# -- versions ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("taken, pinned, refused", [
    ("n8nio/n8n:2.41.3", "n8nio/n8n:2.41.3", None),
    ("n8nio/n8n:2.40.0", "n8nio/n8n:2.41.3", None),  # older data: n8n migrates it forward
    ("n8nio/n8n:2.42.0", "n8nio/n8n:2.41.3", "newer than the pinned n8nio/n8n:2.41.3"),
    ("n8nio/n8n:2.41.3", "mirror.local:5000/n8nio/n8n:2.41.3", None),  # a mirror: same tag
    ("aiplatform-lab/n8n:current", "aiplatform-lab/n8n:current", None),
    ("aiplatform-lab/n8n:current", "n8nio/n8n:2.41.3", "cannot be compared"),
    ("pgvector/pgvector:pg15", "pgvector/pgvector:pg16", None),
    ("pgvector/pgvector:pg17", "pgvector/pgvector:pg16", "newer than the pinned"),
])
def test_data_of_a_newer_release_is_refused(taken, pinned, refused):
    problems = backup.version_problems({"n8n": {"n8n": taken}}, {"n8n": {"n8n": pinned}})
    if refused:
        assert len(problems) == 1 and refused in problems[0] and problems[0].startswith("n8n: ")
    else:
        assert problems == []


def test_incomparable_tags_pass_when_allowed():
    assert backup.version_problems({"a": {"a": "x/a:current"}}, {"a": {"a": "x/a:1.0"}}, allow_unknown=True) == []


# -- secrets ---------------------------------------------------------------------------------------------------------
def test_secrets_come_back_0600_and_differing_ones_are_not_replaced_unless_forced(tmp_path):
    store = str(tmp_path / "secrets")
    assert backup.write_secrets(store, {"n8n": {"encryption_key": "old-key"}}) == ["n8n"]
    path = os.path.join(store, "n8n.json")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with pytest.raises(backup.BackupError, match=r"n8n \(encryption_key\)"):
        backup.write_secrets(store, {"n8n": {"encryption_key": "other"}})
    backup.write_secrets(store, {"n8n": {"encryption_key": "other", "db_password": "p"}}, force=True)
    assert json.load(open(path)) == {"db_password": "p", "encryption_key": "other"}


# -- restore ---------------------------------------------------------------------------------------------------------
def test_roles_are_reapplied_safely_without_the_servers_own_admin():
    sql = ('CREATE ROLE aiplatform;\nALTER ROLE aiplatform WITH SUPERUSER LOGIN;\nCREATE ROLE n8n;\n'
           'ALTER ROLE n8n WITH NOSUPERUSER LOGIN;\n')
    out = backup.idempotent_roles(sql, ("aiplatform",))
    assert "aiplatform" not in out
    assert "DO $$BEGIN CREATE ROLE n8n; EXCEPTION WHEN duplicate_object THEN NULL; END$$;" in out
    assert "ALTER ROLE n8n WITH NOSUPERUSER LOGIN;" in out


def test_a_restore_makes_the_volume_for_compose_and_the_databases_for_their_owners(tmp_path):
    final, dummy = take(tmp_path)
    got = judge(checked(final), KEY, CATALOG, ["postgres", "redis", "n8n"], False, False)[0]
    docker = FakeDocker(volumes=())
    archive = backup.Archive(run=docker)
    item = got["volumes"][1]
    assert archive.restore_volume(final, item, got["images"][item["volume"]]) == "aiplatform_n8n_data"
    assert ["docker", "volume", "create", "--label", "com.docker.compose.project=aiplatform-n8n", "--label",
            "com.docker.compose.volume=n8n_data", "aiplatform_n8n_data"] in docker.calls
    assert docker.calls[-1][-4:] == ["-xzpf", "-", "-C", "/v"] and "aiplatform_n8n_data:/v" in docker.calls[-1]
    done = archive.restore_databases(final, {"container": "aiplatform-postgres", "admin_user": "aiplatform"},
                                     got["databases"], ("aiplatform",))
    assert done == ["roles", "n8n", "dify", "dify_plugin"]
    sql = [s.decode() for s in docker.stdin]
    assert 'CREATE DATABASE "dify_plugin" OWNER "dify";\n' in sql
    assert any("pg_restore" in c and "--single-transaction" in c for c in docker.calls)


def test_existing_volumes_and_databases_are_refused_unless_forced(tmp_path):
    final, dummy = take(tmp_path)
    got = judge(checked(final), KEY, CATALOG, ["postgres", "redis", "n8n"], False, False)[0]
    archive = backup.Archive(run=FakeDocker(databases=("postgres", "n8n")))
    with pytest.raises(backup.BackupError, match="volume aiplatform_n8n_data exists"):
        archive.restore_volume(final, got["volumes"][1], "n8nio/n8n:2.41.3")
    with pytest.raises(backup.BackupError, match=r"database\(s\) n8n exist"):
        archive.restore_databases(final, {"container": "c", "admin_user": "a"}, got["databases"], ())
    docker = FakeDocker(databases=("postgres", "n8n"))
    backup.Archive(run=docker).restore_databases(final, {"container": "c", "admin_user": "a"}, got["databases"], (),
                                                 force=True)
    assert 'DROP DATABASE "n8n" WITH (FORCE);\n' in [s.decode() for s in docker.stdin]


def test_a_forced_restore_without_the_image_that_fills_the_volume_keeps_the_old_volume(tmp_path):
    final, dummy = take(tmp_path)
    item = next(f for f in json.load(open(os.path.join(final, "manifest.json")))["files"]
                if f.get("volume") == "aiplatform_n8n_data")
    docker = FakeDocker(fail="image inspect n8nio/n8n:2.41.3")
    with pytest.raises(backup.BackupError, match=r"image n8nio/n8n:2\.41\.3 is not on this host"):
        backup.Archive(run=docker).restore_volume(final, item, "n8nio/n8n:2.41.3", force=True, pull=False)
    assert not any(c[1:3] == ["volume", "rm"] for c in docker.calls)  # the data it had is still there
    # restic fills the volume with its own image: that one is checked, not the service's
    rest = restic.ResticArchive("/srv/restic", KEY, "restic/restic:0.19.1", "app1",
                                run=FakeDocker(fail="image inspect restic/restic:0.19.1"))
    with pytest.raises(backup.BackupError, match=r"image restic/restic:0\.19\.1 is not on this host"):
        rest.restore_volume("files1", item, "n8nio/n8n:2.41.3", force=True, pull=False)
    assert not any(c[1:3] == ["volume", "rm"] for c in rest.run.calls)


# -- the descriptions ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["n8n", "flowise", "anythingllm", "openwebui", "ollama", "redis", "dify"])
def test_each_role_backs_up_the_volumes_its_compose_file_names(role):
    template = open(os.path.join(ROOT, "roles", role, "templates", "compose.yml.j2")).read()
    volumes = template.split("\nvolumes:\n", 1)[1].split("\nnetworks:", 1)[0]
    declared = set(re.findall(r"^    name: (aiplatform_[a-z0-9_]+)$", volumes, re.MULTILINE))
    role_vars = open(os.path.join(ROOT, "roles", role, "vars", "main.yml")).read()
    described = set(re.findall(r"aiplatform_[a-z0-9]+_[a-z_]+", role_vars))
    assert declared and declared <= described
