#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_sizes
short_description: How much the platform holds on a host and how much disk it has left
description:
  - Reads the free space of the filesystems holding O(paths) and the Docker engine's data root (once per
    filesystem), the size each of the platform's volumes takes (compose projects C(aiplatform-<service>), counted as
    C(du) does) and, with O(postgres), each database's size on that server.
  - Each disk is a finding, C(WARN) at or past O(warn_percent) used. With O(state_file), the change in free space
    since the reading kept there is part of the finding, and this reading is kept for the next run (a record, as the
    event log is; it is not reported as a change).
version_added: 0.4.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  paths:
    description: Paths whose filesystems are read (the Docker data root is always added).
    type: list
    elements: path
    default: []
  warn_percent:
    description: Used share of a disk, in percent, from which its finding is a warning.
    type: float
    default: 85
  state_file:
    description: Where the last reading is kept (mode 0600), for the trend.
    type: path
  postgres:
    description: The platform's PostgreSQL container on this host, whose databases are measured.
    type: str
  backup_record:
    description: The file where backups keep their last run's facts (the C(record) of M(aiplatform.stack.platform_archive));
      with it, the last backup and its age are a finding too (C(kind=backup)).
    type: path
  backup_max_age:
    description: Hours after which the last backup's finding is a warning (0 - never).
    type: float
    default: 26
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: Reads only; the reading is not kept.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Disks, volumes and databases of this host
  aiplatform.stack.platform_sizes:
    paths: [/opt/aiplatform]
    state_file: /opt/aiplatform/.aiplatform-sizes.json
    postgres: aiplatform-postgres
  register: sizes
"""

RETURN = r"""
disks:
  description: One reading per filesystem.
  returned: always
  type: list
  elements: dict
  sample: [{path: /opt/aiplatform, total: 52710469632, free: 30543347712, used_percent: 40.8}]
volumes:
  description: The platform's volumes on this host, with the bytes each takes.
  returned: always
  type: list
  elements: dict
  sample: [{name: aiplatform_n8n_data, service: n8n, mountpoint: /var/lib/docker/volumes/aiplatform_n8n_data/_data,
            bytes: 1843200}]
databases:
  description: Bytes of each database of O(postgres) (empty without it, or when it does not answer).
  returned: always
  type: dict
  sample: {n8n: 9867779, platform: 7631407}
findings:
  description: One per disk (C(kind=disk)), C(level) INFO or WARN, C(message) with the trend when a reading was kept;
    with O(backup_record), one for the last backup (C(kind=backup)).
  returned: always
  type: list
  elements: dict
  sample: [{path: /opt/aiplatform, level: INFO, message: "disk of /opt/aiplatform: 40.8% used, 28.4 GiB free of 49.1 GiB"}]
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, private_json, sizes


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "default": []},
            "warn_percent": {"type": "float", "default": 85},
            "state_file": {"type": "path"},
            "postgres": {"type": "str"},
            "backup_record": {"type": "path"}, "backup_max_age": {"type": "float", "default": 26},
        },
        supports_check_mode=True,
    )
    p = module.params
    docker = module.get_bin_path("docker", required=True)
    rc, root, err = module.run_command([docker, "info", "--format", "{{.DockerRootDir}}"])
    paths = list(p["paths"]) + ([root.strip()] if rc == 0 and root.strip() else [])
    rc, listing, err = module.run_command([docker, "volume", "ls", "--format", sizes.VOLUME_FORMAT])
    if rc != 0:
        module.fail_json(msg=f"docker volume ls failed: {err.strip()}")
    volumes = [dict(v, bytes=sizes.tree_bytes(v["mountpoint"])) for v in sizes.platform_volumes(listing)]
    databases = {}
    if p["postgres"]:
        rc, out, err = module.run_command([docker, "exec", p["postgres"], "sh", "-c",
                                           f'psql -U "$POSTGRES_USER" -d postgres -At -c "{sizes.DATABASE_SIZES_SQL}"'])
        databases = sizes.database_sizes(out) if rc == 0 else {}
    reading = {"time": time.time(), "disks": [{k: d[k] for k in ("path", "total", "free", "used_percent")}
                                              for d in sizes.disks(paths)]}
    previous = private_json.read(p["state_file"]) if p["state_file"] else {}
    found = sizes.findings(reading, previous, p["warn_percent"], now=reading["time"])
    if p["backup_record"]:
        found.append(backup.record_finding(private_json.read(p["backup_record"]), p["backup_max_age"], reading["time"]))
    if p["state_file"] and os.path.isdir(os.path.dirname(p["state_file"])) and not module.check_mode:
        private_json.write(p["state_file"], reading)
    module.exit_json(changed=False, disks=reading["disks"], volumes=volumes, databases=databases, findings=found)


if __name__ == "__main__":
    main()
