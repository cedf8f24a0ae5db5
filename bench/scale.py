"""Benchmark 3: does deploy time grow with the depth of the dependency graph, or with the number of services?

  python bench/scale.py            (after lab/build.sh; one host)
  python bench/scale.py --hosts 3  (the three-host lab of lab/multihost.py: services spread over its hosts)

Stand-in services (lab image, 1 s start delay, real HTTP readiness) described as data (aiplatform_custom_services),
in a graph of depth 4: 9 services vs 60 services. Reports both cold deploy times and their ratio next to the ratio
of the service counts (6.7).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"])


GROUPS = ["aiplatform_data", "aiplatform_models", "aiplatform_apps"]
INVENTORY = "inventories/lab"


def graph(count: int, depth: int, seed: int = 3, hosts: int = 1) -> dict:
    rng = random.Random(seed)
    layers = [[] for dummy in range(depth)]
    for i in range(count):
        layers[i * depth // count].append(f"s{i:02d}")
    services = {}
    for k, layer in enumerate(layers):
        for name in layer:
            needs = rng.sample(layers[k - 1], min(2, len(layers[k - 1]))) if k else []
            services[name] = {
                "image": "aiplatform-lab/standin:current", "port": 8080,
                "probe": {"type": "http", "port": 8080, "path": "/health"},
                "environment": {"STANDIN_SERVICE": name, "STANDIN_START_DELAY": "1"},
                "backoff": {"initial": 0.5, "base": 0.25, "cap": 1, "deadline": 120},
                "depends_on": needs,
            }
            if hosts > 1:
                services[name]["host_group"] = GROUPS[int(name[1:]) % len(GROUPS)]
    return services


def playbook(name: str, services: dict, base_dir: str) -> float:
    extra = {"aiplatform_services": [], "aiplatform_custom_services": services, "aiplatform_dependencies": {},
             "aiplatform_base_dir": base_dir}
    if name == "teardown.yml":
        extra["aiplatform_purge"] = True
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", f"playbooks/{name}", "-i", INVENTORY, "-e", json.dumps(extra)],
                          cwd=ROOT, env=dict(ENV, AIPLATFORM_LOG_DIR=tempfile.mkdtemp(prefix="bench-scale-")),
                          capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{name} with {len(services)} services failed:\n{proc.stdout[-3000:]}")
    return took


def main() -> None:
    global INVENTORY
    hosts = int(sys.argv[sys.argv.index("--hosts") + 1]) if "--hosts" in sys.argv else 1
    if hosts > 1:
        sys.path.insert(0, os.path.join(ROOT, "lab"))
        import multihost

        multihost.up()
        INVENTORY = "inventories/lab-multihost"
    try:
        result = measure(hosts)
    finally:
        if hosts > 1:
            multihost.down()
    print(json.dumps(result, indent=2))


def measure(hosts: int) -> dict:
    out = {}
    for count in (9, 60):
        services = graph(count, 4, hosts=hosts)
        base = tempfile.mkdtemp(prefix=f"aiplatform-scale-{count}-")
        out[count] = {"cold_s": round(playbook("site.yml", services, base), 2)}
        out[count]["noop_s"] = round(playbook("site.yml", services, base), 2)
        playbook("teardown.yml", services, base)
    return {"hosts": hosts, "depth": 4, "services_9": out[9], "services_60": out[60],
            "cold_ratio_60_vs_9": round(out[60]["cold_s"] / out[9]["cold_s"], 2),
            "noop_ratio_60_vs_9": round(out[60]["noop_s"] / out[9]["noop_s"], 2), "count_ratio": round(60 / 9, 2)}


if __name__ == "__main__":
    main()
