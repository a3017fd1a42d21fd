"""Hostile input: deep or huge bodies and fields, and job ids that try to leave the log dir.

Against the session master (``MASTER_SETTINGS``: payloads up to 4096 bytes, bodies up to
262144 bytes, batches up to 2000 jobs, payload depth 32 by default). Plain field limits
(attempts, timeouts, priorities, sizes) are in ``test_api_validation``; these add nesting, sizes
far past the limits, and path traversal. Every answer must be a 4xx with a message, never a 5xx.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from cluster.master.body import json_depth
from cluster.worker.logfile import read_job_logs
from tests.unit.helpers import Api

DEPTH = 32  # Settings.max_payload_depth default


def nested(depth: int, kind: str = "object") -> Any:
    """A value whose objects/arrays nest ``depth`` deep (``{}`` is 1)."""
    value: Any = {} if kind == "object" else []
    for _ in range(depth - 1):
        value = {"a": value} if kind == "object" else [value]
    return value


def detail(response: Any) -> str:
    text: str = response.json()["detail"]
    return text


def test_json_depth_counts_objects_and_arrays() -> None:
    values: list[Any] = [1, "s", {}, [], {"a": [1, {"b": None}]}]
    assert [json_depth(v) for v in values] == [0, 0, 1, 1, 3]
    assert json_depth(nested(500, "array")) == 500  # no recursion: no stack to exhaust


@pytest.mark.parametrize("kind", ["object", "array"])
def test_payload_nesting_is_limited(api: Api, kind: str) -> None:
    ok = api.http.post("/jobs", json={"type": "echo", "payload": {"v": nested(DEPTH - 1, kind)}})
    assert ok.status_code == 202, ok.text
    deep = api.http.post("/jobs", json={"type": "echo", "payload": {"v": nested(DEPTH, kind)}})
    assert deep.status_code == 422, deep.text
    assert f"payload: nested deeper than {DEPTH} levels" in detail(deep)
    batch = {"jobs": [{"type": "echo"}, {"type": "echo", "payload": {"v": nested(DEPTH, kind)}}]}
    refused = api.http.post("/jobs/batch", json=batch)
    assert refused.status_code == 422, refused.text
    assert "job 1: payload: nested deeper" in detail(refused)
    assert api.queue_counts()["queued"] == 1


@pytest.mark.parametrize("depth", [200, 1_100, 50_000])
def test_pathologically_deep_json_is_a_4xx(api: Api, depth: int) -> None:
    """Past the JSON parsers' own recursion limits: still a clean refusal (no 5xx, no crash)."""
    body = b'{"type": "echo", "payload": {"v": ' + b"[" * depth + b"]" * depth + b"}}"
    response = api.http.post("/jobs", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert detail(response)
    assert api.http.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"type": "t" * 100_000}, 422, "type:"),
        ({"type": "echo", "queue": "q" * 100_000}, 422, "queue:"),
        ({"type": "echo", "payload": {"k" * 200_000: 1}}, 413, "payload of"),
        ({"type": "echo", "payload": {str(n): n for n in range(20_000)}}, 413, "payload of"),
        ({"type": "echo", "payload": {"s": "\u0000" * 5_000}}, 413, "payload of"),
        ({"type": "echo", "delay_s": 30 * 86_400 + 1}, 422, "delay_s:"),
        ({"type": "echo", "timeout_s": 1e308}, 422, "timeout_s:"),
        ({"type": "echo", "max_attempts": 2**63}, 422, "max_attempts:"),
        ({"type": "echo", "priority": -(2**70)}, 422, "priority:"),
    ],
    ids=[
        "long type", "long queue", "long key", "wide payload", "NUL string", "delay 30 d",
        "timeout 1e308", "attempts 2^63", "priority -2^70",
    ],
)  # fmt: skip
def test_oversized_fields_are_refused(api: Api, body: Any, status: int, fragment: str) -> None:
    response = api.http.post("/jobs", json=body)
    assert response.status_code == status, response.text[:300]
    assert fragment in detail(response)
    assert len(response.content) < 2_000  # the refusal does not echo the oversized input


def test_huge_header_and_many_headers_are_refused_early(api: Api) -> None:
    key = api.http.post("/jobs", json={"type": "echo"}, headers={"Idempotency-Key": "k" * 9_000})
    assert key.status_code == 400
    many = {f"x-h{n}": "v" for n in range(200)}
    assert api.http.post("/jobs", json={"type": "echo"}, headers=many).status_code == 202


def test_batch_far_over_the_limit_is_413_without_storing(api: Api) -> None:
    response = api.http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 30_000})
    assert response.status_code == 413, response.text[:300]
    assert api.queue_counts()["queued"] == 0


@pytest.mark.parametrize(
    "query",
    ["/jobs?status=failed&status=queued", "/jobs?queue=a&queue=b&limit=1", "/queues?x=1&x=2",
     "/jobs?limit=5&limit=6"],
)  # fmt: skip
def test_repeated_query_parameters_are_400(api: Api, query: str) -> None:
    """Parameter pollution: a proxy may read the first value where the app reads the last."""
    response = api.http.get(query)
    assert response.status_code == 400, response.text
    assert "query parameter given more than once" in detail(response)
    assert api.http.get("/jobs?status=failed&limit=5").status_code == 200


# --- path traversal on GET /jobs/{id}/logs -----------------------------------------------------
TRAVERSALS = [
    "..",
    "../..",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",  # double-encoded
    "..%5C..%5Cetc%5Cpasswd",  # backslashes
    "%2Fetc%2Fpasswd",  # absolute, encoded
    "..%00",
    "%00",
    "0" * 32 + "%00",
    "0" * 31 + "%00",
    "0" * 32 + "%0A",  # `$` in a regex also matches before a final newline
    "0" * 30 + "%2F..",
    "....%2F%2F....%2F%2Fetc",
    "\uff10" * 32,  # full-width zeros: \d would take them, [0-9] does not
]


@pytest.mark.parametrize("job_id", TRAVERSALS)
def test_traversal_ids_never_read_outside_the_log_dir(api: Api, log_dir: Path, job_id: str) -> None:
    secret = log_dir.parent / "secret.1.log"
    secret.write_text('{"event": "SECRET"}\n')
    for path in (f"/jobs/{job_id}/logs", f"/jobs/{job_id}", f"/jobs/{job_id}/retry"):
        method = "POST" if path.endswith("retry") else "GET"
        response = api.http.request(method, path)
        assert response.status_code in (404, 405), (path, response.status_code, response.text)
        assert "SECRET" not in response.text and "root:" not in response.text


@pytest.mark.parametrize(
    "raw",
    ["/jobs//etc/passwd/logs", "/jobs/../../etc/passwd/logs", "/jobs/%2e%2e/%2e%2e/etc/logs",
     "/jobs/" + "0" * 32 + "/../../../etc/passwd"],
)  # fmt: skip
def test_raw_traversal_paths_are_404(api: Api, raw: str) -> None:
    """Paths sent byte for byte over a socket (an HTTP client would normalise them)."""
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert status in (400, 404), reply[:300]
    assert b"root:" not in reply


@pytest.mark.parametrize("job_id", ["..", "../" + "0" * 32, "/etc/passwd", "0" * 32 + "\n", ""])
def test_log_reader_refuses_non_ids(tmp_path: Path, job_id: str) -> None:
    with pytest.raises(ValueError):
        read_job_logs(tmp_path, job_id)


def test_links_and_fifos_planted_in_the_log_volume_are_not_followed(
    api: Api, log_dir: Path, tmp_path: Path
) -> None:
    """Whoever can write the log volume (a worker) cannot make the master read other files
    (a symlinked file or folder) or hang it on a FIFO."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.log").write_text('{"event": "SECRET"}\n')
    linked, fifo = api.submit("echo", delay_s=3600), api.submit("echo", delay_s=3600)
    planted = [log_dir / linked[:2] / f"{linked}.1.log", log_dir / fifo[:2] / f"{fifo}.1.log"]
    dir_linked = next(  # an id whose two-hex-digit folder does not exist yet
        i for i in (api.submit("echo", delay_s=3600) for _ in range(50))
        if not (log_dir / i[:2]).exists() and i[:2] not in (linked[:2], fifo[:2])
    )  # fmt: skip
    (outside / f"{dir_linked}.1.log").write_text('{"event": "SECRET"}\n')
    try:
        for path in planted:
            path.parent.mkdir(exist_ok=True)
        os.symlink(outside / "target.log", planted[0])
        os.mkfifo(planted[1])
        os.symlink(outside, log_dir / dir_linked[:2])
        planted.append(log_dir / dir_linked[:2])
        for job_id in (linked, fifo, dir_linked):
            response = api.http.get(f"/jobs/{job_id}/logs", timeout=5)
            assert response.status_code == 200, response.text
            assert response.json() == {"id": job_id, "attempts": []}
    finally:  # the log dir is the session's: leave nothing behind for later tests
        for path in planted:
            path.unlink(missing_ok=True)
