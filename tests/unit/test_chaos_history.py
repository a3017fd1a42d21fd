"""History events: JSON-lines save / load round trip, torn lines, the live recorder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chaos import history as hist
from chaos.history import Execution, Fault, Final, History, Meta, Phase, Sample, Submit

T0 = 1_700_000_000.123456


def every_event() -> list[hist.Event]:
    return [
        Meta(
            "smoke",
            42,
            T0,
            {"jobs": 3, "nested": {"a": [1, 2]}},
            "run-1",
            "http://127.0.0.1:8000",
            "jobfleet",
            expect_valid=False,
        ),
        Submit(
            "run-1-000000",
            "a" * 32,
            "ok",
            T0 + 0.1,
            T0 + 0.1234567,
            "sleep",
            payload={"seconds": 0.25, "key": "run-1-000000"},
            max_attempts=5,
            status_code=202,
        ),
        Submit(
            "run-1-000001",
            None,
            "info",
            T0 + 0.2,
            T0 + 9.0,
            "echo",
            error="timeout: ReadTimeout",
            tries=8,
        ),
        Submit(
            "run-1-000002",
            None,
            "fail",
            T0 + 0.3,
            T0 + 0.31,
            "cpu",
            error="http 422",
            status_code=422,
        ),
        Fault(
            "kill",
            "jobfleet-worker-2",
            T0 + 5,
            T0 + 6.5,
            {"targets": [{"name": "jobfleet-worker-2", "id": "f" * 64}], "hold_s": 1.0},
        ),
        Fault("oom", "", T0 + 7, T0 + 8, {}, error="FaultError: alloc job not accepted"),
        Sample(T0 + 1, 3, 2, 0, 0, workers=3),
        Sample(T0 + 1.5, error="ConnectError: refused"),
        Phase("drain_end", T0 + 30, {"drained": True}),
        Execution(
            "a" * 32,
            1,
            "abc123def456-7-ab12",
            T0 + 0.2,
            T0 + 0.45,
            "succeeded",
            log_complete=True,
            log_outcome="succeeded",
            source="api+log",
        ),
        Execution("a" * 32, 2, None, None, None, None, source="log"),
        Final(
            "a" * 32,
            True,
            "succeeded",
            T0 + 40,
            type="sleep",
            queue="default",
            attempts=1,
            max_attempts=5,
            created_at=T0 + 0.11,
            started_at=T0 + 0.2,
            finished_at=T0 + 0.45,
            worker="abc123def456-7-ab12",
            payload={"seconds": 0.25},
            http_status=200,
        ),
        Final("b" * 32, False, None, T0 + 40, http_status=404),
    ]


def test_save_load_round_trip(tmp_path: Path) -> None:
    original = History(every_event())
    path = hist.save(original, tmp_path / "sub" / "history.jsonl")
    loaded = hist.load(path)
    assert loaded == original
    assert loaded.meta is not None and loaded.meta.seed == 42
    assert [type(e) for e in loaded.events] == [type(e) for e in original.events]
    assert len(loaded.submits) == 3 and len(loaded.finals) == 2
    assert loaded.phase_time("drain_end") == T0 + 30
    # Saving the loaded history again gives the very same bytes.
    assert hist.save(loaded, tmp_path / "again.jsonl").read_bytes() == path.read_bytes()


def test_every_line_is_tagged_json(tmp_path: Path) -> None:
    path = hist.save(History(every_event()), tmp_path / "h.jsonl")
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(every_event())
    assert all(line.startswith(b'{"event":"') for line in lines)


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = hist.save(History(every_event()), tmp_path / "h.jsonl")
    with open(path, "ab") as fh:
        fh.write(b'{"event":"submit","key":"x","job_')  # the writer died mid-line
    loaded = hist.load(path)
    assert len(loaded.events) == len(every_event())
    assert loaded.skipped_lines == 1
    with pytest.raises(hist.HistoryError):
        hist.load(path, strict=True)


def test_unknown_or_malformed_events_are_rejected() -> None:
    with pytest.raises(hist.HistoryError):
        hist.event_from_dict({"event": "nope"})
    with pytest.raises(hist.HistoryError):
        hist.event_from_dict({"event": "submit", "key": "k"})  # required fields missing
    # Unknown extra keys (a newer writer) are ignored.
    event = hist.event_from_dict({"event": "phase", "name": "x", "t": 1.0, "new_field": 2})
    assert event == Phase("x", 1.0)


def test_recorder_writes_through_and_is_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    with hist.Recorder(path) as recorder:
        recorder.record(Meta("unit", 1, T0))
        # Visible on disk before close: a crashed run still leaves its history.
        assert hist.load(path).meta == Meta("unit", 1, T0)

        def burst(n: int) -> None:
            for i in range(200):
                recorder.record(Sample(T0 + n * 1000 + i, i, 0, 0, 0))

        threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    loaded = hist.load(path, strict=True)
    assert loaded == recorder.history
    assert len(loaded.samples) == 800


def test_execution_ended() -> None:
    base = Execution("j", 1, "w", T0, T0 + 1, "lease_expired")
    assert not base.ended
    assert Execution("j", 1, "w", T0, T0 + 1, "stale_timeout").ended
    proof = Execution(
        "j", 1, "w", T0, None, "lease_expired", log_complete=True, log_outcome="succeeded"
    )
    assert proof.ended
    released = Execution(
        "j", 1, "w", T0, None, "released", log_complete=True, log_outcome="released"
    )
    assert not released.ended
