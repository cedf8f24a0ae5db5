#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: service_probe
short_description: Probe services once and report their containers
description:
  - One round of readiness probes for several services on a host, plus the facts of their containers (status,
    exit code, restart count, health, start time).
  - A container that exited, is restarting, or restarted since O(baseline) is reported as a crash loop with the
    last lines of its log, so that a wait can end at once instead of at its deadline.
  - Used by the status and recover actions (M(aiplatform.stack.platform_status),
    M(aiplatform.stack.recover_services)); the deploy probes through M(aiplatform.stack.deploy_step).
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description: Services to probe.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Service name (as in the inventory).
        type: str
        required: true
      project:
        description: Compose project name of the service.
        type: str
        required: true
      target:
        description: Compose service whose container is probed; defaults to O(services[].name).
        type: str
      probe:
        description:
          - "Readiness probe: C(type) http (C(port), C(path), C(status), C(body_contains), C(json)), tcp (C(port)),
            command (C(command) list run in the container, C(expect_output), C(env)), or docker (the image's
            HEALTHCHECK)."
        type: dict
        required: true
      with_logs:
        description:
          - Also return the log tail of the service when it does not answer its probe (a refused login often shows
            only there); crash-looping containers always return theirs.
        type: bool
        default: false
  baseline:
    description: Restart count of each container when the wait began; a higher count is a crash loop.
    type: dict
    default: {}
  log_lines:
    description: Log lines returned for a crash-looping container.
    type: int
    default: 20
  drift_dir:
    description:
      - The platform's base directory. When given, each service's containers are also compared with the project its
        last deploy left in C(<drift_dir>/<name>) (its files and the compose model kept for their hash) - image,
        config hash, environment keys, mounts, published ports, networks, restart policy - and the differences are
        returned in RV(services.drift). One C(docker image inspect) more for the round.
    type: path
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything.
"""

EXAMPLES = r"""
- name: Is redis answering PONG?
  aiplatform.stack.service_probe:
    services:
      - name: redis
        project: aiplatform-redis
        probe:
          type: command
          command: [redis-cli, ping]
          expect_output: PONG
  register: probe
"""

RETURN = r"""
services:
  description: Per service name, the verdict of this round.
  returned: always
  type: dict
  sample:
    redis:
      verdict: ready
      detail: PONG
      containers:
        - name: aiplatform-redis-redis-1
          status: running
          restart_count: 0
          exit_code: 0
          started_at: "2026-11-26T18:00:00.000000000Z"
  contains:
    verdict:
      description:
        - ready, waiting, crash_loop, or engine_restarted (a container stopped with the Docker engine, which has
          started again since).
      type: str
      sample: waiting
    engine_started:
      description: When the local Docker engine started (epoch seconds, from its pid file); null when unknown.
      type: float
      sample: 1796630370.5
    detail:
      description: Why, in a few words (status code, probe output, exit code).
      type: str
      sample: "HTTP 503: {\"db\":\"Not connected\"}"
    containers:
      description: Facts of the service's containers.
      type: list
      elements: dict
      sample: []
    logs:
      description: Last log lines of the failing container (crash loops only).
      type: list
      elements: str
      sample: ["Error: config file not found"]
    drift:
      description:
        - With O(drift_dir), each difference of a container from what was deployed - C(service) (compose service),
          C(container), C(field) (image, config hash, env, mount, port, network, restart, service), C(expected),
          C(found) (C((none)) when absent). Environment entries name the key only, never a value.
      type: list
      elements: dict
      sample: [{service: redis, container: aiplatform-redis, field: restart, expected: unless-stopped, found: always}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import drift, runner
from ansible_collections.aiplatform.stack.plugins.module_utils.probes import probe_services


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "services": {"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True},
                "project": {"type": "str", "required": True},
                "target": {"type": "str"},
                "probe": {"type": "dict", "required": True},
                "with_logs": {"type": "bool", "default": False},
            }},
            "baseline": {"type": "dict", "default": {}},
            "log_lines": {"type": "int", "default": 20},
            "drift_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    inspected = {}  # the round's inspect documents (environment values included): judged here, never returned
    try:
        results = probe_services(runner.run, module.params["services"],
                                 baseline={k: int(v) for k, v in module.params["baseline"].items()},
                                 log_lines=module.params["log_lines"], raw=inspected)
    except RuntimeError as exc:
        module.fail_json(msg="docker engine: %s" % exc, category="engine", cause=str(exc))
    if module.params["drift_dir"]:
        try:
            drifted = drift.on_disk(runner.run, module.params["services"], module.params["drift_dir"], inspected)
        except (OSError, ValueError, KeyError) as exc:
            module.warn("drift not checked: %s" % exc)
            drifted = {}
        for name, diffs in drifted.items():
            results[name]["drift"] = diffs
    module.exit_json(changed=False, services=results)


if __name__ == "__main__":
    main()
