"""The compose stack through the host: its containers and its services' logs,
for the services the operator granted (`allow_logs`). A refused call raises
HostError (kind `stack`) with the host's text, which names the grant to add."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional

from . import _host

__all__ = ["CHUNK_BYTES", "Container", "containers", "logs", "open_logs"]

# Chunk size that reads fast without holding much: 256 KiB.
CHUNK_BYTES = 256 * 1024


@dataclass
class Container:
    service: str
    # Container name.
    name: str = ""
    image: str = ""
    # Docker state: `running`, `exited`, `restarting`, ...
    state: str = "running"
    # Docker healthcheck status (`healthy`, `unhealthy`, `starting`), or None
    # when the container has no healthcheck.
    health: Optional[str] = None
    restart_count: int = 0


def containers() -> List[Container]:
    """The containers of the granted services (others are left out)."""
    return _host.current().stack_containers()


def logs(service: str, since_ms: int, until_ms: Optional[int] = None, max_lines: int = 10_000) -> str:
    """Log lines of `service` written between `since_ms` and `until_ms` (ms
    since the Unix epoch; None means now), the newest `max_lines` at most
    (the host caps it too), as one string with every line ending in `\\n`:
    iterate with `.splitlines()`. Take the window from the context
    (`ctx.started_at_ms`), never from the clock, so recorded runs replay."""
    return _host.current().stack_logs(service, since_ms, until_ms, max_lines)


def open_logs(service: str, since_ms: int, until_ms: Optional[int] = None) -> Iterator[str]:
    """Every log line of `service` written between `since_ms` and `until_ms`
    (None: now), however many, as chunks of whole lines (each ending in
    `\\n`, at most CHUNK_BYTES), oldest first. Scan each chunk and let it
    go, and memory stays at one chunk however busy the service was:

        for chunk in stack.open_logs("api", ctx.started_at_ms, ctx.now_ms):
            for line in chunk.splitlines(): ...

    During a deploy the host has followed the service since the rollout
    started, so lines Docker rotated away since are still there."""
    reader = _host.current().stack_open_logs(service, since_ms, until_ms)
    while True:
        chunk = reader.read(CHUNK_BYTES)
        if chunk is None:
            return
        yield chunk
