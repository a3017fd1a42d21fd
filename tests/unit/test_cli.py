"""The ``jobfleet`` command's client side against a real master: submit, status, logs, errors."""

from __future__ import annotations

import subprocess

import orjson

from tests.redis_server import free_port
from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, clean_env, jobfleet_argv


def jobfleet(*args: str) -> subprocess.CompletedProcess[str]:
    argv = jobfleet_argv(args[0]) + list(args[1:])
    env = clean_env({})
    return subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=30)


def test_submit_status_and_logs(api: Api, fleet: Fleet) -> None:
    submitted = jobfleet(
        "submit", "sleep", "--payload", '{"seconds": 0.1}', "--max-attempts", "2",
        "--idempotency-key", "cli-1", "--url", api.url,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job = orjson.loads(submitted.stdout)
    assert (job["type"], job["payload"], job["max_attempts"]) == ("sleep", {"seconds": 0.1}, 2)
    again = jobfleet("submit", "sleep", "--idempotency-key", "cli-1", "--url", api.url)
    assert orjson.loads(again.stdout)["id"] == job["id"]
    fleet.worker()
    api.wait_status(job["id"], "succeeded")
    status = jobfleet("status", job["id"], "--url", api.url)
    assert status.returncode == 0, status.stderr
    assert orjson.loads(status.stdout)["status"] == "succeeded"
    logs = jobfleet("logs", job["id"], "--url", api.url)
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert lines[0] == "--- attempt 1 (complete)"
    assert [orjson.loads(line)["event"] for line in lines[1:]] == ["start", "log", "end"]


def test_errors_exit_2_with_the_reason(api: Api) -> None:
    bad_json = jobfleet("submit", "echo", "--payload", "{nope", "--url", api.url)
    assert bad_json.returncode == 2
    assert "--payload is not valid JSON" in bad_json.stderr
    not_object = jobfleet("submit", "echo", "--payload", "[1]", "--url", api.url)
    assert not_object.returncode == 2
    assert "--payload must be a JSON object" in not_object.stderr
    refused = jobfleet("submit", "nope", "--url", api.url)
    assert refused.returncode == 2
    assert "POST /jobs -> 422: unknown job type 'nope'" in refused.stderr
    missing = jobfleet("status", "0" * 32, "--url", api.url)
    assert missing.returncode == 2
    assert "404" in missing.stderr
    unreachable = jobfleet("status", "0" * 32, "--url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 2
    assert "cannot reach the master" in unreachable.stderr
