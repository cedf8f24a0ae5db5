# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Backups in a restic repository: every byte encrypted and authenticated, deduplicated, openable with plain restic.

One backup of a host is a run of snapshots, each with `--host <inventory host>` and the tags `aiplatform` and
`run=<stamp>-<host>`:
  /aiplatform/pg/roles.sql, /aiplatform/pg/<db>.dump   a snapshot each, streamed from pg_dump into `restic backup
                                                       --stdin`: no copy of any row lands on a disk
  /aiplatform/volumes/<volume>/                        one snapshot (tag `part=files`), read by restic from read-only
  /aiplatform/secrets/<service>.json                   mounts, and written last: its manifest names the database
  /aiplatform/manifest.json                            snapshots, so a run without it is incomplete
restic runs in a throw-away container of a pinned image (`docker run --pull never`); the repository's password reaches
it only through the environment (RESTIC_PASSWORD), never an argument. Every part read back is checked by restic's
authenticated encryption, so a restore trusts nothing that could have changed on a disk since.
"""
from __future__ import annotations

import calendar
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid

from .backup import DATA_LIMIT, READ_CAPS, RESTORE_CAPS, Archive, BackupError, archive_name, run_files
from .runner import TIMEOUT_RC, describe

FORMAT = 2
DEFAULT_IMAGE = "restic/restic:0.19.1"  # the release the lab tests (roles/aiplatform pins it too)
ROOT = "/aiplatform"
MANIFEST_PATH = f"{ROOT}/manifest.json"
TAG = "aiplatform"
FILES_TAG = "part=files"
# A run upgrade.yml takes first: its files snapshot has a part tag of its own, so the keep rules (which choose among
# part=files) never count it; PRE_UPGRADE names it for operators (restic snapshots --tag purpose=pre-upgrade).
UPGRADE_FILES_TAG = "part=upgrade-files"
PRE_UPGRADE = "purpose=pre-upgrade"
ORPHAN_GRACE = 6 * 3600  # a run's database parts without its files snapshot: another backup may still be taking it
REPO_MOUNT = "/repo"
# restic's own URL schemes: the repository is reached over the network (the container gets the default bridge).
# sftp: gets ssh with the host's identity and known hosts (ssh_command); rclone: would need a program restic's image
# does not have.
REMOTE_SCHEMES = ("rest:", "s3:", "b2:", "azure:", "gs:", "swift:", "sftp:")
UNWIRED_SCHEMES = ("rclone:",)
# sftp:user@host:/path, or sftp://user@host:port//path (restic's two forms)
# (user and host are plain names: they go into ssh's command line, where a space or a leading - would be an option)
_USER, _HOST = r"[A-Za-z0-9_][A-Za-z0-9_.-]*", r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_SFTP = re.compile(rf"^sftp:(?://(?:(?P<user1>{_USER})@)?(?P<host1>{_HOST})(?::(?P<port>\d+))?/(?P<path1>.+)"
                   rf"|(?:(?P<user2>{_USER})@)?(?P<host2>{_HOST}):(?P<path2>.+))$")
SSH_DIR = "/aiplatform-ssh"  # where the host's identity and known hosts are mounted, read-only
_URL_CREDENTIALS = re.compile(r"://[^/@]*:[^/@]*@")
# restic's exit codes (0.17 and later)
RC_NO_REPOSITORY, RC_LOCKED, RC_WRONG_PASSWORD = 10, 11, 12
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SUBSET = re.compile(r"^(\d+/\d+|\d+(\.\d+)?%|\d+[KMGT]?)$")


def repository_problem(value: str) -> str | None:
    """Why `value` is no restic repository this collection can use (None: it is one)."""
    if value.startswith(UNWIRED_SCHEMES):
        return (f"aiplatform_backup_repository: {value.split(':', 1)[0]}: repositories are not supported (the "
                f"restic image has no rclone); use sftp:, a rest: server, s3: or a path on the host")
    if value.startswith("sftp:") and not sftp_target(value):
        return (f"aiplatform_backup_repository: {value!r} is not an sftp repository restic reads; set "
                f"sftp:user@host:/srv/restic or sftp://user@host:2222//srv/restic")
    if _URL_CREDENTIALS.search(value):
        return ("aiplatform_backup_repository: the URL carries a password, which would show on command lines and in "
                "the log; give it in aiplatform_backup_repository_env (RESTIC_REST_USERNAME, RESTIC_REST_PASSWORD)")
    if value.startswith(REMOTE_SCHEMES):
        return None
    if os.path.isabs(value) and ".." not in value.split("/") and value != "/":
        return None
    return (f"aiplatform_backup_repository: {value!r} is neither an absolute path on the host nor a restic URL "
            f"({', '.join(REMOTE_SCHEMES)}); set e.g. /var/backups/aiplatform/restic or rest:https://backup:8000/app1/")


def sftp_target(value: str) -> dict | None:
    """{user, host, port} of an sftp: repository (None: not one)."""
    found = _SFTP.match(value)
    if not found:
        return None
    return {"user": found.group("user1") or found.group("user2") or "", "host": found.group("host1") or
            found.group("host2"), "port": int(found.group("port") or 22)}


def ssh_command(target: dict) -> str:
    """The ssh restic runs for an sftp: repository: the mounted identity, only the known host keys (a changed key
    refuses the connection), never a prompt."""
    who = f"{target['user']}@{target['host']}" if target["user"] else target["host"]
    return (f"ssh -F /dev/null -i {SSH_DIR}/identity -o UserKnownHostsFile={SSH_DIR}/known_hosts "
            f"-o StrictHostKeyChecking=yes -o BatchMode=yes -p {target['port']} {who} -s sftp")


def ssh_problem(repository: str, identity: str, known_hosts: str) -> str | None:
    """Why an sftp: repository cannot be reached with what the inventory gives (None: it can, or it is no sftp)."""
    if not repository.startswith("sftp:"):
        return None
    if not identity or not os.path.isabs(identity):
        return ("aiplatform_backup_ssh_identity: an sftp: repository needs the absolute path of the private key on "
                "each host that logs in to it (e.g. /root/.ssh/id_ed25519)")
    if not known_hosts or not os.path.isabs(known_hosts):
        return ("aiplatform_backup_ssh_known_hosts: an sftp: repository needs the absolute path of a known_hosts file "
                "on each host that holds the server's key (ssh-keyscan it once and check it)")
    return None


def env_problem(env: dict) -> str | None:
    """Why the repository's environment (aiplatform_backup_repository_env) cannot be passed to restic."""
    bad = sorted(name for name in env if not _ENV_NAME.match(str(name)) or name == "RESTIC_PASSWORD")
    if bad:
        return (f"aiplatform_backup_repository_env: {', '.join(map(str, bad))} not a variable restic reads (upper-case "
                f"names such as AWS_ACCESS_KEY_ID, RESTIC_REST_USERNAME; the password is aiplatform_backup_key)")
    return None


def subset_problem(subset: str) -> str | None:
    """Why `subset` is not a --read-data-subset restic takes (n/t, a percentage, or a size)."""
    if _SUBSET.match(subset or ""):
        return None
    return (f"aiplatform_backup_verify: {subset!r} is not a share of the data restic reads back; set e.g. 10% "
            f"(a random tenth each run), 2/7 (the second of seven fixed parts) or 500M (a random 500 MB)")


def retention_args(keep: dict) -> list[str]:
    """`restic forget` options from {daily, weekly, monthly} (0 or missing: not kept by that rule)."""
    out = []
    for rule in ("last", "daily", "weekly", "monthly"):
        if int(keep.get(rule) or 0) > 0:
            out += [f"--keep-{rule}", str(int(keep[rule]))]
    return out


def last_json(out: str, kind: str) -> dict:
    """The last JSON message of type `kind` in restic's --json output (one object per line)."""
    found = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("message_type") == kind:
                found = msg
    return found


def pick_run(snapshots: list[dict], which: str) -> dict | None:
    """The files snapshot of the run asked for: `latest`, `pre-upgrade` (the newest upgrade.yml took), a run name
    (`<stamp>-<host>`) or a snapshot id prefix."""
    if not snapshots:
        return None
    if which in ("", "latest"):
        return snapshots[-1]  # restic lists them oldest first (its own time order, not the strings')
    if which == "pre-upgrade":  # the newest snapshot upgrade.yml took first
        return next((snap for snap in reversed(snapshots) if PRE_UPGRADE in (snap.get("tags") or [])), None)
    for snap in snapshots:
        if f"run={which}" in (snap.get("tags") or []) or (len(which) >= 8 and str(snap.get("id", "")).startswith(which)):
            return snap
    return None


def parse_groups(out: str) -> list[dict]:
    """The groups `restic forget --json` prints (one JSON array on a line of its own)."""
    for line in out.splitlines():
        if line.startswith("["):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return []


def run_of(snap: dict) -> str:
    return next((t[4:] for t in snap.get("tags") or [] if t.startswith("run=")), "")


def run_started(run: str) -> float:
    """When a run began, from its name (`<YYYYmmddTHHMMSSZ>-<host>`); 0 for a name without a stamp (old enough)."""
    try:
        return float(calendar.timegm(time.strptime(run.split("-", 1)[0], "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return 0.0


def pipe_files(producer: list[str], consumer: list[str], env: dict | None = None,
               timeout: float = DATA_LIMIT) -> tuple[int, int, str, str]:
    """`producer | consumer`, streamed (any size, nothing on disk): (producer rc, consumer rc, consumer stdout, both
    stderr). Bounded: past `timeout` both are killed and the consumer's rc is TIMEOUT_RC."""
    with tempfile.TemporaryFile() as err1, tempfile.TemporaryFile() as err2:
        try:
            first = subprocess.Popen(producer, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err1, env=env,
                                     start_new_session=True)
        except OSError as exc:
            return 127, 127, "", f"{describe(producer)}: {exc}"
        try:
            second = subprocess.Popen(consumer, stdin=first.stdout, stdout=subprocess.PIPE, stderr=err2, env=env,
                                      start_new_session=True)
        except OSError as exc:
            _kill(first)
            return 127, 127, "", f"{describe(consumer)}: {exc}"
        first.stdout.close()  # the consumer holds the pipe: the producer sees it close if the consumer ends
        try:
            out, dummy = second.communicate(timeout=timeout)
            rc1 = first.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _kill(first)
            _kill(second)
            return TIMEOUT_RC, TIMEOUT_RC, "", f"{describe(producer)} | {describe(consumer)} did not finish within " \
                                               f"{timeout:g} s and was stopped"
        err = b""
        for fh in (err1, err2):
            fh.seek(0)
            err += fh.read()
    return rc1, second.returncode, (out or b"").decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class ResticArchive(Archive):
    """A host's backup and restore through restic: the repository, its password and the restic image.

    `run(argv, stdin_path=None, stdout_path=None, env=None)` and `pipe(producer, consumer, env=None)` run commands;
    unit tests pass fakes.
    """

    def __init__(self, repository: str, password: str, image: str, host: str, run=run_files, pipe=pipe_files,
                 emit=None, docker: str = "docker", clock=time.monotonic, repository_env: dict | None = None,
                 ssh_identity: str = "", ssh_known_hosts: str = "") -> None:
        super().__init__(run=run, emit=emit, docker=docker, clock=clock)
        problem = repository_problem(repository) or env_problem(repository_env or {}) or ssh_problem(
            repository, ssh_identity, ssh_known_hosts)
        if problem:
            raise BackupError(problem, "config")
        # sftp: ssh in the container with the host's identity and known hosts, mounted read-only
        self.ssh_mounts: list[str] = []
        self.ssh_options: list[str] = []
        if repository.startswith("sftp:"):
            for name, path in (("aiplatform_backup_ssh_identity", ssh_identity),
                               ("aiplatform_backup_ssh_known_hosts", ssh_known_hosts)):
                if not os.path.isfile(path):
                    raise BackupError(f"{name}: {path} is not a file on this host", "config")
            self.ssh_mounts = ["-v", f"{ssh_identity}:{SSH_DIR}/identity:ro",
                               "-v", f"{ssh_known_hosts}:{SSH_DIR}/known_hosts:ro"]
            self.ssh_options = ["-o", f"sftp.command={ssh_command(sftp_target(repository))}"]
        self.repository, self.image, self.host, self.pipe = repository, image, host, pipe
        # the repository's own credentials (S3 keys, a REST server's user) travel like the password: by name only
        self.passed = ["RESTIC_PASSWORD", *sorted(repository_env or {})]
        self.env = dict(os.environ, RESTIC_PASSWORD=password, **{k: str(v) for k, v in (repository_env or {}).items()})
        self.remote = repository.startswith(REMOTE_SCHEMES)

    # -- the restic command ------------------------------------------------------------------------------------------
    def restic(self, *args: str, mounts: tuple[str, ...] = (), writes: bool = False, stdin: bool = False) -> list[str]:
        """restic in a throw-away container: root with only the capabilities reading (or, `writes`, restoring owners
        and modes) needs, no network for a repository on this host."""
        caps = RESTORE_CAPS if writes else READ_CAPS
        # named, so that a timeout removes the container itself: a killed client would leave restic running (and
        # with its stdin closed, saving a truncated snapshot)
        argv = [self.docker, "run", "--rm", "--name", f"aiplatform-restic-{uuid.uuid4().hex[:12]}", "--pull", "never",
                "--user", "0:0", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for name in self.passed:
            argv += ["-e", name]
        for cap in caps:
            argv += ["--cap-add", cap]
        argv += ["-i"] if stdin else []
        if self.remote:
            repo = self.repository
        else:
            argv += ["--network", "none", "-v", f"{self.repository}:{REPO_MOUNT}"]
            repo = REPO_MOUNT
        for mount in mounts:
            argv += ["-v", mount]
        # --retry-lock: hosts sharing a repository take turns for what needs it alone (forget --prune)
        return argv + self.ssh_mounts + [self.image, "-r", repo, *self.ssh_options, "--no-cache", "--retry-lock", "5m",
                                         *args]

    def call(self, argv: list[str], **files) -> tuple[int, str, str]:
        """One restic container, bounded like data (DATA_LIMIT); on a timeout the container is removed too."""
        rc, out, err = self.run(argv, env=self.env, timeout=DATA_LIMIT, **files)
        if rc == TIMEOUT_RC:
            self.kill(argv)
        return rc, out, err

    def kill(self, *argvs: list[str]) -> None:
        for argv in argvs:
            if "--name" in argv:
                self.run([self.docker, "rm", "-f", argv[argv.index("--name") + 1]])

    def _restic(self, *args: str, what: str, category: str = "unknown", **kw) -> str:
        files = {k: kw.pop(k) for k in ("stdout_path", "stdin_path") if k in kw}
        rc, out, err = self.call(self.restic(*args, **kw), **files)
        if rc != 0:
            raise BackupError(self._why(rc, out, err, what), self._category(rc, category))
        return out

    def _why(self, rc: int, out: str, err: str, what: str) -> str:
        if rc == RC_WRONG_PASSWORD:
            return (f"{what}: the repository {self.repository} refuses the key (wrong password or no key found): "
                    f"give the aiplatform_backup_key it was made with")
        if rc == RC_NO_REPOSITORY:
            return f"{what}: no restic repository at {self.repository} (aiplatform_backup_repository)"
        if rc == RC_LOCKED:
            return (f"{what}: the repository {self.repository} is locked by another restic; wait for it, or run "
                    f"`restic unlock` if none runs")
        lines = [line for line in (err or out).strip().splitlines() if line.strip()]
        return f"{what}: {' / '.join(lines[-3:]) or f'rc {rc}'}"

    @staticmethod
    def _category(rc: int, category: str) -> str:
        if rc == TIMEOUT_RC:
            return "command_timeout"
        return "config" if rc in (RC_WRONG_PASSWORD, RC_NO_REPOSITORY) else category

    # -- backup ------------------------------------------------------------------------------------------------------
    def open_repository(self, create: bool) -> bool:
        """Check the repository opens with the key; create it when missing and `create`. True when created."""
        if not self.remote and not os.path.isdir(self.repository):
            # made here, private, before docker would make a bind mount's missing source (0755, and for a restore
            # from a mistyped path an empty directory left behind)
            if not create:
                raise BackupError(f"open the backup repository: no restic repository at {self.repository} "
                                  f"(aiplatform_backup_repository)", "config")
            os.makedirs(self.repository, mode=0o700)
        rc, out, err = self.call(self.restic("cat", "config"), stdout_path=os.devnull)
        if rc == 0:
            return False
        if rc != RC_NO_REPOSITORY or not create:
            raise BackupError(self._why(rc, out, err, "open the backup repository"), self._category(rc, "config"))
        self._restic("init", what=f"create the repository {self.repository}", category="config")
        self.emit("BACKUP_START", "backup", f"created the restic repository {self.repository}")
        return True

    def tags(self, run: str, *extra: str) -> list[str]:
        out = ["--host", self.host, "--tag", TAG, "--tag", f"run={run}"]
        for tag in extra:
            out += ["--tag", tag]
        return out

    def stream(self, producer: list[str], path: str, run: str, what: str) -> dict:
        """One snapshot of `producer`'s output, stored as `path`; a failed producer leaves no snapshot behind."""
        started = self.clock()
        consumer = self.restic("backup", "--stdin", "--stdin-filename", path, "--json", *self.tags(run, "part=db"),
                               stdin=True)
        rc1, rc2, out, err = self.pipe(producer, consumer, env=self.env)
        if TIMEOUT_RC in (rc1, rc2):
            self.kill(consumer)
        summary = last_json(out, "summary")
        if rc1 != 0 or rc2 != 0 or not summary.get("snapshot_id"):
            if summary.get("snapshot_id"):  # restic stored what came before the producer failed: not a backup
                self.call(self.restic("forget", summary["snapshot_id"]))
            rc = rc1 or rc2
            raise BackupError(self._why(rc, "", err, what), self._category(rc, "unknown"))
        return {"snapshot": summary["snapshot_id"], "size": summary.get("total_bytes_processed", 0),
                "added": summary.get("data_added_packed", 0), "seconds": round(self.clock() - started, 3)}

    def dump_databases_into(self, postgres: dict, databases: list[dict], run: str) -> list[dict]:
        container, admin = postgres["container"], postgres["admin_user"]
        version = self._must([self.docker, "exec", container, "psql", "-U", admin, "-d", "postgres", "-At", "-c",
                              "SHOW server_version"], f"PostgreSQL in {container}", "dependency").strip()
        roles = self.stream([self.docker, "exec", container, "pg_dumpall", "-U", admin, "--roles-only",
                             "--no-role-passwords"], f"{ROOT}/pg/roles.sql", run, "pg_dumpall --roles-only")
        files = [dict(roles, path=f"{ROOT}/pg/roles.sql", kind="roles", service="postgres", server_version=version)]
        for db in databases:
            # uncompressed (-Z0): restic compresses, and an unchanged database then dedups to almost nothing
            taken = self.stream([self.docker, "exec", container, "pg_dump", "-U", admin, "-Fc", "-Z0", "-d",
                                 db["name"]], f"{ROOT}/pg/{db['name']}.dump", run, f"pg_dump {db['name']}")
            files.append(dict(taken, path=f"{ROOT}/pg/{db['name']}.dump", kind="database", service=db["service"],
                              database=db["name"], owner=db["owner"], extensions=db["extensions"]))
        return files

    def take(self, wanted: dict, secrets_dir: str, when: float, pause: bool = True, facts: dict | None = None,
             keep: dict | None = None, purpose: str = "", keep_upgrades: int | None = None) -> dict:
        """Back up what `wanted` (backup.plan()) lists into the repository; returns {run, snapshot, manifest_text,
        size, added, forgotten}. `purpose` "pre-upgrade" tags the run PRE_UPGRADE (see forget())."""
        self.open_repository(create=True)
        run = archive_name(when, self.host)
        files = []
        if wanted.get("postgres") and wanted.get("databases"):
            files += self.dump_databases_into(wanted["postgres"], wanted["databases"], run)
        mounts = []
        for vol in wanted.get("volumes") or []:
            self._must([self.docker, "volume", "inspect", vol["name"]], f"{vol['service']}: volume {vol['name']}",
                       "config")
            mounts.append(f"{vol['name']}:{ROOT}/volumes/{vol['name']}:ro")
            files.append({"path": f"{ROOT}/volumes/{vol['name']}", "kind": "volume", "service": vol["service"],
                          "volume": vol["name"], "key": vol["key"], "project": vol["project"], "image": vol["image"]})
        stored = [name for name in wanted.get("secrets") or []
                  if os.path.isfile(os.path.join(secrets_dir, f"{name}.json"))]
        for name in stored:
            mounts.append(f"{os.path.join(secrets_dir, name + '.json')}:{ROOT}/secrets/{name}.json:ro")
        if stored:
            files.append({"path": f"{ROOT}/secrets", "kind": "secrets", "services": stored})
        manifest = dict(facts or {}, format=FORMAT, engine="restic", name=run, host=self.host,
                        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
                        services=wanted.get("services") or [], images=wanted.get("images") or {},
                        purpose=purpose or "backup",
                        postgres=wanted.get("postgres"), files=files)
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        part = (UPGRADE_FILES_TAG, PRE_UPGRADE) if purpose == "pre-upgrade" else (FILES_TAG,)
        summary = self._files_snapshot(text, mounts, run, wanted.get("volumes") or [], pause, part)
        manifest_size = summary.get("total_bytes_processed", 0) + sum(f.get("size") or 0 for f in files
                                                                      if f["kind"] in ("database", "roles"))
        added = summary.get("data_added_packed", 0) + sum(f.get("added") or 0 for f in files)
        forgotten = self.forget(keep or {}, run, keep_upgrades)
        return {"run": run, "snapshot": summary["snapshot_id"], "manifest_text": text, "size": manifest_size,
                "added": added, "forgotten": forgotten}

    def _files_snapshot(self, manifest_text: str, mounts: list[str], run: str, volumes: list[dict],
                        pause: bool, part: tuple[str, ...] = (FILES_TAG,)) -> dict:
        """The volumes, the secrets and the manifest in one snapshot, the writers of the volumes paused meanwhile."""
        scratch = tempfile.mkdtemp(prefix="aiplatform-restic-")
        try:
            path = os.path.join(scratch, "manifest.json")
            with open(path, "w") as fh:  # names and versions only, no data and no secret
                fh.write(manifest_text)
            writers = sorted({name for vol in volumes for name in vol.get("pause") or []})
            paused = self._pause({"service": "backup", "name": "the files snapshot", "pause": writers}) if pause else []
            started = self.clock()
            try:
                rc, out, err = self.call(self.restic("backup", ROOT, "--json", *self.tags(run, *part),
                                                     mounts=(*mounts, f"{path}:{MANIFEST_PATH}:ro")))
            finally:
                self._resume(paused, "backup", started)
            if rc != 0:
                # restic saves a snapshot even when it could not read some files (rc 3): with the manifest in it, it
                # would look complete, so it goes
                failed = last_json(out, "summary").get("snapshot_id")
                if failed:
                    self.call(self.restic("forget", failed))
                raise BackupError(self._why(rc, out, err, "restic backup of the files"), self._category(rc, "unknown"))
        finally:
            for name in os.listdir(scratch):
                os.unlink(os.path.join(scratch, name))
            os.rmdir(scratch)
        summary = last_json(out, "summary")
        if not summary.get("snapshot_id"):
            raise BackupError(f"restic backup of the files: no snapshot in its output ({out.strip()[-200:]})")
        return summary

    def forget(self, keep: dict, current: str = "", keep_upgrades: int | None = None,
               now: float | None = None) -> list[str]:
        """Retention of this host's runs, whole runs only: the keep rules choose among complete runs (their files
        snapshots), then every part of a run not kept goes, and one prune. The rules never judge a database snapshot
        on its own: that could keep a failed run's part and drop the part of the run whose manifest names it.
        Database parts of a run without its files snapshot go once ORPHAN_GRACE has passed (before, another backup
        of this host may still be taking that run).

        Runs taken before an upgrade (UPGRADE_FILES_TAG) are not the rules' to count or remove: a nightly backup after
        an upgrade holds data the old release cannot read, so the snapshot a rollback needs must outlive them. Of
        those, the newest `keep_upgrades` are kept (None: all). Returns the ids removed."""
        rules = retention_args(keep)
        if not rules and keep_upgrades is None:
            return []
        listed = json.loads(self._restic("snapshots", "--json", "--host", self.host, "--tag", TAG,
                                         what="list the snapshots") or "[]") or []
        runs = {run_of(snap) for snap in listed if {FILES_TAG, UPGRADE_FILES_TAG} & set(snap.get("tags") or [])}
        dropped = set()
        if rules:
            out = self._restic("forget", "--dry-run", "--host", self.host, "--tag", f"{TAG},{FILES_TAG}",
                               "--group-by", "host", "--json", *rules, what="restic forget (retention)")
            dropped |= {run_of(snap) for group in parse_groups(out) for snap in group.get("remove") or []}
        if keep_upgrades is not None:
            upgrades = sorted(run_of(snap) for snap in listed if UPGRADE_FILES_TAG in (snap.get("tags") or []))
            dropped |= set(upgrades[:max(0, len(upgrades) - keep_upgrades)])  # run names begin with their UTC stamp
        kept = (runs - dropped) | {current}  # the run just taken stays, whatever the rules
        now = time.time() if now is None else now
        parts = [snap["id"] for snap in listed if run_of(snap) not in kept
                 and (run_of(snap) in dropped or now - run_started(run_of(snap)) > ORPHAN_GRACE)]
        if parts:
            self._restic("forget", *parts, what="restic forget of the runs not kept")
            self._restic("prune", what="restic prune")
        return parts

    def verify(self, subset: str) -> None:
        """`restic check --read-data-subset`: the repository's structure and that share of its data read back."""
        problem = subset_problem(subset)
        if problem:
            raise BackupError(problem, "config")
        self.open_repository(create=False)
        self._restic("check", "--read-data-subset", subset, what=f"restic check --read-data-subset {subset} of "
                     f"{self.repository} (restore from another run, or repair the repository: restic repair)")

    # -- restore -----------------------------------------------------------------------------------------------------
    def snapshots(self, host: str) -> list[dict]:
        """The complete runs of `host` (their files snapshots, those taken before an upgrade too), oldest first."""
        out = self._restic("snapshots", "--json", "--host", host, "--tag", f"{TAG},{FILES_TAG}",
                           "--tag", f"{TAG},{UPGRADE_FILES_TAG}", what="list the backups", category="config")
        return json.loads(out or "[]") or []

    def check(self, host: str, which: str) -> dict:
        """The run to restore, its manifest, and every reason not to: the repository's own check, then every byte of
        the run read back through restic's authentication. Nothing changes."""
        self.open_repository(create=False)
        found = self.snapshots(host)
        snap = pick_run(found, which)
        if snap is None:
            runs = ", ".join(sorted(run_of(s) for s in found)[-5:]) or "none"
            raise BackupError(f"no backup {which!r} of host {host} in {self.repository} (its newest runs: {runs}); "
                              f"set aiplatform_restore_snapshot to one of them, or aiplatform_restore_host to the host "
                              f"that took it", "config")
        text = self._restic("dump", snap["id"], MANIFEST_PATH, what=f"the manifest of {run_of(snap)}")
        try:
            manifest = json.loads(text)
        except ValueError as exc:
            raise BackupError(f"{MANIFEST_PATH} of {run_of(snap)}: not JSON ({exc})", "config") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("engine") != "restic":
            raise BackupError(f"{MANIFEST_PATH} of {run_of(snap)}: not a manifest of format {FORMAT} (restic) that "
                              f"this collection reads; restore it with the release that wrote it", "config")
        problems = []
        rc, out, err = self.call(self.restic("check"))
        if rc != 0:
            problems.append(self._why(rc, out, err, "restic check"))
        reads = [(item["snapshot"], item["path"]) for item in manifest.get("files") or [] if item.get("snapshot")]
        reads.append((snap["id"], ROOT))
        for snapshot, path in reads:
            args = ("dump", "--archive", "tar", snapshot, path) if path == ROOT else ("dump", snapshot, path)
            rc, out, err = self.call(self.restic(*args), stdout_path=os.devnull)
            if rc != 0:
                problems.append(self._why(rc, out, err, f"read back {path} of {run_of(snap)}"))
        return {"manifest_text": text, "snapshot": snap["id"], "run": run_of(snap), "problems": problems,
                "authenticated": True}

    def read_secrets_of(self, snapshot: str, services: list[str]) -> dict[str, dict]:
        out = {}
        for name in services:
            text = self._restic("dump", snapshot, f"{ROOT}/secrets/{name}.json", what=f"the secrets of {name}")
            out[name] = json.loads(text)
        return out

    def filler_image(self, image: str) -> str:
        return self.image  # restic fills the volume, not the service's image

    # the three places a restore reads a part (backup.Archive reads them from an archive's files)
    def fill_volume(self, archive: str, item: dict, image: str) -> None:
        # the whole path restored under /r, the volume mounted where its folder lands: restic then gives the volume's
        # root its owner and mode too (restoring `<id>:<folder>` into it would leave the root root's, 0755, and a
        # service that runs as another user could not write at its top)
        path = f"{ROOT}/volumes/{item['volume']}"
        self._restic("restore", archive, "--include", path, "--target", "/r", mounts=(f"{item['volume']}:/r{path}",),
                     writes=True, what=f"{item['service']}: restore volume {item['volume']}")

    def read_text(self, archive: str, item: dict) -> str:
        return self._restic("dump", item.get("snapshot") or archive, item["path"], what=f"read {item['path']}")

    def feed(self, argv: list[str], what: str, archive: str, item: dict) -> None:
        producer = self.restic("dump", item.get("snapshot") or archive, item["path"])
        rc1, rc2, out, err = self.pipe(producer, argv, env=self.env)
        if TIMEOUT_RC in (rc1, rc2):
            self.kill(producer)
        if rc1 != 0 or rc2 != 0:
            rc = rc1 or rc2
            raise BackupError(self._why(rc, out, err, what), self._category(rc, "unknown"))
