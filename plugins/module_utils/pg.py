"""PostgreSQL application databases and roles: idempotent SQL and SCRAM password checks.

Statements go to psql on its standard input (never in process arguments). A role's password is changed only when
the stored SCRAM verifier does not match the wanted password, so a re-run reports no change.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def ident(name: str) -> str:
    """A safe, quoted SQL identifier; only lower-case names are accepted, so quoting never changes meaning."""
    if not _IDENT.match(name or ""):
        raise ValueError(f"'{name}' is not a valid database or role name (lower-case letters, digits, _)")
    return '"%s"' % name


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scram_matches(password: str, verifier: str | None) -> bool:
    """True when `verifier` (pg_authid.rolpassword) is the SCRAM-SHA-256 verifier of `password`."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        dummy, rest = verifier.split("$", 1)
        iter_salt, keys = rest.split("$", 1)
        iterations, salt_b64 = iter_salt.split(":", 1)
        stored_b64, server_b64 = keys.split(":", 1)
        salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt_b64), int(iterations))
    except (ValueError, TypeError):
        return False
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hmac.compare_digest(stored_key, base64.b64decode(stored_b64)) and hmac.compare_digest(
        server_key, base64.b64decode(server_b64))


STATE_QUERY = (
    "SELECT 'role', rolname, coalesce(rolpassword, '') FROM pg_authid "
    "UNION ALL SELECT 'db', datname, pg_get_userbyid(datdba) FROM pg_database;"
)


def parse_state(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """Parse `psql -At -F '|'` output of STATE_QUERY into (roles -> verifier, databases -> owner)."""
    roles, dbs = {}, {}
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) != 3:
            continue
        kind, name, value = parts
        (roles if kind == "role" else dbs)[name] = value
    return roles, dbs


def plan(wanted: list[dict], roles: dict[str, str], dbs: dict[str, str]) -> tuple[list[str], list[str]]:
    """SQL statements to reach `wanted` [{name, owner, password}] and human-readable changes (no secrets)."""
    sql, changes = [], []
    for item in wanted:
        owner, db, password = item.get("owner") or item["name"], item["name"], item["password"]
        if owner not in roles:
            sql.append(f"CREATE ROLE {ident(owner)} LOGIN PASSWORD {literal(password)};")
            changes.append(f"created role {owner}")
        elif not scram_matches(password, roles[owner]):
            sql.append(f"ALTER ROLE {ident(owner)} WITH LOGIN PASSWORD {literal(password)};")
            changes.append(f"set password of role {owner}")
        if db not in dbs:
            # CREATE DATABASE cannot run inside a transaction block: psql runs each statement on its own.
            sql.append(f"CREATE DATABASE {ident(db)} OWNER {ident(owner)};")
            changes.append(f"created database {db}")
        elif dbs[db] != owner:
            sql.append(f"ALTER DATABASE {ident(db)} OWNER TO {ident(owner)};")
            changes.append(f"database {db} owner {dbs[db]} -> {owner}")
    return sql, changes


EXTENSIONS_QUERY = "SELECT extname FROM pg_extension;"


def extension_plan(db: str, wanted: list[str], present: set[str]) -> tuple[list[str], list[str]]:
    """SQL (run inside `db`) to create the wanted extensions that are missing, and the changes."""
    missing = [e for e in wanted if e not in present]
    return ([f"CREATE EXTENSION IF NOT EXISTS {ident(e)};" for e in missing],
            [f"created extension {e} in {db}" for e in missing])
