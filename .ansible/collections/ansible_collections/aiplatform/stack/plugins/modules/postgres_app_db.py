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
      - Databases to ensure.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Database name.
        type: str
        required: true
      owner:
        description: Role that owns it (default the name).
        type: str
      password:
        description: The owner's password (reaches the server only as a SCRAM-SHA-256 verifier).
        type: str
        required: true
      extensions:
        description: Extensions created inside that database by the admin, for example C(vector) for pgvector.
        type: list
        elements: str
        default: []
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
from ansible_collections.aiplatform.stack.plugins.module_utils.app_databases import DatabaseError, ensure


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "admin_user": {"type": "str", "default": "postgres"},
            # only the passwords are secret: a no_log on the whole list would mask every name in the output
            "databases": {"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True}, "owner": {"type": "str"},
                "password": {"type": "str", "required": True, "no_log": True},
                "extensions": {"type": "list", "elements": "str", "default": []}}},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        changes = ensure(lambda argv, data: runner.run(argv, data=data), p["container"], p["admin_user"],
                         p["databases"], check_mode=module.check_mode)
    except DatabaseError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    module.exit_json(changed=bool(changes), changes=changes)


if __name__ == "__main__":
    main()
