#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: prepare_host
short_description: Take the host's run lock, check the host, load or generate its secrets - in one call
description:
  - First the run lock (a lease file under O(lock_dir)) - one run per host at a time. When another run holds it,
    nothing else happens and C(held_by) says who (the action waits, bounded, with a live line, then fails clearly).
  - Then the checks of M(aiplatform.stack.host_precheck) (engine, Compose version, disk, published ports); a failure
    gives the lock back.
  - Then what would start is checked against what wrote each service's data (see O(images)); a refusal gives the lock
    back and writes nothing.
  - Then the secrets of M(aiplatform.stack.service_secrets), read and written under the secrets directory's lock.
  - Then, with O(enabled), the orphan scan - containers, volumes and project directories the platform holds on this
    host for services the inventory does not enable here (three engine listings) - each an ORPHANED warning. Nothing
    is removed (see M(aiplatform.stack.platform_orphans)).
  - Its action plugin censors its result once secrets are in it (C(secret_values)); the pipeline keeps them with
    C(ansible.builtin.set_fact), in memory only.
version_added: 0.2.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  lock_dir:
    description: Directory of the run lock (the base directory).
    type: path
    required: true
  run:
    description: Run id of the holder; filled in by the action.
    type: str
    required: true
  holder:
    description: Who runs (controller, process), shown to a run that has to wait; filled in by the action.
    type: dict
    default: {}
  lock_ttl:
    description: Seconds after which a lock nobody gave back is stale and taken over.
    type: float
    default: 7200
  take_over:
    description: Run id of a holder known to be gone (its process ended on this controller); its lock is taken over.
    type: str
  ports:
    description: Published ports wanted on this host, as in M(aiplatform.stack.host_precheck).
    type: list
    elements: dict
    default: []
  paths:
    description: Paths that need free disk.
    type: list
    elements: path
    default: []
  min_disk_gb:
    description: Free disk needed (GiB).
    type: float
    default: 2.0
  docker_host:
    description: Docker daemon to use instead of the default socket.
    type: str
  secrets_dir:
    description: Directory of the secrets files.
    type: path
    required: true
  secrets:
    description: Per service, its secret names with C(kind) and C(length) (never values).
    type: dict
    default: {}
  enabled:
    description:
      - Every service the inventory enables on this host (not only those deployed by this run). When given, what
        the platform holds here for any other service is reported in RV(orphans) and as ORPHANED events.
      - Project directories are looked for below O(lock_dir) (the base directory).
    type: list
    elements: str
  networks:
    description: The link networks the enabled services need on this host; every other network with the platform's
      label is reported as spare in RV(orphans).
    type: list
    elements: str
    default: []
  images:
    description:
      - Per service, the list of images this run starts.
      - Each is compared with the release that last wrote the service's data, recorded beside its project
        (C(<lock_dir>/<service>/.aiplatform-data.json)). An older release is refused (DATA_REFUSED) before anything
        changes, naming both; a tag without a release number cannot be compared and is only warned of
        (VERSION_UNKNOWN).
      - The keys of O(secrets) marked C(encrypts_data) are fingerprinted there the first time they are seen; a key
        that is missing or different later is refused the same way, naming the service and the key.
    type: dict
    default: {}
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: The action waits for a held lock and sets the secret facts.
  check_mode:
    support: full
    details: No lock is taken, no secret is written; generated values live only for the run.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Changes only when a secret is generated.
"""

EXAMPLES = r"""
- name: Take the run lock, check the host, load or generate its secrets
  aiplatform.stack.prepare_host:
    lock_dir: /opt/aiplatform
    secrets_dir: /opt/aiplatform/secrets
    secrets: {redis: {password: {kind: token, length: 32}}}
    ports: [{service: litellm, port: 4000, bind: 127.0.0.1, container: aiplatform-litellm}]
    enabled: [redis, litellm]
"""

RETURN = r"""
held_by:
  description: The run that holds the lock (then nothing else was done).
  returned: when another run holds the lock
  type: dict
  sample: {run: 3f2a9c, controller: awx-1, since: 1795780000.0}
engine:
  description: Engine version, Compose version, data root, whether an NVIDIA runtime is registered.
  returned: when the checks ran
  type: dict
  sample: {server: 20.10.24, compose: 2.40.3, root: /var/lib/docker, gpu: false}
conflicts:
  description: Published ports held by something else.
  returned: always
  type: list
  elements: dict
  sample: []
secret_values:
  description: The secrets per service (the result is censored; the pipeline keeps them with set_fact).
  returned: success
  type: dict
  sample: {}
generated:
  description: Secrets generated by this run, as service.name.
  returned: success
  type: list
  elements: str
  sample: [redis.password]
orphans:
  description:
    - What the platform holds on this host for services the inventory does not enable here, in the form
      M(aiplatform.stack.platform_orphans) returns as RV(aiplatform.stack.platform_orphans#module:orphans).
  returned: when O(enabled) was given and the checks passed
  type: dict
  sample: {services: [], networks: []}
upgrading:
  description: The services whose data was last written by another release than the one this run starts (upgrade.yml
    takes its snapshot first when there is any).
  returned: success
  type: list
  elements: str
  sample: [n8n]
recorded:
  description: Per service placed here, what its data record says wrote its data (image name to image).
  returned: success
  type: dict
  sample: {n8n: {n8n: n8nio/n8n:2.41.1}}
refused:
  description: What was refused (then nothing was written), each with its service and reason (C(downgrade) or C(key)).
  returned: when an image or a key was refused
  type: list
  elements: dict
  sample: [{service: n8n, reason: downgrade}]
events:
  description: PRECHECK_FAIL, PORT_CONFLICT, ORPHANED, DATA_REFUSED and VERSION_UNKNOWN events.
  returned: always
  type: list
  elements: dict
  sample: []
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import data_record, host_checks, orphans, run_lock, runner, secrets_store
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lock_dir": {"type": "path", "required": True},
            "run": {"type": "str", "required": True},
            "holder": {"type": "dict", "default": {}},
            "lock_ttl": {"type": "float", "default": 7200},
            "take_over": {"type": "str"},
            "ports": {"type": "list", "elements": "dict", "default": []},
            "paths": {"type": "list", "elements": "path", "default": []},
            "min_disk_gb": {"type": "float", "default": 2.0},
            "docker_host": {"type": "str"},
            "secrets_dir": {"type": "path", "required": True},
            "secrets": {"type": "dict", "default": {}, "no_log": False},  # names and kinds, never values
            "enabled": {"type": "list", "elements": "str"},
            "networks": {"type": "list", "elements": "str", "default": []},
            "images": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not module.check_mode:
        if p["take_over"]:
            run_lock.release(p["lock_dir"], p["take_over"])
        held = run_lock.acquire(p["lock_dir"], dict(p["holder"], run=p["run"]), time.time(), p["lock_ttl"])
        if held:
            module.exit_json(changed=False, held_by=held, conflicts=[], events=[])
    checked = host_checks.precheck(p, runner.run)
    if checked.pop("failed", False):
        if not module.check_mode:
            run_lock.release(p["lock_dir"], p["run"])  # nothing will run: the next run need not wait
        module.fail_json(**checked)
    try:
        # what the run would use, checked against what wrote each service's data before a secret is written
        values, generated = secrets_store.ensure_all(p["secrets_dir"], p["secrets"], True)
        existing = {name: secrets_store.load(os.path.join(p["secrets_dir"], f"{name}.json")) for name in p["secrets"]}
        refused, warned = data_record.check_host(p["lock_dir"], p["secrets_dir"], p["secrets"], p["images"], values,
                                                 existing)
        if not refused and not module.check_mode:
            values, generated = secrets_store.ensure_all(p["secrets_dir"], p["secrets"], False)
            data_record.record_host(p["lock_dir"], p["secrets"], values)
    except (OSError, ValueError) as exc:
        if not module.check_mode:
            run_lock.release(p["lock_dir"], p["run"])
        module.fail_json(msg="secrets in %s: %s" % (p["secrets_dir"], exc), category="config", conflicts=[], events=[])
    checked["events"] = list(checked.get("events") or []) + [
        ev.make_event(ev.VERSION_UNKNOWN, service, text) for service, text in warned]
    if refused:
        if not module.check_mode:
            run_lock.release(p["lock_dir"], p["run"])
        events = checked["events"] + [ev.make_event(ev.DATA_REFUSED, service, text, reason=reason, category="config")
                                      for service, reason, text in refused]
        module.fail_json(msg="; ".join(text for dummy, dummy, text in refused), category="config",
                         refused=[{"service": s, "reason": r} for s, r, dummy in refused], conflicts=[], events=events)
    if p["enabled"] is not None:
        # in this round trip, so the warning costs the deploy three engine listings and no extra module call
        try:
            checked["orphans"] = orphans.scan(runner.run, p["lock_dir"], p["enabled"], wanted_networks=p["networks"])
            checked["events"] = list(checked.get("events") or []) + orphans.orphan_events(checked["orphans"])
        except orphans.ScanError as exc:
            module.warn("orphan scan skipped: %s" % exc)
    checked["upgrading"] = data_record.changing(p["lock_dir"], p["images"])
    # what wrote each service's data here, for the backups of other hosts (the PostgreSQL host's holds its database)
    checked["recorded"] = {name: data_record.load_images(os.path.join(p["lock_dir"], name)) for name in p["images"]}
    module.exit_json(changed=bool(generated), values=values, generated=generated, **checked)  # the action renames it


if __name__ == "__main__":
    main()
