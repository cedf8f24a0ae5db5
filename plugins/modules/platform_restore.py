#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_restore
short_description: Restore this host's part of the platform from a sealed archive, one step per call
description:
  - C(check) reads the archive's manifest, seal and checksums on the host and judges them on the controller with
    O(key) - a changed byte, another key, data from a newer image version than pinned (unless O(any_version)), a
    running platform or existing volumes (unless O(force)) refuse the restore (RESTORE_REFUSED) before anything
    changes. It returns the restore C(plan) for the next steps.
  - C(secrets) decrypts the secrets on the controller and writes them to the host's store (0600); C(volumes)
    recreates and fills the volumes; C(databases) restores each application database for its owner; C(done)
    records RESTORE_SUCCESS. The normal deploy pipeline runs between them (C(playbooks/restore.yml)).
  - With O(repository), the backup is a run of snapshots in a restic repository. C(check) picks the run O(snapshot)
    of O(from_host), runs C(restic check) and reads every byte of the run back through restic's authentication
    (a damaged pack or another key refuses the restore before anything changes); every later step reads its part
    from restic again, so nothing is trusted from a file on a disk. The secrets are decrypted by restic on the host.
  - The work on the host is done by M(aiplatform.stack.platform_archive).
version_added: 0.3.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [check, secrets, volumes, databases, done]
  archive:
    description: The archive's directory on the host.
    type: path
  key:
    description: The backup key the archive was made with (C(check), C(secrets); with O(repository) every step).
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
  plan:
    description: The C(plan) C(check) returned.
    type: dict
  pull:
    description: Images may be pulled for the volume copies (C(volumes)).
    type: bool
    default: false
  started_at:
    description: When the restore started (C(done) reports the duration).
    type: float
  snapshot:
    description: The run to restore (with O(repository)) - C(latest), a run name (C(<stamp>-<host>)) or a snapshot id.
    type: str
    default: latest
  from_host:
    description: Whose backup to restore (with O(repository)); empty - this host.
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
- name: Check the archive before anything changes
  aiplatform.stack.platform_restore:
    step: check
    archive: /var/backups/aiplatform/20261127T194145Z-host1
    key: "{{ vault_aiplatform_backup_key }}"
    catalog: "{{ aiplatform_catalog }}"
    here: [postgres, redis, n8n]
  register: checked
"""

RETURN = r"""
plan:
  description: What the archive restores on this host (C(check)).
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
