"""The chaos checker on hand-built histories."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chaos.checker import check, job_verdict
from chaos.history import Execution, Fault, Final, History, Meta, Submit
from chaos.stats import percentiles, worker_matches

T0 = 1_700_000_000.0


def submit(key: str, job_id: str | None, t: float = 0.0, **kw: Any) -> Submit:
    outcome = kw.pop("outcome", "ok" if job_id else "info")
    kind = kw.pop("type", "echo")
    payload = kw.pop("payload", {"key": key})
    t1 = kw.pop("t1", T0 + t + (5.0 if outcome == "info" else 0.01))
    return Submit(key, job_id, outcome, T0 + t, t1, kind, payload=payload, **kw)


def final(job_id: str, status: str = "succeeded", t: float = 0.0, **kw: Any) -> Final:
    return Final(
        job_id=job_id,
        found=kw.pop("found", True),
        status=status,
        read_at=T0 + 100,
        type=kw.pop("type", "echo"),
        created_at=T0 + t + 0.005,
        finished_at=kw.pop("finished_at", T0 + t + 1.0 if status == "succeeded" else None),
        payload=kw.pop("payload", None),
        **kw,
    )


def run(
    job_id: str,
    attempt: int,
    outcome: str,
    worker: str = "w-1",
    start: float = 0.5,
    end: float | None = 1.0,
    **kw: Any,
) -> Execution:
    return Execution(
        job_id, attempt, worker, T0 + start, None if end is None else T0 + end, outcome, **kw
    )


def completed_job(n: int) -> list[Any]:
    key, job_id = f"k{n}", f"j{n}"
    return [
        submit(key, job_id, t=n),
        final(job_id, t=n, payload={"key": key}),
        run(job_id, 1, "succeeded", start=n + 0.5, end=n + 1.0),
    ]


def history(*events: Any) -> History:
    hist = History()
    hist.add(Meta("unit", 1, T0))
    for ev in events:
        if isinstance(ev, list):
            hist.extend(ev)
        else:
            hist.add(ev)
    return hist


def test_valid_history_passes() -> None:
    result = check(history(*(completed_job(n) for n in range(5))))
    assert result.valid
    assert result.counts["ok"] == result.counts["completed"] == 5
    for name in ("lost", "unexpected", "stuck", "duplicated", "recovered"):
        assert result.counts[name] == 0, name
    assert result.latency["count"] == 5
    assert result.notes == []


def test_acknowledged_job_without_final_record_is_lost() -> None:
    hist = history(completed_job(1), submit("k2", "j2"))
    result = check(hist)
    assert not result.valid
    assert [(e["job_id"], e["reason"]) for e in result.lost] == [("j2", "no_final_record")]


def test_job_missing_on_readback_is_lost() -> None:
    hist = history(submit("k1", "j1"), Final("j1", False, None, T0 + 50, http_status=404))
    assert check(hist).lost[0]["reason"] == "missing"


def test_terminal_failure_without_a_finished_attempt_is_lost() -> None:
    hist = history(
        submit("k1", "j1"),
        final("j1", "failed"),
        run("j1", 1, "lease_expired"),
        run("j1", 2, "lease_expired", start=7, end=8),
    )
    result = check(hist)
    assert result.lost[0]["reason"] == "failed_without_finished_execution"
    # ...but a job that ran and then failed did complete (at-least-once holds).
    ran = history(submit("k1", "j1"), final("j1", "failed"), run("j1", 1, "failed"))
    assert check(ran).valid
    assert check(ran).counts["failed_jobs"] == 1


def test_duplicate_execution_is_counted_and_allowed() -> None:
    hist = history(
        submit("k1", "j1"),
        final("j1"),
        run("j1", 1, "stale_succeeded", worker="w-1", start=0.5, end=9.0),
        run("j1", 2, "succeeded", worker="w-2", start=6.5, end=7.0),
    )
    result = check(hist)
    assert result.valid
    assert result.counts["duplicated"] == 1
    assert result.duplicated[0]["stale"] == 1
    assert result.counts["stale_runs"] == 1


def test_designed_retries_are_not_duplicates() -> None:
    hist = history(
        submit("k1", "j1", type="fail", payload={"times": 2}),
        final("j1", type="fail"),
        run("j1", 1, "failed"),
        run("j1", 2, "failed", start=2, end=2.5),
        run("j1", 3, "succeeded", start=4, end=4.5),
    )
    result = check(hist)
    assert result.counts["duplicated"] == 0
    assert result.counts["retried"] == 1


def test_log_volume_evidence_counts_as_a_run() -> None:
    # The API says the lease expired, but the log file shows the body ran to its end.
    hist = history(
        submit("k1", "j1"),
        final("j1"),
        run("j1", 1, "lease_expired", log_complete=True, log_outcome="succeeded"),
        run("j1", 2, "succeeded", start=7, end=8),
    )
    assert check(hist).counts["duplicated"] == 1


def test_indeterminate_submission_that_ran_is_recovered() -> None:
    payload = {"key": "k1", "n": 1}
    hist = history(
        submit("k1", None, t=1.0, payload=payload),
        final("j-x", t=2.0, payload=payload),
        run("j-x", 1, "succeeded", start=2.5, end=3.0),
        submit("k2", None, t=1.0, payload={"key": "k2"}),  # never made it
    )
    result = check(hist)
    assert result.valid
    assert [e["job_id"] for e in result.recovered] == ["j-x"]
    assert result.indeterminate_absent == ["k2"]
    assert result.counts["info"] == 2


def test_stuck_job_is_found() -> None:
    hist = history(completed_job(1), submit("k2", "j2"), final("j2", "running"))
    result = check(hist)
    assert not result.valid
    assert [(e["job_id"], e["reason"]) for e in result.stuck] == [("j2", "running")]


def test_job_never_submitted_is_unexpected() -> None:
    hist = history(
        completed_job(1),
        final("ghost", payload={"key": "nobody"}),
        run("ghost", 1, "succeeded"),
        final("idle", "queued"),
    )
    result = check(hist)
    assert not result.valid
    assert [e["job_id"] for e in result.unexpected] == ["ghost"]
    assert result.counts["unclaimed_not_run"] == 1


def test_rejected_submission_that_ran_anyway_is_unexpected() -> None:
    payload = {"key": "k1"}
    hist = history(
        submit("k1", None, outcome="fail", status_code=422, payload=payload),
        final("j1", payload=payload),
        run("j1", 1, "succeeded"),
    )
    assert check(hist).counts["unexpected"] == 1


def test_two_keys_one_job_counts_as_lost() -> None:
    hist = history(completed_job(1), submit("k-other", "j1", t=3))
    result = check(hist)
    assert [e["reason"] for e in result.lost] == ["id_shared"]


def test_nemesis_jobs_are_exempt() -> None:
    alloc = submit("oom-1", "j-oom", origin="nemesis", type="alloc")
    oom = Fault("oom", "jobfleet-worker-3", T0 + 1, T0 + 2, {"role": "worker", "job_id": "j-oom"})
    hist = history(
        completed_job(1),
        alloc,
        final("j-oom", "failed", type="alloc"),
        run("j-oom", 1, "lease_expired", worker="w-3-1-ab", start=0.8, end=7),
        oom,
    )
    result = check(hist)
    assert result.valid
    assert result.counts["nemesis_jobs"] == 1
    (rec,) = result.recovery
    assert rec["identities"] == ["w-3-1-ab"]  # the victim is whoever ran the alloc job
    assert rec["affected"] == 0  # ...but the poison job itself is not a job to recover


def test_ungraceful_stops_and_toothless_faults_are_noted() -> None:
    target = {"name": "jobfleet-worker-1", "service": "worker"}
    stop = Fault(
        "stop",
        "jobfleet-worker-1",
        T0 + 1,
        T0 + 31,
        {"targets": [target], "exit_codes": {"jobfleet-worker-1": 137}},
    )
    notes = check(history(completed_job(5), stop)).notes
    assert any("SIGKILLed" in n for n in notes)
    assert any("proves little" in n for n in notes)


def test_recovery_time_after_a_fault() -> None:
    target = {
        "name": "jobfleet-worker-1",
        "id": "a" * 64,
        "short_id": "a" * 12,
        "hostname": "a" * 12,
        "service": "worker",
    }
    fault = Fault("kill", "jobfleet-worker-1", T0 + 10, T0 + 11, {"targets": [target]})
    hist = history(
        submit("k1", "j1"),
        final("j1", finished_at=T0 + 17.5),
        run("j1", 1, "lease_expired", worker=f"{'a' * 12}:7", start=9.0, end=16.0),
        run("j1", 2, "succeeded", worker="b" * 12, start=16.5, end=17.5),
        completed_job(30),  # unaffected
        fault,
    )
    result = check(hist)
    (rec,) = result.recovery
    assert rec["affected"] == rec["recovered"] == rec["elsewhere"] == 1
    assert rec["recovery_s"]["max"] == 6.5
    assert result.throughput["per_fault"][0]["name"] == "kill"


def test_a_frozen_worker_finishing_late_counts_as_affected() -> None:
    target = {"name": "jobfleet-worker-2", "hostname": "c0ffee123456", "service": "worker"}
    fault = Fault("pause", "jobfleet-worker-2", T0 + 10, T0 + 18, {"targets": [target]})
    hist = history(
        submit("k1", "j1"),
        final("j1", finished_at=T0 + 16),
        run("j1", 1, "stale_succeeded", worker="c0ffee123456-1-aa", start=9.5, end=18.1),
        run("j1", 2, "succeeded", worker="beef00123456-1-bb", start=15.2, end=16.0),
        fault,
    )
    (rec,) = check(hist).recovery
    assert rec["affected"] == rec["recovered"] == 1
    assert abs(rec["recovery_s"]["p50"] - 5.2) < 1e-6


def test_unrecovered_job_is_listed_per_fault() -> None:
    fault = Fault("pause", "w-1", T0 + 10, T0 + 20, {"targets": [{"name": "w-1"}]})
    hist = history(
        submit("k1", "j1"),
        final("j1", "queued"),
        run("j1", 1, "lease_expired", worker="w-1", start=9.0, end=16.0),
        fault,
    )
    result = check(hist)
    assert result.recovery[0]["unrecovered"] == []  # "w-1" is too short to be an identity
    fault2 = Fault("pause", "worker-one", T0 + 10, T0 + 20, {"targets": [{"name": "worker-one"}]})
    hist2 = history(
        submit("k1", "j1"),
        final("j1", "queued"),
        run("j1", 1, "released", worker="worker-one", start=9.0, end=16.0),
        fault2,
    )
    assert check(hist2).recovery[0]["unrecovered"] == ["j1"]


def test_worker_matching_is_token_based() -> None:
    assert worker_matches("jobfleet-worker-1", ["jobfleet-worker-1"])
    assert worker_matches("jobfleet-worker-1:42", ["jobfleet-worker-1"])
    assert not worker_matches("jobfleet-worker-10", ["jobfleet-worker-1"])
    assert not worker_matches(None, ["jobfleet-worker-1"])


def test_verdict_edge_cases() -> None:
    assert job_verdict(None, []) == ("lost", "no_final_record")
    unreadable = Final("j", None, None, T0)
    assert job_verdict(unreadable, []) == ("lost", "unreadable")
    assert job_verdict(final("j", "cancelled"), [])[0] == "lost"
    assert job_verdict(final("j", "scheduled"), []) == ("stuck", "scheduled")


def test_percentiles_nearest_rank() -> None:
    stats = percentiles([float(v) for v in range(1, 101)])
    assert (stats["p50"], stats["p90"], stats["p99"], stats["max"]) == (50.0, 90.0, 99.0, 100.0)
    assert percentiles([])["p50"] is None


def test_history_without_readback_is_flagged() -> None:
    result = check(history(submit("k1", "j1")))
    assert not result.valid
    assert any("no read-back" in note for note in result.notes)


@given(
    st.lists(st.sampled_from(["done", "dropped", "stuck", "info-ran", "info-absent"]), max_size=40)
)
def test_counts_match_construction(fates: list[str]) -> None:
    events: list[Any] = []
    for n, fate in enumerate(fates):
        key, job_id, payload = f"k{n}", f"j{n}", {"key": f"k{n}"}
        if fate.startswith("info"):
            events.append(submit(key, None, t=n, payload=payload))
            if fate == "info-ran":
                events += [final(job_id, t=n, payload=payload), run(job_id, 1, "succeeded")]
            continue
        events.append(submit(key, job_id, t=n, payload=payload))
        if fate == "done":
            events += [final(job_id, t=n, payload=payload), run(job_id, 1, "succeeded")]
        elif fate == "stuck":
            events.append(final(job_id, "queued", t=n, payload=payload))
    result = check(history(*events))
    assert result.counts["lost"] == fates.count("dropped")
    assert result.counts["stuck"] == fates.count("stuck")
    assert result.counts["recovered"] == fates.count("info-ran")
    assert result.counts["indeterminate_absent"] == fates.count("info-absent")
    assert result.counts["unexpected"] == 0
    assert result.valid == ("dropped" not in fates and "stuck" not in fates)
