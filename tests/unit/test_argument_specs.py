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
