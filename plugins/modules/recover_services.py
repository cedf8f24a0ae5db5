#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: recover_services
short_description: Recover unhealthy services by category, bounded, keeping their data
description:
  - Probes the given services; each one that is not healthy is recovered by the plan of its state, one action per
    attempt, each followed by the health wait of the service
  - "crash loop: recreate (new container, volumes kept), then reconfigure (render again from the inventory,
    validate, compose up)."
  - "unhealthy (running, probe failing): restart, then recreate."
  - "missing or stopped: reconfigure."
  - When the plan is used up, or the cause is one no restart fixes (config, port, image, engine, disk), a
    RECOVERY_NEEDED event says what the operator must do; a crash-looping service is stopped, not left looping.
  - Attempts back off (2 s, 4 s, ... before the second, third ...).
  - A Docker engine restarted during an attempt's wait or stable time repeats that attempt (twice at most, then
    category C(engine)); it is never counted as the service's crash.
  - Emits RECOVERY_START, RECOVERY_SUCCESS and RECOVERY_NEEDED, and the health wait's events.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description:
      - Service descriptions of the services on this host (with their templates), dependencies first (the host
        plan's C(deploying) order).
    type: list
    elements: dict
    required: true
  dependencies:
    description:
      - Service to the services it needs healthy (the plan's map). A service whose dependency on this host is still
        not healthy after its own recovery is not acted on (RECOVERY_NEEDED, category C(dependency), naming it); one
        whose dependency was brought back is probed again before it is judged.
    type: dict
    default: {}
  projects_dir:
    description: Directory holding one compose project per service.
    type: path
    required: true
  stable_seconds:
    description:
      - After a recovery action the service must stay healthy this long (no exit, no restart) to count as
        recovered; a container that exits a few seconds after starting is otherwise reported recovered.
    type: float
    default: 10
  pull:
    description: Image pull policy for reconfigure.
    type: str
    choices: [missing, never, always]
    default: missing
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
  check_mode:
    support: partial
    details: Reports the first action it would take for each service; takes none.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Healthy services are left alone.
"""

EXAMPLES = r"""
- name: Recover what is not healthy on this host
  aiplatform.stack.recover_services:
    services: "{{ aiplatform_host_plan.deploying | map('extract', aiplatform_catalog) | list }}"
    dependencies: "{{ aiplatform_host_plan.dependencies }}"
    projects_dir: /opt/aiplatform
"""

RETURN = r"""
services:
  description: Outcome per service (healthy, recovered, or the state left for the operator), attempts and action.
  returned: always
  type: dict
  sample: {litellm: {state: recovered, attempts: 1, action: recreate}}
events:
  description: RECOVERY_* and health events.
  returned: always
  type: list
  elements: dict
  sample: []
"""
