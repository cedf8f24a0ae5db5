"""Whole platform, one host: site.yml side by side with plain compose on the same rendered files.

  python bench/platform.py [--repeat 3]

The baseline is generated from what a deploy rendered: every project's compose file merged into one (relative
paths made absolute), a healthcheck per service on the same probe the platform uses (run inside the container with
bash's /dev/tcp: the lab images have no curl), `depends_on: service_healthy` along the same dependency map, and the
application databases made by a one-shot psql job that the consumers wait for. Model pulls are off on both sides.
The two alternate; medians of each; ratios ours / baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
BASE_DIR = "/tmp/aiplatform-bench-platform"  # noqa: S108 (the bench owns it)
EXTRA = json.dumps({"aiplatform_base_dir": BASE_DIR, "ollama_models": []})
PROJECT = "aiplatform-baseline"


def sh(argv, check=True, env=None):
    full = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"], **(env or {}))
    proc = subprocess.run(argv, cwd=ROOT, env=full, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def timed(argv, env=None):
    start = time.monotonic()
    sh(argv, env=env)
    return time.monotonic() - start


def playbook(name, *extra, env=None):
    return ["ansible-playbook", f"playbooks/{name}", "-i", "inventories/lab", "-e", EXTRA, *extra]


def site():
    return timed(playbook("site.yml"), env={"AIPLATFORM_LOG_DIR": tempfile.mkdtemp(prefix="bench-log-")})


def ours_down():
    sh(playbook("teardown.yml", "-e", "aiplatform_purge=true"), check=False)


def catalog() -> dict:
    out = os.path.join(tempfile.mkdtemp(prefix="bench-catalog-"), "catalog.json")
    sh(["ansible-playbook", "bench/catalog.yml", "-i", "inventories/lab", "-e", EXTRA, "-e", f"bench_catalog_file={out}"])
    with open(out) as fh:
        return json.load(fh)


# -- the baseline compose file --------------------------------------------------------------------------------------
def http_test(probe: dict) -> str:
    """A healthcheck command for an HTTP probe: status and expected body, with bash's /dev/tcp."""
    statuses = "|".join(str(s) for s in probe.get("status") or [200])
    needles = [probe["body_contains"]] if probe.get("body_contains") else []
    needles += [f'"{k}":' for k in (probe.get("json") or {})]
    checks = "".join(f" && printf %s \"$r\" | grep -q {shlex.quote(n)}" for n in needles)
    request = f"GET {probe.get('path', '/')} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n"
    return (f"exec 3<>/dev/tcp/127.0.0.1/{probe['port']} && printf '{request}' >&3 && r=$(cat <&3) && "
            f"printf %s \"$r\" | head -n1 | grep -Eq ' ({statuses}) '{checks}")


def healthcheck(probe: dict) -> dict | None:
    kind = probe.get("type")
    if kind == "http":
        test = http_test(probe)
    elif kind == "tcp":
        test = f"exec 3<>/dev/tcp/127.0.0.1/{probe['port']}"
    elif kind == "command":
        env = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in sorted((probe.get("env") or {}).items()))
        test = f"{env} {shlex.join(probe['command'])}".strip()
        if probe.get("expect_output"):
            test = f"{test} | grep -q {shlex.quote(probe['expect_output'])}"
    else:
        return None  # docker: the image's own HEALTHCHECK
    # compose interpolates $ in the file: the container's shell must see them
    return {"test": ["CMD", "bash", "-c", test.replace("$", "$$")], "interval": "1s", "timeout": "3s", "retries": 600,
            "start_period": "0s"}


def absolute(project_dir: str, svc: dict) -> None:
    svc["env_file"] = [os.path.join(project_dir, f) for f in svc.get("env_file") or []]
    volumes = []
    for v in svc.get("volumes") or []:
        if isinstance(v, str) and v.startswith("./"):
            v = os.path.join(project_dir, v[2:])
        volumes.append(v)
    if volumes:
        svc["volumes"] = volumes


def app_db_job(cat: dict, postgres_image: str, networks: list) -> dict:
    """One psql run that makes every application's role and database, as the platform does."""
    with open(os.path.join(BASE_DIR, "secrets", "postgres.json")) as fh:
        admin = json.load(fh)
    sql, roles = [], set()
    for name, svc in cat.items():
        dbs = svc.get("database") or []
        for db in dbs if isinstance(dbs, list) else [dbs]:
            with open(os.path.join(BASE_DIR, "secrets", f"{name}.json")) as fh:
                password = json.load(fh)[db.get("password_secret", "db_password")]
            owner = db.get("owner", db["name"])
            # idempotent: `up` starts the finished job again on the no-op run; names and generated secrets only
            # (checked identifiers and token characters), the bench's own lab
            if owner not in roles:  # one role may own several databases
                roles.add(owner)
                role = f"SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '{owner}', '{password}') WHERE"
                sql.append(f"{role} NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') \\gexec")
            create = f"SELECT format('CREATE DATABASE %I OWNER %I', '{db['name']}', '{owner}') WHERE"
            sql.append(f"{create} NOT EXISTS (SELECT FROM pg_database WHERE datname = '{db['name']}') \\gexec")
            for ext in db.get("extensions") or []:
                sql.append(f"\\c {db['name']}\nCREATE EXTENSION IF NOT EXISTS {ext};")
    script = "\n".join(sql).replace("$", "$$")
    return {"image": postgres_image, "restart": "no", "networks": networks,  # one of PostgreSQL's link networks
            "environment": {"PGPASSWORD": admin["admin_password"]},
            "entrypoint": ["bash", "-c", f"psql -h aiplatform-postgres -U platform -d postgres -v ON_ERROR_STOP=1 <<'EOF'\n{script}\nEOF"],
            "depends_on": {"postgres": {"condition": "service_healthy"}}}


def baseline_file(cat: dict, deps: dict) -> str:
    merged: dict = {"name": PROJECT, "services": {}, "volumes": {}, "networks": {}}
    first_of = {}
    for name, svc in cat.items():
        project_dir = os.path.join(BASE_DIR, name)
        with open(os.path.join(project_dir, "compose.yml")) as fh:
            doc = yaml.safe_load(fh.read().replace("${AIPLATFORM_CONFIG_HASH:-}", "baseline"))
        probe = svc.get("probe") or {}
        parts = probe.get("probes") if probe.get("type") == "all" else [dict(probe, target=svc.get("target") or name)]
        checks = {p["target"]: healthcheck(p) for p in parts}
        for key, value in (doc.get("volumes") or {}).items():
            merged["volumes"][key] = value
        for key, value in (doc.get("networks") or {}).items():
            # a project's own networks (Dify's) and the link networks it joins, made by the baseline's own `up`
            if isinstance(value, dict) and value.get("external"):
                value = {"name": value.get("name") or key}
            merged["networks"].setdefault(key, value)
        for cname, c in doc["services"].items():
            full = f"{name}-{cname}" if len(doc["services"]) > 1 else name
            absolute(project_dir, c)
            # within a project, depends_on name the project's own services
            if isinstance(c.get("depends_on"), dict):
                c["depends_on"] = {f"{name}-{d}" if len(doc["services"]) > 1 else d: v for d, v in c["depends_on"].items()}
            elif isinstance(c.get("depends_on"), list):
                c["depends_on"] = {f"{name}-{d}": {"condition": "service_started"} for d in c["depends_on"]}
            if checks.get(cname):
                c["healthcheck"] = checks[cname]
            merged["services"][full] = c
            first_of.setdefault(name, []).append(full)
        svc["_probed"] = [f"{name}-{t}" if len(doc["services"]) > 1 else t for t in checks]
    merged["services"]["appdb"] = app_db_job(cat, cat["postgres"]["images"]["postgres"],
                                             list(merged["services"]["postgres"].get("networks") or ["default"])[:1])
    for name, needs in deps.items():
        for full in first_of.get(name, []):
            c = merged["services"][full]
            c.setdefault("depends_on", {})
            for dep in needs:
                for probed in cat[dep]["_probed"]:
                    c["depends_on"][probed] = {"condition": "service_healthy"}
            if cat[name].get("database"):
                c["depends_on"]["appdb"] = {"condition": "service_completed_successfully"}
    path = os.path.join(tempfile.mkdtemp(prefix="bench-baseline-"), "compose.yml")
    with open(path, "w") as fh:
        yaml.safe_dump(merged, fh, sort_keys=False)
    return path


def clean():
    """Nothing of either side left: the platform's containers and volumes (the bench owns this engine)."""
    ids = sh(["docker", "ps", "-aq", "--filter", "name=^aiplatform-"], check=False).stdout.split()
    if ids:
        sh(["docker", "rm", "-f", *ids], check=False)
    volumes = [v for v in sh(["docker", "volume", "ls", "-q"], check=False).stdout.split() if v.startswith("aiplatform_")]
    if volumes:
        sh(["docker", "volume", "rm", "-f", *volumes], check=False)
    networks = [n for n in sh(["docker", "network", "ls", "--format", "{{.Name}}"], check=False).stdout.split()
                if n == "aiplatform" or n.startswith(("aiplatform-", "aiplatform_"))]
    if networks:
        sh(["docker", "network", "rm", *networks], check=False)


def compose(path, *args):
    return ["docker", "compose", "-f", path, *args]


def baseline_down(path):
    sh(compose(path, "down", "-v", "--remove-orphans"), check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    clean()
    sh(["rm", "-rf", BASE_DIR])
    sh(playbook("site.yml"))  # renders every file once; the baseline is generated from them
    cat = catalog()
    # the roles' own dependency map, as the plan evaluated it
    deps = {n: [d for d in cat[n].get("depends_on") or [] if d in cat] for n in cat}
    path = baseline_file(cat, deps)
    runs = {"ours_cold": [], "ours_noop": [], "base_cold": [], "base_noop": []}
    for dummy in range(args.repeat):
        ours_down()  # keeps the rendered files and secrets, removes containers and volumes
        clean()
        runs["base_cold"].append(timed(compose(path, "up", "-d", "--wait")))
        runs["base_noop"].append(timed(compose(path, "up", "-d", "--wait")))
        baseline_down(path)
        clean()
        sh(["docker", "network", "create", "aiplatform"], check=False)
        runs["ours_cold"].append(site())
        runs["ours_noop"].append(site())
    ours_down()
    med = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    result = {
        "cold": {"ours_s": med["ours_cold"], "baseline_s": med["base_cold"], "ratio": round(med["ours_cold"] / med["base_cold"], 2)},
        "noop": {"ours_s": med["ours_noop"], "baseline_s": med["base_noop"], "ratio": round(med["ours_noop"] / med["base_noop"], 2)},
        "runs": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "baseline_file": path,
    }
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "platform.json"), "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
