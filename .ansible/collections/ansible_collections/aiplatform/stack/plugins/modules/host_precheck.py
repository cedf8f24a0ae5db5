#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: host_precheck
short_description: Check a Docker host before anything on it changes
description:
  - Checks that the Docker engine answers and has the Compose v2 plugin in version 2.29 or newer (the platform reads
    compose's JSON progress stream), that the given paths have enough free
    disk, and that every host port the platform wants to publish is free or held by the service's own running
    container.
  - A port held by a foreign process or another container is a PORT_CONFLICT event naming the port, the host, the
    service that wants it, the holder (process id and command, or container) and the fix.
  - Changes nothing; one call covers every service placed on the host.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  ports:
    description: Published ports wanted on this host.
    type: list
    elements: dict
    default: []
    suboptions:
      service:
        description: Service that wants the port.
        type: str
        required: true
      port:
        description: Host port.
        type: int
        required: true
      bind:
        description: Address the port binds to.
        type: str
        default: 0.0.0.0
      container:
        description: Name of the service's own container (holding its own port is fine).
        type: str
        required: true
  paths:
    description: Paths whose file system needs O(min_disk_gb) free; the engine's data root is always checked.
    type: list
    elements: path
    default: []
  min_disk_gb:
    description: Free space needed on each checked file system, in GiB.
    type: float
    default: 2.0
  docker_host:
    description:
      - The Docker engine to check, as C(DOCKER_HOST) (C(unix://), C(tcp://), C(ssh://)); the environment's or the
        local engine by default.
      - Port and disk checks read the host the module runs on; they describe a remote engine only when the module
        runs on that engine's host.
    type: str
    aliases: [docker_url]
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
    details: Never changes anything.
"""

EXAMPLES = r"""
- name: Host ready for LiteLLM on 127.0.0.1:4000?
  aiplatform.stack.host_precheck:
    ports:
      - {service: litellm, port: 4000, bind: 127.0.0.1, container: aiplatform-litellm}
    paths: [/opt/aiplatform]
"""

RETURN = r"""
engine:
  description: Docker server and Compose versions, data root, and whether an NVIDIA runtime is registered (C(gpu)).
  returned: when the engine answers
  type: dict
  sample: {server: 20.10.24+dfsg1, compose: 2.40.3, root: /var/lib/docker, gpu: false}
conflicts:
  description: Port conflicts, each with service, port, bind, host, holder and message.
  returned: always
  type: list
  elements: dict
  sample: []
events:
  description: PORT_CONFLICT and PRECHECK_FAIL events.
  returned: always
  type: list
  elements: dict
  sample: []
category:
  description: engine, disk or port when the check failed.
  returned: failure
  type: str
  sample: port
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import host_checks as hc
from ansible_collections.aiplatform.stack.plugins.module_utils import runner


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "ports": {"type": "list", "elements": "dict", "default": [], "options": {
                "service": {"type": "str", "required": True},
                "port": {"type": "int", "required": True},
                "bind": {"type": "str", "default": "0.0.0.0"},
                "container": {"type": "str", "required": True},
            }},
            "paths": {"type": "list", "elements": "path", "default": []},
            "min_disk_gb": {"type": "float", "default": 2.0},
            "docker_host": {"type": "str", "aliases": ["docker_url"]},
        },
        supports_check_mode=True,
    )
    result = hc.precheck(module.params, runner.run)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
