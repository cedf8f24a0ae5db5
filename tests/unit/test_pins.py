"""The image a role pins is the upstream release the lab builds and proves (lab/images/<name>/Dockerfile)."""
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# lab image -> (role, its image variable): the lab images that build real upstream software
PINNED = {"litellm": ("litellm", "litellm_image"), "n8n": ("n8n", "n8n_image"), "flowise": ("flowise", "flowise_image"),
          "openwebui": ("openwebui", "openwebui_image"), "caddy": ("proxy", "proxy_image"),
          "restic": ("aiplatform", "aiplatform_backup_restic_image")}
# lab images that build an upstream release no role pins
NOT_PINNED = {"host": "the lab's host image: its Docker Compose, which no role deploys",
              "rest-server": "the operator's backup server in the three-host lab, which no role deploys"}
VERSION_ARG = re.compile(r"^ARG (\w+_VERSION)=(\S+)$", re.M)


def lab_version(image):
    found = VERSION_ARG.findall(open(os.path.join(ROOT, "lab", "images", image, "Dockerfile")).read())
    assert len(found) == 1, f"lab/images/{image}/Dockerfile: expected one ARG <NAME>_VERSION=<release>, found {found}"
    return found[0][1]


def pinned_release(image_ref):
    """The release an image reference pins: its tag without a leading v (v0.12.4 and 0.12.4 are release 0.12.4)."""
    tag = image_ref.rpartition(":")[2]
    return tag[1:] if re.match(r"v\d", tag) else tag


def role_file(role, *path):
    return yaml.safe_load(open(os.path.join(ROOT, "roles", role, *path)))


def test_every_lab_image_with_an_upstream_version_is_checked():
    dockerfiles = {name: os.path.join(ROOT, "lab", "images", name, "Dockerfile")
                   for name in os.listdir(os.path.join(ROOT, "lab", "images"))}
    built = {name for name, path in dockerfiles.items() if os.path.exists(path) and VERSION_ARG.search(open(path).read())}
    assert built - set(NOT_PINNED) == set(PINNED), "map each lab image that builds an upstream release to its role"


@pytest.mark.parametrize("image", sorted(PINNED))
def test_role_pins_the_release_the_lab_builds(image):
    role, variable = PINNED[image]
    default = role_file(role, "defaults", "main.yml")[variable]
    spec = role_file(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"][variable]["default"]
    assert spec == default, f"roles/{role}: meta/argument_specs.yml default {spec!r} != defaults/main.yml {default!r}"
    # a plain release: no rolling tag (latest, main-stable), no build suffix that names no release
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned_release(default)), f"roles/{role}: {variable} pins {default!r}"
    assert pinned_release(default) == lab_version(image), (
        f"roles/{role}/defaults/main.yml pins {default!r}, lab/images/{image}/Dockerfile builds {lab_version(image)}: "
        "bump both to the same upstream release")


@pytest.mark.parametrize(("ref", "release"), [("ghcr.io/open-webui/open-webui:v0.12.4", "0.12.4"),
                                              ("n8nio/n8n:2.41.3", "2.41.3"),
                                              ("registry.local:5000/berriai/litellm-database:v1.108.7", "1.108.7"),
                                              ("ghcr.io/berriai/litellm-database:main-v1.80.5-stable", "main-v1.80.5-stable")])
def test_pinned_release_reads_the_tag(ref, release):
    assert pinned_release(ref) == release
