"""The master's status page (``/ui``) in a real headless browser (Debian's ``chromium``), against
a live master and worker: after the page's JavaScript ran, the DOM holds the queues, the
worker and the recent failure; the screenshot is a real, non-trivial PNG.

Chromium is installed by ``.ci/run`` (CI); elsewhere the test is skipped when it is missing.
``JOBFLEET_UPDATE_SCREENSHOT=1`` also writes the screenshot to ``docs/status-page.png``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.unit.conftest import Fleet
from tests.unit.helpers import REPO_ROOT, Api

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1280, 900)
DOCS_SHOT = REPO_ROOT / "docs" / "status-page.png"


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is missing: .ci/run installs it (apt-get install -y chromium)")


def headless(binary: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--hide-scrollbars", "--no-first-run", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=4000", *args,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr[-2000:]}"
    return done


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_status_page_renders_live_data(api: Api, fleet: Fleet, tmp_path: Path) -> None:
    binary = browser()
    worker = fleet.worker(concurrency=2)
    failing = api.submit("fail", {"times": 5}, max_attempts=1)
    for _ in range(6):
        api.submit("sleep", {"seconds": 0.2})
    api.wait_status(failing, "failed")
    slow = api.submit("sleep", {"seconds": 30}, timeout_s=60)
    api.wait_status(slow, "running")
    api.submit("echo", {"n": 1}, queue="other", delay_s=600)  # one scheduled job
    for round_ in range(1, 5):  # throughput samples a second apart, for the sparkline
        api.http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * (round_ * 4)})
        time.sleep(1.1)
        assert api.http.get("/ui/summary").status_code == 200

    dom = headless(binary, "--dump-dom", f"{api.url}/ui").stdout
    assert 'data-queue="default"' in dom and 'data-queue="other"' in dom, dom[-3000:]
    assert f'data-worker="{worker.id}"' in dom, dom[-3000:]
    assert f'data-job="{failing}"' in dom, "the failed job is not listed"
    assert f"sleep {slow[:8]} #1" in dom, "the worker's current job is not shown"
    assert "planned failure" in dom
    assert 'id="status" class="bad"' not in dom, "the page could not read /ui/summary"
    assert '<span id="status" class="">updated ' in dom

    shot = tmp_path / "status-page.png"
    headless(binary, f"--screenshot={shot}", f"{api.url}/ui")
    assert png_size(shot) == WINDOW
    assert shot.stat().st_size > 20_000, "a blank page compresses to a few KB"
    if os.environ.get("JOBFLEET_UPDATE_SCREENSHOT"):
        DOCS_SHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SHOT)


def test_status_page_is_self_contained(api: Api) -> None:
    page = api.http.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" in page.text
    for external in ("http://", "https://", "//cdn"):
        assert f'src="{external}' not in page.text and f'href="{external}' not in page.text
