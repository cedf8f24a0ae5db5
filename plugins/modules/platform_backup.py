#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_backup
short_description: Back up this host's part of the platform into a restic repository
description:
  - Plans on the controller what this host holds of the selected services (application databases on the PostgreSQL
    host, the named volumes that hold files, the services' secrets), then has M(aiplatform.stack.platform_archive)
    take a run of restic snapshots on the host (C(module_utils/restic.py)) - every byte encrypted and authenticated by
    restic with O(key) as the repository's password, deduplicated against earlier runs, no plaintext copy on a disk.
  - Databases are streamed from C(pg_dump) into C(restic backup --stdin); the volumes and the secrets are read from
    read-only mounts into a throw-away container of O(image) (containers that write a volume paused meanwhile,
    BACKUP_PAUSE/BACKUP_RESUME events), the run's manifest last. Retention is O(keep_rules) (C(restic forget
    --prune)); O(verify) reads a share of the data back. Open it without the collection with plain C(restic) (README).
  - Used by C(playbooks/backup.yml); events BACKUP_START, BACKUP_SUCCESS (duration, size, added), BACKUP_PRUNED,
    BACKUP_VERIFIED or BACKUP_FAIL.
version_added: 0.3.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  catalog:
    description: The service descriptions (built by the plan).
    type: dict
    required: true
  here:
    description: The enabled services placed on this host.
    type: list
    elements: str
    default: []
  enabled:
    description: Every enabled service (databases of services elsewhere are dumped on the PostgreSQL host).
    type: list
    elements: str
    default: []
  services:
    description: Back up only these services (empty - all of them).
    type: list
    elements: str
    default: []
  include_optional:
    description: Also the volumes marked optional (Ollama's models).
    type: bool
    default: false
  secrets_dir:
    description: The host's secrets store.
    type: path
    required: true
  key:
    description: The operator's backup key (at least 16 characters), e.g. from a vault variable.
    type: str
    required: true
  pause:
    description: Pause the containers that write a volume while it is read.
    type: bool
    default: true
  facts:
    description: Extra facts recorded in the manifest.
    type: dict
    default: {}
  keep_rules:
    description: Retention in the repository - C({last, daily, weekly, monthly}), as C(restic forget --keep-*) counts
      per database and per files snapshot of the host; empty keeps everything.
    type: dict
    default: {}
  verify:
    description: After the backup, C(restic check --read-data-subset) with this share of the data - C(10%), C(2/7),
      C(500M); empty - none.
    type: str
    default: ''
  record:
    description: A file on the host that keeps the last backup's facts for status (0600).
    type: path
  base_dir:
    description: The platform's base directory; the manifest names the release that last wrote each service's data,
      from the records kept there (M(aiplatform.stack.prepare_host)), instead of the one the inventory pins.
    type: path
  recorded:
    description: Per service, what the data records of every host of the play say wrote its data (image name to
      image, as M(aiplatform.stack.prepare_host) returns them); they win over this host's own records, so the
      PostgreSQL host's backup names the release of an application placed elsewhere.
    type: dict
    default: {}
  purpose:
    description: C(pre-upgrade) for the snapshot upgrade.yml takes first - tagged C(purpose=pre-upgrade) in the
      repository and kept apart from the keep rules (see O(keep_upgrades)).
    type: str
    default: backup
    choices: [backup, pre-upgrade]
  keep_upgrades:
    description: How many pre-upgrade snapshots of this host to keep, the newest; unset keeps them all.
    type: int
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
    details: Every run adds a new run of snapshots.
"""

EXAMPLES = r"""
- name: Back up the platform on this host
  aiplatform.stack.platform_backup:
    catalog: "{{ aiplatform_catalog }}"
    here: [postgres, redis, n8n]
    enabled: [postgres, redis, n8n]
    repository: /var/backups/aiplatform/restic
    secrets_dir: /opt/aiplatform/secrets
    key: "{{ vault_aiplatform_backup_key }}"
"""

RETURN = r"""
archive:
  description: Null (archive directories are no longer written); kept for playbooks that read it.
  returned: always
  type: str
size:
  description: Bytes read for the backup.
  returned: success
  type: int
  sample: 557724
seconds:
  description: Duration of the backup.
  returned: success
  type: float
  sample: 5.0
run:
  description: The run's name in the restic repository (the C(run=) tag of its snapshots).
  returned: success
  type: str
  sample: 20261127T194145Z-host1
snapshot:
  description: The run's files snapshot (its manifest names the database snapshots).
  returned: success
  type: str
added:
  description: Bytes the repository grew by (after deduplication and compression).
  returned: success
  type: int
  sample: 2048
forgotten:
  description: Snapshot ids removed by the retention.
  returned: success
  type: list
  elements: str
events:
  description: The events of the backup.
  returned: always
  type: list
  elements: dict
  sample: []
"""
