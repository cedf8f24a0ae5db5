"""The applications' migration records (module_utils/migrations.py): the query per kind, the reading, and what an
upgrade did - how many ran, from which to which, unfinished ones, and a rollback onto migrated data."""
import pytest

from ansible_collections.aiplatform.stack.plugins.action import service_migrations
from ansible_collections.aiplatform.stack.plugins.module_utils import migrations
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat

from .action_harness import run_action, types_of

TYPEORM, ALEMBIC, PRISMA = {"kind": "typeorm"}, {"kind": "alembic"}, {"kind": "prisma"}


def test_each_kind_reads_its_own_table_and_nothing_when_it_does_not_exist_yet():
    sql = migrations.query(TYPEORM)
    assert "to_regclass('public.\"migrations\"')" in sql and 'SELECT name FROM "migrations" ORDER BY id;' in sql
    assert "\\if :present" in sql and sql.rstrip().endswith("\\endif")
    assert 'FROM "alembic_version"' in migrations.query(ALEMBIC)
    assert "finished_at IS NOT NULL" in migrations.query(PRISMA) and "rolled_back_at" in migrations.query(PRISMA)
    with pytest.raises(ValueError, match="plain table name"):
        migrations.query({"kind": "typeorm", "table": 'x"; DROP TABLE users; --'})


def test_prisma_rows_not_finished_or_rolled_back_are_named():
    out = "0_init|true|false\n20250101_add|false|false\n20250102_fix|true|true\n"
    record = migrations.summarize(PRISMA, out)
    assert record["names"] == ["0_init", "20250101_add", "20250102_fix"]
    assert record["unfinished"] == ["20250101_add", "20250102_fix"]
    sound, what, ran = migrations.compare(PRISMA, {"names": ["0_init"]}, record)
    assert not sound and "20250101_add, 20250102_fix did not finish" in what


def test_typeorm_says_how_many_ran_and_from_which_to_which():
    before = migrations.summarize(TYPEORM, "InitialMigration1588102412422\nAddUserSettings1620000000000\n")
    after = migrations.summarize(TYPEORM, "InitialMigration1588102412422\nAddUserSettings1620000000000\n"
                                          "AddMfa1690000000030\nAddRoles1700000000000\n")
    assert migrations.compare(TYPEORM, before, after) == (
        True, "2 migration(s) ran, from AddUserSettings1620000000000 to AddRoles1700000000000",
        ["AddMfa1690000000030", "AddRoles1700000000000"])
    unchanged = (True, "no migration ran (4 recorded, the last AddRoles1700000000000)")
    assert migrations.compare(TYPEORM, after, after)[:2] == unchanged
    sound, what, dummy = migrations.compare(TYPEORM, after, before)  # records lost: restored or changed meanwhile
    assert not sound and "no longer begin with the 4" in what


def test_alembic_compares_the_revision():
    assert migrations.compare(ALEMBIC, {"names": ["ca81bd47c050"], "last": "ca81bd47c050"},
                              {"names": ["d31026856c01"], "last": "d31026856c01"})[:2] == (
        True, "migrated from revision ca81bd47c050 to d31026856c01")
    assert migrations.summarize(ALEMBIC, "")["names"] == []  # a first start: no table yet


def test_a_rollback_after_the_records_moved_on_is_a_failure_that_names_the_snapshot():
    services = {"n8n": dict(TYPEORM, database="n8n"), "flowise": dict(TYPEORM, database="flowise")}
    before = {"n8n": {"names": ["A"], "last": "A", "unfinished": []}, "flowise": {"names": ["F"], "last": "F",
                                                                                  "unfinished": []}}
    after = {"n8n": {"names": ["A", "B"], "last": "B", "unfinished": []}, "flowise": before["flowise"]}
    out = migrations.report(services, after, before, ["n8n", "flowise"], "20261208T031500Z-app1")
    by_service = {e["service"]: e for e in out["events"]}
    assert by_service["n8n"]["type"] == "MIGRATION_FAIL" and by_service["n8n"]["category"] == "migration"
    assert "upgrade.yml now puts back its data of the snapshot taken before the upgrade (20261208T031500Z-app1" in by_service["n8n"]["message"]
    assert "the new release failed" in by_service["n8n"]["message"] and out["migrated"]["n8n"] == ["B"]
    assert by_service["n8n"]["rolled_back_onto_migrated"] and not by_service["flowise"].get("rolled_back_onto_migrated")
    # flowise was rolled back too, but nothing migrated: its old image on its unchanged data is sound
    assert by_service["flowise"]["type"] == "MIGRATION_OK"
    assert out["unmigrated"] == ["flowise"]  # rolled back before it migrated: its record goes back
    start = migrations.report(services, before, None, [], "")["events"]
    assert types_of({"events": start}) == ["MIGRATION_START", "MIGRATION_START"]
    assert start[0]["message"] == "before the upgrade: 1 recorded, the last F"


def test_only_services_that_declare_records_and_a_database_are_read():
    catalog = {"n8n": {"migrations": TYPEORM, "database": {"name": "n8n"}},
               "dify": {"migrations": dict(ALEMBIC, database="dify"), "database": [{"name": "dify"}, {"name": "plugin"}]},
               "litellm": {"migrations": {}, "database": None}, "redis": {}}
    assert migrations.specs(catalog, ["n8n", "dify", "litellm", "redis"]) == {
        "n8n": {"kind": "typeorm", "database": "n8n"}, "dify": {"kind": "alembic", "database": "dify"}}


def test_the_plan_refuses_a_declaration_the_upgrade_cannot_read():
    assert cat.migrations_problems("wiki", {"migrations": {"kind": "flyway"}, "database": {"name": "wiki"}})[0].startswith(
        "wiki.migrations.kind: one of alembic, prisma, typeorm")
    assert "several" in cat.migrations_problems("dify", {"migrations": ALEMBIC, "database": [{"name": "a"}]})[0]
    assert cat.migrations_problems("n8n", {"migrations": TYPEORM, "database": {"name": "n8n"}}) == []


def test_the_action_reads_on_the_postgres_host_as_its_administrator_and_sends_the_events():
    catalog = {"postgres": {"container": "aiplatform-postgres", "admin": {"user": "platform"}},
               "n8n": {"migrations": TYPEORM, "database": {"name": "n8n"}}}
    answer = {"records": {"n8n": {"names": ["A"], "last": "A", "unfinished": []}},
              "events": [{"type": "MIGRATION_START", "service": "n8n", "message": "before the upgrade: 1 recorded, "
                          "the last A", "level": "INFO"}]}
    result, host = run_action(service_migrations, {"catalog": catalog, "services": ["n8n", "redis"]},
                              lambda name, args: dict(answer))
    (sent,) = host.sent("aiplatform.stack.service_migrations")
    assert sent["container"] == "aiplatform-postgres" and sent["admin_user"] == "platform"
    assert sent["services"] == {"n8n": {"kind": "typeorm", "database": "n8n"}}
    assert types_of(result) == ["MIGRATION_START"] and result["events"][0]["host"] == "localhost"
    nothing, host = run_action(service_migrations, {"catalog": catalog, "services": ["redis"]}, lambda n, a: {})
    assert host.calls == [] and nothing["records"] == {}


def test_a_prisma_migration_resolved_and_applied_again_is_not_unfinished():
    out = "0_init|true|false\n20250101_add|true|true\n20250101_add|true|false\n"
    assert migrations.summarize(PRISMA, out)["unfinished"] == []
