#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_backup
short_description: Back up this host's part of the platform into a sealed archive
description:
  - Plans on the controller what this host holds of the selected services (application databases on the PostgreSQL
    host, the named volumes that hold files, the services' secrets), then has M(aiplatform.stack.platform_archive)
    write C(<dest>/<stamp>-<host>/) on the host - C(pg_dump) per database (custom format), the roles, a tar of each
    volume (containers that write it paused meanwhile, BACKUP_PAUSE/BACKUP_RESUME events), the manifest with sizes
    and sha256 checksums.
  - The secrets are encrypted on the controller with O(key) (Ansible Vault format) and the manifest sealed with an
    HMAC derived from it; for an archive the key never reaches a host. Only the newest O(keep) archives of the host are kept.
  - With O(repository), the backup goes into a restic repository instead (C(module_utils/restic.py)) - every byte
    encrypted and authenticated by restic with O(key) as the repository's password, deduplicated against earlier
    runs, no plaintext copy on a disk. Databases are streamed from C(pg_dump) into C(restic backup --stdin); the
    volumes and the secrets are read from read-only mounts into a throw-away container of O(image); retention is
    O(keep_rules) (C(restic forget --prune)). Open it without the collection with plain C(restic) (README).
  - Used by C(playbooks/backup.yml); events BACKUP_START, BACKUP_SUCCESS (duration, size) or BACKUP_FAIL.
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
  dest:
    description: Directory of the archives on the host.
    type: path
    required: true
  keep:
    description: Archives of this host kept (the newest).
    type: int
    default: 7
  secrets_dir:
    description: The host's secrets store.
    type: path
    required: true
  key:
    description: The operator's backup key (at least 16 characters), e.g. from a vault variable.
    type: str
    required: true
  pause:
    description: Pause the containers that write a volume while it is copied.
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
    details: Every run writes a new archive.
"""

EXAMPLES = r"""
- name: Back up the platform on this host
  aiplatform.stack.platform_backup:
    catalog: "{{ aiplatform_catalog }}"
    here: [postgres, redis, n8n]
    enabled: [postgres, redis, n8n]
    dest: /var/backups/aiplatform
    secrets_dir: /opt/aiplatform/secrets
    key: "{{ vault_aiplatform_backup_key }}"
"""

RETURN = r"""
archive:
  description: The sealed archive's directory on the host (null when nothing of the selection is here).
  returned: always
  type: str
  sample: /var/backups/aiplatform/20261127T194145Z-host1
size:
  description: Bytes of the archive's files.
  returned: success
  type: int
  sample: 557724
seconds:
  description: Duration of the backup.
  returned: success
  type: float
  sample: 5.0
files:
  description: The archive's files with C(path), C(size) and C(sha256).
  returned: success
  type: list
  elements: dict
  sample: [{path: pg/n8n.dump, size: 41235, sha256: 9f8e...}]
run:
  description: The run's name in the restic repository (the C(run=) tag of its snapshots), with O(repository).
  returned: success with a repository
  type: str
  sample: 20261127T194145Z-host1
snapshot:
  description: The run's files snapshot (its manifest names the database snapshots), with O(repository).
  returned: success with a repository
  type: str
added:
  description: Bytes the repository grew by (after deduplication and compression), with O(repository).
  returned: success with a repository
  type: int
  sample: 2048
forgotten:
  description: Snapshot ids removed by the retention, with O(repository).
  returned: success with a repository
  type: list
  elements: str
pruned:
  description: Older archives removed by retention.
  returned: success
  type: list
  elements: str
  sample: []
events:
  description: The events of the backup.
  returned: always
  type: list
  elements: dict
  sample: []
"""
