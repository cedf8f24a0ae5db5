#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_status
short_description: Status of the platform's services on a host, with restart-loop prevention
description:
  - Probes every given service once (one M(aiplatform.stack.service_probe) call) and returns a row per service
    (service, host, state, health, uptime, restarts, containers, URL) and the rows as a text table.
  - A container that is restarting, or restarted at least O(climb) times within the last O(window) seconds, is a
    restart loop - a RESTART_LOOP event with its last log lines, and its project is stopped (volumes kept) unless
    O(stop_loops=false).
  - With O(projects_dir), each running service's containers are compared with what its last deploy left there
    (image, config hash, environment keys, mounts, published ports, networks, restart policy); a service whose
    containers differ is in state C(DRIFT), each difference a line of the table under it. C(site.yml) puts it back.
  - With O(orphans) (and O(projects_dir)), what the platform holds on the host for services not in O(services) -
    containers, volumes, project directories - is one row per service in state C(ORPHANED), each thing it holds a
    line under it, and an ORPHANED warning (M(aiplatform.stack.platform_orphans)).
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description: Service descriptions of the services on this host.
    type: list
    elements: dict
    required: true
  projects_dir:
    description: Directory holding one compose project per service; needed to stop a loop.
    type: path
  stop_loops:
    description: Stop the project of a crash-looping service.
    type: bool
    default: true
  window:
    description: Seconds within which a climbing restart count counts as a loop.
    type: float
    default: 120
  climb:
    description: Restart count from which a recent restart counts as a loop.
    type: int
    default: 3
  orphans:
    description: Also list orphaned services; O(services) must then be every service the inventory enables on this
      host.
    type: bool
    default: false
  networks:
    description: With O(orphans), the link networks the enabled services need on this host (the
      C(aiplatform.stack.link_network_names) filter); every other network with the platform's label is reported as
      spare.
    type: list
    elements: str
    default: []
  sizes:
    description:
      - Also read the host's disks (the one of O(projects_dir), the Docker data root's, and O(disk_paths)), the
        platform's volumes and PostgreSQL's databases (M(aiplatform.stack.platform_sizes)). Each service's row gets a
        line per volume and database it holds; each disk is a line under the table, with the change in free space
        since the last status; a disk at or past O(disk_warn_percent) used is also a WARN event of C(host).
      - The host's last backup (the record C(<projects_dir>/.aiplatform-backup.json) that backups keep) is a line
        under the table too - its run, age, size and last data check (or that none is recorded); a backup older
        than O(backup_max_age) hours is a WARN event of C(host).
    type: bool
    default: false
  disk_warn_percent:
    description: With O(sizes), the used share of a disk (percent, 1 to 100) that is a warning.
    type: float
    default: 85
  disk_paths:
    description: With O(sizes), further paths whose disks are read (the backup destination, a models disk).
    type: list
    elements: path
    default: []
  backup_max_age:
    description: With O(sizes), hours after which the host's last backup is a warning (0 - never).
    type: float
    default: 26
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
  check_mode:
    support: full
    details: In check mode a loop is reported, not stopped.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Stopping a crash loop is a change the first time only.
"""

EXAMPLES = r"""
- name: Status table
  aiplatform.stack.platform_status:
    services: "{{ aiplatform_here | map('extract', aiplatform_catalog) | list }}"
    projects_dir: /opt/aiplatform
    orphans: true
  register: status

- name: Show it
  ansible.builtin.debug:
    msg: "{{ status.table }}"
"""

RETURN = r"""
rows:
  description:
    - One row per service (C(state) healthy, unhealthy, missing, stopped, crash_loop, DRIFT), then one per orphaned
      service (C(state) ORPHANED, with its C(ports) and C(volumes)).
    - C(details) are the lines shown under the row - each difference of a DRIFT row (its C(drift) list has them as
      data, environment by key only), each thing an ORPHANED row holds.
  returned: always
  type: list
  elements: dict
  sample: [{service: litellm, host: h1, state: healthy, health: HTTP 200, uptime_s: 3600, restarts: 0,
            containers: 1/1, url: "http://127.0.0.1:4000", details: [], drift: []},
           {service: redis, host: h1, state: DRIFT, health: "aiplatform-redis: restart always (want unless-stopped)",
            uptime_s: 60, restarts: 0, containers: 1/1, url: "",
            details: ["aiplatform-redis: restart always (want unless-stopped)"],
            drift: [{service: redis, container: aiplatform-redis, field: restart, expected: unless-stopped,
                     found: always}]},
           {service: ollama, host: h1, state: ORPHANED, health: not enabled on this host by the inventory,
            uptime_s: 0, restarts: 0, containers: 1/1, url: "", ports: ["127.0.0.1:11434->11434/tcp"],
            volumes: [aiplatform_ollama_data], details: ["port 127.0.0.1:11434->11434/tcp",
                                                         "volume aiplatform_ollama_data"]}]
table:
  description: The rows as aligned text (with O(sizes), a line per disk under them).
  returned: always
  type: str
  sample: "SERVICE  HOST  STATE ..."
sizes:
  description: With O(sizes), the readings (M(aiplatform.stack.platform_sizes)'s C(disks), C(volumes) and
    C(databases)); empty without.
  returned: always
  type: dict
  sample: {disks: [{path: /opt/aiplatform, total: 52710469632, free: 30543347712, used_percent: 40.8}],
           volumes: [{name: aiplatform_n8n_data, service: n8n, mountpoint: /var/lib/docker/volumes/aiplatform_n8n_data/_data,
                      bytes: 1843200}], databases: {n8n: 9867779}}
events:
  description: RESTART_LOOP, SERVICE_STATUS, SECURITY_WARNING (a service weaker than the security model, from its
    C(status_warnings)) and ORPHANED events.
  returned: always
  type: list
  elements: dict
  sample: []
"""
