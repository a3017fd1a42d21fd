"""Fault injection against a fake docker client (the real one needs the compose cluster)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chaos.containers import PROJECT_LABEL, SERVICE_LABEL, Cluster, docker_time
from chaos.faults import FAULTS, FaultContext, inject, pick_workers
from chaos.history import Submit, now
from chaos.workload import JobSpec, make_client

_ids = itertools.count(1)


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


class FakeContainer:
    def __init__(self, docker: FakeDocker, service: str, n: int, policy: str = "no") -> None:
        self.docker = docker
        self.id = f"{next(_ids):012x}" + "0" * 52
        self.name = f"jobfleet-{service}-{n}"
        self.status = "running"
        self.restart_count = 0
        self.started_at = now()
        self.finished_at: float | None = None
        self.oom_killed = False
        self.exit_code = 0
        self.policy = policy
        self.networks: dict[str, list[str]] = {
            "jobfleet_default": [self.name, service, self.id[:12]]
        }
        self.labels = {PROJECT_LABEL: "jobfleet", SERVICE_LABEL: service}
        self.calls: list[str] = []
        self.execs: list[list[str]] = []

    @property
    def attrs(self) -> dict[str, Any]:
        return {
            "Config": {
                "Hostname": self.id[:12],
                "Labels": self.labels,
                "Env": ["PATH=/bin", "JOBFLEET_WORKER_NAME=" + self.name],
            },
            "State": {
                "Status": self.status,
                "StartedAt": stamp(self.started_at),
                "FinishedAt": stamp(self.finished_at)
                if self.finished_at
                else "0001-01-01T00:00:00Z",
                "OOMKilled": self.oom_killed,
                "ExitCode": self.exit_code,
            },
            "RestartCount": self.restart_count,
            "HostConfig": {"RestartPolicy": {"Name": self.policy}},
            "NetworkSettings": {"Networks": {n: {"Aliases": a} for n, a in self.networks.items()}},
        }

    def reload(self) -> None:
        pass

    def _die(self, code: int, manual: bool) -> None:
        self.status, self.exit_code, self.finished_at = "exited", code, now()
        if self.policy in ("always", "unless-stopped") and not manual:
            self.restart_count += 1
            self.status, self.started_at = "running", now()

    def kill(self, signal: str = "SIGKILL") -> None:
        self.calls.append(f"kill:{signal}")
        self._die(137, manual=False)

    def stop(self, timeout: int = 10) -> None:
        self.calls.append(f"stop:{timeout}")
        self._die(0, manual=True)

    def start(self) -> None:
        self.calls.append("start")
        self.status, self.started_at = "running", now()

    def restart(self, timeout: int = 10) -> None:
        self.calls.append(f"restart:{timeout}")
        self.started_at = now()

    def pause(self) -> None:
        self.calls.append("pause")
        self.status = "paused"

    def unpause(self) -> None:
        self.calls.append("unpause")
        self.status = "running"

    def exec_run(self, cmd: list[str], environment: dict[str, str] | None = None) -> Any:
        self.execs.append(cmd)

        class Result:
            exit_code = 0
            output = b"OK\n"

        return Result()


class FakeNetwork:
    def __init__(self, name: str) -> None:
        self.name = name

    def disconnect(self, container: FakeContainer, force: bool = False) -> None:
        container.calls.append(f"disconnect:{self.name}")
        del container.networks[self.name]

    def connect(self, container: FakeContainer, aliases: list[str] | None = None) -> None:
        container.calls.append(f"connect:{self.name}")
        container.networks[self.name] = list(aliases or [])


class FakeDocker:
    def __init__(self, workers: int = 3, policy: str = "no") -> None:
        self.all = [FakeContainer(self, "worker", n, policy) for n in range(1, workers + 1)]
        self.all += [FakeContainer(self, "redis", 1), FakeContainer(self, "master", 1)]
        self.all.append(FakeContainer(self, "worker", 9))
        self.all[-1].labels = {PROJECT_LABEL: "other", SERVICE_LABEL: "worker"}  # not ours
        docker = self

        class Containers:
            def list(self, **kwargs: Any) -> list[Any]:
                wanted = [lbl.split("=", 1) for lbl in kwargs["filters"]["label"]]
                return [c for c in docker.all if all(c.labels.get(k) == v for k, v in wanted)]

        class Networks:
            def get(self, name: str) -> FakeNetwork:
                return FakeNetwork(name)

        self.containers = Containers()
        self.networks = Networks()

    def service(self, name: str) -> list[FakeContainer]:
        return [
            c
            for c in self.all
            if c.labels[SERVICE_LABEL] == name and c.labels[PROJECT_LABEL] == "jobfleet"
        ]


def master() -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/readyz", "/healthz"):
            return httpx.Response(200, json={"status": "ready"})
        if request.url.path.startswith("/jobs/"):
            return httpx.Response(200, json={"status": "failed"})
        return httpx.Response(404)

    return make_client("http://127.0.0.1:8000", transport=httpx.MockTransport(handler))


def context(docker: FakeDocker, submit: Any = None) -> FaultContext:
    def refuse(spec: JobSpec) -> Submit:
        return Submit(spec.key, None, "fail", now(), now(), spec.type, error="http 422")

    cluster = Cluster("jobfleet", docker, sleep=lambda _s: None)
    return FaultContext(cluster, master(), submit or refuse, "run-t", lease_s=0.05)


def test_discovery_is_limited_to_the_project() -> None:
    docker = FakeDocker()
    cluster = Cluster("jobfleet", docker)
    assert [c.name for c in cluster.workers()] == [f"jobfleet-worker-{n}" for n in (1, 2, 3)]
    assert len(cluster.containers()) == 5
    assert cluster.service("redis").name == "jobfleet-redis-1"
    ident = Cluster.identity(docker.all[0])
    assert ident.hostname == ident.short_id == docker.all[0].id[:12]
    assert ident.worker_name == "jobfleet-worker-1" and ident.service == "worker"


def test_target_choice_is_by_seeded_index() -> None:
    ctx = context(FakeDocker())
    assert [c.name for c in pick_workers(ctx, {"target": 4})] == ["jobfleet-worker-2"]
    assert [c.name for c in pick_workers(ctx, {"target": 2}, 2)] == [
        "jobfleet-worker-3",
        "jobfleet-worker-1",
    ]


def test_kill_starts_the_worker_again() -> None:
    docker = FakeDocker()
    fault = inject("kill", context(docker), {"target": 1, "hold_s": 0})
    victim = docker.all[1]
    assert fault.error is None and fault.target == victim.name
    assert victim.calls == ["kill:SIGKILL", "start"] and victim.status == "running"
    assert fault.detail["recovery_actions"] == {victim.name: "started"}
    assert fault.detail["targets"][0]["short_id"] == victim.id[:12]
    assert fault.t_start <= fault.t_end


def test_kill_under_a_restart_policy_does_not_double_start() -> None:
    docker = FakeDocker(policy="always")
    fault = inject("kill", context(docker), {"target": 0, "hold_s": 0})
    assert fault.detail["restarted_by_policy"] == ["jobfleet-worker-1"]
    assert docker.all[0].calls == ["kill:SIGKILL"]


def test_stop_scale_and_kill_all() -> None:
    docker = FakeDocker()
    stop = inject("stop", context(docker), {"target": 0, "grace_s": 7, "hold_s": 0})
    assert stop.error is None and docker.all[0].calls == ["stop:7", "start"]
    assert stop.detail["exit_codes"] == {"jobfleet-worker-1": 0}
    scale = inject("scale", context(docker), {"target": 1, "count": 5, "hold_s": 0})
    assert scale.error is None and len(scale.detail["targets"]) == 2  # never the last worker
    assert all(c.status == "running" for c in docker.all)
    every = inject("kill_all", context(docker), {"hold_s": 0})
    assert every.target.count(",") == 2 and all(c.status == "running" for c in docker.all)


def test_pause_and_partition_are_undone() -> None:
    docker = FakeDocker()
    pause = inject("pause", context(docker), {"target": 2, "duration_s": 0.01})
    assert pause.error is None and docker.all[2].calls == ["pause", "unpause"]
    part = inject("partition", context(docker), {"target": 0, "duration_s": 0.01})
    worker = docker.all[0]
    assert part.error is None
    assert worker.calls == ["disconnect:jobfleet_default", "connect:jobfleet_default"]
    assert worker.networks["jobfleet_default"] == ["jobfleet-worker-1", "worker"]
    assert part.detail["reconnected"] == ["jobfleet_default"]


def test_redis_master_and_the_negative_control() -> None:
    docker = FakeDocker()
    (redis,) = docker.service("redis")
    (master_c,) = docker.service("master")
    assert inject("redis_restart", context(docker), {}).error is None
    assert inject("redis_kill", context(docker), {"hold_s": 0}).detail["ready_after_s"] is not None
    fault = inject("master_kill", context(docker), {"hold_s": 0})
    assert fault.error is None and master_c.calls == ["kill:SIGKILL", "start"]
    amnesia = inject("redis_amnesia", context(docker), {"window_s": 0, "hold_s": 0})
    assert amnesia.error is None and amnesia.detail["config_ok"] is True
    assert redis.execs == [
        ["redis-cli", "CONFIG", "SET", "appendonly", "no"],
        ["redis-cli", "CONFIG", "SET", "save", ""],
    ]
    assert redis.calls[-2:] == ["kill:SIGKILL", "start"]


def test_oom_finds_the_victim() -> None:
    docker = FakeDocker(policy="always")
    submitted: list[JobSpec] = []

    def submit(spec: JobSpec) -> Submit:
        submitted.append(spec)
        victim = docker.all[1]
        victim.oom_killed = True
        victim.kill()  # the kernel's OOM killer; the restart policy brings it back
        return Submit(spec.key, "a" * 32, "ok", now(), now(), spec.type, origin="nemesis")

    fault = inject("oom", context(docker, submit), {"mb": 300, "timeout_s": 1})
    assert fault.error is None
    assert submitted[0].type == "alloc" and submitted[0].payload["mb"] == 300
    assert fault.target == "jobfleet-worker-2" and fault.detail["role"] == "worker"
    assert fault.detail["job_id"] == "a" * 32 and fault.detail["oom_killed"] == {
        "jobfleet-worker-2": True
    }
    assert fault.t_start == pytest.approx(docker.all[1].finished_at, abs=1e-3)


def test_failures_come_back_as_records() -> None:
    assert inject("nope", context(FakeDocker()), {}).error == "unknown fault 'nope'"
    no_workers = inject("kill", context(FakeDocker(workers=0)), {})
    assert no_workers.error is not None and "no running worker" in no_workers.error
    lonely = inject("scale", context(FakeDocker(workers=1)), {})
    assert lonely.error is not None and "two running workers" in lonely.error
    refused = inject("oom", context(FakeDocker()), {"timeout_s": 0.1})
    assert refused.error is not None and "not accepted" in refused.error


def test_heal_restores_everything() -> None:
    docker = FakeDocker()
    cluster = Cluster("jobfleet", docker, sleep=lambda _s: None)
    docker.all[0].pause()
    docker.all[1].stop()
    cluster.disconnect(docker.all[2])
    actions = cluster.heal()
    assert actions["jobfleet-worker-1"] == "unpaused"
    assert actions["jobfleet-worker-2"] == "started"
    assert actions["jobfleet-worker-3"].startswith("none+reconnected")
    assert all(c.status == "running" for c in docker.all)


def test_docker_time() -> None:
    assert docker_time("0001-01-01T00:00:00Z") is None
    assert docker_time("2024-01-02T03:04:05.123456789Z") == pytest.approx(1704164645.123456)
    assert docker_time("garbage") is None and docker_time(None) is None


def test_registry_is_complete() -> None:
    assert set(FAULTS) == {
        "kill",
        "stop",
        "pause",
        "partition",
        "oom",
        "kill_all",
        "scale",
        "redis_restart",
        "redis_kill",
        "master_kill",
        "redis_amnesia",
    }
