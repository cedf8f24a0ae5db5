"""SSH host keys are checked by default: only the lab's throw-away hosts opt out, in their own inventory."""
import configparser
import glob
import os
import re

import pytest
import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
# What turns checking off: Ansible's own switch, or ssh options that accept any key or forget every key.
OFF_VARS = ("ansible_host_key_checking", "ansible_ssh_host_key_checking", "ansible_paramiko_host_key_checking")
SSH_ARG_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args")
OFF_SSH_OPTION = re.compile(r"StrictHostKeyChecking\s*=?\s*(no|off|false|accept-new)|UserKnownHostsFile\s*=?\s*/dev/null",
                            re.IGNORECASE)


def false_like(value):
    return str(value).strip().lower() in ("false", "no", "off", "0", "n", "f")


def ssh_checks_off(mapping):
    """(variable, value) pairs of a mapping, searched at any depth, that turn host key checking off."""
    found = []
    if isinstance(mapping, dict):
        for key, value in mapping.items():
            if key in OFF_VARS and false_like(value):
                found.append((key, value))
            elif key in SSH_ARG_VARS and OFF_SSH_OPTION.search(str(value)):
                found.append((key, value))
            else:
                found += ssh_checks_off(value)
    elif isinstance(mapping, list):
        for item in mapping:
            found += ssh_checks_off(item)
    return found


def test_the_shipped_ansible_cfg_keeps_host_key_checking_on():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(os.path.join(ROOT, "ansible.cfg"))
    for section in cfg.sections():
        for key, value in cfg.items(section):
            assert not (key == "host_key_checking" and false_like(value)), f"[{section}] {key} = {value}"
            assert not OFF_SSH_OPTION.search(value), f"[{section}] {key} = {value}"


def test_the_molecule_scenario_keeps_host_key_checking_on():
    for path in glob.glob(os.path.join(ROOT, "molecule", "*", "molecule.yml")):
        config = yaml.safe_load(open(path))
        options = ((config.get("provisioner") or {}).get("config_options") or {})
        for section, values in options.items():
            for key, value in (values or {}).items():
                assert not (key == "host_key_checking" and false_like(value)), f"{path}: [{section}] {key}"
                assert not OFF_SSH_OPTION.search(str(value)), f"{path}: [{section}] {key}"


def inventory_files(lab: bool):
    for inventory in sorted(glob.glob(os.path.join(ROOT, "inventories", "*"))):
        if os.path.basename(inventory).startswith("lab") != lab:
            continue
        yield from sorted(glob.glob(os.path.join(inventory, "**", "*.y*ml"), recursive=True))


@pytest.mark.parametrize("path", list(inventory_files(lab=False)), ids=lambda p: os.path.relpath(p, ROOT))
def test_no_inventory_but_the_lab_turns_host_key_checking_off(path):
    assert not ssh_checks_off(yaml.safe_load(open(path))), path


def test_the_lab_multihost_inventory_opts_out_in_its_own_variables():
    # its hosts get new keys on every `lab/multihost.py up`; the opt-out lives with them, nowhere else
    found = ssh_checks_off(yaml.safe_load(open(os.path.join(ROOT, "inventories", "lab-multihost", "group_vars",
                                                            "all.yml"))))
    assert {key for key, dummy in found} == {"ansible_host_key_checking", "ansible_ssh_common_args"}


def test_the_check_itself_finds_every_way_to_turn_checking_off():
    assert ssh_checks_off({"all": {"vars": {"ansible_host_key_checking": False}}})
    assert ssh_checks_off({"h": {"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"}})
    assert ssh_checks_off({"h": {"ansible_ssh_extra_args": "-o UserKnownHostsFile=/dev/null"}})
    assert not ssh_checks_off({"h": {"ansible_ssh_common_args": "-o ServerAliveInterval=30"}})
