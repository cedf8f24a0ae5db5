"""Archive directories as release 0.2 wrote them, for the tests of the one restore they still get.

Nothing in the collection writes this format any more (backups are restic runs); `restore.yml` with
`aiplatform_restore_from` still reads it (module_utils/backup.py). The layout: `<dest>/<stamp>-<host>/` with
`manifest.json` (per file its size and sha256), `manifest.hmac` (its seal with the backup key), `pg/`, `volumes/` and
`secrets.enc` (the secrets in Ansible Vault's format, the backup key its password).
"""
import json
import os

from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.aiplatform.stack.plugins.module_utils import backup
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle


def vault_secrets(bundle: dict, key: str) -> bytes:
    """secrets.enc as 0.2 wrote it."""
    secret = VaultSecret(key.encode())
    return VaultLib([(secrets_bundle.VAULT_ID, secret)]).encrypt(json.dumps(bundle, sort_keys=True), secret=secret,
                                                                 vault_id=secrets_bundle.VAULT_ID)


def write(dest: str, host: str, when: float, files: list[dict], key: str, secrets: dict | None = None,
          **manifest_facts) -> tuple[str, dict]:
    """Write a sealed archive of `files` (each a manifest entry plus its `data`, bytes); returns (its path, manifest).

    manifest_facts: services, images, postgres ... as 0.2 recorded them."""
    name = backup.archive_name(when, host)
    where = os.path.join(dest, name)
    os.makedirs(where, mode=0o700)
    entries = [dict(item) for item in files]
    if secrets is not None:
        entries.append({"path": "secrets.enc", "kind": "secrets", "services": sorted(secrets),
                        "data": vault_secrets(secrets, key)})
    for item in entries:
        path = os.path.join(where, item["path"])
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(item.pop("data"))
        item.update(size=os.path.getsize(path), sha256=backup.sha256_file(path))
    manifest = dict(manifest_facts, format=1, name=name, host=host, size=sum(f["size"] for f in entries),
                    created="2026-11-27T10:15:00Z", files=entries)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    with open(os.path.join(where, backup.MANIFEST), "w") as fh:
        fh.write(text)
    with open(os.path.join(where, backup.SEAL), "w") as fh:
        fh.write(backup.seal(text, key) + "\n")
    return where, manifest
