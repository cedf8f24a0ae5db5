#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: compose_project
short_description: Write a rendered Docker Compose project and bring it to a state
description:
  - Writes the files it is given into O(project_src), validates the result with C(docker compose config) on a
    staged copy before anything on the host changes, pulls missing images before touching running containers, and
    runs C(docker compose up --detach) only for services whose container is missing, stopped or built from another
    configuration (compose's config hash).
  - Renders nothing itself; templates are rendered by the caller (for example with the template lookup).
  - Every failure is returned with a RV(category) (image, port, config, engine, dependency, timeout, crash_loop, disk,
    unknown), the real cause stripped of compose's generic wrappers, and advice.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  project_src:
    description: Directory of the compose project on the host.
    type: path
    required: true
  project_name:
    description: Compose project name (C(-p)).
    type: str
    required: true
  files:
    description:
      - Files to write into O(project_src), keyed by path relative to it; values have C(content) and C(mode).
      - When empty, the files already in O(project_src) are used as they are.
      - Files with a private mode (no group or other bits, for example C(0600)) never appear in a diff.
      - The main file must be C(compose.yml).
    type: dict
    default: {}
  secret_files:
    description:
      - Files with secrets (env files), as O(files); never logged, never shown in a diff (only their hash).
      - The action plugin puts every rendered file with a private mode here.
    type: dict
    default: {}
  service:
    description: Service name used in the recorded events (handled by the action plugin).
    type: str
  templates:
    description:
      - Templates to render on the controller into files of the project (handled by the action plugin), keyed by
        path relative to O(project_src); values have C(src) (template path) and C(mode).
    type: dict
  state:
    description:
      - Wanted state of the project. C(recreated) replaces the containers with new ones from the files on the host
        (named volumes are kept); C(previous) rolls back to the files of the version before the last change (kept in
        C(.previous/) by every change); C(absent) removes containers and networks, and volumes only with
        O(remove_volumes).
    type: str
    choices: [present, stopped, restarted, recreated, previous, absent]
    default: present
  pull:
    description:
      - As in M(community.docker.docker_compose_v2). C(missing) pulls images not present on the host before any
        container changes; C(never) only checks they are present (air-gapped hosts, lab images); C(always) pulls
        every time; C(policy) pulls nothing beforehand and lets each service's C(pull_policy) decide during
        C(up --pull policy).
    type: str
    choices: [missing, never, always, policy]
    default: missing
  recreate:
    description:
      - As in M(community.docker.docker_compose_v2). C(auto) recreates a container only when the project's files
        changed (a hash of every rendered file, mounted config files included, is a label on each container,
        C(aiplatform.stack.config-hash)) or when it is missing or stopped; C(always) recreates every container of
        the project; C(never) only creates missing containers and starts stopped ones (C(up --no-recreate)), so
        changed files take effect on the next recreate.
      - The compose file must carry the label C(aiplatform.stack.config-hash) with the value
        C(${AIPLATFORM_CONFIG_HASH:-}) on each service; the platform templates do.
    type: str
    choices: [auto, always, never]
    default: auto
  docker_host:
    description:
      - The Docker engine to reach, as C(DOCKER_HOST) (C(unix://), C(tcp://), C(ssh://)); passed to every docker
        call of the module. The environment's or the local engine by default.
    type: str
    aliases: [docker_url]
  networks:
    description: External networks the project joins; created when missing (the platform's one network per host).
    type: list
    elements: str
    default: []
  remove_volumes:
    description: With O(state=absent), also remove the project's named volumes (data loss; never the default).
    type: bool
    default: false
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether files or containers would change; validates changed files; starts nothing.
  diff_mode:
    support: full
    details: Shows changed files; private files show only a hash of their content.
  idempotent:
    support: full
    details: An unchanged project with running containers of the current configuration reports no change.
requirements:
  - Docker engine with the Compose v2 plugin on the host
"""

EXAMPLES = r"""
- name: Deploy redis from a rendered compose file and env file
  aiplatform.stack.compose_project:
    project_src: /opt/aiplatform/redis
    project_name: aiplatform-redis
    files:
      compose.yml:
        content: "{{ lookup('ansible.builtin.template', 'compose.yml.j2') }}"
        mode: "0644"
      redis.env:
        content: "REDIS_PASSWORD={{ redis_password }}\n"
        mode: "0600"
    pull: never

- name: A second run with the same files reports no change
  aiplatform.stack.compose_project:
    project_src: /opt/aiplatform/redis
    project_name: aiplatform-redis
  register: again

- name: Stop the project, keeping its volumes
  aiplatform.stack.compose_project:
    project_src: /opt/aiplatform/redis
    project_name: aiplatform-redis
    state: stopped
"""

RETURN = r"""
events:
  description: Service events of this task (DEPLOY_START, DEPLOY_SUCCESS or DEPLOY_FAIL and its specific event).
  returned: always
  type: list
  elements: dict
  sample: [{type: DEPLOY_START, service: redis, level: INFO, message: deploying project aiplatform-redis}]
changed_files:
  description: Files that differed from what was on the host (relative paths).
  returned: state=present
  type: list
  elements: str
  sample: [compose.yml, config.yaml]
rollback_available:
  description: The files of the version before this change were kept in .previous/ (state=previous can bring it back).
  returned: state=present and a version existed before the change
  type: bool
  sample: true
drift:
  description: Compose services whose container was missing, stopped or of another configuration.
  returned: state=present and a compose file existed
  type: list
  elements: str
  sample: [litellm]
actions:
  description: Compose commands run, in order.
  returned: always
  type: list
  elements: str
  sample: [pull, up]
started:
  description: Containers compose reported as created, recreated or started.
  returned: when containers were started
  type: list
  elements: str
  sample: [aiplatform-redis-redis-1]
unparsed:
  description: Lines of compose output that were not JSON progress (expected empty; a warning is raised otherwise).
  returned: when containers were started
  type: list
  elements: str
  sample: []
category:
  description: Error category of a failure.
  returned: failure
  type: str
  sample: port
cause:
  description: The real cause of a failure, without compose's wrappers.
  returned: failure
  type: str
  sample: "Bind for 127.0.0.1:4000 failed: port is already allocated"
advice:
  description: What to do about a failure of this category.
  returned: failure
  type: str
  sample: free the port on the host or set another published port for the service in the inventory
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils.compose import ComposeError
from ansible_collections.aiplatform.stack.plugins.module_utils.host_checks import docker_host_problem, use_docker_host
from ansible_collections.aiplatform.stack.plugins.module_utils.project import ProjectDeployer, run_subprocess


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "project_src": {"type": "path", "required": True},
            "project_name": {"type": "str", "required": True},
            "files": {"type": "dict", "default": {}},
            "secret_files": {"type": "dict", "default": {}, "no_log": True},
            "service": {"type": "str"},
            "templates": {"type": "dict"},
            "state": {"type": "str", "default": "present",
                      "choices": ["present", "stopped", "restarted", "recreated", "previous", "absent"]},
            "pull": {"type": "str", "default": "missing", "choices": ["missing", "never", "always", "policy"]},
            "recreate": {"type": "str", "default": "auto", "choices": ["auto", "always", "never"]},
            "docker_host": {"type": "str", "aliases": ["docker_url"]},
            "remove_volumes": {"type": "bool", "default": False},
            "networks": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    problem = docker_host_problem(p["docker_host"])
    if problem:
        module.fail_json(msg=problem, category="config", cause=problem, advice="fix the docker_host option")
    use_docker_host(p["docker_host"])
    if not module.get_bin_path("docker"):
        module.fail_json(msg="docker CLI not found on the host", category="engine", cause="docker CLI not found",
                         advice="install a Docker engine with the Compose v2 plugin")

    # every compose call bounded in time (module_utils/runner.py): a stuck engine fails as command_timeout
    deployer = ProjectDeployer(run_subprocess, p["project_src"], p["project_name"], check_mode=module.check_mode)
    try:
        if p["state"] == "present":
            result = deployer.present(dict(p["files"], **p["secret_files"]), pull=p["pull"], recreate=p["recreate"], networks=p["networks"])
        elif p["state"] == "previous":
            result = deployer.previous(pull=p["pull"])
        elif p["state"] == "absent":
            result = deployer.absent(remove_volumes=p["remove_volumes"])
        else:
            result = getattr(deployer, p["state"])()
    except ComposeError as exc:
        result = dict(failed=True, changed=False, **exc.info)
    except ValueError as exc:
        module.fail_json(msg=str(exc), category="config", cause=str(exc), advice="fix the files option")

    diff = result.pop("diff", None)
    if module._diff and diff:
        result["diff"] = diff
    if result.get("unparsed"):
        module.warn("compose printed output the parser does not know: %s" % "; ".join(result["unparsed"][:5]))
    if result.pop("failed", False):
        module.fail_json(msg="[%s] %s" % (result["category"], result["cause"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
