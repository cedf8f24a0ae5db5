#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: service_connectivity
short_description: Check from inside each service's network that its dependencies answer
description:
  - For each service, joins the network namespace of its running container and checks every endpoint it is wired
    to - name resolution through Docker's embedded DNS (container names on one host) and a TCP connection (also to
    a dependency on another host, by its inventory address and published port).
  - A failure names the exact address (name, resolved IP and port) that could not be reached, as a
    CONNECTIVITY_FAIL event.
  - Needs root on the host (setns); changes nothing.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description: Services to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Service name.
        type: str
        required: true
      container:
        description: Container whose network is used.
        type: str
        required: true
      endpoints:
        description: Endpoints it is wired to, each with C(name) (the dependency), C(host) and C(port).
        type: list
        elements: dict
        required: true
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Can LiteLLM reach PostgreSQL and Redis from its own network?
  aiplatform.stack.service_connectivity:
    services:
      - name: litellm
        container: aiplatform-litellm
        endpoints:
          - {name: postgres, host: postgres, port: 5432}
          - {name: redis, host: redis, port: 6379}
"""

RETURN = r"""
checks:
  description: Per service, per dependency, C(ok), C(address) and C(detail).
  returned: always
  type: dict
  sample: {litellm: {postgres: {ok: true, address: "172.20.0.3:5432", detail: "postgres -> 172.20.0.3:5432 open"}}}
events:
  description: CONNECTIVITY_FAIL events.
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import runner
from ansible_collections.aiplatform.stack.plugins.module_utils.connectivity import in_netns


def main() -> None:
    module = AnsibleModule(
        argument_spec={"services": {"type": "list", "elements": "dict", "required": True, "options": {
            "name": {"type": "str", "required": True},
            "container": {"type": "str", "required": True},
            "endpoints": {"type": "list", "elements": "dict", "required": True},
        }}},
        supports_check_mode=True,
    )
    checked, events = {}, []
    for svc in module.params["services"]:
        rc, out, dummy = runner.run(["docker", "inspect", "-f", "{{.State.Pid}}", svc["container"]])
        pid = int(out.strip() or 0) if rc == 0 else 0
        endpoints = svc["endpoints"]
        if not pid:
            checks = [{"ok": False, "address": "%s:%s" % (e["host"], e["port"]),
                       "detail": "%s is not running" % svc["container"]} for e in endpoints]
        else:
            try:
                checks = in_netns(pid, [(e["host"], int(e["port"])) for e in endpoints])
            except OSError as exc:
                module.fail_json(msg="cannot enter the network of %s: %s" % (svc["container"], exc), category="engine")
        checked[svc["name"]] = {}
        for endpoint, found in zip(endpoints, checks):  # noqa: B905 (targets may run Python < 3.10)
            checked[svc["name"]][endpoint["name"]] = found
            if not found["ok"]:
                events.append(ev.make_event(ev.CONNECTIVITY_FAIL, svc["name"], "cannot reach %s at %s: %s" % (
                    endpoint["name"], found["address"], found["detail"]), category="dependency"))
    if events:
        module.fail_json(msg="; ".join(e["message"] for e in events), category="dependency", checks=checked,
                         events=events)
    module.exit_json(changed=False, checks=checked, events=events)


if __name__ == "__main__":
    main()
