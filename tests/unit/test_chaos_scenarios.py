"""Scenarios: seed reproducibility, coverage of the smoke scenario, the negative control."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos import scenarios
from chaos.faults import FAULTS, SURVIVABLE


def test_same_seed_same_schedule() -> None:
    for name in scenarios.names():
        assert scenarios.build(name, 1234) == scenarios.build(name, 1234), name
        assert scenarios.build(name, 1234).plan() == scenarios.build(name, 1234).plan()


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=2**63))
def test_random_schedule_is_a_function_of_the_seed(seed: int) -> None:
    first, second = scenarios.build("random", seed), scenarios.build("random", seed)
    assert first == second
    assert 4 <= len(first.faults) <= 8
    times = [step.at_s for step in first.faults]
    assert times == sorted(times) and times[0] > 0
    assert first.fault_kinds <= set(SURVIVABLE)
    assert first.workload_s > times[-1]


def test_different_seeds_differ() -> None:
    plans = {scenarios.build("random", seed).plan() for seed in range(20)}
    assert len(plans) > 15


def test_smoke_hits_every_fault_type_within_minutes() -> None:
    smoke = scenarios.build("smoke", 7)
    assert smoke.fault_kinds == set(SURVIVABLE)
    assert set(FAULTS) - smoke.fault_kinds == {"redis_amnesia"}
    assert 200 <= smoke.jobs <= 1000
    assert smoke.workload_s + smoke.drain_s < 5 * 60
    assert smoke.expect_valid


def test_negative_control_expects_invalid() -> None:
    neg = scenarios.build("negative-control", 3)
    assert not neg.expect_valid
    assert neg.fault_kinds == {"redis_amnesia"}
    assert all(scenarios.build(n).expect_valid for n in scenarios.names() if n != neg.name)


def test_overrides_and_unknown_names() -> None:
    assert scenarios.build("kill", 1, jobs=17).jobs == 17
    slow = scenarios.build("pause", 1, lease_s=10)
    assert all(float(step.params["duration_s"]) > 10 for step in slow.faults)
    with pytest.raises(scenarios.ScenarioError):
        scenarios.build("nope")


def test_every_fault_kind_is_known_to_the_injector() -> None:
    for name in scenarios.names():
        for step in scenarios.build(name, 5).faults:
            assert step.kind in FAULTS
            assert step.kind in scenarios.EST_DURATION_S


def test_to_dict_is_json_ready() -> None:
    import orjson

    data = orjson.loads(orjson.dumps(scenarios.build("smoke", 9).to_dict()))
    assert data["name"] == "smoke" and len(data["faults"]) == len(SURVIVABLE)
