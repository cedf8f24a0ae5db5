#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: ollama_models
short_description: Pull models into an Ollama container, one bounded step at a time
description:
  - Lists the models the Ollama container has (C(GET /api/tags)) and pulls each listed model that is missing
    (C(POST /api/pull)), streaming progress for at most O(budget) seconds per call.
  - The action plugin of the same name calls this step after step until every model is there or its time is up,
    reporting progress between steps. Ollama resumes a pull where the last step left it.
  - Runs on the Docker host and reaches Ollama at its container address (no published port needed).
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  container:
    description: The Ollama container.
    type: str
    required: true
  port:
    description: Ollama's port inside the container.
    type: int
    default: 11434
  models:
    description: Models that must be present, as named in Ollama (C(llama3.2), C(nomic-embed-text:v1.5)).
    type: list
    elements: str
    required: true
  budget:
    description: Seconds to spend pulling in one step.
    type: float
    default: 10
  timeout:
    description: Seconds for all steps together (action plugin); models not complete by then fail the task.
    type: float
    default: 1800
  service:
    description: Service name used in the progress events (action plugin).
    type: str
    default: ollama
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: The controller repeats the step and reports MODEL_PULL progress events between steps.
  check_mode:
    support: full
    details: Reports the missing models without pulling them.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Models already present are not pulled again.
"""

EXAMPLES = r"""
- name: One pull step for two models
  aiplatform.stack.ollama_models:
    container: aiplatform-ollama
    models: [llama3.2, nomic-embed-text]
    budget: 10
"""

RETURN = r"""
pulled:
  description: Models pulled by this task (action plugin).
  returned: always
  type: list
  elements: str
  sample: [llama3.2]
events:
  description: MODEL_PULL, MODEL_READY and MODEL_PULL_FAIL events (action plugin).
  returned: always
  type: list
  elements: dict
  sample: []
failed_models:
  description: Models that could not be pulled (action plugin).
  returned: always
  type: list
  elements: str
  sample: []
missing:
  description: Models that were missing when the call began.
  returned: always
  type: list
  elements: str
  sample: [llama3.2]
progress:
  description: Per missing model, C(state) (done, failed, pulling, waiting), C(status), C(completed), C(total), C(error).
  returned: always
  type: dict
  sample: {llama3.2: {state: pulling, status: pulling dde5aa3fc5ff, completed: 1048576, total: 2019377376}}
"""

import json
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.aiplatform.stack.plugins.module_utils import runner
from ansible_collections.aiplatform.stack.plugins.module_utils.model_pull import missing, read_progress
from ansible_collections.aiplatform.stack.plugins.module_utils.probes import container_address


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "port": {"type": "int", "default": 11434},
            "models": {"type": "list", "elements": "str", "required": True},
            "budget": {"type": "float", "default": 10},
            "timeout": {"type": "float", "default": 1800},
            "service": {"type": "str", "default": "ollama"},
        },
        supports_check_mode=True,
    )
    p = module.params
    rc, out, err = runner.run(["docker", "inspect", p["container"]])
    address = container_address(json.loads(out)[0]) if rc == 0 and out.strip() else None
    if not address:
        module.fail_json(msg="%s: no running container with an address (%s)" % (p["container"], err.strip() or "not on a network"),
                         category="dependency")
    base = "http://%s:%d" % (address, p["port"])
    try:
        tags = json.loads(open_url(base + "/api/tags", timeout=10, use_proxy=False).read())
    except (HTTPError, URLError, OSError, ValueError) as exc:
        module.fail_json(msg="%s: cannot list models at %s/api/tags: %s" % (p["container"], base, exc), category="dependency")
    todo = missing(p["models"], tags)
    if module.check_mode or not todo:
        module.exit_json(changed=bool(todo), missing=todo, progress={m: {"state": "waiting"} for m in todo})
    progress = {m: {"state": "waiting"} for m in todo}
    start = time.monotonic()
    for model in todo:
        budget = max(1.0, p["budget"] - (time.monotonic() - start))
        try:
            resp = open_url(base + "/api/pull", method="POST", data=json.dumps({"model": model, "stream": True}),
                            headers={"Content-Type": "application/json"}, timeout=max(30, budget), use_proxy=False)
            progress[model] = read_progress(iter(resp.readline, b""), budget)
            resp.close()
        except HTTPError as exc:
            body = exc.read(400).decode("utf-8", "replace")
            try:
                body = json.loads(body).get("error", body)
            except ValueError:
                pass
            progress[model] = {"state": "failed", "error": "HTTP %s: %s" % (exc.code, body)}
        except (URLError, OSError) as exc:
            progress[model] = {"state": "pulling", "status": "connection: %s" % exc}
        if progress[model]["state"] == "pulling":
            break  # this step's time went to this model; the next step goes on with it
    module.exit_json(changed=any(v["state"] == "done" for v in progress.values()), missing=todo, progress=progress)


if __name__ == "__main__":
    main()
