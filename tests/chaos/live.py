"""A chaos run against a live cluster: the scenario runner bound to one stack."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos import scenarios
from chaos.runner import RunConfig, RunResult, run

RUN_TIMEOUT_S = 900


@dataclass(frozen=True)
class Live:
    url: str
    project: str
    seed: int
    out: Path

    def run(self, name: str) -> RunResult:
        scenario = scenarios.build(
            name, self.seed, lease_s=float(os.environ.get("JOBFLEET_LEASE_S", "5"))
        )
        print(scenario.plan())  # the seed and schedule, to reproduce a failure
        return run(scenario, RunConfig(out_dir=self.out / name, url=self.url, project=self.project))


def explain(result: RunResult) -> str:
    data: dict[str, Any] = result.result.to_dict()
    lists = {k: data[k][:5] for k in ("lost", "stuck", "unexpected")}
    return (
        f"counts={data['counts']} first={lists} notes={data['notes']} "
        f"report={result.artifacts.get('report')}"
    )
