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

import json
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import errors as err
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
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
    host = socket.gethostname()
    events = []

    def fail(category, message, **extra):
        events.append(ev.make_event(ev.PRECHECK_FAIL, "host", message, category=category, host=host))
        module.fail_json(msg="[%s] %s" % (category, message), category=category, advice=err.ADVICE[category],
                         events=events, conflicts=[], **extra)

    problem = hc.docker_host_problem(module.params["docker_host"])
    if problem:
        fail(err.CONFIG, problem)
    hc.use_docker_host(module.params["docker_host"])
    rc, out, errout = runner.run(["docker", "info", "--format", "{{json .}}"])
    if rc != 0:
        fail(err.COMMAND_TIMEOUT if rc == runner.TIMEOUT_RC else err.ENGINE,
             "Docker engine not reachable: %s" % (errout.strip().splitlines() or ["no answer"])[-1])
    info = json.loads(out)
    if info.get("ServerErrors"):
        fail(err.ENGINE, "Docker engine not reachable: %s" % "; ".join(info["ServerErrors"]))
    rc, compose_version, errout = runner.run(["docker", "compose", "version", "--short"])
    if rc != 0:
        fail(err.ENGINE, "the Docker Compose v2 plugin is missing: %s" % errout.strip())
    problem = hc.compose_problem(compose_version)
    if problem:
        fail(err.ENGINE, problem, engine={"server": info.get("ServerVersion"), "compose": compose_version.strip()})
    # An NVIDIA runtime registered with the engine is what a GPU profile (Ollama) needs.
    engine = {"server": info.get("ServerVersion"), "compose": compose_version.strip(), "root": info.get("DockerRootDir"),
              "gpu": "nvidia" in (info.get("Runtimes") or {})}

    for path in [engine["root"]] + module.params["paths"]:
        free = hc.disk_free_gb(path)
        if free < module.params["min_disk_gb"]:
            fail(err.DISK, "only %.1f GiB free for %s (need %.1f)" % (free, path, module.params["min_disk_gb"]),
                 engine=engine)

    wanted = module.params["ports"]
    conflicts = []
    if wanted:
        rc, out, errout = runner.run(["docker", "ps", "--format", "{{.Names}}\t{{.Ports}}"])
        published = {}
        for line in out.splitlines():
            name, dummy, ports = line.partition("\t")
            for item in ports.split(", "):
                if "->" in item:
                    host_part = item.split("->")[0]
                    port = host_part.rsplit(":", 1)[-1]
                    if port.isdigit():
                        published[int(port)] = name
        found = hc.port_conflicts(wanted, hc.listening(), published, host)
        procs = hc.owners({i for c in found for i in c["inodes"]}) if found else {}
        for c in found:
            message = hc.describe_conflict(c, procs)
            conflicts.append(dict(c, message=message))
            events.append(ev.make_event(ev.PORT_CONFLICT, c["service"], message, category=err.PORT, host=host))
    if conflicts:
        module.fail_json(msg="[port] " + "; ".join(c["message"] for c in conflicts), category=err.PORT,
                         advice=err.ADVICE[err.PORT], conflicts=conflicts, events=events, engine=engine)
    module.exit_json(changed=False, engine=engine, conflicts=[], events=events)


if __name__ == "__main__":
    main()
