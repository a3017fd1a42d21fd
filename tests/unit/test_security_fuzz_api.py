"""Fuzz the live API from its own OpenAPI document with Schemathesis.

A real master (API tokens on, so the auth paths are fuzzed too) and a real worker against the
session's redis-server. For every operation Schemathesis generates schema-conforming requests
(positive) and schema-violating ones (negative), sends them with an all-scopes token, and runs
its checks on each answer: no 5xx, status codes, content types and bodies as documented,
invalid input refused, auth not ignored. Bounded: ``EXAMPLES`` per operation and mode, no
shrinking, so the whole run stays well under two minutes. Afterwards the cluster must still run
jobs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import CheckFunction, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.unit.conftest import Fleet
from tests.unit.helpers import Api
from tests.unit.security_helpers import Tokens, bearer, master_process

EXAMPLES = 60  # per operation and mode: about 35 s in all here
SUBMIT_PATHS = ("/jobs", "/jobs/batch")
Operation = schemathesis.APIOperation[Any, Any, Any, Any]


@pytest.fixture(scope="module")
def fuzzed(
    redis_url: str, log_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Tokens]]:
    tokens = Tokens.new()
    out = tmp_path_factory.mktemp("fuzzed")
    with master_process(out, redis_url, log_dir, api_tokens=tokens.entries) as url:
        yield url, tokens


def fuzz_operation(operation: Operation, url: str, token: str) -> list[str]:
    """Run one operation through both generation modes; return the failures, one line each."""
    failures: list[str] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        fuzz_mode(operation, mode, url, token, failures)
    return failures


def fuzz_mode(
    operation: Operation,
    mode: GenerationMode,
    url: str,
    token: str,
    failures: list[str],
) -> None:
    strategy = operation.as_strategy(generation_mode=mode)
    # A job's payload is any JSON object to the schema; the master also bounds its stored size,
    # nesting and integers (64-bit). Those refusals are checked by hand below instead.
    submit = operation.method.upper() == "POST" and operation.path in SUBMIT_PATHS
    excluded: list[CheckFunction] = [positive_data_acceptance] if submit else []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy)
        if mode is GenerationMode.POSITIVE:
            runnable(case)
        try:
            response = case.call_and_validate(
                base_url=url, headers=bearer(token), timeout=15, excluded_checks=excluded
            )
            if excluded and mode is GenerationMode.POSITIVE:
                assert_accepted_unless_payload_limit(response)
        except (Exception, BaseExceptionGroup) as exc:  # check failures, transport errors
            failures.append(f"{operation.label} [{mode}]: {str(exc)[:600]}")
            failures.append(f"    reproduce: {case.as_curl_command()[:500]}")

    try:
        run()
    except Unsatisfiable:  # nothing to violate (e.g. no parameters): no negative case exists
        assert mode is GenerationMode.NEGATIVE, operation.label


def assert_accepted_unless_payload_limit(response: Any) -> None:
    """A schema-valid submission is accepted, or refused only for its payload's limits."""
    if response.status_code in (413, 422):
        detail = response.json()["detail"]
        assert "payload" in detail, f"valid submission refused: {response.status_code} {detail}"
    else:
        assert response.status_code < 300, response.status_code


def runnable(case: schemathesis.Case[Any]) -> None:
    """Positive submissions name a task type that exists: the schema cannot list the types
    workers announce, only give the built-ins as examples. And ``echo``, because the worker
    runs what is accepted, and ``alloc`` or ``sleep`` with generated sizes would be a DoS of the
    test machine (which is what the type allow-list is for)."""
    body = case.body
    if not isinstance(body, dict):
        return
    jobs = body.get("jobs") if case.path == "/jobs/batch" else [body]
    for job in jobs if isinstance(jobs, list) else []:
        if isinstance(job, dict) and "type" in job:
            job["type"] = "echo"


def test_fuzz_the_api_from_its_schema(
    fuzzed: tuple[str, Tokens], fleet: Fleet, flush: None
) -> None:
    url, tokens = fuzzed
    fleet.worker()  # registers through the (open) session master: same Redis
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    # Unknown query parameters are ignored by design (cache busters, newer clients), so
    # requests that add some are not "schema-violating" for this API.
    schema.config.generation.update(allow_extra_parameters=False)
    started = time.monotonic()
    failures: list[str] = []
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document is broken: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:
        failures += fuzz_operation(operation, url, tokens.everything)
    elapsed = time.monotonic() - started
    print(f"\nfuzzed {len(operations)} operations in {elapsed:.1f} s")
    assert not failures, "\n".join(failures[:40])

    api = Api(url)
    api.http.headers.update(bearer(tokens.everything))
    try:  # the cluster still works after all that
        job_id = api.submit("echo", {"after": "fuzz"})
        done = api.wait_status(job_id, "succeeded", "failed", timeout=30)
        assert (done["status"], done["result"]) == ("succeeded", {"after": "fuzz"})
        assert api.http.get("/readyz").status_code == 200
    finally:
        api.close()
