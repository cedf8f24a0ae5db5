#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_app_db
short_description: Ensure application databases and roles in the platform's PostgreSQL container
description:
  - Creates one role and one database per application, idempotently, through C(psql) inside the running PostgreSQL
    container (its local socket). SQL goes to psql's standard input, never into process arguments.
  - Passwords never reach the server; roles are created and altered with a SCRAM-SHA-256 verifier computed by the
    module, so the server log (even with C(log_statement=all)) holds no password.
  - A database named like O(admin_user), or wanted twice, fails before any statement runs.
  - A role's password is reset only when the stored SCRAM verifier does not match, so a re-run reports no change.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  container:
    description: Name of the PostgreSQL container.
    type: str
    required: true
  admin_user:
    description: Superuser created by the image (C(POSTGRES_USER)).
    type: str
    default: postgres
  databases:
    description:
      - Databases to ensure, each with C(name), C(owner) (default the name), C(password) and optional
        C(extensions) (created inside that database by the admin, for example C(vector) for pgvector).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: Reads the current roles and databases and reports what would change.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Existing roles with the right password and existing databases are left alone.
"""

EXAMPLES = r"""
- name: LiteLLM's database and role
  aiplatform.stack.postgres_app_db:
    container: aiplatform-postgres-postgres-1
    admin_user: platform
    databases:
      - name: litellm
        password: "{{ litellm_db_password }}"
      - name: dify
        password: "{{ dify_db_password }}"
        extensions: [vector]
  no_log: true
"""

RETURN = r"""
changes:
  description: What was changed, without secrets.
  returned: always
  type: list
  elements: str
  sample: [created role litellm, created database litellm, created extension vector in dify]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import runner
from ansible_collections.aiplatform.stack.plugins.module_utils.pg import EXTENSIONS_QUERY, STATE_QUERY, extension_plan, parse_state, plan


def psql_in(container: str, admin_user: str, database: str) -> list[str]:
    return ["docker", "exec", "-i", container, "psql", "-U", admin_user, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-q", "-At", "-F", "|"]


def ensure_extensions(module, databases: list[dict]) -> list[str]:
    """Create the extensions each database asks for (inside that database, as the admin)."""
    changes = []
    for item in databases:
        if not item.get("extensions"):
            continue
        in_db = psql_in(module.params["container"], module.params["admin_user"], item["name"])
        rc, out, err = runner.run(in_db, data=EXTENSIONS_QUERY)
        if rc != 0 and not module.check_mode:
            module.fail_json(msg="cannot list extensions of %s: %s" % (item["name"], err.strip()), category="dependency")
        sql, done = extension_plan(item["name"], list(item["extensions"]), set(out.split()) if rc == 0 else set())
        if sql and not module.check_mode:
            rc, out, err = runner.run(in_db, data="\n".join(sql) + "\n")
            if rc != 0:
                module.fail_json(msg="extensions in %s: %s (the server must ship them, e.g. pgvector)"
                                 % (item["name"], err.strip()), category="dependency")
        changes += done
    return changes


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "admin_user": {"type": "str", "default": "postgres"},
            "databases": {"type": "list", "elements": "dict", "required": True, "no_log": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    psql = psql_in(p["container"], p["admin_user"], "postgres")
    rc, out, err = runner.run(psql, data=STATE_QUERY)
    if rc != 0:
        module.fail_json(msg="cannot read roles from %s: %s" % (p["container"], err.strip()),
                         category="command_timeout" if rc == runner.TIMEOUT_RC else "dependency")
    try:
        sql, changes = plan(p["databases"], *parse_state(out), admin=p["admin_user"])
    except (KeyError, ValueError) as exc:
        module.fail_json(msg="databases: %s" % exc, category="config")
    if sql and not module.check_mode:
        rc, out, err = runner.run(psql, data="\n".join(sql) + "\n")
        for item in p["databases"]:  # psql quotes the failing statement: keep passwords out of the message
            err = err.replace(item["password"], "********")
        if rc != 0:
            module.fail_json(msg="psql in %s failed: %s" % (p["container"], err.strip()), category="unknown",
                             changes=changes)
    changes += ensure_extensions(module, p["databases"])
    module.exit_json(changed=bool(changes), changes=changes)


if __name__ == "__main__":
    main()
