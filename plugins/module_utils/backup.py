# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Backup and restore of a host's part of the platform: what to take, and how a restore puts each part back.

Backups are runs of restic snapshots (module_utils/restic.py, ResticArchive). This module holds what every restore
shares (the plan, the version rules, the volume and database steps) and the reader of the archive directories that
releases up to 0.2 wrote, which restore once (README, "Archives of 0.2 and earlier"); nothing writes them any more:
  manifest.json          what is inside: versions, image tags, and per file its size and sha256
  manifest.hmac          HMAC-SHA256 of the manifest with a key derived from the operator's backup key: a changed
                         manifest (or a changed file, through its checksum) is refused before anything is restored
  pg/roles.sql, pg/<db>.dump, volumes/<volume>.tar.gz, secrets.enc (decrypted on the controller)

Everything that runs a command takes `run(argv, stdin_path=None, stdout_path=None) -> (rc, out, err)`: unit tests
pass a fake.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import time

from . import data_record, private_json
from .runner import TIMEOUT_RC, describe, limit_for

FORMAT = 1
MANIFEST = "manifest.json"
SEAL = "manifest.hmac"
SECRETS = "secrets.enc"
SERVICE_LABEL = "aiplatform.stack.service"  # every container the platform runs carries it
# What root in a helper container keeps of its capabilities: reading every owner's files, or restoring owners and modes
READ_CAPS = ("DAC_READ_SEARCH",)
RESTORE_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID")
# Seconds for a dump or a volume's tar: bounded like every docker call, but data takes longer than a probe.
DATA_LIMIT = 3600.0


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says what and what to do."""

    def __init__(self, message: str, category: str = "unknown") -> None:
        super().__init__(message)
        self.category = category


# -- what to take ----------------------------------------------------------------------------------------------------
def plan(catalog: dict, here: list[str], enabled: list[str], selected: list[str] | None = None,
         include_optional: bool = False) -> dict:
    """What a backup of this host takes: {services, databases, volumes, postgres, images}.

    here: the enabled services placed on this host; selected: the services asked for (empty: all). Databases live
    with PostgreSQL: the host that runs it dumps the databases of every selected application, wherever it runs.
    A volume marked `optional` (Ollama's models) is taken only with include_optional.
    """
    selected = list(selected or [])
    unknown = [name for name in selected if name not in enabled]
    if unknown:
        raise BackupError(f"backup: {', '.join(unknown)} not enabled (aiplatform_services); choose among "
                          f"{', '.join(enabled)}", "config")
    chosen = set(selected or enabled)
    services = [name for name in here if name in chosen]
    volumes = []
    for name in services:
        for vol in ((catalog.get(name) or {}).get("backup") or {}).get("volumes") or []:
            if vol.get("optional") and not include_optional:
                continue
            volumes.append({"service": name, "name": vol["name"], "key": vol.get("key") or vol["name"],
                            "project": catalog[name]["project"], "image": vol.get("image") or first_image(catalog[name]),
                            "pause": list(vol.get("pause") or [])})
    databases, postgres = [], None
    if "postgres" in here:
        for name in enabled:
            if name not in chosen:
                continue
            wanted = (catalog.get(name) or {}).get("database") or []
            for db in wanted if isinstance(wanted, list) else [wanted]:
                databases.append({"service": name, "name": db["name"], "owner": db.get("owner") or db["name"],
                                  "extensions": list(db.get("extensions") or [])})
        pg = catalog["postgres"]
        postgres = {"container": pg["container"], "admin_user": (pg.get("admin") or {}).get("user", "postgres"),
                    "image": first_image(pg)}
    with_data = sorted(set(services) | {db["service"] for db in databases})
    images = {name: dict((catalog.get(name) or {}).get("images") or {}) for name in with_data}
    return {"services": services, "databases": databases, "volumes": volumes, "postgres": postgres, "images": images}


def first_image(service: dict) -> str:
    images = service.get("images") or {}
    return images.get(service.get("name")) or next(iter(images.values()), "")


# -- names and checksums ---------------------------------------------------------------------------------------------
def safe_host(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", host)


def archive_name(when: float, host: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(when))}-{safe_host(host)}"


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def restore_plan(manifest: dict, catalog: dict, here: list[str]) -> dict:
    """What of an archive goes back on this host in this inventory: {volumes, databases, secrets, images, skipped}.

    Volumes go to the host that now runs their service, databases to the host that now runs PostgreSQL (roles with
    them), secrets of the services placed here. A part whose service is not placed here is skipped (listed): another
    host restores it from its copy of the archive. The image a volume's tar runs in is the one the inventory pins.
    """
    volumes, databases, skipped, images = [], [], [], {}
    for item in manifest.get("files") or []:
        service = item.get("service")
        if item.get("kind") == "volume":
            if service in here:
                vol = next((v for v in ((catalog.get(service) or {}).get("backup") or {}).get("volumes") or []
                            if v.get("name") == item.get("volume")), None)
                if vol is None:
                    raise BackupError(f"{service}: the archive holds volume {item.get('volume')}, which {service} "
                                      f"no longer has; restore with the release that wrote it", "config")
                volumes.append(item)
                images[item["volume"]] = vol.get("image") or first_image(catalog[service])
            else:
                skipped.append(f"{item['path']} ({service} is not placed on this host)")
        elif item.get("kind") in ("database", "roles"):
            if "postgres" in here:
                databases.append(item)
            else:
                skipped.append(f"{item['path']} (postgres is not placed on this host)")
    secrets = [item for item in manifest.get("files") or [] if item.get("kind") == "secrets"]
    secret_services = sorted({name for item in secrets for name in item.get("services") or [] if name in here})
    return {"volumes": volumes, "databases": databases, "secrets": bool(secrets), "images": images,
            "secret_services": secret_services,
            "skipped": skipped, "old_admin": (manifest.get("postgres") or {}).get("admin_user")}


# -- the manifest and its seal ---------------------------------------------------------------------------------------
def canonical(manifest: dict) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def manifest_key(operator_key: str) -> bytes:
    """The key that seals manifests, derived from the operator's backup key (which encrypts the secrets)."""
    return hmac.new(operator_key.encode(), b"aiplatform.stack backup manifest v1", hashlib.sha256).digest()


def seal(manifest_text: str, operator_key: str) -> str:
    return hmac.new(manifest_key(operator_key), manifest_text.encode(), hashlib.sha256).hexdigest()


def seal_matches(manifest_text: str, sealed: str, operator_key: str) -> bool:
    return hmac.compare_digest(seal(manifest_text, operator_key), (sealed or "").strip())


def file_problems(archive: str, manifest: dict) -> list[str]:
    """Every file the manifest lists must be inside the archive, with its size and sha256."""
    problems = []
    if manifest.get("format") != FORMAT:
        return [f"{archive}: manifest format {manifest.get('format')!r}, this collection reads {FORMAT}"]
    root = os.path.realpath(archive)
    for item in manifest.get("files") or []:
        rel = str(item.get("path") or "")
        path = os.path.realpath(os.path.join(root, rel))
        if not rel or os.path.isabs(rel) or not path.startswith(root + os.sep):
            problems.append(f"{rel!r}: not a path inside the archive")
            continue
        if not os.path.isfile(path):
            problems.append(f"{rel}: missing")
            continue
        size = os.path.getsize(path)
        if size != item.get("size"):
            problems.append(f"{rel}: {size} bytes, the manifest says {item.get('size')}")
        elif sha256_file(path) != item.get("sha256"):
            problems.append(f"{rel}: sha256 differs from the manifest (changed or damaged)")
    return problems


def version_problems(taken: dict, pinned: dict, allow_unknown: bool = False) -> list[str]:
    """Restoring data written by a newer release than the pinned one is refused (applications migrate forward only).

    taken/pinned: {service: {container key: image}}. Tags that cannot be compared (no release number) must be equal,
    unless allow_unknown.
    """
    problems = []
    for service, images in sorted(taken.items()):
        for key, old in sorted((images or {}).items()):
            new = ((pinned.get(service) or {}).get(key)) or ""
            if not new or old == new:
                continue
            old_v, new_v = data_record.release(old), data_record.release(new)
            if old_v is not None and new_v is not None:
                if old_v > new_v:
                    problems.append(f"{service}: the backup was taken with {old}, newer than the pinned {new}; "
                                    f"{service} migrates its data forward only: pin {old} ({service}_image) or "
                                    f"restore a backup taken with {new} or older")
            elif old.rsplit(":", 1)[-1] != new.rsplit(":", 1)[-1] and not allow_unknown:
                problems.append(f"{service}: the backup was taken with {old}, the inventory pins {new} and the two "
                                f"tags cannot be compared; pin {old}, or set aiplatform_restore_any_version=true if "
                                f"{new} reads {service}'s data of {old}")
    return problems


def load_manifest(archive: str) -> tuple[str, dict]:
    path = os.path.join(archive, MANIFEST)
    try:
        with open(path) as fh:
            text = fh.read()
        manifest = json.loads(text)
    except FileNotFoundError:
        raise BackupError(f"{archive}: no {MANIFEST}; not a complete archive directory (an interrupted backup "
                          f"ended in .partial)", "config") from None
    except ValueError as exc:
        raise BackupError(f"{path}: not JSON ({exc})", "config") from None
    if not isinstance(manifest, dict):
        raise BackupError(f"{path}: not a JSON object", "config")
    return text, manifest


def idempotent_roles(sql: str, skip: tuple[str, ...] = ()) -> str:
    """pg_dumpall's roles made safe to re-apply: CREATE ROLE of an existing role is skipped, and the statements of the
    server's own admin role (`skip`, made by the server from its own secrets) are left out."""
    out = []
    for line in sql.splitlines():
        name = re.match(r'^(?:CREATE|ALTER) ROLE "?([^"\s;]+)"?', line)
        if name and name.group(1) in skip:
            continue
        if name and line.startswith("CREATE ROLE "):
            line = f"DO $$BEGIN {line} EXCEPTION WHEN duplicate_object THEN NULL; END$$;"
        out.append(line)
    return "\n".join(out) + "\n"


# -- commands ----------------------------------------------------------------------------------------------------------
def run_files(argv: list[str], stdin_path: str | None = None, stdout_path: str | None = None,
              timeout: float | None = None, env: dict | None = None) -> tuple[int, str, str]:
    """Run `argv` with stdin from a file and stdout into a file (binary, any size); bounded like every docker call.

    env: the whole environment of the command (None: this process's)."""
    limit = timeout if timeout is not None else max(limit_for(argv), DATA_LIMIT if stdout_path or stdin_path else 0)
    fin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    fout = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
    try:
        proc = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=subprocess.PIPE, start_new_session=True, env=env)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            return TIMEOUT_RC, "", f"{describe(argv)} did not finish within {limit:g} s and was stopped"
    except OSError as exc:
        return 127, "", f"{describe(argv)}: {exc}"
    finally:
        for fh in (fin, fout):
            if hasattr(fh, "close"):
                fh.close()
    return proc.returncode, (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")


def untar_argv(docker: str, volume: str, image: str) -> list[str]:
    """tar extracting into a volume, in a throw-away container of an image already here: no network, root with only
    the capabilities that restoring owners and modes needs."""
    caps = [arg for cap in RESTORE_CAPS for arg in ("--cap-add", cap)]
    return [docker, "run", "--rm", "-i", "--pull", "never", "--network", "none", "--user", "0:0", "--cap-drop", "ALL",
            *caps, "--security-opt", "no-new-privileges", "--entrypoint", "tar", "-v", f"{volume}:/v", image, "-xzpf",
            "-", "-C", "/v"]


class Archive:
    """The commands of a backup or restore on one host; `emit(type, service, message, **facts)` records events."""

    def __init__(self, run=run_files, emit=None, docker: str = "docker", clock=time.monotonic) -> None:
        self.run, self.docker, self.clock = run, docker, clock
        self.emit = emit or (lambda *a, **k: None)

    def _must(self, argv: list[str], what: str, category: str = "unknown", **files) -> str:
        rc, out, err = self.run(argv, **files)
        if rc != 0:
            raise BackupError(f"{what}: {err.strip() or out.strip() or f'rc {rc}'}",
                              "command_timeout" if rc == TIMEOUT_RC else category)
        return out

    def running(self) -> list[str]:
        """Names of the platform's running containers on this host."""
        out = self._must([self.docker, "ps", "--filter", f"label={SERVICE_LABEL}", "--format", "{{.Names}}"],
                         "list the platform's containers", "engine")
        return sorted(out.split())

    def volumes(self) -> list[str]:
        """Names of the volumes on this host."""
        return sorted(self._must([self.docker, "volume", "ls", "--format", "{{.Name}}"], "list volumes",
                                 "engine").split())

    def _resume(self, paused: list[str], service: str, started: float) -> None:
        if not paused:
            return
        rc, dummy, err = self.run([self.docker, "unpause", *paused])
        seconds = round(self.clock() - started, 3)
        if rc != 0:
            self.emit("BACKUP_FAIL", service, f"could not resume {', '.join(paused)}: {err.strip()}; "
                      f"run docker unpause {' '.join(paused)}", category="engine")
        else:
            self.emit("BACKUP_RESUME", service, f"resumed {', '.join(paused)} after {seconds:g} s", duration=seconds)

    def _pause(self, vol: dict) -> list[str]:
        """Pause the running containers that write the volume's files (a consistent copy); [] when none runs."""
        if not vol.get("pause"):
            return []
        out = self._must([self.docker, "ps", "--filter", "status=running", "--format", "{{.Names}}"],
                         "list running containers", "engine")
        running = [name for name in vol["pause"] if name in out.split()]
        if running:
            self._must([self.docker, "pause", *running], f"{vol['service']}: pause {', '.join(running)}", "engine")
            self.emit("BACKUP_PAUSE", vol["service"], f"paused {', '.join(running)} while {vol['name']} is copied")
        return running

    # restore
    def restore_volume(self, archive: str, item: dict, image: str, force: bool = False, pull: bool = True) -> str:
        name = item["volume"]
        exists = self.run([self.docker, "volume", "inspect", name])[0] == 0
        if exists and not force:
            raise BackupError(f"{item['service']}: volume {name} exists; restore refuses to overwrite it "
                              f"(aiplatform_restore_force=true replaces it)", "config")
        # before the old volume goes: a missing image must not leave the service with no data at all
        self.need_image(self.filler_image(image), item["service"], pull)
        if exists:
            self._must([self.docker, "volume", "rm", name], f"{item['service']}: remove volume {name}", "engine")
        # compose's labels: the project's `up` adopts the volume as its own
        self._must([self.docker, "volume", "create", "--label", f"com.docker.compose.project={item['project']}",
                    "--label", f"com.docker.compose.volume={item['key']}", name],
                   f"{item['service']}: create volume {name}", "engine")
        self.fill_volume(archive, item, image)
        return name

    def need_image(self, image: str, service: str, pull: bool) -> None:
        if self.run([self.docker, "image", "inspect", image])[0] != 0:
            if not pull:
                raise BackupError(f"{service}: image {image} is not on this host and aiplatform_pull is "
                                  f"never; load it first", "image")
            self._must([self.docker, "pull", image], f"{service}: pull {image}", "image")

    # where a restore reads its parts from: the archive's files here, a restic repository in ResticArchive
    def filler_image(self, image: str) -> str:
        """The image a volume is filled in: the service's own (pinned by the inventory) for a tar."""
        return image

    def fill_volume(self, archive: str, item: dict, image: str) -> None:
        self._must(untar_argv(self.docker, item["volume"], image),
                   f"{item['service']}: extract {item['path']}", stdin_path=os.path.join(archive, item["path"]))

    def read_text(self, archive: str, item: dict) -> str:
        with open(os.path.join(archive, item["path"])) as fh:
            return fh.read()

    def feed(self, argv: list[str], what: str, archive: str, item: dict) -> None:
        self._must(argv, what, stdin_path=os.path.join(archive, item["path"]))

    def restore_databases(self, archive: str, postgres: dict, items: list[dict], roles_admin: tuple[str, ...],
                          force: bool = False) -> list[str]:
        """Roles, then each database: created for its owner, then pg_restore into it (one transaction)."""
        container, admin = postgres["container"], postgres["admin_user"]
        psql = [self.docker, "exec", "-i", container, "psql", "-U", admin, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                "-q", "-At"]
        present = self._must(psql + ["-c", "SELECT datname FROM pg_database"], f"PostgreSQL in {container}",
                             "dependency").split()
        busy = [i["database"] for i in items if i["kind"] == "database" and i["database"] in present]
        if busy and not force:
            raise BackupError(f"postgres: database(s) {', '.join(busy)} exist; restore refuses to overwrite them "
                              f"(aiplatform_restore_force=true replaces them)", "config")
        done = []
        for item in items:
            if item["kind"] != "roles":
                continue
            sql = idempotent_roles(self.read_text(archive, item), tuple(roles_admin) + (admin,))
            self._sql(psql, sql, "roles")
            done.append("roles")
        from .pg import ident  # a name from the manifest reaches SQL only as a checked identifier
        for item in items:
            if item["kind"] != "database":
                continue
            db, owner = ident(item["database"]), ident(item["owner"])
            started = self.clock()
            if item["database"] in present:
                self._sql(psql, f"DROP DATABASE {db} WITH (FORCE);\n", item["database"])
            self._sql(psql, f"CREATE DATABASE {db} OWNER {owner};\n", item["database"])
            self.feed([self.docker, "exec", "-i", container, "pg_restore", "-U", admin, "-d", item["database"],
                       "--exit-on-error", "--single-transaction"], f"pg_restore {item['database']}", archive, item)
            self.emit("RESTORE_PART", item["service"], f"database {item['database']} restored",
                      duration=round(self.clock() - started, 3), size=item.get("size"))
            done.append(item["database"])
        return done

    def _sql(self, psql: list[str], sql: str, what: str) -> None:
        rc, dummy, err = subprocess_text(self.run, psql, sql)
        if rc != 0:
            raise BackupError(f"postgres: {what}: {err.strip()}", "command_timeout" if rc == TIMEOUT_RC else "unknown")


def subprocess_text(run, argv: list[str], text: str) -> tuple[int, str, str]:
    """Feed `text` to a command through a temporary file (the runner takes files, so dumps of any size stream)."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="aiplatform-sql-")
    try:
        os.write(fd, text.encode())
        os.close(fd)
        return run(argv, stdin_path=path)
    finally:
        os.unlink(path)


# -- the last backup, for status -------------------------------------------------------------------------------------
RECORD = ".aiplatform-backup.json"  # in the base directory: what status reads, no key needed


def write_record(path: str, **facts) -> dict:
    """Keep the last backup's (or data check's) facts, merged with those kept."""
    record = dict(private_json.read(path), **facts)
    private_json.write(path, record)
    return record


def ago(seconds: float) -> str:
    hours = max(0.0, seconds) / 3600
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def record_finding(record: dict, max_age_hours: float, now: float | None = None) -> dict:
    """The status line of a host's last backup: {kind, level, message}; WARN past `max_age_hours` (0: never)."""
    now = time.time() if now is None else now
    if record.get("time") is None:
        return {"kind": "backup", "level": "INFO", "message": "backup: none recorded on this host (playbooks/backup.yml)"}
    age = now - float(record["time"])
    message = f"backup: last {record.get('name')} {ago(age)} ago, into {record.get('where')}"
    if record.get("size") is not None:
        stored = f", +{human(int(record['added']))} stored" if record.get("added") is not None else ""
        message += f" ({human(int(record['size']))} read{stored})"
    if record.get("verified"):
        message += f"; its data last verified {ago(now - float(record['verified']))} ago ({record.get('verified_subset')})"
    stale = max_age_hours > 0 and age > max_age_hours * 3600
    if stale:
        message += (f"; older than aiplatform_backup_max_age ({max_age_hours:g} h): run playbooks/backup.yml, or find "
                    f"why the scheduled run fails")
    return {"kind": "backup", "level": "WARN" if stale else "INFO", "message": message}


# -- the host's steps (the module calls these) ------------------------------------------------------------------------
def write_secrets(directory: str, bundle: dict, force: bool = False) -> list[str]:
    """Put the secrets of a backup back into the store (0600 files, 0700 directory); returns the services written.

    A stored value that differs from the backup's is refused unless `force`: the data restored next was encrypted
    with the backup's keys, so the stored ones would lock it out, and they may be all that opens other data.
    """
    from .secrets_store import load, locked

    with locked(directory):
        conflicts, written = [], []
        for service, values in sorted(bundle.items()):
            stored = load(os.path.join(directory, f"{service}.json"))
            differ = sorted(k for k in values if stored.get(k) and stored[k] != values[k])
            if differ and not force:
                conflicts.append(f"{service} ({', '.join(differ)})")
        if conflicts:
            raise BackupError(f"the secrets store in {directory} holds other values for {'; '.join(conflicts)}; "
                              f"restore refuses to replace them (aiplatform_restore_force=true does)", "config")
        for service, values in sorted(bundle.items()):
            path = os.path.join(directory, f"{service}.json")
            merged = dict(load(path), **{str(k): str(v) for k, v in values.items()})
            private_json.write(path, merged)
            written.append(service)
        return written


def check(archive_dir: str) -> dict:
    """What the controller needs to judge an archive: manifest (text), seal, file problems."""
    text, manifest = load_manifest(archive_dir)
    try:
        with open(os.path.join(archive_dir, SEAL)) as fh:
            sealed = fh.read().strip()
    except FileNotFoundError:
        sealed = ""
    return {"manifest_text": text, "seal": sealed, "problems": file_problems(archive_dir, manifest)}
