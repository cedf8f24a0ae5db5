#!/usr/bin/env python3
"""Three lab hosts on this machine: containers with their own Docker engine and sshd, joined by one network.

  python3 lab/multihost.py up     start them, load the lab images, write inventories/lab-multihost/hosts.yml
  python3 lab/multihost.py down   remove them with their engines' volumes and the network

Ansible reaches them over SSH with a key generated for the lab (inventories/lab-multihost/.ssh, never committed).
Their host keys are new on every `up`: the lab inventory alone turns host key checking off
(inventories/lab-multihost/group_vars/all.yml); ansible.cfg keeps Ansible's default, checking on.
Traffic stays on this machine: the hosts' addresses are on the lab network, published ports bind to those.
"""
from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORY = os.path.join(ROOT, "inventories", "lab-multihost")
NETWORK = "aiplatform-lab-hosts"
# name -> inventory group (data: postgres + redis; model: ollama + litellm; app: the applications)
HOSTS = {"data1": "aiplatform_data", "model1": "aiplatform_models", "app1": "aiplatform_apps"}
# The lab images each host needs (a host loads only those: loading is the slow part of bringing the lab up).
IMAGES = {"data1": ["postgres", "redis", "standin", "restic"], "model1": ["litellm", "standin", "restic"],
          "app1": ["standin", "nginx", "squid", "restic"]}
# An operator's backup server off the platform's hosts: restic's REST server on the lab network, a private repository
# and a user per host (started by backup_server(), removed by down())
BACKUP_SERVER = "aiplatform-lab-backup-server"


def sh(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def container(name: str) -> str:
    return f"aiplatform-lab-{name}"


def key_pair() -> str:
    sshdir = os.path.join(INVENTORY, ".ssh")
    os.makedirs(sshdir, mode=0o700, exist_ok=True)
    key = os.path.join(sshdir, "id_ed25519")
    if not os.path.exists(key):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "aiplatform-lab", "-f", key)
    return key


def up() -> dict[str, str]:
    t0 = time.monotonic()
    key = key_pair()
    pub = open(key + ".pub").read().strip()
    down(quiet=True)
    sh("docker", "network", "create", NETWORK)
    for i, name in enumerate(HOSTS, start=1):
        sh("docker", "run", "-d", "--name", container(name), "--hostname", name, "--network", NETWORK,
           "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
           "--security-opt", "apparmor=unconfined", "-v", f"{container(name)}-docker:/var/lib/docker",
           "-e", f"AUTHORIZED_KEY={pub}", "-e", f"INNER_BIP=10.201.{i}.1/24", "-e", f"INNER_POOL=10.{211 + i}.0.0/16",
           "--label", "aiplatform.lab=host", "aiplatform-lab/host:current")
    for name in HOSTS:
        for dummy in range(60):
            if sh("docker", "exec", container(name), "docker", "info", check=False).returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{name}: inner engine did not start: {sh('docker', 'logs', container(name), check=False).stderr[-800:]}")
    with concurrent.futures.ThreadPoolExecutor(len(HOSTS)) as pool:
        list(pool.map(load, HOSTS))
    addresses = {n: sh("docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
                       container(n)).stdout.strip() for n in HOSTS}
    write_inventory(addresses, key)
    print(f"lab hosts up in {time.monotonic() - t0:.1f} s: " + ", ".join(f"{n}={a}" for n, a in addresses.items()))
    return addresses


def load(name: str, images: list[str] | None = None) -> None:
    """Lab images into a host's engine (its own by default), streamed from the outer engine, no archive on disk."""
    save = subprocess.Popen(["docker", "save", *[f"aiplatform-lab/{i}:current" for i in images or IMAGES[name]]],
                            stdout=subprocess.PIPE)
    subprocess.run(["docker", "exec", "-i", container(name), "docker", "load", "-q"], stdin=save.stdout,
                   check=True, capture_output=True)
    save.stdout.close()
    if save.wait() != 0:
        raise SystemExit(f"{name}: docker save failed")


def write_inventory(addresses: dict[str, str], key: str) -> None:
    lines = ["---", "# Written by lab/multihost.py up: the three lab hosts on this machine.", "all:", "  children:",
             "    aiplatform:", "      children:"]
    for name, group in HOSTS.items():
        lines += [f"        {group}:", "          hosts:", f"            {name}:", f"              ansible_host: {addresses[name]}"]
    lines += ["  vars:", "    ansible_user: root", f"    ansible_ssh_private_key_file: {key}",
              "    ansible_python_interpreter: /usr/bin/python3", ""]
    with open(os.path.join(INVENTORY, "hosts.yml"), "w") as fh:
        fh.write("\n".join(lines))


def backup_server(passwords: dict[str, str]) -> str:
    """Start the REST server with a user per host (`--private-repos`: each reaches only /<its name>/); its address.
    The users file is put in before the start: rest-server reads it once, and will not start without it."""
    import base64
    import hashlib
    import io
    import tarfile

    sh("docker", "rm", "-f", BACKUP_SERVER, check=False)
    sh("docker", "create", "--name", BACKUP_SERVER, "--network", NETWORK, "--label", "aiplatform.lab=host",
       "aiplatform-lab/rest-server:current", "--private-repos")
    users = "".join(f"{name}:{{SHA}}{base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode()}\n"  # noqa: S324
                    for name, pw in passwords.items()).encode()  # (the htpasswd form rest-server reads)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        info = tarfile.TarInfo(".htpasswd")
        info.size, info.mode = len(users), 0o600
        tar.addfile(info, io.BytesIO(users))
    subprocess.run(["docker", "cp", "-", f"{BACKUP_SERVER}:/data"], input=packed.getvalue(), check=True,
                   capture_output=True)
    sh("docker", "start", BACKUP_SERVER)
    return sh("docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
              BACKUP_SERVER).stdout.strip()


def down(quiet: bool = False) -> None:
    names = [container(n) for n in HOSTS]
    sh("docker", "rm", "-f", *names, BACKUP_SERVER, check=False)
    sh("docker", "volume", "rm", "-f", *[f"{n}-docker" for n in names], check=False)
    sh("docker", "network", "rm", NETWORK, check=False)
    if not quiet:
        print("lab hosts removed")


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1] if len(sys.argv) > 1 else "up"]()
