"""Integration tests: the compose stack, started with testcontainers, checked with docker."""
