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
  register: status

- name: Show it
  ansible.builtin.debug:
    msg: "{{ status.table }}"
"""

RETURN = r"""
rows:
  description: One row per service.
  returned: always
  type: list
  elements: dict
  sample: [{service: litellm, host: h1, state: healthy, health: HTTP 200, uptime_s: 3600, restarts: 0,
            containers: 1/1, url: "http://127.0.0.1:4000"}]
table:
  description: The rows as aligned text.
  returned: always
  type: str
  sample: "SERVICE  HOST  STATE ..."
events:
  description: RESTART_LOOP events.
  returned: always
  type: list
  elements: dict
  sample: []
"""
