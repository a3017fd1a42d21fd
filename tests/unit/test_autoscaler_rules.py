"""The autoscaler's decisions (pure) and the container clone it builds from an inspected worker."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cluster.autoscaler import Rules, decide, desired_workers, pick_victims
from cluster.dockerfleet import NUMBER, Member, clone_config


def rules(**overrides: Any) -> Rules:
    base: dict[str, Any] = {"min_workers": 1, "max_workers": 5, "target_jobs_per_worker": 4,
                            "cooldown_s": 10}  # fmt: skip
    return Rules(**(base | overrides))


@pytest.mark.parametrize(
    ("backlog", "want"), [(0, 1), (1, 1), (4, 1), (5, 2), (16, 4), (17, 5), (1000, 5)]
)
def test_desired_workers_is_clamped_ceiling(backlog: int, want: int) -> None:
    assert desired_workers(backlog, rules()) == want


def test_cooldown_holds_except_below_the_minimum() -> None:
    r = rules()
    assert decide(1, 40, r, since_last_action_s=1e9).action == "up"
    held = decide(2, 40, r, since_last_action_s=3)
    assert (held.action, held.desired) == ("hold", 5)
    assert "cooldown" in held.reason
    assert decide(0, 0, r, since_last_action_s=0).action == "up"  # below min: no cooldown
    down = decide(5, 0, r, since_last_action_s=11)
    assert (down.action, down.change, down.desired) == ("down", 4, 1)
    assert decide(3, 12, r, since_last_action_s=100).action == "hold"  # at target


def test_rules_refuse_max_below_min() -> None:
    with pytest.raises(ValidationError):
        rules(min_workers=4, max_workers=2)
    with pytest.raises(ValidationError):
        rules(min_workers=0)


def member(number: int, hostname: str) -> Member:
    return Member(id=f"id{number}", name=f"p-worker-{number}", number=number,
                  hostname=hostname, container=None)  # fmt: skip


def test_victims_are_idle_then_newest() -> None:
    members = [member(1, "a"), member(2, "b"), member(3, "c"), member(4, "d")]
    chosen = pick_victims(members, busy_hosts={"d", "b"}, count=3)
    assert [m.number for m in chosen] == [3, 1, 4]  # idle newest first, then busy newest


def test_clone_config_renumbers_and_keeps_the_rest() -> None:
    attrs: dict[str, Any] = {
        "Id": "0123456789abcdef" * 4,
        "Name": "/proj-worker-1",
        "Config": {
            "Hostname": "0123456789ab", "Image": "jobfleet-app:latest", "Cmd": ["worker"],
            "Env": ["JOBFLEET_METRICS_PORT=9100"],
            "Labels": {NUMBER: "1", "com.docker.compose.service": "worker", "x": "y"},
        },
        "HostConfig": {"Memory": 134217728, "NanoCpus": 500000000, "Init": True},
        "NetworkSettings": {"Networks": {
            "proj_net": {"Aliases": ["proj-worker-1", "worker", "0123456789ab"]},
            "other": {"Aliases": None},
        }},
    }  # fmt: skip
    config, rest = clone_config(attrs, "proj-worker-4", 4)
    assert "Hostname" not in config
    assert config["Labels"][NUMBER] == "4" and config["Labels"]["x"] == "y"
    assert attrs["Config"]["Labels"][NUMBER] == "1"  # the template is not modified
    assert config["HostConfig"] == attrs["HostConfig"]
    assert config["Cmd"] == ["worker"] and config["Env"] == ["JOBFLEET_METRICS_PORT=9100"]
    endpoints = config["NetworkingConfig"]["EndpointsConfig"]
    assert endpoints == {"proj_net": {"Aliases": ["worker", "proj-worker-4"]}}
    assert rest == {"other": {"Aliases": ["proj-worker-4"]}}
