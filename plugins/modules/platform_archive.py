#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_archive
short_description: The host's side of a platform backup or restore (dumps, volumes, manifest, checks)
description:
  - One step of a backup or restore on the host, driven by the M(aiplatform.stack.platform_backup) and
    M(aiplatform.stack.platform_restore) actions, which plan, encrypt, seal and judge on the controller. The logic
    is in C(module_utils/backup.py).
  - C(read_secrets) returns the stored secrets of the given services (the action encrypts them; never printed).
    C(take) writes an unsealed archive C(<dest>/<stamp>-<host>.partial) - pg_dump per database, the roles, a tar of
    each volume (containers that write it paused meanwhile), the encrypted secrets, the manifest - and returns the
    manifest. C(close) seals it, drops C(.partial) and prunes beyond the newest O(keep).
  - C(check) returns an archive's manifest, seal and checksum problems, and the platform's running containers.
    C(write_secrets), C(restore_volumes) and C(restore_databases) put the parts back.
  - With O(repository), the parts live in a restic repository instead (C(module_utils/restic.py)). C(snapshot) takes a
    backup into it (databases streamed from pg_dump, the volumes and secrets read from read-only mounts, the manifest
    last) and applies the retention O(keep_rules). C(check_snapshot) picks the run O(which) of O(from_host) and reads
    every byte of it back through restic's authentication. C(restore_secrets) writes the run's secrets of O(services)
    into the store; C(restore_volumes) and C(restore_databases) read from the run (O(archive) is its snapshot id).
    C(verify) runs C(restic check --read-data-subset O(subset)).
version_added: 0.3.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [read_secrets, take, close, check, write_secrets, restore_volumes, restore_databases, snapshot,
              check_snapshot, restore_secrets, verify]
  secrets_dir:
    description: The host's secrets store.
    type: path
  services:
    description: Services whose secrets to read (C(read_secrets)).
    type: list
    elements: str
    default: []
  plan:
    description: What to take (C(take)), as C(module_utils/backup.py) C(plan()) returns it.
    type: dict
    default: {}
  dest:
    description: Directory of the archives (C(take)).
    type: path
  host:
    description: Inventory name of the host (names the archive).
    type: str
  secrets_blob:
    description: The encrypted secrets (C(take)); written as C(secrets.enc).
    type: str
  pause:
    description: Pause the containers that write a volume while it is copied (C(take)).
    type: bool
    default: true
  facts:
    description: Facts recorded in the manifest (collection version, run).
    type: dict
    default: {}
  archive:
    description: An archive directory (C(close) - the partial one -, C(check), C(restore_*)).
    type: path
  seal:
    description: The manifest's HMAC (C(close)).
    type: str
  keep:
    description: Complete archives of this host kept (C(close)); 0 keeps all.
    type: int
    default: 7
  bundle:
    description: Secrets to store (C(write_secrets)); service to name to value.
    type: dict
    default: {}
  items:
    description: Manifest files to restore (C(restore_volumes), C(restore_databases)).
    type: list
    elements: dict
    default: []
  images:
    description: Volume name to the image its tar runs in (C(restore_volumes)), pinned by the inventory.
    type: dict
    default: {}
  postgres:
    description: C({container, admin_user}) (C(restore_databases)).
    type: dict
    default: {}
  skip_roles:
    description: Roles of the backup not to re-create (the old server's admin role) (C(restore_databases)).
    type: list
    elements: str
    default: []
  force:
    description: Replace existing volumes, databases and differing secrets.
    type: bool
    default: false
  pull:
    description: Pull a missing image for a volume's tar (C(restore_volumes)).
    type: bool
    default: true
  password:
    description: The repository's password (the operator's backup key). Reaches restic only through its environment.
    type: str
  keep_rules:
    description: Retention after a C(snapshot) - C({last, daily, weekly, monthly}) for C(restic forget --prune); empty
      keeps everything.
    type: dict
    default: {}
  record:
    description: A file where C(close), C(snapshot) and C(verify) keep the last backup's facts (run, time, size, last
      data check) for status (C(platform_sizes)); 0600.
    type: path
  subset:
    description: The share of the repository's data C(verify) reads back (C(restic check --read-data-subset)) -
      C(10%), C(1/7), C(500M).
    type: str
    default: 10%
  from_host:
    description: Whose backup to restore (C(check_snapshot)); defaults to O(host).
    type: str
  which:
    description: The run to restore (C(check_snapshot)) - C(latest), a run name (C(<stamp>-<host>)) or a snapshot id.
    type: str
    default: latest
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.restic
attributes:
  check_mode:
    support: partial
    details: C(read_secrets) and C(check) run; every other step changes nothing and reports what it would do.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: A backup writes a new archive each time; a restore refuses to overwrite unless forced.
"""

EXAMPLES = r"""
- name: Check an archive (the restore action does this first)
  aiplatform.stack.platform_archive:
    step: check
    archive: /var/backups/aiplatform/20261127T101500Z-app1
  register: checked
"""

RETURN = r"""
values:
  description: The stored secrets (C(read_secrets)); the action encrypts them and never returns them.
  returned: step read_secrets
  type: dict
archive:
  description: The archive written (C(take) - partial -, C(close) - complete).
  returned: steps take, close
  type: str
  sample: /var/backups/aiplatform/20261127T101500Z-app1
manifest_text:
  description: The manifest as written (C(take), C(check)).
  returned: steps take, check
  type: str
seal:
  description: The manifest's stored HMAC (C(check)).
  returned: step check
  type: str
problems:
  description: Files missing or different from the manifest (C(check)).
  returned: step check
  type: list
  elements: str
running:
  description: The platform's running containers on the host (C(check)).
  returned: step check
  type: list
  elements: str
volumes:
  description: The volumes on the host (C(check)).
  returned: step check
  type: list
  elements: str
snapshot:
  description: The run's files snapshot in the restic repository (C(snapshot), C(check_snapshot)).
  returned: steps snapshot, check_snapshot
  type: str
run:
  description: The run's name, C(<stamp>-<host>) (C(snapshot), C(check_snapshot)).
  returned: steps snapshot, check_snapshot
  type: str
size:
  description: Bytes read for the backup (C(snapshot)).
  returned: step snapshot
  type: int
added:
  description: Bytes the repository grew by, after deduplication and compression (C(snapshot)).
  returned: step snapshot
  type: int
forgotten:
  description: Snapshot ids removed by the retention (C(snapshot)).
  returned: step snapshot
  type: list
  elements: str
pruned:
  description: Archives removed by retention (C(close)).
  returned: step close
  type: list
  elements: str
restored:
  description: What was put back.
  returned: steps write_secrets, restore_volumes, restore_databases
  type: list
  elements: str
events:
  description: Events of the step (pauses, resumes, parts restored).
  returned: always
  type: list
  elements: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, restic
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev


def keeps_record(params: dict) -> bool:
    """A record is kept where asked, in a directory the platform made (a host without the base directory keeps none)."""
    return bool(params["record"]) and os.path.isdir(os.path.dirname(params["record"]))


def run_step(module: AnsibleModule, archive: backup.Archive) -> dict:
    p = module.params
    step = p["step"]
    if step == "check_snapshot":
        checked = archive.check(p["from_host"] or p["host"], p["which"])
        return dict(checked, running=archive.running(), volumes=archive.volumes(), changed=False)
    if step == "read_secrets":
        return {"values": backup.read_secrets(p["secrets_dir"], p["services"]), "changed": False}
    if step == "check":
        return dict(backup.check(p["archive"]), running=archive.running(), volumes=archive.volumes(), changed=False)
    if module.check_mode:
        return {"changed": True, "msg": f"check mode: {step} not run"}
    if step == "snapshot":
        taken = archive.take(p["plan"], p["secrets_dir"], time.time(), p["pause"], p["facts"], p["keep_rules"])
        if keeps_record(p):
            backup.write_record(p["record"], name=taken["run"], time=time.time(), where=p["repository"],
                                engine="restic", size=taken["size"], added=taken["added"])
        return dict(taken, changed=True)
    if step == "verify":
        archive.verify(p["subset"])
        if keeps_record(p):
            backup.write_record(p["record"], verified=time.time(), verified_subset=p["subset"])
        return {"changed": False, "subset": p["subset"]}
    if step == "restore_secrets":
        bundle = archive.read_secrets_of(p["archive"], p["services"])
        return {"restored": backup.write_secrets(p["secrets_dir"], bundle, p["force"]), "changed": bool(bundle)}
    if step == "take":
        where, text = backup.take(archive, p["dest"], p["host"], p["plan"], p["secrets_blob"], time.time(),
                                  p["pause"], p["facts"])
        return {"archive": where, "manifest_text": text, "changed": True}
    if step == "close":
        final, pruned = backup.close(p["archive"], p["seal"], p["keep"], p["host"])
        if keeps_record(p):
            size = backup.load_manifest(final)[1].get("size")
            backup.write_record(p["record"], name=os.path.basename(final), time=time.time(),
                                where=os.path.dirname(final), engine="archive", size=size, added=size)
        return {"archive": final, "pruned": pruned, "changed": True}
    if step == "write_secrets":
        return {"restored": backup.write_secrets(p["secrets_dir"], p["bundle"], p["force"]), "changed": True}
    if step == "restore_volumes":
        done = [archive.restore_volume(p["archive"], item, p["images"][item["volume"]], p["force"], p["pull"])
                for item in p["items"]]
        return {"restored": done, "changed": bool(done)}
    done = archive.restore_databases(p["archive"], p["postgres"], p["items"], tuple(p["skip_roles"]), p["force"])
    return {"restored": done, "changed": bool(done)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": ["read_secrets", "take", "close", "check",
                                                                  "write_secrets", "restore_volumes",
                                                                  "restore_databases", "snapshot",
                                                                  "check_snapshot", "restore_secrets", "verify"]},
            "secrets_dir": {"type": "path"}, "services": {"type": "list", "elements": "str", "default": []},
            "plan": {"type": "dict", "default": {}}, "dest": {"type": "path"}, "host": {"type": "str"},
            # encrypted: safe to show
            "secrets_blob": {"type": "str", "no_log": False}, "pause": {"type": "bool", "default": True},
            "facts": {"type": "dict", "default": {}}, "archive": {"type": "path"}, "seal": {"type": "str"},
            "keep": {"type": "int", "default": 7}, "bundle": {"type": "dict", "default": {}, "no_log": True},
            "items": {"type": "list", "elements": "dict", "default": []}, "images": {"type": "dict", "default": {}},
            "postgres": {"type": "dict", "default": {}},
            "skip_roles": {"type": "list", "elements": "str", "default": []},
            "force": {"type": "bool", "default": False}, "pull": {"type": "bool", "default": True},
            "repository": {"type": "str", "default": ""}, "password": {"type": "str", "no_log": True},
            "repository_env": {"type": "dict", "default": {}, "no_log": True},
            "image": {"type": "str", "default": restic.DEFAULT_IMAGE},
            "keep_rules": {"type": "dict", "default": {}}, "from_host": {"type": "str"},
            "record": {"type": "path"}, "subset": {"type": "str", "default": "10%"},
            "which": {"type": "str", "default": "latest"},
        },
        supports_check_mode=True,
    )
    events: list[dict] = []

    def emit(kind: str, service: str, message: str, **facts) -> None:
        events.append(ev.make_event(kind, service, message, **facts))

    docker = module.get_bin_path("docker") or "docker"
    try:
        if module.params["repository"]:
            archive = restic.ResticArchive(module.params["repository"], module.params["password"] or "",
                                           module.params["image"], module.params["host"] or "", emit=emit,
                                           docker=docker, repository_env=module.params["repository_env"])
        else:
            archive = backup.Archive(emit=emit, docker=docker)
        result = run_step(module, archive)
    except backup.BackupError as exc:
        module.fail_json(msg=str(exc), category=exc.category, events=events)
    except (OSError, ValueError, KeyError) as exc:
        module.fail_json(msg=f"{module.params['step']}: {exc}", category="unknown", events=events)
    module.exit_json(events=events, **result)


if __name__ == "__main__":
    main()
