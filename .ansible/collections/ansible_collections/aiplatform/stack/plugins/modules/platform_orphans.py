#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_orphans
short_description: Find, or remove, what the platform holds on a host for services the inventory does not enable there
description:
  - Lists the containers (with their state and published ports), volumes and networks that carry the platform's
    labels, and the project directories below O(base_dir), and compares them with O(enabled). A service found there
    but not enabled is an orphan (taken out of C(aiplatform_services), or placed on another host since).
  - Only the platform's own compose projects count (C(aiplatform-<service>), containers labelled
    C(aiplatform.stack.service)); other compose projects on the host are never looked at or touched.
  - With O(state=absent) the orphans' containers are removed in one C(docker rm --force) call; their volumes and
    project directories only with O(remove_volumes=true); then the platform networks O(networks) does not list
    (spare link networks, the shared network of releases before 0.3) are removed, a network still in use kept.
  - With O(networks_only=true) only the spare networks are removed, no container.
version_added: 0.3.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  base_dir:
    description: The platform's base directory (one project directory per service below it).
    type: path
    required: true
  enabled:
    description: Every service the inventory enables on this host.
    type: list
    elements: str
    required: true
  networks:
    description: The link networks the enabled services need on this host (the C(link_network_names) filter); every
      other network with the platform's label is spare.
    type: list
    elements: str
    default: []
  networks_only:
    description: With O(state=absent), remove only the spare networks (no container, volume or directory).
    type: bool
    default: false
  state:
    description: C(present) reports the orphans (ORPHANED events), C(absent) removes their containers.
    type: str
    choices: [present, absent]
    default: present
  remove_volumes:
    description: With O(state=absent), also remove the orphans' named volumes and project directories (their data).
    type: bool
    default: false
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: With O(state=absent) it reports what would be removed and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second removal finds no orphaned containers and changes nothing.
"""

EXAMPLES = r"""
- name: What does this host hold for services the inventory no longer enables here?
  aiplatform.stack.platform_orphans:
    base_dir: /opt/aiplatform
    enabled: [postgres, redis, litellm]
  register: orphans

- name: Remove the orphans' containers, keep their volumes
  aiplatform.stack.platform_orphans:
    base_dir: /opt/aiplatform
    enabled: [postgres, redis, litellm]
    state: absent

- name: Run again, nothing left to remove (changed=false)
  aiplatform.stack.platform_orphans:
    base_dir: /opt/aiplatform
    enabled: [postgres, redis, litellm]
    state: absent
"""

RETURN = r"""
orphans:
  description: What the platform holds on this host for services not enabled here (before any removal).
  returned: always
  type: dict
  contains:
    services:
      description: One entry per orphaned service.
      type: list
      elements: dict
      sample: [{service: redis, project: aiplatform-redis, project_dir: /opt/aiplatform/redis,
                containers: [{name: aiplatform-redis, state: running, status: Up 2 hours, image: "redis:7.4.7-alpine"}],
                ports: ["127.0.0.1:6379->6379/tcp"], volumes: [aiplatform_redis_data], networks: [aiplatform]}]
    networks:
      description: Platform networks nothing enabled on this host needs (not in O(networks)).
      type: list
      elements: str
      sample: []
  sample: {services: [], networks: []}
removed:
  description: What was (in check mode, would be) removed.
  returned: when O(state=absent)
  type: dict
  contains:
    containers:
      description: Container names.
      type: list
      elements: str
      sample: [aiplatform-redis]
    volumes:
      description: Volume names (only with O(remove_volumes)).
      type: list
      elements: str
      sample: []
    project_dirs:
      description: Project directories (only with O(remove_volumes)).
      type: list
      elements: str
      sample: []
    networks:
      description: Spare platform networks removed.
      type: list
      elements: str
      sample: [aiplatform]
  sample: {containers: [aiplatform-redis], volumes: [], project_dirs: [], networks: [aiplatform]}
kept_networks:
  description: Spare networks left because they are still in use (a container of another project joined them).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: []
events:
  description: ORPHANED events (O(state=present)) or SERVICE_REMOVED events (O(state=absent), not in check mode).
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import orphans, runner


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "base_dir": {"type": "path", "required": True},
            "enabled": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "remove_volumes": {"type": "bool", "default": False},
            "networks": {"type": "list", "elements": "str", "default": []},
            "networks_only": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        found = orphans.scan(runner.run, p["base_dir"], p["enabled"], wanted_networks=p["networks"])
    except orphans.ScanError as exc:
        module.fail_json(msg="docker engine: %s" % exc, category="engine", cause=str(exc))
    if p["state"] == "present":
        module.exit_json(changed=False, orphans=found, events=orphans.orphan_events(found))
    if p["networks_only"]:
        found = {"services": [], "networks": found["networks"]}
    result = orphans.remove(runner.run, found, p["remove_volumes"], module.check_mode)
    gone = result["removed"]
    events = []
    for o in found["services"]:
        what = [c["name"] for c in o["containers"]] + [v for v in o["volumes"] if v in gone["volumes"]]
        if what and not result.get("failed") and not module.check_mode:
            kept = "" if p["remove_volumes"] or not o["volumes"] else "; volumes kept: " + ", ".join(o["volumes"])
            events.append(ev.make_event(ev.SERVICE_REMOVED, o["service"], "orphan removed: %s%s" % (", ".join(what), kept),
                                        changed=True))
    if gone.get("networks") and not module.check_mode:
        events.append(ev.make_event(ev.SERVICE_REMOVED, "host", "spare platform networks removed: %s"
                                    % ", ".join(gone["networks"]), changed=True))
    for name in result.get("kept_networks") or []:
        module.warn("network %s is not needed by the platform here but still in use; left in place" % name)
    if result.get("failed"):
        module.fail_json(msg="[%s] %s" % (result["category"], result["cause"]), orphans=found, events=events, **result)
    module.exit_json(orphans=found, events=events, **result)


if __name__ == "__main__":
    main()
