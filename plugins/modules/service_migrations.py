#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: service_migrations
short_description: Read the applications' own migration records in their PostgreSQL databases
description:
  - For each service of O(services), reads the table in which the application records its migrations (TypeORM's
    C(migrations) for n8n and Flowise, alembic's C(alembic_version) for Open WebUI and Dify, prisma's
    C(_prisma_migrations) for LiteLLM) through C(psql) in the PostgreSQL container O(container), as its administrator
    over the server's own socket. SQL goes to psql's standard input.
  - A table that does not exist yet (the application never started on that database) reads as no record.
  - Its action plugin reads them before an upgrade (MIGRATION_START) and after it (MIGRATION_OK or MIGRATION_FAIL,
    with the migrations that ran); the logic is in C(module_utils/migrations.py).
version_added: 0.5.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  container:
    description: Name of the PostgreSQL container.
    type: str
    required: true
  admin_user:
    description: The server's administrator (C(POSTGRES_USER)).
    type: str
    default: postgres
  services:
    description:
      - Per service, C(database), C(kind) (C(typeorm), C(alembic) or C(prisma)) and optionally C(table).
    type: dict
    default: {}
  before:
    description:
      - What the same services' records were before the upgrade (RV(records) of an earlier call). Given, the action
        compares and reports each service's migrations.
    type: dict
    default: {}
  rolled_back:
    description:
      - Services of the play that did not end healthy on their new release - rolled back to their previous version,
        or failed. One whose records moved on is a MIGRATION_FAIL with C(rolled_back_onto_migrated), and upgrade.yml
        puts its data back from the snapshot.
    type: list
    elements: str
    default: []
  snapshot:
    description: The run of the snapshot taken before the upgrade, named in the advice of a MIGRATION_FAIL.
    type: str
    default: ''
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: The action compares the records and sends the events.
  check_mode:
    support: full
    details: It only reads.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: It only reads.
"""

EXAMPLES = r"""
- name: Read the migration records before the upgrade
  aiplatform.stack.service_migrations:
    container: aiplatform-postgres
    admin_user: platform
    services: {n8n: {database: n8n, kind: typeorm}, openwebui: {database: openwebui, kind: alembic}}
  register: before
"""

RETURN = r"""
records:
  description: Per service, C(names) (the records in order), C(last) and C(unfinished) (prisma rows not finished or
    rolled back).
  returned: success
  type: dict
  sample: {n8n: {names: [InitialMigration1588102412422], last: InitialMigration1588102412422, unfinished: []}}
migrated:
  description: Per service, the migrations that ran since O(before) (when given).
  returned: when O(before) was given
  type: dict
  sample: {n8n: [AddMfaColumns1690000000030]}
unmigrated:
  description: Services of O(rolled_back) whose records did not move (their new release failed before it migrated
    anything); upgrade.yml sets their data records back to the release before the upgrade.
  returned: when O(before) was given
  type: list
  elements: str
  sample: [n8n]
events:
  description: MIGRATION_START, MIGRATION_OK and MIGRATION_FAIL events.
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import migrations, runner
from ansible_collections.aiplatform.stack.plugins.module_utils.app_databases import psql_in


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "admin_user": {"type": "str", "default": "postgres"},
            "services": {"type": "dict", "default": {}},
            "before": {"type": "dict", "default": {}},
            "rolled_back": {"type": "list", "elements": "str", "default": []},
            "snapshot": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    records, problems = {}, []
    for service, spec in sorted(p["services"].items()):
        try:
            sql = migrations.query(spec)
        except (KeyError, ValueError) as exc:
            problems.append(f"{service}: {exc}")
            continue
        rc, out, err = runner.run(psql_in(p["container"], p["admin_user"], spec["database"]), data=sql)
        if rc != 0:
            problems.append(f"{service}: cannot read its migration records in {spec['database']}: {err.strip()}")
            continue
        records[service] = migrations.summarize(spec, out)
    if problems:
        module.fail_json(msg="; ".join(problems), category="dependency", records=records, events=[])
    result = migrations.report(p["services"], records, p["before"] or None, p["rolled_back"], p["snapshot"])
    module.exit_json(changed=False, records=records, **result)


if __name__ == "__main__":
    main()
