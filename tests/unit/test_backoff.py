import random

import pytest

from ansible_collections.aiplatform.stack.plugins.plugin_utils.backoff import Backoff, linear_delay


def test_ceiling_grows_exponentially_up_to_the_cap():
    b = Backoff(base=0.5, factor=2, cap=5)
    assert [b.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_full_jitter_stays_within_floor_and_ceiling():
    b = Backoff(base=1, factor=2, cap=8, floor=0.1)
    rng = random.Random(7)
    for attempt in range(1, 20):
        delays = [b.delay(attempt, rng) for dummy in range(200)]
        assert min(delays) >= 0.1
        assert max(delays) <= b.ceiling(attempt)
        if attempt >= 4:  # jitter really spreads the delays
            assert max(delays) - min(delays) > b.ceiling(attempt) / 2


def test_from_dict_rejects_nonsense():
    with pytest.raises(ValueError, match="factor >= 1"):
        Backoff.from_dict({"factor": 0.5})
    assert Backoff.from_dict({"deadline": "30", "initial": 0}).deadline == 30.0


def test_linear_baseline():
    assert [linear_delay(2, n) for n in (1, 2, 3)] == [0, 2, 4]


def test_type_defaults_overridden_field_by_field():
    from ansible_collections.aiplatform.stack.plugins.plugin_utils.backoff import TYPE_DEFAULTS, for_service

    b = for_service({"type": "proxy", "backoff": {"deadline": 30}})
    assert b.deadline == 30 and b.cap == TYPE_DEFAULTS["proxy"]["cap"] and b.initial == TYPE_DEFAULTS["proxy"]["initial"]
    assert for_service({"type": "infrastructure"}).deadline == TYPE_DEFAULTS["infrastructure"]["deadline"]
    assert for_service({}).deadline == 120.0  # unknown type: the class defaults
