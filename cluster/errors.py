"""Errors shared by the client-side tools (kept free of heavy imports)."""


class ApiError(Exception):
    """The master refused a request or could not be reached; the message says why."""
