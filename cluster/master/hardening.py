"""Wires the master's protections into the app: access control (``access``), repeated query
parameters refused (``hygiene``), the Redis OOM answer (``guard``; rate limit and queue depth
are checked by the submit routes through ``guard.admit``), the completed OpenAPI document
(``openapi``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from cluster.auth import TokenTable
from cluster.master.access import AccessControl
from cluster.master.guard import install_oom_handler
from cluster.master.hygiene import RejectRepeatedQuery
from cluster.master.openapi import install_openapi
from cluster.settings import Settings

log = logging.getLogger("jobfleet.master")


def install_hardening(app: FastAPI, settings: Settings) -> None:
    """Call after the error handlers are installed (the OOM handler falls back to them)."""
    tokens = TokenTable.from_config(settings.api_tokens, settings.api_tokens_file)
    if tokens.enabled:
        log.info("api tokens required", extra={"tokens": len(tokens.entries)})
    else:
        log.warning("no API tokens configured: the API is open to anyone who can reach it")
    app.add_middleware(RejectRepeatedQuery)
    app.add_middleware(AccessControl, tokens=tokens)  # added last = runs first
    install_oom_handler(app)
    install_openapi(app, settings, tokens.enabled)
