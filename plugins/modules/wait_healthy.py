#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: wait_healthy
short_description: Wait until services answer their readiness probes, with backoff, jitter, cap and deadline
description:
  - Waits for several services at once (a dependency wave). Each service has its own schedule, an initial delay
    then exponential backoff with full jitter up to a cap, until its overall deadline.
  - Each round runs M(aiplatform.stack.service_probe) once on the host for the services that are due.
  - Every failed attempt is a HEALTH_RETRY event delivered to the callbacks at once (live progress); success is
    HEALTH_SUCCESS, running out of time HEALTH_TIMEOUT.
  - A container that exits, restarts or keeps restarting during the wait ends that service's wait at once as a
    RESTART_LOOP (category crash_loop) with its last log lines, instead of waiting out the deadline.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description:
      - Service descriptions (as built by the service roles) with C(name), C(project), C(probe), optional
        C(target) (compose service to probe) and C(backoff) (C(initial), C(base), C(factor), C(cap), C(deadline),
        C(floor), seconds).
    type: list
    elements: dict
    required: true
  unchanged:
    description: Services whose containers were not restarted by this run; they are probed without initial delay.
    type: list
    elements: str
    default: []
  projects_dir:
    description:
      - Directory holding one compose project per service (C(<projects_dir>/<name>)). When set, a crash-looping
        service's containers are stopped (volumes kept) so that nothing is left looping.
    type: path
  log_lines:
    description: Log lines kept from a crash-looping container.
    type: int
    default: 20
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: Runs on the controller and probes through a module on the host.
  check_mode:
    support: full
    details: Only reads; the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything.
"""

EXAMPLES = r"""
- name: Wait for PostgreSQL and Redis together
  aiplatform.stack.wait_healthy:
    services:
      - name: postgres
        project: aiplatform-postgres
        probe: {type: command, command: [pg_isready, -q, -h, localhost]}
        backoff: {initial: 0.5, base: 0.25, cap: 2, deadline: 90}
      - name: redis
        project: aiplatform-redis
        probe: {type: command, command: [sh, -c, 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping'], expect_output: PONG}
"""

RETURN = r"""
services:
  description: Outcome per service.
  returned: always
  type: dict
  sample: {postgres: {state: healthy, attempts: 3, duration: 2.41, detail: exit 0}}
  contains:
    state:
      description: healthy, timeout or crash_loop.
      type: str
      sample: healthy
    attempts:
      description: Probe attempts made.
      type: int
      sample: 3
    duration:
      description: Seconds from the start of the wait to the outcome.
      type: float
      sample: 2.41
    logs:
      description: Last log lines of a crash-looping container.
      type: list
      elements: str
      sample: []
events:
  description: The events of the wait (HEALTH_RETRY, HEALTH_SUCCESS, HEALTH_TIMEOUT, RESTART_LOOP).
  returned: always
  type: list
  elements: dict
  sample: []
category:
  description: crash_loop or timeout when a service did not become healthy.
  returned: failure
  type: str
  sample: crash_loop
"""
