"""The master: a FastAPI application that accepts jobs and answers questions about them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cluster import __version__, metrics
from cluster.master import jobs, ops, telemetry, ui
from cluster.master.errors import install_error_handlers
from cluster.master.fastpath import SubmitFastPath
from cluster.master.hardening import install_hardening
from cluster.master.state import MasterState
from cluster.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; Redis is connected when it starts serving."""
    settings = settings or get_settings()
    metrics.enable("master")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = MasterState.open(settings)
        await state.start()
        app.state.master = state
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="jobfleet",
        version=__version__,
        lifespan=lifespan,
        description="Submit jobs; every accepted job runs to completion at least once.",
    )
    install_error_handlers(app)
    app.add_middleware(SubmitFastPath, owner=app)  # the submit routes; inside the hardening
    install_hardening(app, settings)  # tokens, OOM answer, OpenAPI (after the handlers)
    app.include_router(jobs.router)
    app.include_router(ops.router)
    app.include_router(telemetry.router)  # GET /metrics
    app.include_router(ui.router)  # GET /ui: the status page
    return app
