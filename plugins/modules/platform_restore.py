#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_restore
short_description: Restore this host's part of the platform from a backup, one step per call
description:
  - The backup is a run of snapshots in the restic repository O(repository). C(check) picks the run O(snapshot) of
    O(from_host), runs C(restic check) and reads every byte of the run back through restic's authentication - a
    damaged pack, another key, data from a newer image version than pinned (unless O(any_version)), a running
    platform or existing volumes (unless O(force)) refuse the restore (RESTORE_REFUSED) before anything changes. It
    returns the restore C(plan) for the next steps.
  - C(secrets) writes the run's secrets to the host's store (0600, decrypted by restic on the host); C(volumes)
    recreates and fills the volumes; C(databases) restores each application database for its owner; C(done)
    records RESTORE_SUCCESS. Every step reads its part from restic again, so nothing is trusted from a file on a
    disk. The normal deploy pipeline runs between them (C(playbooks/restore.yml)).
  - An archive directory written by release 0.2 or earlier (O(archive)) is restored instead, once - its manifest's
    seal and checksums are judged on the controller with O(key), its secrets decrypted there.
  - The work on the host is done by M(aiplatform.stack.platform_archive).
version_added: 0.3.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [check, secrets, volumes, databases, record, done]
  archive:
    description: An archive directory of release 0.2 or earlier on the host, restored instead of O(repository); for
      C(done), the name the restore is recorded under.
    type: str
  key:
    description: The backup key the backup was made with (every step but C(done); for an archive directory C(check)
      and C(secrets)).
    type: str
  catalog:
    description: The service descriptions (built by the plan).
    type: dict
  here:
    description: The enabled services placed on this host.
    type: list
    elements: str
    default: []
  force:
    description: Restore over a running platform or existing volumes (their containers removed, data replaced).
    type: bool
    default: false
  any_version:
    description: Accept data from image versions the pins cannot tell apart or that are newer.
    type: bool
    default: false
  secrets_dir:
    description: The host's secrets store (C(secrets)).
    type: path
  only:
    description:
      - Restore only these services' own parts (C(check) cuts the plan to their volumes and databases and their data
        records; no roles, no secrets), and C(done) says UPGRADE_ROLLED_BACK for each placed here. upgrade.yml's way
        back for a service rolled back onto data its new release migrated.
    type: list
    elements: str
    default: []
  base_dir:
    description:
      - The platform's base directory (C(record), run once the volumes and databases are back). Each restored
        service's data record there is replaced by what the backup says wrote its data (the releases, the keys
        restored), so the deploy that follows the restore may start the older release of a backup taken before an
        upgrade, and compares the keys with the restored ones.
    type: path
  plan:
    description: The C(plan) C(check) returned.
    type: dict
  pull:
    description: Images may be pulled for the volume copies (C(volumes)).
    type: bool
    default: true
  started_at:
    description: When the restore started (C(done) reports the duration).
    type: float
  snapshot:
    description: The run to restore - C(latest), a run name (C(<stamp>-<host>)) or a snapshot id.
    type: str
    default: latest
  from_host:
    description: Whose backup to restore; empty - this host.
    type: str
    default: ''
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.restic
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
  check_mode:
    support: none
  diff_mode:
    support: none
  idempotent:
    support: none
"""

EXAMPLES = r"""
- name: Check this host's latest run before anything changes
  aiplatform.stack.platform_restore:
    step: check
    repository: /var/backups/aiplatform/restic
    snapshot: latest
    key: "{{ vault_aiplatform_backup_key }}"
    catalog: "{{ aiplatform_catalog }}"
    here: [postgres, redis, n8n]
  register: checked
"""

RETURN = r"""
plan:
  description: What the backup restores on this host (C(check)).
  returned: step check
  type: dict
  sample: {services: [n8n], volumes: [], databases: []}
events:
  description: RESTORE_* events.
  returned: always
  type: list
  elements: dict
  sample: []
"""
