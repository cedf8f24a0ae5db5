#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_expiry
short_description: Read the expiry of the certificates a TLS server serves, one per hostname
description:
  - Connects to O(address):O(port) once per hostname with that name as SNI, reads the certificate served (without
    verifying it, since its dates are wanted, also of one no client would accept) and reports the days left.
  - C(WARN) under O(warn_days) days left or expired, C(FAIL) when no certificate could be read. The proxy renews on
    its own; a WARN means a renewal is overdue.
  - Standard library only (no C(cryptography) needed on the host).
version_added: 0.4.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  address:
    description: Address the TLS server listens on, as seen from the host.
    type: str
    default: 127.0.0.1
  port:
    description: Its TLS port.
    type: int
    default: 443
  hostnames:
    description: The names to ask for (SNI), one certificate each.
    type: list
    elements: str
    required: true
  warn_days:
    description: Days left under which a certificate is a WARN.
    type: int
    default: 30
  timeout:
    description: Seconds per connection.
    type: float
    default: 5
extends_documentation_fragment:
  - aiplatform.stack.attributes
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: How long do the proxy's certificates last?
  aiplatform.stack.certificate_expiry:
    address: 127.0.0.1
    port: 443
    hostnames: [openwebui.aiplatform.internal, n8n.aiplatform.internal]
    warn_days: 30
  register: certs
"""

RETURN = r"""
certificates:
  description: One entry per hostname.
  returned: always
  type: list
  elements: dict
  contains:
    hostname:
      description: The name asked for.
      type: str
      sample: openwebui.aiplatform.internal
    level:
      description: C(OK), C(WARN) (under warn_days or expired) or C(FAIL) (none read).
      type: str
      sample: OK
    days_left:
      description: Days until it expires (negative once expired); null when none was read.
      type: float
      sample: 179.5
    not_after:
      description: Its expiry, ISO 8601 UTC.
      type: str
      sample: "2027-05-30T10:00:00+00:00"
    message:
      description: One line for the status.
      type: str
      sample: certificate of openwebui.aiplatform.internal valid until 2027-05-30 10:00 UTC (179 days)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiplatform.stack.plugins.module_utils import certificates


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "address": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 443},
            "hostnames": {"type": "list", "elements": "str", "required": True},
            "warn_days": {"type": "int", "default": 30},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    p = module.params
    found = certificates.check(p["address"], p["port"], p["hostnames"], p["warn_days"],
                               fetch=lambda a, port, name: certificates.peer_certificate(a, port, name, p["timeout"]))
    module.exit_json(changed=False, certificates=found)


if __name__ == "__main__":
    main()
