#!/usr/bin/python
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name; this file documents it.
from __future__ import annotations

DOCUMENTATION = r"""
module: plan_platform
short_description: Describe, validate and order the platform's services
description:
  - Runs on the controller before anything on any host changes.
  - Checks every enabled service's description (type, pinned image references, probe type, host group, published
    ports claimed twice on one host), service-specific rules (LiteLLM's model list holds no literal secret and every
    C(os.environ/NAME) it references is provided), mistyped variables, the dependency map (unknown names,
    cycles, with the offending path), and every declared link (C(connects_to)) from each host of its consumer (a
    provider on another host must publish the port).
  - A host port claimed twice is a PORT_CONFLICT event naming both claimants.
  - Each problem is a CONFIG_INVALID event naming the service, the field and the fix; the task then fails.
  - On success sets the facts C(aiplatform_catalog) (the descriptions), C(aiplatform_enabled),
    C(aiplatform_waves) (lists of service names, in dependency order), C(aiplatform_dependency_map),
    C(aiplatform_deploying) and C(aiplatform_host_plan), this host's part of the plan that every playbook reads - the
    enabled services placed here (C(enabled)), this run's selection placed here in dependency order (C(deploying)),
    what each of those needs healthy first, wherever it runs (C(dependencies), one graph for deploy and recover),
    how each reaches the providers it declares (C(endpoints), consumer to provider to port name to
    C({host, port, local}), which the roles read), the same by wave (C(waves)), the order to remove them
    (C(teardown)), the link networks they need here (C(networks)), their published ports (C(ports)) and the secrets
    each needs (C(secrets)).
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
options:
  services:
    description:
      - Enabled service names. Each is described by its role - the role's C(<name>_service) variable, built from
        its defaults under this host's inventory variables and its derived vars; the role's options are checked
        against its argument spec.
    type: list
    elements: str
    required: true
  custom_services:
    description: Services described only as data (see the C(aiplatform) role's C(aiplatform_custom_services)).
    type: dict
    default: {}
  only:
    description: Deploy only these and what they depend on; empty for all enabled services. Names that are not
      enabled services are ignored (run tags pass through here).
    type: list
    elements: str
    default: []
  dependencies:
    description:
      - Overrides of the dependency map, service name to the names it needs healthy first, replacing that service's
        own C(depends_on) (its role's; a custom service keeps its own).
    type: dict
    default: {}
  extra_links:
    description:
      - Links the inventory adds to services' own C(connects_to), consumer name to a list of C({service, port})
        (a port name of that service). Each link gets a network of its own on a host that runs both ends.
    type: dict
    default: {}
  one_at_a_time:
    description: Order the services one by one (upgrades recreate one service at a time behind its health gate).
    type: bool
    default: false
  network:
    description: The prefix of the platform's network names (C(aiplatform_network)), for the link networks a host needs.
    type: str
    default: aiplatform
  strict_variables:
    description:
      - Reject variables that start with an enabled service's prefix (C(litellm_)) but are not among that role's
        variables, suggesting the closest name (a mistyped C(litellm_modles) is otherwise silently ignored), and
        fields inside a role's dict options that it does not know (C(postgres_backoff.deadlin)).
    type: bool
    default: true
extends_documentation_fragment:
  - aiplatform.stack.attributes
  - aiplatform.stack.attributes.action
attributes:
  action:
    support: full
    details: Runs entirely on the controller.
  check_mode:
    support: full
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Changes nothing.
"""

EXAMPLES = r"""
- name: Describe, validate and order the services
  aiplatform.stack.plan_platform:
    services: [postgres, redis, litellm]
    dependencies: {postgres: []}  # PostgreSQL no longer waits for Redis (its role's depends_on says it does)
"""

RETURN = r"""
waves:
  description: The dependency waves, first to start first.
  returned: success
  type: list
  elements: list
  sample: [[redis], [postgres], [litellm]]
ansible_facts:
  description: The facts named above; C(aiplatform_host_plan) is this host's part of the plan.
  returned: success
  type: dict
  sample:
    aiplatform_host_plan:
      enabled: [redis, postgres, litellm]
      deploying: [redis, postgres, litellm]
      dependencies: {redis: [], postgres: [redis], litellm: [postgres, redis]}
      endpoints:
        redis: {}
        postgres: {}
        litellm:
          postgres: {postgres: {host: aiplatform-postgres, port: 5432, local: true}}
          redis: {redis: {host: aiplatform-redis, port: 6379, local: true}}
      waves: [[redis], [postgres], [litellm]]
      teardown: [litellm, postgres, redis]
      networks: [aiplatform-postgres.litellm, aiplatform-redis.litellm]
      ports: [{service: litellm, port: 4000, bind: 127.0.0.1, container: aiplatform-litellm}]
      secrets: {redis: {}, postgres: {admin_password: {kind: token, length: 32}}, litellm: {master_key: {kind: token}}}
events:
  description: CONFIG_INVALID events, one per problem.
  returned: always
  type: list
  elements: dict
  sample: []
"""
