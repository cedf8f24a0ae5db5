#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_step
short_description: One round trip of a host's deploy, as the deploy scheduler asks for it
description:
  - Used by the M(aiplatform.stack.deploy_platform) action, which decides what happens next; not meant to be called
    from a playbook.
  - In one call, in this order - C(check) projects (validate rendered files on a staged copy, compare their hash
    with the running containers, probe the unchanged ones), C(stop) or roll back (C(previous)) projects, bring
    projects C(up) in parallel threads, C(probe) services, probe the C(remote) endpoints of dependencies on other
    hosts, make the application C(databases) once PostgreSQL answers, set up the applications' first administrators
    (C(admins)) and register their LiteLLM C(virtual_keys) once those answer, and check the C(wiring) of services
    from inside their network namespaces.
  - Nothing waits or retries here.
  - Environment values are compared by digest on the host; no value and no digest is ever returned.
version_added: 0.2.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  check:
    description:
      - Projects to compare with what runs, each C(service), C(project_src), C(project_name), C(files),
        C(secret_files), C(probe), C(target), C(model). Changes nothing on the host but the kept model.
      - A project whose files are unchanged and whose containers run is also checked for drift - its probed
        containers (image, config hash, environment keys, mounts, ports, networks, restart policy) against
        C(model), with one C(docker image inspect) for the step; a drifted project counts as changed.
    type: list
    elements: dict
    default: []
    suboptions: &project
      service:
        description: Service name.
        type: str
        required: true
      project_src:
        description: Project directory on the host.
        type: path
        required: true
      project_name:
        description: Compose project name.
        type: str
        required: true
      files:
        description: Rendered files by path relative to the project directory (C(content), C(mode)).
        type: dict
        default: {}
      secret_files:
        description: Rendered files with a private mode (env files with secrets); never logged.
        type: dict
        default: {}
      probe:
        description: The service's readiness probe.
        type: dict
      target:
        description: Compose service the probe is sent to.
        type: str
      model:
        description:
          - What drift is judged by - the rendered compose file parsed on the controller (image, environment, env
            files, mounts, ports, networks, restart policy per compose service). Without it, only the config hash is
            compared. Kept beside the project (C(.aiplatform-models.json), 0600) for M(aiplatform.stack.platform_status).
        type: dict
      recreate_services:
        description: Compose services to recreate although their hash label is current (their containers drifted).
        type: list
        elements: str
      validated:
        description:
          - What the check step of this run found valid in the same files (its result's C(validated)), so O(up)
            neither validates them nor looks for their images again.
        type: dict
      start_if_changed:
        description:
          - In O(check) only, for a project that needs nothing that is not healthy yet - bring it up in this call when
            the check finds it changed (its result then has C(brought_up)), so the first call of a deploy also starts
            what depends on nothing. Ignored in check mode.
        type: bool
        default: false
  up:
    description: Projects to bring up (same shape as O(check)); images pulled first, containers touched only on drift.
    type: list
    elements: dict
    default: []
    suboptions: *project
  stop:
    description: Projects to stop (C(service), C(project_src), C(project_name)); volumes kept.
    type: list
    elements: dict
    default: []
    suboptions: *project
  previous:
    description: Projects to roll back to the files of their previous version.
    type: list
    elements: dict
    default: []
    suboptions: *project
  probe:
    description: Services to probe, each C(name), C(project), C(probe), C(target), and C(with_logs) (the log tail of
      a service still waiting is wanted).
    type: list
    elements: dict
    default: []
  baseline:
    description: Restart count of each container when its wait began (a later increase is a crash loop).
    type: dict
    default: {}
  poll:
    description:
      - Keep probing O(probe) and O(remote) on the host while every answer is "waiting", until one changes or
        O(poll.seconds) have passed. The pause between rounds grows from O(poll.base) to O(poll.cap) (exponential,
        full jitter, at least 0.1 s). Restart counts keep the baseline of the first round.
    type: dict
    suboptions:
      seconds:
        description: Longest time to keep probing.
        type: float
        default: 5.0
      base:
        description: First pause between rounds.
        type: float
        default: 0.25
      cap:
        description: Longest pause between rounds.
        type: float
        default: 1.0
  remote:
    description: Dependencies on other hosts, probed from here at their published endpoint.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The dependency.
        type: str
        required: true
      host:
        description: Address of its host.
        type: str
        required: true
      port:
        description: Its published port.
        type: int
        required: true
      probe:
        description: An HTTP probe (C(type), C(path), C(status), C(json), C(body_contains)), or C(tcp).
        type: dict
        default: {}
      backoff:
        description: Its backoff (used by the scheduler).
        type: dict
      type:
        description: Its service type (used by the scheduler).
        type: str
      logins:
        description: PostgreSQL only - ready when each of these logs in to its own database.
        type: list
        elements: dict
        suboptions:
          user:
            description: Role.
            type: str
            required: true
          password:
            description: Its password.
            type: str
            required: true
          database:
            description: Its database.
            type: str
            required: true
  databases:
    description: The application databases, made once PostgreSQL answers.
    type: dict
    suboptions:
      container:
        description: PostgreSQL's container.
        type: str
        required: true
      admin_user:
        description: Its superuser.
        type: str
        default: postgres
      when_ready:
        description: A service whose probe in this call must have answered first.
        type: str
      databases:
        description: As in M(aiplatform.stack.postgres_app_db).
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: Database name.
            type: str
            required: true
          owner:
            description: Role that owns it.
            type: str
            required: true
          password:
            description: The owner's password.
            type: str
            required: true
          extensions:
            description: Extensions made inside it.
            type: list
            elements: str
            default: []
  admins:
    description:
      - The first administrator of each application, set up (or, when it exists, verified by a login) once its
        probe in this call answered, through the application's own setup API (see the README, "Security model").
      - An administrator that exists but refuses the stored credentials is never overwritten - category C(claimed).
    type: list
    elements: dict
    default: []
    suboptions:
      service:
        description: Service name.
        type: str
        required: true
      kind:
        description: Which setup protocol (the service's C(first_admin.kind) declaration; a new service names the
          protocol of the application it speaks like, e.g. C(flowise)).
        type: str
        required: true
        choices: [n8n, flowise, openwebui, dify, anythingllm]
      target:
        description: Compose service whose container address is used.
        type: str
      port:
        description: Container port of its API.
        type: int
        required: true
      email:
        description: The administrator's email (its login).
        type: str
        required: true
      name:
        description: The administrator's display name.
        type: str
        default: Platform Admin
      password:
        description: The administrator's password (generated, from the secrets file).
        type: str
        required: true
      init_password:
        description: Dify's INIT_PASSWORD, asked before its setup.
        type: str
      secrets_file:
        description: Where the password is kept, for the messages.
        type: str
      reset:
        description: How to reset the application's administrator, for the messages.
        type: str
      wait:
        description: Seconds to keep trying while the setup API does not answer yet.
        type: float
        default: 30
  virtual_keys:
    description:
      - LiteLLM's virtual keys for the applications (database mode), registered with its master key once its probe
        in this call answered - one known to LiteLLM is verified (its models updated when they differ), one it does
        not know (or that it deleted) is registered with the same value, one whose alias holds another value (a
        rotated key) replaces it. See the README, "Security model".
    type: list
    elements: dict
    default: []
    suboptions:
      service:
        description: Service name (LiteLLM's).
        type: str
        required: true
      target:
        description: Compose service whose container address is used.
        type: str
      port:
        description: Container port of LiteLLM's API.
        type: int
        required: true
      master_key:
        description: LiteLLM's master key (from its secrets file).
        type: str
        required: true
      applications:
        description: One key per application.
        type: list
        elements: dict
        required: true
        suboptions:
          alias:
            description: The key's alias in LiteLLM - the application's name.
            type: str
            required: true
          key:
            description: The key (generated per install, C(key_<application>) in LiteLLM's secrets file).
            type: str
            required: true
          models:
            description: The model names it may use (empty - all).
            type: list
            elements: str
            default: []
      secrets_file:
        description: Where the keys are kept, for the messages.
        type: str
      wait:
        description: Seconds to keep trying while the key API does not answer yet.
        type: float
        default: 30
  wiring:
    description: Links to check, each C(name), C(container), C(endpoints), and C(if_ready) (only when its probe in
      this call answered).
    type: list
    elements: dict
    default: []
  models:
    description: Models a service should have (C(service), C(port), C(names)); listed when its probe in this call
      answered, so a re-run knows without a pull step that nothing is missing.
    type: list
    elements: dict
    default: []
  release_lock_if_settled:
    description: C(dir) and C(run) of the host's run lock, given back when this call finds nothing left to do
      (nothing brought up, stopped or rolled back, every checked project unchanged, every service checked or probed
      answering, databases, administrators, virtual keys, wiring, models and remote dependencies fine).
    type: dict
  pull:
    description: Image pull policy.
    type: str
    choices: [missing, never, always]
    default: missing
  networks:
    description: External networks to create when missing.
    type: list
    elements: str
    default: []
  parallel:
    description: Projects handled at once.
    type: int
    default: 8
  log_lines:
    description: Log lines kept of a crash-looping container.
    type: int
    default: 20
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: Only C(check), C(probe), C(remote) and C(wiring) run; databases are read, not changed.
  diff_mode:
    support: partial
    details: Each C(check) result carries a C(diff) (rendered files, drift of the containers); the module itself
      returns none.
  idempotent:
    support: full
    details: Unchanged projects with running containers of the current configuration are not touched.
"""

EXAMPLES = r"""
- name: What would change on this host, and is what runs healthy (the no-op fast path)
  aiplatform.stack.deploy_step:
    check:
      - service: redis
        project_src: /opt/aiplatform/redis
        project_name: aiplatform-redis
        files: {compose.yml: {content: "services: {}\n", mode: "0644"}}
        probe: {type: command, command: [redis-cli, ping], expect_output: PONG}
"""

RETURN = r"""
check:
  description:
    - Per service, what M(aiplatform.stack.compose_project) returns in check mode; for a project asked to
      C(start_if_changed) that changed, what it returns for state C(present), with C(brought_up).
    - A drifted service also has C(container_drift) (C(service), C(container), C(field), C(expected), C(found) per
      difference; environment entries name the key only), C(reason), C(recreate_services), and a C(diff) entry.
  returned: always
  type: dict
  sample: {redis: {changed: true, changed_files: [], drift: [], reason: "drift: port 0.0.0.0:6380->6380/tcp added",
                   recreate_services: [redis], container_drift: [{service: redis, container: aiplatform-redis,
                   field: port, expected: (none), found: "0.0.0.0:6380->6380/tcp"}]}}
up:
  description: Per service, what M(aiplatform.stack.compose_project) returns for state C(present).
  returned: when not in check mode
  type: dict
  sample: {redis: {changed: true, actions: [pull, up], rollback_available: false}}
stop:
  description: Per service asked to stop, what M(aiplatform.stack.compose_project) returns for state C(stopped).
  returned: when not in check mode
  type: dict
  sample: {n8n: {changed: true, actions: [stop]}}
previous:
  description:
    - Per service asked to roll back, C(changed) and C(actions), or C(failed) with C(category), C(cause) and
      C(advice) (no previous version kept).
  returned: when not in check mode
  type: dict
  sample: {n8n: {changed: true, actions: []}}
probe:
  description:
    - Per service, C(verdict) (ready, waiting, crash_loop, engine_restarted), C(detail), C(containers), C(logs),
      C(engine_started) (epoch seconds; a container that ended before it stopped with the engine).
  returned: always
  type: dict
  sample: {redis: {verdict: ready, detail: PONG, containers: []}}
remote:
  description: Per remote dependency, C(verdict) and C(detail).
  returned: always
  type: dict
  sample: {postgres: {verdict: ready, detail: "10.0.0.5:5432 tcp open"}}
databases:
  description: C(ok), C(changes) or C(category) and C(cause).
  returned: when databases were asked for and could be made
  type: dict
  sample: {ok: true, changes: [created database n8n]}
admins:
  description:
    - Per application asked for whose probe answered, C(ok), C(changed), C(action) (created, verified,
      would_create, present), or C(category) (C(claimed) - set up by someone else -, C(timeout), C(unknown)),
      C(cause) and C(advice). Never a password.
  returned: always
  type: dict
  sample: {n8n: {ok: true, changed: true, action: created}}
virtual_keys:
  description:
    - For LiteLLM when asked for and its probe answered, C(ok), C(changed), C(actions) per application
      (registered, replaced, updated, verified, would_register, would_update), or C(category), C(cause) and
      C(advice). Never a key.
  returned: always
  type: dict
  sample: {litellm: {ok: true, changed: true, actions: {openwebui: registered, anythingllm: verified}}}
lock_released:
  description: The run lock was given back (see O(release_lock_if_settled)).
  returned: when asked to and nothing was left to do
  type: bool
  sample: true
polls:
  description: Probe rounds made after the first one (O(poll)).
  returned: when O(poll) was given and something was probed
  type: int
  sample: 4
models:
  description: Per service asked for, the models it lacks.
  returned: always
  type: dict
  sample: {ollama: []}
wiring:
  description: Per service, per dependency, C(ok), C(address), C(detail).
  returned: always
  type: dict
  sample: {n8n: {postgres: {ok: true, address: "172.20.0.3:5432", detail: open}}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import step_protocol
from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import run_step


def main() -> None:
    module = AnsibleModule(
        argument_spec=step_protocol.ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    if not module.get_bin_path("docker"):
        module.fail_json(msg="docker CLI not found on the host", category="engine")
    request = dict(module.params)
    for part in ("check", "up"):
        request[part] = [dict(p, files=dict(p["files"], **p["secret_files"])) for p in request[part]]
    result = run_step(request, check_mode=module.check_mode)
    started = list((result.get("up") or {}).values()) + [r for r in result["check"].values() if r.get("brought_up")]
    module.exit_json(changed=any(r.get("changed") for r in started), **result)


if __name__ == "__main__":
    main()
