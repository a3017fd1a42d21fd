"""The worker containers of one compose project, grown and shrunk through the Docker API.

A new worker is a clone of a running one: same image, command, environment, limits, volumes,
network and aliases (so the ``worker`` DNS name covers it), and the same compose labels with
the next ``com.docker.compose.container-number``, so ``docker compose ps`` lists it and
``docker compose down`` removes it like any other replica. Shrinking stops a container with
SIGTERM and a grace period (the worker drains: it finishes or hands back its jobs), then
removes it. Only containers labelled with the project and service are ever touched.

The docker SDK is untyped and blocking: callers run these methods in a thread.
"""

from __future__ import annotations

import copy
import logging
import socket
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("jobfleet.autoscaler")
PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"


@dataclass(frozen=True)
class Member:
    """One worker container as the autoscaler sees it."""

    id: str
    name: str
    number: int
    hostname: str  # what the worker puts at the start of its id
    container: Any


def own_project(client: Any) -> str | None:
    """The compose project of the container this process runs in, if it is one."""
    try:
        me = client.containers.get(socket.gethostname())
    except Exception:  # not in a container, or not allowed to see it
        return None
    project: str | None = (me.labels or {}).get(PROJECT)
    return project


class DockerFleet:
    def __init__(self, client: Any, project: str, service: str = "worker") -> None:
        self.client = client
        self.project = project
        self.service = service
        self._template: dict[str, Any] | None = None

    def _listed(self, *, everything: bool) -> list[Any]:
        labels = [f"{PROJECT}={self.project}", f"{SERVICE}={self.service}", f"{ONEOFF}=False"]
        return list(self.client.containers.list(all=everything, filters={"label": labels}))

    def members(self) -> list[Member]:
        """Running workers, oldest number first; remembers one as the template for clones."""
        found = []
        for container in self._listed(everything=False):
            attrs = container.attrs
            found.append(
                Member(
                    id=container.id,
                    name=container.name,
                    number=int(container.labels.get(NUMBER, "0")),
                    hostname=attrs["Config"].get("Hostname", ""),
                    container=container,
                )
            )
            self._template = attrs
        return sorted(found, key=lambda m: m.number)

    def add(self) -> str:
        """Create and start one more worker; returns its container name."""
        if self._template is None:
            self.members()
        if self._template is None:
            raise RuntimeError(f"no running {self.service} container of {self.project} to clone")
        taken = {int(c.labels.get(NUMBER, "0")) for c in self._listed(everything=True)}
        number = next(n for n in range(1, len(taken) + 2) if n not in taken)
        name = f"{self.project}-{self.service}-{number}"
        config, extra_networks = clone_config(self._template, name, number)
        created = self.client.api.create_container_from_config(config, name)
        for network, endpoint in extra_networks.items():  # the engine takes one at create
            self.client.api.connect_container_to_network(
                created["Id"], network, aliases=endpoint.get("Aliases")
            )
        self.client.api.start(created["Id"])
        return name

    def drain(self, member: Member, timeout_s: int) -> None:
        """SIGTERM, up to ``timeout_s`` for the worker to drain, then remove the container."""
        member.container.stop(timeout=timeout_s)
        member.container.remove(v=False)


Endpoints = dict[str, dict[str, Any]]


def clone_config(attrs: dict[str, Any], name: str, number: int) -> tuple[dict[str, Any], Endpoints]:
    """A create-container body from an inspected worker, renamed and renumbered.

    Returns the body and the endpoints of any further networks (to connect after creation).
    """
    config = copy.deepcopy(attrs["Config"])
    old = {attrs["Name"].lstrip("/"), attrs["Id"][:12], config.pop("Hostname", "")}
    config.pop("Domainname", None)
    config["Labels"] = {**config.get("Labels", {}), NUMBER: str(number)}
    config["HostConfig"] = copy.deepcopy(attrs["HostConfig"])
    endpoints: Endpoints = {}
    for network, settings in (attrs["NetworkSettings"].get("Networks") or {}).items():
        aliases = [a for a in settings.get("Aliases") or [] if a not in old]
        endpoints[network] = {"Aliases": [*aliases, name]}
    first = dict(list(endpoints.items())[:1])
    config["NetworkingConfig"] = {"EndpointsConfig": first}
    rest = {k: v for k, v in endpoints.items() if k not in first}
    return config, rest
