#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: compose_projects
short_description: Bring the compose projects of one dependency wave up together
description:
  - The state C(present) of M(aiplatform.stack.compose_project) for several projects in one call, run in parallel
    threads - the services of one wave start together, and a wave costs one module call however wide it is.
  - Each project is validated, its images pulled, and its containers touched only when it drifted, exactly as in
    M(aiplatform.stack.compose_project); a failure of one project never stops the others.
  - The action plugin renders each project's templates on the controller and records DEPLOY_START, DEPLOY_SUCCESS or
    DEPLOY_FAIL (with its category) per service.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  projects:
    description: The projects.
    type: list
    elements: dict
    required: true
    suboptions:
      service:
        description: Service name (events, results).
        type: str
        required: true
      project_src:
        description: Directory of the project on the host.
        type: path
        required: true
      project_name:
        description: Compose project name.
        type: str
        required: true
      templates:
        description: Templates to render on the controller, keyed by path relative to O(projects[].project_src).
        type: dict
      files:
        description: Rendered files (filled in by the action plugin from O(projects[].templates)).
        type: dict
      secret_files:
        description: Rendered files with a private mode (env files with secrets); never logged, never in a diff.
        type: dict
      probe:
        description:
          - The service's readiness probe (see M(aiplatform.stack.service_probe)). A project that needed no change is
            probed once right away; when it is ready, its result carries C(ready) and no wait is needed.
        type: dict
      target:
        description: Compose service the probe is sent to (default the service name).
        type: str
  pull:
    description: Image pull policy, as in M(aiplatform.stack.compose_project).
    type: str
    choices: [missing, never, always, policy]
    default: missing
  networks:
    description: External networks to create when missing.
    type: list
    elements: str
    default: []
  parallel:
    description: Projects handled at once.
    type: int
    default: 4
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: Templates are rendered on the controller.
  check_mode:
    support: full
    details: As M(aiplatform.stack.compose_project).
  diff_mode:
    support: full
    details: Changed files of every project; private files (env files) show only a hash of their content.
  idempotent:
    support: full
    details: Unchanged projects with running containers of the current configuration report no change.
"""

EXAMPLES = r"""
- name: One wave, started together
  aiplatform.stack.compose_projects:
    projects:
      - service: n8n
        project_src: /opt/aiplatform/n8n
        project_name: aiplatform-n8n
        templates:
          compose.yml: {src: /path/to/roles/n8n/templates/compose.yml.j2, mode: "0644"}
      - service: litellm
        project_src: /opt/aiplatform/litellm
        project_name: aiplatform-litellm
        templates:
          compose.yml: {src: /path/to/roles/litellm/templates/compose.yml.j2, mode: "0644"}
    pull: never
"""

RETURN = r"""
deployed:
  description: Per service, in the given order, what M(aiplatform.stack.compose_project) returns, with C(item) (the
    service name) and C(service_failed) when it failed.
  returned: always
  type: list
  elements: dict
  sample: [{item: litellm, changed: false, changed_files: [], actions: [], ready: {detail: HTTP 200, containers: []}}]
events:
  description: DEPLOY_* events of every service.
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils.probes import probe_services
from ansible_collections.aiplatform.stack.plugins.module_utils.project import present_many


def probe_unchanged(module, projects: list[dict], outcome: list[dict]) -> None:
    """Probe the unchanged projects at once (one round): a ready one needs no wait, which saves a call per wave."""
    by_name = {p["service"]: p for p in projects}
    specs = [{"name": o["name"], "project": by_name[o["name"]]["project_name"], "probe": by_name[o["name"]]["probe"],
              "target": by_name[o["name"]].get("target")}
             for o in outcome if not o.get("failed") and not o.get("changed") and by_name[o["name"]].get("probe")]
    if not specs:
        return
    try:
        found = probe_services(module.run_command, specs)
    except RuntimeError:
        return  # the wait will probe them and say why
    for o in outcome:
        verdict = found.get(o["name"]) or {}
        if verdict.get("verdict") == "ready":
            o["ready"] = {"detail": verdict["detail"], "containers": verdict.get("containers", [])}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "projects": {"type": "list", "elements": "dict", "required": True, "options": {
                "service": {"type": "str", "required": True},
                "project_src": {"type": "path", "required": True},
                "project_name": {"type": "str", "required": True},
                "templates": {"type": "dict"},
                "files": {"type": "dict"},
                "secret_files": {"type": "dict", "no_log": True},
                "probe": {"type": "dict"},
                "target": {"type": "str"},
            }},
            "pull": {"type": "str", "default": "missing", "choices": ["missing", "never", "always", "policy"]},
            "networks": {"type": "list", "elements": "str", "default": []},
            "parallel": {"type": "int", "default": 4},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not module.get_bin_path("docker"):
        module.fail_json(msg="docker CLI not found on the host", category="engine")
    projects = [{"name": x["service"], "project_src": x["project_src"], "project_name": x["project_name"],
                 "files": dict(x.get("files") or {}, **(x.get("secret_files") or {}))} for x in p["projects"]]
    outcome = present_many(projects, p["pull"], p["networks"], check_mode=module.check_mode, parallel=p["parallel"])
    if not module.check_mode:
        probe_unchanged(module, p["projects"], outcome)
    diff = []
    for item in outcome:
        for entry in item.pop("diff", None) or []:
            diff.append(dict(entry, before_header="%s/%s" % (item["name"], entry["before_header"]),
                             after_header="%s/%s" % (item["name"], entry["after_header"])))
    result = {"changed": any(o.get("changed") for o in outcome), "projects": outcome}
    if module._diff and diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
