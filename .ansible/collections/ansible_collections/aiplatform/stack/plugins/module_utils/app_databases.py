# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Each application's PostgreSQL database and role, made idempotently through psql in the server's container."""
from __future__ import annotations

from .pg import EXTENSIONS_QUERY, STATE_QUERY, extension_plan, parse_state, plan
from .runner import TIMEOUT_RC


class DatabaseError(RuntimeError):
    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.category = category


def psql_in(container: str, admin_user: str, database: str, docker: str = "docker") -> list[str]:
    return [docker, "exec", "-i", container, "psql", "-U", admin_user, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-q", "-At", "-F", "|"]


def ensure(run, container: str, admin_user: str, databases: list[dict], check_mode: bool = False) -> list[str]:
    """Roles, databases and extensions as `databases` [{name, owner, password, extensions}] say; returns changes.

    run(argv, data) -> (rc, out, err). Raises DatabaseError; its message never carries a password.
    """
    psql = psql_in(container, admin_user, "postgres")
    rc, out, err = run(psql, STATE_QUERY)
    if rc != 0:
        raise DatabaseError(f"cannot read roles from {container}: {err.strip()}",
                            "command_timeout" if rc == TIMEOUT_RC else "dependency")
    try:
        sql, changes = plan(databases, *parse_state(out), admin=admin_user)
    except (KeyError, ValueError) as exc:
        raise DatabaseError(f"databases: {exc}", "config") from None
    if sql and not check_mode:
        rc, out, err = run(psql, "\n".join(sql) + "\n")
        if rc != 0:
            for item in databases:  # psql quotes the failing statement: keep passwords out of the message
                err = err.replace(item["password"], "********")
            raise DatabaseError(f"psql in {container} failed: {err.strip()}", "unknown")
    for item in databases:
        if not item.get("extensions"):
            continue
        in_db = psql_in(container, admin_user, item["name"])
        rc, out, err = run(in_db, EXTENSIONS_QUERY)
        if rc != 0 and not check_mode:
            raise DatabaseError(f"cannot list extensions of {item['name']}: {err.strip()}", "dependency")
        sql, done = extension_plan(item["name"], list(item["extensions"]), set(out.split()) if rc == 0 else set())
        if sql and not check_mode:
            rc, out, err = run(in_db, "\n".join(sql) + "\n")
            if rc != 0:
                raise DatabaseError(f"extensions in {item['name']}: {err.strip()} (the server must ship them, "
                                    "e.g. pgvector)", "dependency")
        changes += done
    return changes
