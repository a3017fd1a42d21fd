"""A small HTTP client for the master's API (used by the CLI, the demo and the tests)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx

from cluster.errors import ApiError

__all__ = ["ApiError", "Client"]


TOKEN_ENV = "JOBFLEET_TOKEN"


class Client:
    """``token``: the API token to send (``Authorization: Bearer``); by default the value of
    ``JOBFLEET_TOKEN``, and none when that is unset or empty (an open master)."""

    def __init__(
        self, url: str = "http://127.0.0.1:8000", timeout: float = 10.0, token: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV, "").strip()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the master at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(f"{method} {path} -> {response.status_code}: {detail}")
        return response.json()

    def submit(
        self,
        job_type: str,
        payload: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"type": job_type, "payload": payload or {}, **options}
        result: dict[str, Any] = self._call("POST", "/jobs", json=body, headers=headers)
        return result

    def submit_batch(self, jobs: Sequence[dict[str, Any]]) -> list[str]:
        ids: list[str] = self._call("POST", "/jobs/batch", json={"jobs": list(jobs)})["ids"]
        return ids

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/jobs/{job_id}")
        return result

    def logs(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/jobs/{job_id}/logs")
        return result

    def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/jobs/{job_id}")
        return result

    def retry(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/jobs/{job_id}/retry")
        return result

    def queues(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/queues")["queues"]
        return result

    def workers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/workers")["workers"]
        return result
