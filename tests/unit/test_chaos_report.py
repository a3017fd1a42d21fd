"""Reports: summary.json, report.md and a non-empty timeline PNG."""

from __future__ import annotations

from pathlib import Path

import orjson

from chaos import report
from chaos.checker import check
from chaos.history import Execution, Fault, Final, History, Meta, Phase, Sample, Submit

T0 = 1_700_000_000.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def a_run(lose: int = 0) -> History:
    hist = History()
    hist.add(Meta("smoke", 11, T0, {"jobs": 40}, "run-x", "http://127.0.0.1:8000", "jobfleet"))
    for n in range(40):
        job_id = f"{n:032x}"
        hist.add(Submit(f"k{n}", job_id, "ok", T0 + n * 0.5, T0 + n * 0.5 + 0.01, "sleep"))
        if n < lose:
            hist.add(Final(job_id, False, None, T0 + 80, http_status=404))
            continue
        done = T0 + n * 0.5 + 0.4 + (3 if 10 <= n < 20 else 0)
        hist.add(
            Final(
                job_id,
                True,
                "succeeded",
                T0 + 80,
                type="sleep",
                created_at=T0 + n * 0.5,
                finished_at=done,
            )
        )
        hist.add(Execution(job_id, 1, "worker-a", done - 0.3, done, "succeeded"))
    for i in range(60):
        hist.add(
            Sample(
                T0 + i * 0.5,
                queued=max(0, 10 - abs(i - 25)),
                running=2,
                scheduled=0,
                failed=0,
                workers=3 if not 20 <= i < 24 else 2,
            )
        )
    hist.add(Sample(T0 + 12.2, error="ConnectError"))
    hist.add(Fault("kill", "jobfleet-worker-1", T0 + 5, T0 + 7, {"targets": []}))
    hist.add(Fault("master_kill", "jobfleet-master-1", T0 + 12, T0 + 12.01, {}))
    hist.add(Fault("oom", "", T0 + 15, T0 + 16, {}, error="FaultError: no"))
    hist.add(Phase("drain_end", T0 + 30, {"drained": True}))
    return hist


def test_write_all_produces_every_artifact(tmp_path: Path) -> None:
    hist = a_run()
    result = check(hist)
    paths = report.write_all(hist, result, tmp_path / "out")
    png = paths["timeline"].read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    data = orjson.loads(paths["summary"].read_bytes())
    assert data["valid"] is True and data["as_expected"] is True
    assert data["scenario"] == "smoke" and data["seed"] == 11
    assert len(data["faults"]) == 3 and len(data["recovery"]) == 3
    md = paths["report"].read_text()
    assert md.startswith("# Chaos run smoke (seed 11): VALID")
    assert "master_kill" in md and "timeline.png" in md
    assert "python -m chaos run --scenario smoke --seed 11" in md


def test_invalid_run_lists_lost_jobs(tmp_path: Path) -> None:
    hist = a_run(lose=3)
    result = check(hist)
    assert not result.valid and result.counts["lost"] == 3
    md = report.markdown(hist, result)
    assert ": INVALID" in md and "### lost (3)" in md and "reason=missing" in md
    png = report.timeline_png(hist, result, tmp_path / "t.png")
    assert png.stat().st_size > 10_000


def test_empty_history_still_renders(tmp_path: Path) -> None:
    hist = History()
    result = check(hist)
    paths = report.write_all(hist, result, tmp_path)
    assert paths["timeline"].read_bytes().startswith(PNG_MAGIC)
    assert "(no meta)" in paths["report"].read_text()
