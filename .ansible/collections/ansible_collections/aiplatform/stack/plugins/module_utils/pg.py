# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""PostgreSQL application databases and roles: idempotent SQL and SCRAM password checks.

Statements go to psql on its standard input (never in process arguments). A role's password is changed only when
the stored SCRAM verifier does not match the wanted password, so a re-run reports no change. The server never sees
a password: roles get a SCRAM-SHA-256 verifier computed here (PostgreSQL stores a verifier given as the password as
it is), so neither `log_statement`, nor an error quoting the statement, nor pg_stat_statements can show it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stringprep
import unicodedata

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


def ident(name: str) -> str:
    """A safe, quoted SQL identifier; only lower-case names are accepted, so quoting never changes meaning."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(f"'{name}' is not a valid database or role name (lower-case letters, digits, _)")
    return '"%s"' % name


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def saslprep(password: str) -> str:
    """The password as PostgreSQL prepares it (RFC 4013 SASLprep; on a prohibited character, the password as is)."""
    if password.isascii():
        return password  # PostgreSQL's shortcut: ASCII is used unchanged
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    text = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
                  stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
                  stringprep.in_table_c9, stringprep.in_table_a1)
    if not text or any(check(c) for c in text for check in prohibited):
        return password
    if any(stringprep.in_table_d1(c) for c in text) and (
            any(stringprep.in_table_d2(c) for c in text)
            or not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1]))):
        return password
    return text


def _scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), hmac.new(salted, b"Server Key", hashlib.sha256).digest()


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL would store for `password` (a random 16-byte salt by default)."""
    salt = os.urandom(16) if salt is None else salt
    stored, server = _scram_keys(password, salt, iterations)
    b64 = [base64.b64encode(raw).decode("ascii") for raw in (salt, stored, server)]
    return f"SCRAM-SHA-256${iterations}:{b64[0]}${b64[1]}:{b64[2]}"


def scram_matches(password: str, verifier: str | None) -> bool:
    """True when `verifier` (pg_authid.rolpassword) is the SCRAM-SHA-256 verifier of `password`."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        dummy, rest = verifier.split("$", 1)
        iter_salt, keys = rest.split("$", 1)
        iterations, salt_b64 = iter_salt.split(":", 1)
        stored_b64, server_b64 = keys.split(":", 1)
        stored_key, server_key = _scram_keys(password, base64.b64decode(salt_b64), int(iterations))
    except (ValueError, TypeError):
        return False
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


def plan(wanted: list[dict], roles: dict[str, str], dbs: dict[str, str],
         admin: str | None = None) -> tuple[list[str], list[str]]:
    """SQL statements to reach `wanted` [{name, owner, password}] and human-readable changes (no secrets).

    Passwords reach the SQL only as SCRAM-SHA-256 verifiers. A database wanted twice, or an owner that is the admin
    role (it would hand an application the superuser), is a ValueError: the plan rejects both before this runs.
    """
    sql, changes = [], []
    roles = dict(roles)
    seen: set[str] = set()
    for item in wanted:
        owner, db, password = item.get("owner") or item["name"], item["name"], item["password"]
        for name in (db, owner):
            ident(name)  # a bad name fails before any statement is planned
        if db in seen:
            raise ValueError(f"database {db} is wanted twice (two applications would share its role and password)")
        seen.add(db)
        if admin and admin in (owner, db):
            raise ValueError(f"database {db} or its owner {owner} is the admin role {admin}; choose another name")
        if owner not in roles:
            roles[owner] = scram_verifier(password)
            sql.append(f"CREATE ROLE {ident(owner)} LOGIN PASSWORD {literal(roles[owner])};")
            changes.append(f"created role {owner}")
        elif not scram_matches(password, roles[owner]):
            roles[owner] = scram_verifier(password)
            sql.append(f"ALTER ROLE {ident(owner)} WITH LOGIN PASSWORD {literal(roles[owner])};")
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
