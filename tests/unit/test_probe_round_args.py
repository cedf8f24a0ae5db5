"""What the controller's probe round sends is what service_probe accepts: action tests answer the module with a fake,
so a field the module does not know would pass them and fail on every host ("Unsupported parameters")."""
import yaml

from ansible_collections.aiplatform.stack.plugins.modules import service_probe
from ansible_collections.aiplatform.stack.plugins.plugin_utils import probing


def test_every_field_the_probe_round_sends_is_a_documented_option_of_service_probe():
    sent = []

    class Action:
        def _execute_module(self, name, module_args=None, task_vars=None):
            sent.append((name, module_args))
            return {"services": {}}

    spec = {"name": "web", "project": "aiplatform-web", "target": "api", "probe": {"type": "tcp", "port": 1},
            "with_logs": True, "ports": [], "container": "aiplatform-web"}  # a catalog entry has more than a probe needs
    probing.probe_round(Action(), {}, [spec], {"aiplatform-web": 0}, drift_dir="/srv/aiplatform")
    (name, args), = sent
    assert name == "aiplatform.stack.service_probe"
    options = yaml.safe_load(service_probe.DOCUMENTATION)["options"]
    assert set(args) <= set(options)
    assert set(args["services"][0]) == {"name", "project", "target", "probe", "with_logs"}
    assert set(args["services"][0]) <= set(options["services"]["suboptions"])
