"""The operator's commands (``cluster/console.py``) against a real master and worker processes:
submit --file, watch, logs --follow, retry, cancel, and their errors (exit 2, named reason)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from tests.redis_server import free_port
from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, clean_env, jobfleet_argv

pytestmark = pytest.mark.timeout(120)


def jobfleet(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = jobfleet_argv(args[0]) + list(args[1:])
    return subprocess.run(
        argv, check=False, env=clean_env({}), capture_output=True, text=True, timeout=60,
        input=stdin,
    )  # fmt: skip


def jsonl(path: Path, jobs: Sequence[object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(job) + b"\n" for job in jobs))
    return path


def test_submit_many_from_json_lines(api: Api, fleet: Fleet, tmp_path: Path) -> None:
    jobs = [{"type": "echo", "payload": {"n": n}} for n in range(25)]
    jobs.append({"type": "sleep", "payload": {"seconds": 0.01}, "queue": "other"})
    done = jobfleet("submit", "--file", str(jsonl(tmp_path / "jobs.jsonl", jobs)),
                    "--batch-size", "10", "--url", api.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    assert len(ids) == 26 and len(set(ids)) == 26
    assert "submitted 26 jobs" in done.stderr
    fleet.worker()
    for n, job_id in enumerate(ids[:25]):
        assert api.wait_status(job_id, "succeeded")["result"] == {"n": n}  # order kept
    from_stdin = jobfleet("submit", "-f", "-", "--url", api.url, stdin='{"type": "echo"}\n\n')
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert len(from_stdin.stdout.split()) == 1


def test_submit_file_errors_name_the_line(api: Api, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "echo"}\n{nope\n')
    broken = jobfleet("submit", "--file", str(bad), "--url", api.url)
    assert broken.returncode == 2
    assert "line 2: not valid JSON" in broken.stderr
    bad.write_text('{"type": "echo"}\n[1, 2]\n')
    not_job = jobfleet("submit", "--file", str(bad), "--url", api.url)
    assert (not_job.returncode, "line 2: expected a job object" in not_job.stderr) == (2, True)
    jobs = [{"type": "echo"}] * 3 + [{"type": "nope"}]
    refused = jobfleet("submit", "--file", str(jsonl(tmp_path / "r.jsonl", jobs)),
                       "--batch-size", "2", "--url", api.url)  # fmt: skip
    assert refused.returncode == 2
    assert "lines 3-4: POST /jobs/batch -> 422" in refused.stderr
    assert "unknown job type 'nope'" in refused.stderr
    assert "(2 jobs before them were submitted)" in refused.stderr
    assert len(refused.stdout.split()) == 2  # the ids of the first, accepted batch
    missing = jobfleet("submit", "--file", str(tmp_path / "absent.jsonl"), "--url", api.url)
    assert (missing.returncode, "cannot read" in missing.stderr) == (2, True)
    neither = jobfleet("submit", "--url", api.url)
    assert (neither.returncode, "needs a job TYPE" in neither.stderr) == (2, True)


def test_watch_shows_queues_workers_and_failures(api: Api, fleet: Fleet) -> None:
    worker = fleet.worker()
    failed = api.submit("fail", {"times": 3}, max_attempts=1)
    api.wait_status(failed, "failed")
    once = jobfleet("watch", "--once", "--url", api.url)
    assert once.returncode == 0, once.stderr
    for text in ("queues", "default", "other", "workers", worker.id[:20], failed[:12]):
        assert text in once.stdout, f"{text!r} missing from:\n{once.stdout}"
    twice = jobfleet("watch", "--iterations", "2", "--interval", "0.1", "--url", api.url)
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout.count("recent failures") == 2


def test_logs_follow_until_the_job_ends(api: Api, fleet: Fleet) -> None:
    job_id = api.submit("sleep", {"seconds": 1.5})
    follower = subprocess.Popen(
        [*jobfleet_argv("logs"), job_id, "--follow", "--poll", "0.1", "--url", api.url],
        env=clean_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    fleet.worker()  # the job starts only now: the follower saw it queued first
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "--- attempt 1"
    events = [orjson.loads(line)["event"] for line in lines[1:-1]]
    assert events[0] == "start" and events[-1] == "end", lines
    assert lines[-1] == f"--- job {job_id} succeeded"


def test_retry_and_cancel(api: Api, fleet: Fleet) -> None:
    failed = api.submit("fail", {"times": 1}, max_attempts=1)
    fleet.worker()
    api.wait_status(failed, "failed")
    retried = jobfleet("retry", failed, "--url", api.url)
    assert retried.returncode == 0, retried.stderr
    assert orjson.loads(retried.stdout)["status"] in ("queued", "running", "succeeded")
    api.wait_status(failed, "succeeded")  # `fail` fails only its first attempt
    again = jobfleet("retry", failed, "--url", api.url)
    assert again.returncode == 2
    assert "409" in again.stderr and "only failed or cancelled jobs" in again.stderr
    later = api.submit("echo", delay_s=600)
    cancelled = jobfleet("cancel", later, "--url", api.url)
    assert cancelled.returncode == 0, cancelled.stderr
    assert orjson.loads(cancelled.stdout)["status"] == "cancelled"
    twice = jobfleet("cancel", later, "--url", api.url)
    assert (twice.returncode, "409" in twice.stderr) == (2, True)
    unknown = jobfleet("cancel", "f" * 32, "--url", api.url)
    assert (unknown.returncode, "404" in unknown.stderr) == (2, True)


@pytest.mark.parametrize(
    "command",
    [
        ("watch", "--once"),
        ("retry", "0" * 32),
        ("cancel", "0" * 32),
        ("logs", "0" * 32, "--follow"),
        ("submit", "-f", "-"),
    ],
)
def test_unreachable_master_exits_2(command: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = jobfleet(*command, "--url", url, stdin='{"type": "echo"}\n')
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"cannot reach the master at {url}" in done.stderr
