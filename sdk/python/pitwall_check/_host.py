"""Which host answers the SDK's calls.

Inside the component (componentize-py, `sys.platform == "wasi"`) it is
pitwall, through the generated bindings (`wit_world.imports.*`). Under plain
CPython there is no host until a test installs one (`with FakeHost() as
host:`), so the SDK imports without the bindings.

A host is any object with these methods:

    http_send(request: http.Request) -> http.Response   # raises HostError
    stack_containers() -> list[stack.Container]         # raises HostError
    stack_logs(service, since_ms, until_ms, max_lines) -> str
    stack_open_logs(service, since_ms, until_ms) -> reader  # reader.read(max_bytes) -> str | None
    log_write(level: str, message: str) -> None          # debug|info|warn|error
"""

from __future__ import annotations

import sys
from typing import Any, Optional

IN_COMPONENT = sys.platform == "wasi"

_current: Optional[Any] = None


def current() -> Any:
    """The host, or an error that says how to get one."""
    host = current_or_none()
    if host is None:
        raise RuntimeError(
            "no pitwall host: under CPython, host calls (http, stack) need a fake host; "
            "wrap the call in `with pitwall_check.FakeHost() as host:` and give it canned answers "
            "(host.respond(url, json=...)), or test the decision logic on plain values"
        )
    return host


def current_or_none() -> Optional[Any]:
    global _current
    if _current is None and IN_COMPONENT:
        # Imported lazily: the bindings exist only inside the component.
        from . import _wasm

        _current = _wasm.WasmHost()
    return _current


def install(host: Optional[Any]) -> Optional[Any]:
    """Makes `host` answer the SDK's calls; returns the previous one."""
    global _current
    previous, _current = _current, host
    return previous
