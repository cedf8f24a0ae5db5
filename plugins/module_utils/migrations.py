# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The applications' own records of the migrations they ran, read in their databases before and after an upgrade.

A release migrates its database when it starts, and says so only in its own table:
- TypeORM (n8n, Flowise): `migrations`, a row per migration run (id, timestamp, name);
- alembic (Open WebUI, Dify): `alembic_version`, the revision the schema is at;
- prisma (LiteLLM): `_prisma_migrations`, a row per migration with `finished_at` and `rolled_back_at`.
Read through psql in the PostgreSQL container as its administrator (the server's own socket: no password travels), so
what an upgrade did is known, not guessed: how many ran, from which to which, and whether one was left unfinished.
"""
from __future__ import annotations

import re

from . import errors as err
from . import events as ev
from .pg import ident

KINDS = {"typeorm": "migrations", "alembic": "alembic_version", "prisma": "_prisma_migrations"}
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*$")


def table_of(spec: dict) -> str:
    return spec.get("table") or KINDS[spec["kind"]]


def query(spec: dict) -> str:
    """psql input that prints one line per record, nothing when the table does not exist yet (a first start)."""
    table = table_of(spec)
    if not _TABLE.match(table):
        raise ValueError(f"migrations.table: {table!r} is not a plain table name")
    quoted = ident(table)  # checked above and quoted: no input reaches the SQL unquoted
    select = {
        "typeorm": f"SELECT name FROM {quoted} ORDER BY id;",  # noqa: S608
        "alembic": f"SELECT version_num FROM {quoted} ORDER BY version_num;",  # noqa: S608
        "prisma": "SELECT migration_name || '|' || (finished_at IS NOT NULL)::text || '|' || "  # noqa: S608
                  f"(rolled_back_at IS NOT NULL)::text FROM {quoted} ORDER BY started_at, migration_name;",
    }[spec["kind"]]
    return (f"SELECT to_regclass('public.\"{table}\"') IS NOT NULL AS present \\gset\n"
            f"\\if :present\n{select}\n\\endif\n")


def summarize(spec: dict, out: str) -> dict:
    """{names, last, unfinished} from the query's output: the records in order, and the prisma rows not finished or
    rolled back."""
    names, unfinished, applied = [], [], set()
    for line in out.splitlines():
        if not line.strip():
            continue
        if spec["kind"] == "prisma":
            name, finished, rolled_back = (line.split("|") + ["", ""])[:3]
            names.append(name)
            if finished != "true" or rolled_back == "true":
                unfinished.append(name)
            else:
                applied.add(name)
        else:
            names.append(line.strip())
    # a migration resolved as rolled back and applied again keeps its old row: only one never applied is unfinished
    unfinished = [name for name in unfinished if name not in applied]
    return {"names": names, "last": ", ".join(names) if spec["kind"] == "alembic" else (names[-1] if names else ""),
            "unfinished": unfinished}


def describe(record: dict) -> str:
    if not record.get("names"):
        return "no migration recorded yet"
    return f"{len(record['names'])} recorded, the last {record['last']}"


def compare(spec: dict, before: dict, after: dict) -> tuple[bool, str, list[str]]:
    """(sound, what happened, the migrations that ran) between two readings of one service's records."""
    if after.get("unfinished"):
        return False, (f"migration(s) {', '.join(after['unfinished'])} did not finish or were rolled back "
                       f"(_prisma_migrations)"), []
    if spec["kind"] == "alembic":
        if before.get("names") == after.get("names"):
            return True, f"no migration ran (revision {after.get('last') or 'none'})", []
        return True, f"migrated from revision {before.get('last') or 'none'} to {after.get('last') or 'none'}", \
            [after.get("last") or ""]
    old, new = list(before.get("names") or []), list(after.get("names") or [])
    if new[:len(old)] != old:
        return False, (f"the records no longer begin with the {len(old)} read before the upgrade "
                       f"({describe(after)}): restored or changed by hand meanwhile"), []
    ran = new[len(old):]
    if not ran:
        return True, f"no migration ran ({describe(after)})", []
    return True, f"{len(ran)} migration(s) ran, from {old[-1] if old else 'none'} to {ran[-1]}", ran


def specs(catalog: dict, names: list[str]) -> dict:
    """{service: {database, kind, table}} of the services among `names` that declare `migrations` and a database."""
    out = {}
    for name in names:
        svc = catalog.get(name) or {}
        spec, database = dict(svc.get("migrations") or {}), svc.get("database")
        # its own database, or the one named (a service with several, as Dify)
        database = spec.pop("database", None) or (database.get("name") if isinstance(database, dict) else None)
        if spec.get("kind") and database:
            out[name] = dict(spec, database=database)
    return out


def report(services: dict, records: dict, before: dict | None, rolled_back: list[str], snapshot: str) -> dict:
    """{events, migrated, unmigrated}: MIGRATION_START per service before the upgrade; after it, MIGRATION_OK or
    MIGRATION_FAIL; unmigrated: the services that did not end healthy on the new release and whose records did not
    move (the new release failed before it migrated anything).

    A service rolled back after its records moved on runs its old release on data the new one migrated: that is a
    failure, whose advice is the snapshot to restore."""
    events, migrated, unmigrated = [], {}, []
    for service, record in sorted(records.items()):
        if before is None:
            events.append(ev.make_event(ev.MIGRATION_START, service, f"before the upgrade: {describe(record)}",
                                        migrations=len(record["names"])))
            continue
        spec = services[service]
        sound, what, ran = compare(spec, before.get(service) or {"names": [], "last": "", "unfinished": []}, record)
        migrated[service] = ran
        onto_migrated = sound and bool(ran) and service in rolled_back
        if onto_migrated:
            sound, what = False, (f"{what}, then the new release failed: the previous image would run on data it "
                                  f"may not read")
        if sound and not ran and service in rolled_back:
            unmigrated.append(service)  # its data is as the previous release left it: that release may have it back
        if sound:
            events.append(ev.make_event(ev.MIGRATION_OK, service, what, migrations=len(ran)))
        else:
            if onto_migrated and snapshot:  # upgrade.yml puts the snapshot's data back next (UPGRADE_ROLLED_BACK)
                advice = (f"upgrade.yml now puts back its data of the snapshot taken before the upgrade ({snapshot} "
                          f"on the PostgreSQL host), with the previous release; pin the new release again once what "
                          f"failed is fixed")
            else:
                advice = ("restore the snapshot taken before the upgrade (playbooks/restore.yml with "
                          "aiplatform_restore_snapshot=pre-upgrade and aiplatform_restore_force=true: every service "
                          "of the host goes back to it), or pin the new release again once what failed is fixed")
            events.append(ev.make_event(ev.MIGRATION_FAIL, service, f"{what}; {advice}", migrations=len(ran),
                                        category=err.MIGRATION, rolled_back_onto_migrated=onto_migrated))
    return {"events": events, "migrated": migrated, "unmigrated": unmigrated}
