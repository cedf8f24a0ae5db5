"""Extra latency of a request through the HTTPS proxy, side by side with the same request to the application's own
port (127.0.0.1, plain HTTP).

  python bench/proxy.py [--requests 300]

Deploys postgres, redis, litellm, the real Open WebUI and the proxy (platform CA) from the lab inventory, then
alternates GET /health direct and through the proxy: once with a new connection per request (TCP, and TLS through
the proxy: what a browser's first request pays) and once on one kept-alive connection each (what the next requests
pay). Medians and 95th percentiles in ms; ratios proxied / direct. Traffic stays on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
BASE_DIR = "/tmp/aiplatform-bench-proxy"  # noqa: S108 (the bench owns it)
SERVICES = ["postgres", "redis", "litellm", "openwebui", "proxy"]
HOST = "openwebui.aiplatform.internal"
ROOT_CA = "/data/caddy/pki/authorities/local/root.crt"


def sh(argv, check=True):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def teardown():
    sh(["ansible-playbook", "playbooks/teardown.yml", "-i", "inventories/lab", "-e",
        json.dumps({"aiplatform_base_dir": BASE_DIR, "aiplatform_services": SERVICES,
                    "aiplatform_purge": True})], check=False)
    shutil.rmtree(BASE_DIR, ignore_errors=True)


def direct_port() -> int:
    out = sh(["docker", "port", "aiplatform-openwebui", "8080/tcp"]).stdout.split()
    return int(out[0].rpartition(":")[2])


class Proxied(http.client.HTTPSConnection):
    """HTTPS to the proxy on 127.0.0.1 with the application's hostname as SNI (no name resolution needed)."""

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client's own connect does
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def timed_get(conn, close: bool) -> float:
    """ms of one GET /health on `conn` (connecting first when it is not connected)."""
    start = time.perf_counter()
    conn.request("GET", "/health", headers={"Host": HOST})
    answer = conn.getresponse()
    answer.read()
    if close:
        conn.close()
    if answer.status != 200:
        raise SystemExit(f"/health answered {answer.status}")
    return (time.perf_counter() - start) * 1000


def measure(requests: int, port: int, context) -> dict:
    def direct():
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def proxied():
        return Proxied(HOST, 443, timeout=10, context=context)

    times = {"new_direct": [], "new_proxied": [], "kept_direct": [], "kept_proxied": []}
    for dummy in range(requests):  # alternate, so that both sides see the same machine
        times["new_direct"].append(timed_get(direct(), close=True))
        times["new_proxied"].append(timed_get(proxied(), close=True))
    kept = {"kept_direct": direct(), "kept_proxied": proxied()}
    for dummy in range(requests):
        for name, conn in kept.items():
            times[name].append(timed_get(conn, close=False))
    return times


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    teardown()
    try:
        sh(["ansible-playbook", "playbooks/site.yml", "-i", "inventories/lab", "-e",
            json.dumps({"aiplatform_base_dir": BASE_DIR, "aiplatform_services": SERVICES, "ollama_models": []})])
        with tempfile.TemporaryDirectory() as tmp:
            cafile = os.path.join(tmp, "ca.crt")
            sh(["docker", "cp", f"aiplatform-proxy:{ROOT_CA}", cafile])
            context = ssl.create_default_context(cafile=cafile)
            port = direct_port()
            measure(20, port, context)  # warm both paths (the proxy's first certificate, the app's caches)
            times = measure(args.requests, port, context)
    finally:
        teardown()
    result = {name: summary(values) for name, values in times.items()}
    for kind in ("new", "kept"):
        d, p = result[f"{kind}_direct"], result[f"{kind}_proxied"]
        result[f"{kind}_extra_median_ms"] = round(p["median_ms"] - d["median_ms"], 2)
        result[f"{kind}_ratio_median"] = round(p["median_ms"] / d["median_ms"], 2)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
