#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: wave_gate
short_description: Skip the services of a wave whose dependencies failed
description:
  - Of the given services, those that depend (directly or through others) on a failed service are skipped, each
    with a DEPLOY_SKIPPED event naming the failed dependency; the others go ahead, so independent services carry on.
  - Sets the fact C(aiplatform_wave_go) to the services that go ahead.
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description: Services of the wave on this host.
    type: list
    elements: str
    required: true
  failed:
    description: Services that failed so far, on any host.
    type: list
    elements: str
    default: []
  dependencies:
    description: The dependency map.
    type: dict
    required: true
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: Runs entirely on the controller.
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Go ahead with what does not depend on a failure
  aiplatform.stack.wave_gate:
    services: [litellm, n8n]
    failed: [redis]
    dependencies: {litellm: [postgres, redis], n8n: [postgres]}
"""

RETURN = r"""
go:
  description: Services that go ahead.
  returned: always
  type: list
  elements: str
  sample: [n8n]
blocked:
  description: Services skipped because a dependency failed.
  returned: always
  type: list
  elements: str
  sample: [litellm]
"""
