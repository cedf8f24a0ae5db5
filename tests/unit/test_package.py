"""What the built collection tarball ships: an allowlist (galaxy.yml `manifest`), nothing of the checkout's tooling.

The tarball is built from a copy of the tracked files plus what a working tree collects (a lab key, an
ansible-builder context, .ansible/, logs): none of it may reach the tarball.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))

ALLOWED = [
    r"MANIFEST\.json", r"FILES\.json", r"README\.md", r"LICENSE", r"CHANGELOG\.rst",
    r"meta/runtime\.yml",
    r"plugins/(action|callback|doc_fragments|filter|module_utils|modules|plugin_utils)/[a-z_0-9]+\.(py|yml)",
    r"roles/[a-z0-9_]+/(defaults|vars|tasks|meta)/[a-z_]+\.yml", r"roles/[a-z0-9_]+/templates/[a-z0-9_.]+\.j2",
    r"roles/[a-z0-9_]+/README\.md",
    r"playbooks/[a-z_]+\.yml",
    r"changelogs/(changelog|config)\.yaml",
    r"docs/[a-z_/.-]+\.(md|yml)",
    r"inventories/local/hosts\.yml", r"inventories/multihost/(hosts|group_vars/[a-z_]+)\.yml",
]
PLANTED = ["inventories/lab-multihost/.ssh/id_ed25519", "inventories/lab-multihost/hosts.yml", "context/Containerfile",
           ".ansible/collections/x", "logs/aiplatform.log", "plugins/modules/.tmp-x.py", "aiplatform-stack-0.0.1.tar.gz"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    try:
        import distlib  # noqa: F401 (ansible-galaxy needs it for the manifest directives)
    except ImportError:
        if os.environ.get("AIPLATFORM_PACKAGE_TEST") == "required":  # scripts/package-check.sh, scripts/test-cores.sh
            raise
        pytest.skip("ansible-galaxy needs distlib for the manifest (requirements-test.txt)")
    tree = tmp_path_factory.mktemp("tree") / "stack"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for rel in files + PLANTED:
        dest = tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = os.path.join(ROOT, rel)
        if os.path.isfile(src) and not os.path.islink(src):
            shutil.copy2(src, dest)
        elif not os.path.exists(src):
            dest.write_text("planted\n")
    out = tmp_path_factory.mktemp("out")
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    subprocess.run([galaxy, "collection", "build", "--output-path", str(out), str(tree)], check=True,
                   capture_output=True, text=True)
    (built,) = out.glob("aiplatform-stack-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def tarball(built):
    with tarfile.open(built) as tf:
        return sorted(m.name for m in tf.getmembers() if m.isfile())


def test_tarball_ships_only_what_a_collection_should(tarball):
    unexpected = [name for name in tarball if not any(re.fullmatch(p, name) for p in ALLOWED)]
    assert unexpected == []


def test_tarball_has_the_collection_and_none_of_the_checkout(tarball):
    for needed in ["LICENSE", "README.md", "meta/runtime.yml", "playbooks/site.yml", "plugins/modules/compose_project.py",
                   "roles/aiplatform/tasks/main.yml", "changelogs/changelog.yaml"]:
        assert needed in tarball
    for role in ROLES:
        assert f"roles/{role}/README.md" in tarball and f"roles/{role}/meta/main.yml" in tarball
    for name in tarball:
        assert not name.startswith(("tests/", "lab/", "scripts/", "context/", ".", "inventories/lab", "logs/")), name
        assert "ansible.cfg" not in name and "id_ed25519" not in name and "/." not in name


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_galaxy_metadata_a_readme_and_described_entry_points(role):
    meta = yaml.safe_load(open(os.path.join(ROOT, "roles", role, "meta", "main.yml")))
    runtime = yaml.safe_load(open(os.path.join(ROOT, "meta", "runtime.yml")))
    info = meta["galaxy_info"]
    assert info["description"] and info["license"] == "GPL-3.0-or-later" and info["author"]
    assert runtime["requires_ansible"].startswith(">=%s." % info["min_ansible_version"])
    specs = yaml.safe_load(open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")))["argument_specs"]
    for name, spec in specs.items():
        assert spec.get("short_description") and spec.get("description"), (role, name)
    assert os.path.exists(os.path.join(ROOT, "roles", role, "README.md"))


def test_role_readmes_are_generated_from_the_specs():
    rc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "role_readmes.py"), "--check"],
                        capture_output=True, text=True, check=False)
    assert rc.returncode == 0, rc.stdout


def test_license_is_the_gpl3_text():
    text = open(os.path.join(ROOT, "LICENSE")).read()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml")))["license"] == ["GPL-3.0-or-later"]


@pytest.fixture(scope="module")
def fresh_clone(built, tmp_path_factory):
    """A fresh clone (no .collections link, the repo's ansible.cfg) with the collection installed in ~/.ansible."""
    base = tmp_path_factory.mktemp("fresh")
    env = dict(os.environ, HOME=str(base / "home"))
    for var in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"):
        env.pop(var, None)
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "install", "-p",
                    str(base / "home" / ".ansible" / "collections"), str(built)], env=env, cwd=base, check=True,
                   capture_output=True, text=True)
    clone = base / "clone"
    shutil.copytree(os.path.join(ROOT, "inventories", "local"), clone / "inventories" / "local")
    shutil.copy(os.path.join(ROOT, "ansible.cfg"), clone / "ansible.cfg")
    return clone, env


@pytest.mark.parametrize("playbook", ["site", "status", "recover", "upgrade", "teardown", "report"])
def test_installed_collection_runs_its_playbooks_by_fqcn_from_a_fresh_clone(fresh_clone, playbook):
    """The repo's ansible.cfg must not hide an installed collection; the playbooks run by their FQCN."""
    clone, env = fresh_clone
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                          f"aiplatform.stack.{playbook}", "--syntax-check"], env=env, cwd=clone,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_execution_environment_builds_this_version_on_a_python_3_11_base():
    ee = yaml.safe_load(open(os.path.join(ROOT, "execution-environment.yml")))
    version = yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml")))["version"]
    (collection,) = ee["dependencies"]["galaxy"]["collections"]
    assert collection["source"].endswith(f"aiplatform-stack-{version}.tar.gz")
    assert ee["additional_build_files"][0]["src"] == f"aiplatform-stack-{version}.tar.gz"
    # the plugins import nothing beyond ansible-core
    assert not ee["dependencies"].get("python")
    base = ee["images"]["base_image"]["name"]
    match = re.search(r"python:3\.(\d+)", base)
    assert match and int(match.group(1)) >= 11, base


def test_every_internal_python_file_says_it_is_private():
    # module_utils and plugin_utils are not a public API (as community.docker marks its own)
    here = os.path.join(os.path.dirname(__file__), "..", "..", "plugins")
    files = glob.glob(os.path.join(here, "module_utils", "*.py")) + glob.glob(os.path.join(here, "plugin_utils", "*.py"))
    assert files
    unmarked = [os.path.relpath(f, here) for f in files
                if not open(f).readline().startswith("# Private to aiplatform.stack: not a public API")]
    assert not unmarked, unmarked


def test_no_plugin_imports_six():
    """ansible.module_utils.six is deprecated in current cores; the collection is Python 3 on both sides."""
    found = []
    for folder, dummy, names in os.walk(os.path.join(ROOT, "plugins")):
        for name in names:
            if name.endswith(".py") and "module_utils.six" in open(os.path.join(folder, name)).read():
                found.append(os.path.relpath(os.path.join(folder, name), ROOT))
    assert not found, found
