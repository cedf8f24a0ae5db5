"""Integration tests: real Docker engine, real PostgreSQL, Redis and LiteLLM from the lab images.

They deploy with fixed container names (aiplatform-*): do not run them on a host that runs a real deployment.
"""
import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from . import appdata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVICES = ["postgres", "redis", "ollama", "litellm", "dify", "n8n", "flowise", "anythingllm", "openwebui"]
# echo and later: test_isolation's custom services; wiki: the tenth service's fixture role (tests/unit/fixtures/roles)
PROJECTS = [f"aiplatform-{s}" for s in SERVICES] + ["aiplatform-echo", "aiplatform-later", "aiplatform-proxy",
                                                    "aiplatform-wiki"]
VOLUMES = ["aiplatform_postgres_data", "aiplatform_redis_data", "aiplatform_ollama_data", "aiplatform_dify_storage",
           "aiplatform_dify_plugins", "aiplatform_dify_weaviate", "aiplatform_n8n_data", "aiplatform_flowise_data",
           "aiplatform_anythingllm_storage", "aiplatform_openwebui_data", "aiplatform_proxy_data",
           "aiplatform_wiki_data"]
# Most tests need only the core of the platform; the whole-platform tests deploy every service.
CORE = ["postgres", "redis", "litellm"]


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def wait_until(condition, timeout: float, what: str, interval: float = 0.5):
    """Poll `condition` until it returns something true; fail the test (naming `what`) when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached within {timeout:g} s: {what}")
        time.sleep(interval)


def read_head(sock) -> bytes:
    """What a socket answers up to the end of the HTTP headers (or until it closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def engine_ready():
    return shutil.which("docker") and docker("info", check=False).returncode == 0


# The late images (the npm ones and Open WebUI: the long poles of lab/build.sh on a machine that has none):
# scripts/test.sh starts the engine tests while they build, and a deploy that runs one waits for it.
LATE_IMAGES = {"n8n": "aiplatform-lab/n8n:current", "flowise": "aiplatform-lab/flowise:current",
               "openwebui": "aiplatform-lab/openwebui:current"}


def lab_images_present():
    return all(docker("image", "inspect", f"aiplatform-lab/{n}:current", check=False).returncode == 0
               for n in ("postgres", "redis", "litellm", "standin", "nginx", "squid", "host", "caddy", "pebble", "restic"))


_LATE_IMAGES_PRESENT: set[str] = set()  # seen present once: not inspected again on every deploy


def lab_build_running(deadline: float) -> bool:
    """True while the lab build scripts/test.sh runs in the background has not ended (AIPLATFORM_LAB_BUILD_END is the
    file it writes when it ends) and `deadline` (monotonic) is ahead; False at once when none runs."""
    end = os.environ.get("AIPLATFORM_LAB_BUILD_END")
    return bool(end) and not os.path.exists(end) and time.monotonic() < deadline


def wait_for_lab_build():
    """Until the background lab build has ended (a test that stops the engine would end it too)."""
    deadline = time.monotonic() + 3600
    while lab_build_running(deadline):
        time.sleep(5)


def wait_for_other_engine_users():
    """Before a test stops this machine's engine: until the background lab build and the side lane (scripts/test.sh
    runs test_multihost in a pytest of its own, on the lab hosts' engines inside containers of this one; it writes
    AIPLATFORM_SIDE_LANE_END when it ends) have ended. Stopping the engine would end them too."""
    wait_for_lab_build()
    end = os.environ.get("AIPLATFORM_SIDE_LANE_END")
    deadline = time.monotonic() + 3600
    while end and not os.path.exists(end):
        if time.monotonic() >= deadline:
            pytest.fail(f"the side lane did not end within an hour ({end} not written)")
        time.sleep(5)


def wait_for_late_images(services):
    """The late images these services run: present, or made by the background lab build; a test fails at once when
    nothing will make them."""
    wait_for_images({LATE_IMAGES[s] for s in services if s in LATE_IMAGES})


def wait_for_images(images):
    """wait_for_late_images() of images named (e.g. an older release lab/build.sh makes, <image>-previous)."""
    deadline = time.monotonic() + 3600
    while True:
        wanted = set(images) - _LATE_IMAGES_PRESENT
        missing = sorted(i for i in wanted if docker("image", "inspect", i, check=False).returncode != 0)
        _LATE_IMAGES_PRESENT.update(wanted.difference(missing))
        if not missing:
            return
        if not lab_build_running(deadline):
            pytest.fail(f"lab images missing: {', '.join(missing)} (lab/build.sh makes them; the background build's "
                        f"log: {os.environ.get('AIPLATFORM_LAB_BUILD_LOG', 'none')})")
        time.sleep(5)


class Run:
    """One ansible-playbook run and everything it wrote."""

    def __init__(self, proc, log_dir, seconds):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.seconds = seconds
        self.log_dir = log_dir
        # this run's part of the (appended) files
        events = [json.loads(x) for x in open(os.path.join(log_dir, "events.jsonl")).read().splitlines()]
        run_ids = [e["run_id"] for e in events if e["type"] == "RUN_START"]
        self.events = [e for e in events if run_ids and e["run_id"] == run_ids[-1]]
        lines = open(os.path.join(log_dir, "aiplatform.log")).read().splitlines()
        starts = [i for i, line in enumerate(lines) if "] [INFO] [run] run " in line and line.endswith(" started: "
                  + os.path.basename(proc.args[1]))]
        self.log_lines = lines[starts[-1]:] if starts else lines

    def recap(self):
        m = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", self.stdout)
        assert m, self.stdout[-2000:]
        return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()), strict=True))

    def of(self, type_, service=None):
        return [e for e in self.events if e["type"] == type_ and (service is None or e["service"] == service)]


# Bumped by every Platform.teardown(): the platform containers are fixed names, so a teardown by any test ends
# whatever platform was deployed before it (the shared one too, which then deploys again for its next user).
TEARDOWNS = [0]


class Platform:
    """Deploys site.yml against the lab inventory into a private base directory."""

    def __init__(self, base_dir, services=None, defaults=(), root=ROOT):
        self.base_dir = base_dir
        self.root = root  # the collection checkout the playbooks run from
        self.services = services or CORE
        self.defaults = tuple(defaults)  # extra vars every deploy of this platform passes before its own
        self.runs = []

    def deploy(self, *extra, playbook="playbooks/site.yml", env=None, log_dir=None):
        log_dir = log_dir or tempfile.mkdtemp(prefix="aiplatform-log-")
        wait_for_late_images(next((item["aiplatform_services"] for item in reversed((*self.defaults, *extra))
                                   if isinstance(item, dict) and "aiplatform_services" in item), self.services))
        argv = ["ansible-playbook", playbook, "-i", "inventories/lab", "-e", f"aiplatform_base_dir={self.base_dir}",
                "-e", json.dumps({"aiplatform_services": self.services})]
        for item in (*self.defaults, *extra):
            if isinstance(item, str) and item.startswith("--"):
                argv.append(item)  # a flag such as --check
            else:
                argv += ["-e", item if isinstance(item, str) else json.dumps(item)]
        full_env = dict(os.environ, AIPLATFORM_LOG_DIR=log_dir, ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1",
                        **(env or {}))
        full_env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + full_env["PATH"]
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=self.root, env=full_env, capture_output=True, text=True, timeout=900, check=False)
        run = Run(proc, log_dir, time.monotonic() - start)
        self.runs.append(run)
        return run

    def secrets(self):
        values = []
        sdir = os.path.join(self.base_dir, "secrets")
        for name in os.listdir(sdir):
            if name.endswith(".json"):  # not the directory's lock file
                values += list(json.load(open(os.path.join(sdir, name))).values())
        return values

    def teardown(self, volumes=True):
        TEARDOWNS[0] += 1
        for project in PROJECTS:
            ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
            if ids:
                docker("rm", "-f", *ids, check=False)
        if volumes:
            docker("volume", "rm", "-f", *VOLUMES, check=False)
        # the link networks join two projects, so removing containers leaves them: spare (ORPHANED) for the next test
        networks = docker("network", "ls", "-q", "--filter", "label=aiplatform.stack.network=true").stdout.split()
        if networks:
            docker("network", "rm", *networks, check=False)
        shutil.rmtree(self.base_dir, ignore_errors=True)


def deployed_platform(*extra, services=None):
    """A module fixture's body: the platform deployed fresh into a private base directory (torn down before and
    after), yielding (platform, the deploy's run)."""
    p = Platform(tempfile.mkdtemp(prefix="aiplatform-base-"), services=services or SERVICES)
    p.teardown()
    run = p.deploy(*extra)
    assert run.rc == 0, run.stdout[-5000:] + run.stderr[-2000:]
    yield p, run
    p.teardown()


# The whole platform that the tests of SHARED_MODULES share, behind its HTTPS front door as operators run it (n8n in
# queue mode, so the real n8n logs in to Redis too).
SHARED_SERVICES = SERVICES + ["proxy"]
SHARED_VARS = {"n8n_queue_mode": True, "proxy_https_port": 443, "proxy_http_port": 80}
# The modules that use it, in the order they run (after every other integration test, so that one deploy serves them
# all): those that only read it first, then those that change it and put it back; its one way down and up again
# (SharedPlatform.cycle: backup, teardown, purge, restore) is made by the first that asks for it.
SHARED_MODULES = ["test_hardening", "test_least_privilege", "test_network_links", "test_proxy", "test_first_admin",
                  "test_platform", "test_backup_restore"]


@dataclasses.dataclass
class Cycled:
    """The shared platform's one way down and up again (SharedPlatform.cycle())."""
    secrets: dict  # the secrets store before (file name -> text)
    n8n_tables: str  # n8n's table count before (the probes written)
    ids: dict  # what appdata.write_probes wrote through the applications
    backup: Run  # backup.yml, models included, into the default restic repository `repository` (<dest>/restic)
    dest: str
    repository: str
    volume_roots: dict  # owner and mode of the top of each volume before (appdata.volume_roots)
    down: Run  # teardown.yml (volumes and secrets kept)
    containers_left: list  # what that teardown left
    volumes_left: list
    purge: Run  # teardown.yml with aiplatform_purge
    networks_left: list  # the platform's networks after the purge
    up: Run  # restore.yml onto a fresh base directory: the redeploy


class SharedPlatform:
    """One whole-platform deploy, made when a test first asks for it and again only after a teardown ended it."""

    def __init__(self):
        self.platform = None
        self.run = None  # its cold deploy
        self.teardowns = None
        self.cycled = None  # its way down and up again, made once (cycle())

    def get(self):
        if self.platform is None or self.teardowns != TEARDOWNS[0]:
            if self.platform is not None:
                shutil.rmtree(self.platform.base_dir, ignore_errors=True)
            p = Platform(tempfile.mkdtemp(prefix="aiplatform-base-"), services=SHARED_SERVICES, defaults=(SHARED_VARS,))
            p.teardown()
            run = p.deploy()
            assert run.rc == 0, run.stdout[-5000:] + run.stderr[-2000:]
            self.platform, self.run, self.teardowns, self.cycled = p, run, TEARDOWNS[0], None
        return self.platform, self.run

    def cycle(self) -> Cycled:
        """One way down and up again for every test that checks what survives it, as an operator moves a platform:
        data written through the applications, a backup (models too), a teardown (volumes and secrets kept: what it
        left is recorded), a purge, and a restore onto a fresh base directory, which is the redeploy. One
        whole-platform start serves the teardown's, the purge's and the restore's tests; the platform runs on after
        it (from the new base directory)."""
        p = self.get()[0]
        if self.cycled is None:
            store = os.path.join(p.base_dir, "secrets")
            secrets = {name: open(os.path.join(store, name)).read() for name in sorted(os.listdir(store))}
            ids = appdata.write_probes(p)
            roots = appdata.volume_roots()
            n8n_tables = docker("exec", "aiplatform-postgres", "sh", "-c", 'psql -U "$POSTGRES_USER" -d n8n -Atc '
                                '"SELECT count(*) FROM pg_tables WHERE tableowner = \'n8n\'"').stdout.strip()
            dest = tempfile.mkdtemp(prefix="aiplatform-backups-")
            repository = os.path.join(dest, "restic")  # the default repository of aiplatform_backup_dest
            backup = p.deploy({"aiplatform_backup_key": appdata.KEY, "aiplatform_backup_dest": dest,
                               "aiplatform_backup_models": True}, playbook="playbooks/backup.yml")
            assert backup.rc == 0, backup.stdout[-5000:] + backup.stderr[-2000:]
            down = p.deploy(playbook="playbooks/teardown.yml")
            assert down.rc == 0, down.stdout[-3000:]
            left = [n for n in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
                    if n.startswith("aiplatform-") and not n.startswith("aiplatform-lab-")]
            volumes = docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
            purge = p.deploy({"aiplatform_purge": True}, playbook="playbooks/teardown.yml")
            assert purge.rc == 0, purge.stdout[-3000:]
            networks = docker("network", "ls", "--filter", "label=aiplatform.stack.network=true", "--format",
                              "{{.Name}}").stdout.split()
            shutil.rmtree(p.base_dir)
            p.base_dir = tempfile.mkdtemp(prefix="aiplatform-base-")
            up = p.deploy({"aiplatform_backup_key": appdata.KEY, "aiplatform_backup_dest": dest},
                          playbook="playbooks/restore.yml")
            assert up.rc == 0, up.stdout[-6000:] + up.stderr[-2000:]
            self.cycled = Cycled(secrets=secrets, n8n_tables=n8n_tables, ids=ids, backup=backup, dest=dest,
                                 repository=repository, volume_roots=roots, down=down, containers_left=left,
                                 volumes_left=volumes,
                                 purge=purge, networks_left=networks, up=up)
        return self.cycled


# The other modules that need the whole lab build (their deploys run an image of LATE_IMAGES, or they stop the
# engine, and wait for the build to end: wait_for_lab_build): after those that need none of it, before the shared ones.
LATE_MODULES = ["test_engine_loss", "test_hostile_input", "test_litellm_keys", "test_proxy_acme"]


def pytest_collection_modifyitems(session, config, items):
    """The unit tests first, then the engine tests that need no late image (on a machine without lab images those
    images are still being built meanwhile), then LATE_MODULES, last the shared platform's modules, in
    SHARED_MODULES' order, each whole."""
    def rank(item):
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if os.sep + "integration" + os.sep not in str(item.path):
            return 0
        if module in SHARED_MODULES:
            return 3 + SHARED_MODULES.index(module)
        return 2 if module in LATE_MODULES else 1
    items.sort(key=rank)  # stable: each module keeps its own order


def stored_secrets(p, service):
    """A service's secrets file in the platform's store, checked private (0600) first."""
    path = os.path.join(p.base_dir, "secrets", f"{service}.json")
    assert os.stat(path).st_mode & 0o777 == 0o600, path
    with open(path) as fh:
        return json.load(fh)


class Matrix:
    """Outcomes of the fault cases, written to tests/output/fault_matrix.json for the record."""

    def __init__(self):
        self.cases = {}

    def record(self, case, **facts):
        self.cases[case] = facts

    def write(self):
        if not self.cases:
            return
        out = os.path.join(ROOT, "tests", "output")
        os.makedirs(out, exist_ok=True)
        detections = sorted(c["detect_s"] for c in self.cases.values()
                            if c.get("detect_s") is not None and c.get("category") == "crash_loop")
        recoverable = [c for c in self.cases.values() if c.get("recoverable")]
        summary = {
            "cases": len(self.cases),
            "median_crash_detect_s": detections[len(detections) // 2] if detections else None,
            "refused_login_detect_s": (self.cases.get("wrong_password") or {}).get("detect_s"),
            "recovery_rate": (sum(1 for c in recoverable if c.get("recovered")) / len(recoverable)) if recoverable else None,
        }
        with open(os.path.join(out, "fault_matrix.json"), "w") as fh:
            json.dump({"summary": summary, "cases": self.cases}, fh, indent=2, sort_keys=True)


@pytest.fixture(scope="session")
def matrix():
    m = Matrix()
    yield m
    m.write()


@pytest.fixture(scope="session")
def lab():
    if not engine_ready():
        pytest.fail("no Docker engine answers: run scripts/setup.sh (CI does)")
    if not lab_images_present():
        pytest.fail("lab images missing: run lab/build.sh (scripts/test.sh does)")


@pytest.fixture(scope="session")
def shared_platform(lab):
    """The whole platform shared by SHARED_MODULES: `.get()` gives (platform, its cold deploy's run)."""
    shared = SharedPlatform()
    yield shared
    if shared.platform is not None:
        shared.platform.teardown()
    if shared.cycled is not None:
        shutil.rmtree(shared.cycled.dest, ignore_errors=True)


@pytest.fixture(scope="module")
def platform(lab):
    p = Platform(tempfile.mkdtemp(prefix="aiplatform-base-"))
    p.teardown()
    yield p
    p.teardown()
