# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""What a service's data was last written with, kept beside its project (`<base>/<service>/.aiplatform-data.json`).

- `images`: per image name, the newest release ever started on the data. The applications migrate their database
  when a new release starts, and migrations only go forward, so an older release must not be started on it again:
  prepare_host refuses that before anything changes, naming both releases. Tags without a release number cannot be
  compared: the last one started is kept and the change is only warned of.
- `keys`: salted fingerprints of the keys that encrypt the data (secrets declared `encrypts_data`), recorded the
  first time they are seen. A key that is missing or different later (a lost or replaced secrets file, an override)
  would leave the stored credentials unreadable, so it is refused on every playbook that prepares the host.

A restore writes the record of what it restored (the backup's releases, the restored keys); a purge forgets it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets

from . import drift, private_json

RECORD = ".aiplatform-data.json"
_RELEASE = re.compile(r"(\d+(?:\.\d+)*)")


def path(project_dir: str) -> str:
    return os.path.join(project_dir, RECORD)


def image_name(image: str) -> str:
    """`n8nio/n8n:1.2.3` -> `n8n`: the name a release is compared under (a mirror or a lab build keeps the name)."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def release(image: str) -> tuple[int, ...] | None:
    """The release numbers of an image's tag (`n8nio/n8n:2.41.3` -> (2, 41, 3)); None without a tag or digits."""
    tail = image.split("@", 1)[0].rsplit("/", 1)[-1]
    found = _RELEASE.search(tail.split(":", 1)[1]) if ":" in tail else None
    return tuple(int(x) for x in found.group(1).split(".")) if found else None


def newer(old: str, new: str) -> str:
    """What the record keeps once `new` has started on data last written by `old`."""
    old_v, new_v = release(old), release(new)
    if old_v is not None and new_v is not None and old_v > new_v:
        return old  # an older release on migrated data: the data stays as new as it was
    return new


def load_images(project_dir: str) -> dict[str, str]:
    """{image name: the newest release started on the data}; for a project deployed before records were kept, the
    images its last deploy left (drift's compose models), so its first upgrade is known as one too."""
    marks = dict(private_json.read(path(project_dir)).get("images") or {})
    if not marks:
        models = list(drift.load_models(project_dir).values())
        services = (models[-1].get("services") or {}) if models and isinstance(models[-1], dict) else {}
        marks = {image_name(s["image"]): s["image"] for s in services.values()
                 if isinstance(s, dict) and s.get("image")}
    return marks


def damaged(project_dir: str) -> bool:
    """A record that exists but cannot be read: never overwritten, never taken for "none"."""
    if not os.path.exists(path(project_dir)):
        return False
    try:
        with open(path(project_dir)) as fh:
            return not isinstance(json.load(fh), dict)
    except (OSError, ValueError):
        return True


def started(project_dir: str, images: list[str]) -> bool:
    """Record that `images` start on the project's data (before `up`: starting is what migrates). True if written."""
    if not images or not os.path.isdir(project_dir) or damaged(project_dir):
        return False
    record = private_json.read(path(project_dir))
    marks = load_images(project_dir)
    for image in images:
        name = image_name(image)
        marks[name] = newer(marks[name], image) if name in marks else image
    if marks == record.get("images"):
        return False
    private_json.write(path(project_dir), dict(record, images=marks))
    return True


def written(base_dir: str, images: dict[str, dict[str, str]],
            recorded: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """{service: {key: image}} with each image replaced by the release its record says last wrote the data (a backup
    taken before an upgrade names the release that wrote it, not the one the inventory already pins). `recorded`:
    the records of every host ({service: marks}), which win over this host's (a service placed elsewhere)."""
    out = {}
    for service, keyed in images.items():
        marks = (recorded or {}).get(service) or load_images(os.path.join(base_dir, service))
        out[service] = {key: marks.get(image_name(image), image) for key, image in (keyed or {}).items()}
    return out


def set_back(project_dir: str, images: dict[str, str]) -> bool:
    """The release before a failed upgrade that migrated nothing is the data's again (keys kept). True if written."""
    if not images or not os.path.isdir(project_dir) or damaged(project_dir):
        return False
    record = private_json.read(path(project_dir))
    if record.get("images") == images:
        return False
    private_json.write(path(project_dir), dict(record, images=dict(images)))
    return True


def forget(project_dir: str) -> None:
    """The data is gone (a purge): nothing constrains the next release."""
    try:
        os.unlink(path(project_dir))
    except FileNotFoundError:
        pass


def fingerprint(salt: str, name: str, value: str) -> str:
    return hashlib.sha256(f"{salt}\0{name}\0{value}".encode()).hexdigest()[:32]


def keys_of(spec: dict) -> list[str]:
    """The names of a service's secrets declared `encrypts_data` (its secrets spec: {name: {kind, length, ...}})."""
    return sorted(name for name, item in (spec or {}).items() if (item or {}).get("encrypts_data"))


def problems(service: str, project_dir: str, images: list[str], values: dict[str, str], keys: list[str],
             secrets_file: str, existing: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """([(reason, refusal)], [warning]) for starting `images` with the secret `values` on the data the project's record describes.

    `values` are what the run would use (an existing value, or one about to be generated for a missing name);
    `existing` what the secrets file holds now (None: the same as `values`).
    """
    existing = values if existing is None else existing
    refused, warned = [], []
    if damaged(project_dir):
        return [("record", f"{service}: {path(project_dir)} cannot be read; it says which release and which keys "
                           f"wrote {service}'s data. Put it back from a backup of this host, or remove it once you "
                           f"know the pinned release and the keys in {secrets_file} are those of the data")], []
    record = private_json.read(path(project_dir))
    marks = load_images(project_dir)
    for image in images:
        last = marks.get(image_name(image))
        if not last or last == image:
            continue
        last_v, new_v = release(last), release(image)
        if last_v is not None and new_v is not None:
            if new_v < last_v:
                refused.append(("downgrade", f"{service}: {image} is older than {last}, which last wrote {service}'s "
                                f"data; {service} migrates its data forward only, so the older release may not read "
                                f"it. Pin {last} again (the image variable of {service}), or restore a backup "
                                f"taken with {image} or older (playbooks/restore.yml; the snapshot upgrade.yml takes "
                                f"first: aiplatform_restore_snapshot=pre-upgrade), which puts that release's data "
                                f"back"))
        elif last.rsplit(":", 1)[-1] != image.rsplit(":", 1)[-1]:
            warned.append(f"{service}: cannot tell whether {image} is newer than {last}, which last wrote its "
                          f"data (a tag without a release number); pin release tags so a downgrade can be refused")
    recorded = record.get("keys") or {}
    salt = record.get("salt") or ""
    deployed = os.path.exists(os.path.join(project_dir, "compose.yml"))
    for name in keys:
        if name not in recorded and deployed and not existing.get(name):
            refused.append(("key", f"{service}: its key {name} is not in {secrets_file}, but {service} was deployed "
                            f"here before ({project_dir}): a new key would leave what it encrypted unreadable. Put "
                            f"the original key back in {secrets_file} (a backup of this host holds it: "
                            f"playbooks/restore.yml), or remove {service}'s data on purpose (its volumes and its "
                            f"database) if it is to start afresh"))
        elif name in recorded and fingerprint(salt, name, values.get(name) or "") != recorded[name]:
            refused.append(("key", f"{service}: its key {name} differs from the one its data was written with "
                            f"(fingerprint kept in {path(project_dir)}); {service} could no longer read what it "
                            f"encrypted. Put the original key back in {secrets_file} (a backup of this host holds "
                            f"it: playbooks/restore.yml), or remove {service}'s data on purpose if it is to start "
                            f"afresh (teardown.yml with aiplatform_purge and -e '{{\"aiplatform_only\": "
                            f"[\"{service}\"]}}', then drop its database)"))
    return refused, warned


def record_keys(project_dir: str, values: dict[str, str], keys: list[str]) -> bool:
    """Fingerprint the keys not recorded yet (the first run that sees them). True if written."""
    if not keys or not os.path.isdir(project_dir) or damaged(project_dir):
        return False  # (a first deploy's are recorded by the run after it: its project exists then)
    record = private_json.read(path(project_dir))
    salt = record.get("salt") or secrets.token_hex(16)
    recorded = dict(record.get("keys") or {})
    for name in keys:
        if name not in recorded and values.get(name):
            recorded[name] = fingerprint(salt, name, values[name])
    if recorded == (record.get("keys") or {}):
        return False
    private_json.write(path(project_dir), dict(record, salt=salt, keys=recorded))
    return True


def restored(project_dir: str, images: list[str], values: dict[str, str], keys: list[str]) -> None:
    """A restore put back data written by `images` with the keys in `values`: the record says so, nothing older."""
    os.makedirs(project_dir, mode=0o750, exist_ok=True)  # as write_files makes a project's directory
    salt = secrets.token_hex(16)
    private_json.write(path(project_dir), {
        "images": {image_name(i): i for i in images},
        "salt": salt,
        "keys": {name: fingerprint(salt, name, values[name]) for name in keys if values.get(name)},
    })


def check_host(base_dir: str, secrets_dir: str, specs: dict[str, dict], images: dict[str, list[str]],
               values: dict[str, dict[str, str]],
               existing: dict[str, dict[str, str]] | None = None) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """problems() of every service about to run on this host: ([(service, reason, refusal)], [(service, warning)]).

    specs: {service: its secrets spec}; images: {service: its images}; values: {service: its secrets this run}."""
    refused, warned = [], []
    for service in sorted(set(specs) | set(images)):
        bad, warn = problems(service, os.path.join(base_dir, service), list(images.get(service) or []),
                             values.get(service) or {}, keys_of(specs.get(service) or {}),
                             os.path.join(secrets_dir, f"{service}.json"),
                             None if existing is None else existing.get(service) or {})
        refused += [(service, reason, text) for reason, text in bad]
        warned += [(service, text) for text in warn]
    return refused, warned


def changing(base_dir: str, images: dict[str, list[str]]) -> list[str]:
    """The services whose data was written by another release than the one this run starts (an upgrade here)."""
    out = []
    for service, wanted in sorted(images.items()):
        marks = load_images(os.path.join(base_dir, service))
        if any(marks.get(image_name(image)) not in (None, image) for image in wanted or []):
            out.append(service)
    return out


def record_host(base_dir: str, specs: dict[str, dict], values: dict[str, dict[str, str]]) -> list[str]:
    """record_keys() of every service: the services whose keys were fingerprinted now."""
    return [service for service, spec in sorted(specs.items())
            if record_keys(os.path.join(base_dir, service), values.get(service) or {}, keys_of(spec))]
