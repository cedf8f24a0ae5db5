"""Each role's meta/argument_specs.yml agrees with its defaults/main.yml (names and literal defaults)."""
import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "roles")


@pytest.mark.parametrize("role", sorted(os.listdir(ROLES)))
def test_specs_document_every_default(role):
    defaults = yaml.safe_load(open(os.path.join(ROLES, role, "defaults", "main.yml"))) or {}
    specs = yaml.safe_load(open(os.path.join(ROLES, role, "meta", "argument_specs.yml")))["argument_specs"]
    assert "main" in specs
    for entry, spec in specs.items():
        options = spec.get("options", {})
        assert set(options) == set(defaults), (role, entry, set(options) ^ set(defaults))
        for name, value in defaults.items():
            assert options[name].get("description"), name
            if "default" in options[name]:
                assert options[name]["default"] == value, name
            elif not (isinstance(value, str) and "{{" in value):
                pytest.fail(f"{role}: {name} has a literal default that the spec does not state")
            assert name.startswith(role + "_") or (role == "platform" and name.startswith("aiplatform_"))


def _dict_options(options, path=""):
    for name, spec in (options or {}).items():
        if spec.get("type") == "dict":
            yield f"{path}{name}", spec
        yield from _dict_options(spec.get("options"), f"{path}{name}.")


@pytest.mark.parametrize("role", sorted(os.listdir(ROLES)))
def test_every_dict_option_has_sub_options_or_says_it_is_free_form(role):
    # a dict without sub-options lets a typo inside it (postgres_backoff: {deadlin: 5}) pass silently
    specs = yaml.safe_load(open(os.path.join(ROLES, role, "meta", "argument_specs.yml")))["argument_specs"]
    for entry, spec in specs.items():
        for name, option in _dict_options(spec.get("options")):
            description = " ".join(option["description"]) if isinstance(option["description"], list) \
                else option["description"]
            assert option.get("options") or "Free-form" in description, f"{role} {entry}: {name}"


def test_entry_points_of_a_role_agree_on_sub_options():
    for role in sorted(os.listdir(ROLES)):
        specs = yaml.safe_load(open(os.path.join(ROLES, role, "meta", "argument_specs.yml")))["argument_specs"]
        first = specs["main"]["options"]
        for entry, spec in specs.items():
            for name, option in spec["options"].items():
                assert option.get("options") == first[name].get("options"), (role, entry, name)
