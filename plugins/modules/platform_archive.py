#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_archive
short_description: The host's side of a platform backup or restore (restic snapshots, volumes, databases, checks)
description:
  - One step of a backup or restore on the host, driven by the M(aiplatform.stack.platform_backup) and
    M(aiplatform.stack.platform_restore) actions, which plan and judge on the controller. The logic is in
    C(module_utils/restic.py) and C(module_utils/backup.py).
  - With O(repository), the parts live in a restic repository. C(snapshot) takes a backup into it (databases streamed
    from pg_dump, the volumes and secrets read from read-only mounts, the manifest last) and applies the retention
    O(keep_rules). C(check_snapshot) picks the run O(which) of O(from_host) and reads every byte of it back through
    restic's authentication. C(restore_secrets) writes the run's secrets of O(services) into the store;
    C(restore_volumes) and C(restore_databases) read from the run (O(archive) is its snapshot id). C(verify) runs
    C(restic check --read-data-subset O(subset)).
  - Without O(repository), O(archive) is an archive directory written by release 0.2 or earlier, which is read and
    never written. C(check) returns its manifest, seal and checksum problems, and the platform's running containers;
    C(write_secrets) (the secrets the action decrypted), C(restore_volumes) and C(restore_databases) put the parts
    back.
version_added: 0.3.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [snapshot, check_snapshot, restore_secrets, verify, check, write_secrets, restore_volumes,
              restore_databases, record_data, set_back]
  secrets_dir:
    description: The host's secrets store.
    type: path
  services:
    description: Services whose secrets to restore (C(restore_secrets)).
    type: list
    elements: str
    default: []
  plan:
    description: What to take (C(snapshot)), as C(module_utils/backup.py) C(plan()) returns it.
    type: dict
    default: {}
  host:
    description: Inventory name of the host (names the run and tags its snapshots).
    type: str
  pause:
    description: Pause the containers that write a volume while it is read (C(snapshot)).
    type: bool
    default: true
  facts:
    description: Facts recorded in the manifest (collection version, run).
    type: dict
    default: {}
  archive:
    description: The run's files snapshot id (C(restore_*) with O(repository)), or an archive directory of release
      0.2 or earlier (C(check), C(restore_*) without it).
    type: str
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
  purpose:
    description: C(pre-upgrade) tags the run C(purpose=pre-upgrade) (C(snapshot)); the keep rules never remove such a
      run, O(keep_upgrades) does.
    type: str
    default: ''
    choices: ['', backup, pre-upgrade]
  keep_upgrades:
    description: How many pre-upgrade runs of this host to keep, the newest (C(snapshot)); unset keeps them all.
    type: int
  recorded:
    description:
      - Per service, what wrote its data by the records of every host (C(snapshot)); wins over O(base_dir)'s.
      - C(set_back) - per service, the images its record goes back to (a failed upgrade that migrated nothing).
    type: dict
    default: {}
  record:
    description: A file where C(snapshot) and C(verify) keep the last backup's facts (run, time, size, last
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
  base_dir:
    description:
      - The platform's base directory. C(record_data) writes the services' data records there; C(snapshot) reads
        them, so the manifest names the release that last wrote each service's data (before an upgrade, the old
        one), not only what the inventory pins.
    type: path
  written:
    description:
      - Per service restored here, its C(images) and C(keys) - the releases that wrote its data in the backup and the names
        of its secrets that encrypt it (C(record_data)).
      - Each service's data record (C(<base_dir>/<service>/.aiplatform-data.json)) is replaced by them, so a deploy
        after the restore compares its release with the restored data's, and the keys with the restored ones.
    type: dict
    default: {}
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
    details: C(check) and C(check_snapshot) run; every other step changes nothing and reports what it would do.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: A backup adds a new run of snapshots each time; a restore refuses to overwrite unless forced.
"""

EXAMPLES = r"""
- name: Check the latest run of this host in a repository (the restore action does this first)
  aiplatform.stack.platform_archive:
    step: check_snapshot
    repository: /var/backups/aiplatform/restic
    password: "{{ aiplatform_backup_key }}"
    host: "{{ inventory_hostname }}"
    which: latest
  register: checked
"""

RETURN = r"""
manifest_text:
  description: The run's or archive's manifest (C(check_snapshot), C(check)).
  returned: steps check_snapshot, check
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
restored:
  description: What was put back.
  returned: steps restore_secrets, write_secrets, restore_volumes, restore_databases
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

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, data_record, restic, secrets_store
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
    if step == "check":
        return dict(backup.check(p["archive"]), running=archive.running(), volumes=archive.volumes(), changed=False)
    if module.check_mode:
        return {"changed": True, "msg": f"check mode: {step} not run"}
    if step == "snapshot":
        if p["base_dir"]:  # the releases that wrote the data, from the records kept beside the projects
            p["plan"] = dict(p["plan"], images=data_record.written(p["base_dir"], p["plan"].get("images") or {},
                                                                   p["recorded"]))
        taken = archive.take(p["plan"], p["secrets_dir"], time.time(), p["pause"], p["facts"], p["keep_rules"],
                             p["purpose"], p["keep_upgrades"])
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
    if step == "write_secrets":
        return {"restored": backup.write_secrets(p["secrets_dir"], p["bundle"], p["force"]), "changed": True}
    if step == "record_data":
        for service, written in sorted(p["written"].items()):
            values = secrets_store.load(os.path.join(p["secrets_dir"], f"{service}.json"))
            data_record.restored(os.path.join(p["base_dir"], service), written["images"], values, written["keys"])
        return {"recorded": sorted(p["written"]), "changed": True}
    if step == "set_back":
        done = [service for service, images in sorted(p["recorded"].items())
                if data_record.set_back(os.path.join(p["base_dir"], service), images)]
        return {"recorded": done, "changed": bool(done)}
    if step == "restore_volumes":
        done = [archive.restore_volume(p["archive"], item, p["images"][item["volume"]], p["force"], p["pull"])
                for item in p["items"]]
        return {"restored": done, "changed": bool(done)}
    done = archive.restore_databases(p["archive"], p["postgres"], p["items"], tuple(p["skip_roles"]), p["force"])
    return {"restored": done, "changed": bool(done)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": ["snapshot", "check_snapshot", "restore_secrets",
                                                                  "verify", "check", "write_secrets",
                                                                  "restore_volumes", "restore_databases",
                                                                  "record_data", "set_back"]},
            "secrets_dir": {"type": "path"}, "services": {"type": "list", "elements": "str", "default": []},
            "plan": {"type": "dict", "default": {}}, "host": {"type": "str"},
            "pause": {"type": "bool", "default": True},
            "facts": {"type": "dict", "default": {}}, "archive": {"type": "str"},
            "bundle": {"type": "dict", "default": {}, "no_log": True},
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
            "ssh_identity": {"type": "path", "default": ""}, "ssh_known_hosts": {"type": "path", "default": ""},
            "base_dir": {"type": "path"}, "written": {"type": "dict", "default": {}},
            "purpose": {"type": "str", "default": "", "choices": ["", "backup", "pre-upgrade"]},
            "recorded": {"type": "dict", "default": {}},
            "keep_upgrades": {"type": "int"},
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
                                           docker=docker, repository_env=module.params["repository_env"],
                                           ssh_identity=module.params["ssh_identity"] or "",
                                           ssh_known_hosts=module.params["ssh_known_hosts"] or "")
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
