# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Redis users as an ACL file: one user per consuming application, each with its own password and rules.

The file holds each password as its SHA-256 (`#<hex>`), never in clear. Rules come from the inventory, so every
token is checked against Redis' ACL grammar before it is written: a password (`>...`, `#...`), `nopass`, `on`/`off`
or a selector cannot be slipped in through a rule, and no character can start a new line or a new user.
"""
from __future__ import annotations

import hashlib
import re

# Application users are named after the application; `default` and `admin` are the platform's own.
USER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
RESERVED_USERS = ("default", "admin")
# One ACL rule: commands and categories (+get, -@dangerous, +config|get), key patterns with optional read/write
# permissions (~*, %R~cache:*), channel patterns (&*), and the flags that only widen or reset permissions.
_RULE = re.compile(
    r"[+-]@?[a-z][a-z0-9_-]*(?:\|[a-z0-9_-]+)?"  # command, category, command|subcommand
    r"|(?:~|%(?:RW|R|W)~|&)[!-~]+"  # key and channel patterns: printable, no space
    r"|allkeys|allchannels|allcommands|nocommands|resetkeys|resetchannels"
)
# The platform's own users: the default user answers the platform's probe (PING) and nothing else; admin is for the
# operator (its password only in the secrets file).
DEFAULT_RULES = "resetkeys resetchannels nocommands +ping"
ADMIN_RULES = "~* &* +@all"


class AclError(ValueError):
    """An ACL user or rule that cannot be written safely."""


def secret_name(user: str) -> str:
    """The name of a user's password in the Redis secrets (redis.json)."""
    return f"user_{user}"


def rule_problems(where: str, rules: object) -> list[str]:
    """Problems of one user's rules (a string of space-separated ACL rules)."""
    if not isinstance(rules, str) or not rules.split():
        return [f"{where}: must be a string of Redis ACL rules such as '~* &* +@all -@admin -@dangerous'"]
    return [f"{where}: {token[:40]!r} is not an ACL rule this role writes (commands, categories, ~keys, &channels; "
            f"no passwords, nopass, on/off or selectors)"
            for token in rules.split() if not _RULE.fullmatch(token)] + (
        [f"{where}: must be one line"] if "\n" in rules or "\r" in rules else [])


def user_problems(where: str, users: object) -> list[str]:
    """Problems of the inventory's {user: rules} map."""
    if not isinstance(users, dict):
        return [f"{where}: must map application names to their ACL rules"]
    problems = []
    for user, rules in sorted(users.items(), key=lambda kv: str(kv[0])):
        if not isinstance(user, str) or not USER_NAME.fullmatch(user) or user in RESERVED_USERS:
            problems.append(f"{where}[{str(user)[:40]!r}]: not a user name this role creates (lower-case letters, "
                            f"digits, _ and -; not {' or '.join(RESERVED_USERS)})")
            continue
        problems += rule_problems(f"{where}.{user}", rules)
    return problems


def password_hash(password: str) -> str:
    """Redis' stored form of a password: `#` and the SHA-256 of its bytes in hex."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def user_line(user: str, password: str, rules: str) -> str:
    if not password:
        raise AclError(f"redis user {user}: no password")
    return f"user {user} reset on {password_hash(password)} {' '.join(rules.split())}"


def acl_file(users: dict, secrets: dict) -> str:
    """The ACL file: default, admin, then one line per application user (sorted), each with its hashed password.

    secrets: Redis' generated secrets: `password` (default user), `admin_password`, `user_<name>` per application.
    """
    problems = user_problems("redis_acl_users", users)
    if problems:
        raise AclError("; ".join(problems))
    missing = [name for name in ["password", "admin_password"] + [secret_name(u) for u in sorted(users)]
               if not secrets.get(name)]
    if missing:
        raise AclError(f"redis: generated secrets missing: {', '.join(missing)}")
    # no comment line: Redis refuses any line of an ACL file that is not a user
    lines = [user_line("default", secrets["password"], DEFAULT_RULES),
             user_line("admin", secrets["admin_password"], ADMIN_RULES)]
    lines += [user_line(user, secrets[secret_name(user)], users[user]) for user in sorted(users)]
    return "\n".join(lines) + "\n"
