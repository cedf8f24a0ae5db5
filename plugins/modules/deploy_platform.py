#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_platform
short_description: Deploy the services placed on this host, each as soon as its own dependencies are healthy
description:
  - Runs one host's deploy as a dependency graph on the controller. The first round trip compares every service
    with what runs and probes the unchanged ones; when all are unchanged and answer, that is the whole run (the
    no-op fast path).
  - Otherwise each service is brought up as soon as its own dependencies are healthy, wherever they run - a
    dependency on another host is probed from this host at its published endpoint, so hosts move independently.
  - Each started service is waited for with its own backoff (jitter, cap, deadline); a crash loop ends its wait at
    once and the containers are stopped; a changed service that does not become healthy is rolled back to its
    previous version; the wiring of each healthy service is checked from inside its network namespace; PostgreSQL
    counts as healthy once the application databases are made. Dependents of a failure are skipped with the
    reason; independent services carry on.
  - The first round trip also compares each unchanged service's running containers with the rendered compose file
    (image, config hash, environment keys, mounts, published ports, networks, restart policy). A container changed
    behind the platform's back is drift - a DRIFT warning naming each difference - and counts as a change - its
    compose services are recreated (C(up --force-recreate)) and the DEPLOY_SUCCESS message says what was put back.
  - Every step is an event delivered to the callbacks as it happens (DEPLOY_*, HEALTH_*, RESTART_LOOP,
    CONNECTIVITY_FAIL, DEPENDENCY_*, DRIFT).
  - Each round trip is one M(aiplatform.stack.deploy_step) call; templates are rendered on the controller.
version_added: 0.2.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description: Services deployed in this run, on all hosts (the plan's order); those placed on this host are deployed here.
    type: list
    elements: str
    required: true
  catalog:
    description: The service descriptions (built by the plan).
    type: dict
    required: true
  dependencies:
    description: Service -> services it needs healthy first.
    type: dict
    required: true
  base_dir:
    description: One project directory per service below it.
    type: path
    required: true
  pull:
    description: Image pull policy.
    type: str
    choices: [missing, never, always]
    default: missing
  parallel:
    description: Projects brought up at once.
    type: int
    default: 8
  rollback:
    description: Roll a changed service back to its previous version when it does not become healthy.
    type: bool
    default: true
  serial:
    description: Start one service at a time, each behind its health gate (upgrades).
    type: bool
    default: false
  lock_run:
    description: The run that holds the host's run lock (M(aiplatform.stack.prepare_host)); when the first round trip
      finds nothing to do, it gives the lock back in that same call (C(lock_released)).
    type: str
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: The scheduler runs on the controller; each round trip is one module call on the host.
  check_mode:
    support: full
    details: Compares and probes only; reports what would change, starts nothing.
  diff_mode:
    support: full
    details: Changed rendered files of every service (private files, env files, show only a hash), and the drift of
      its containers - each difference as found (before) and as deployed (after), environment by key only.
  idempotent:
    support: full
    details: A second run finds every hash unchanged and every service answering, in one round trip.
"""

EXAMPLES = r"""
- name: Deploy the services on this host
  aiplatform.stack.deploy_platform:
    services: "{{ aiplatform_deploying }}"
    catalog: "{{ aiplatform_catalog }}"
    dependencies: "{{ aiplatform_dependency_map }}"
    base_dir: /opt/aiplatform
  register: aiplatform_deploy

- name: A re-run changes nothing
  aiplatform.stack.deploy_platform:
    services: "{{ aiplatform_deploying }}"
    catalog: "{{ aiplatform_catalog }}"
    dependencies: "{{ aiplatform_dependency_map }}"
    base_dir: /opt/aiplatform
  register: again
  failed_when: again.changed
"""

RETURN = r"""
services:
  description: Per service on this host, C(state) (healthy, rolled_back, failed, skipped, would_change), C(changed),
    C(category) and C(detail) of a failure.
  returned: always
  type: dict
  sample: {litellm: {state: healthy, changed: true, category: "", detail: ""}}
healthy:
  description: Services that run healthy (rolled back ones included).
  returned: always
  type: list
  elements: str
  sample: [postgres, redis, litellm]
failed_services:
  description: Services that failed or were skipped because a dependency failed.
  returned: always
  type: list
  elements: str
  sample: []
rolled_back:
  description: Changed services brought back to their previous version.
  returned: always
  type: list
  elements: str
  sample: []
reverted:
  description: Services whose previous files were put back by a rollback, whether they then became healthy or not
    (upgrade.yml puts the data of the pre-upgrade snapshot back under those files when the new release migrated it).
  returned: always
  type: list
  elements: str
  sample: []
models:
  description: The healthy services with models to pull (the arguments of M(aiplatform.stack.ollama_models)).
  returned: always
  type: list
  elements: dict
  sample: [{service: ollama, container: aiplatform-ollama, port: 11434, names: ["llama3.2:1b"], timeout: 1800}]
lock_released:
  description: The run lock was given back by the no-op fast path.
  returned: always
  type: bool
  sample: true
steps:
  description: Module round trips the deploy took.
  returned: always
  type: int
  sample: 1
events:
  description: The events of the deploy.
  returned: always
  type: list
  elements: dict
  sample: []
"""
