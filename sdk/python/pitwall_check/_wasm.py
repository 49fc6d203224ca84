"""The real host: the bindings componentize-py generates from the contract
(`wit_world`). Imported only inside the component.

componentize-py 0.25 generates the package `wit_world`: imported interfaces
under `wit_world.imports`, the exported `plugin` interface as the protocol
`wit_world.exports.Plugin`. `wit_world/__init__.py` does not import its
`exports` subpackage, so it is imported by name (`from wit_world import
exports`); `wit_world.exports.Plugin` after a bare `import wit_world` fails
with "module 'wit_world' has no attribute 'exports'". A `result` error is
raised as `componentize_py_types.Err(value)`, both ways.
"""

from __future__ import annotations

from typing import Any, List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import http as wit_http
from wit_world.imports import log as wit_log
from wit_world.imports import stack as wit_stack
from wit_world.imports import types as wit_types

from . import check as _check
from . import http, stack
from .verdict import Outcome, Verdict

_ERROR_KINDS = {
    wit_http.Error_Denied: "denied",
    wit_http.Error_Timeout: "timeout",
    wit_http.Error_Connect: "connect",
    wit_http.Error_Invalid: "invalid",
    wit_http.Error_Other: "other",
}

_LEVELS = {
    "debug": wit_log.Level.DEBUG,
    "info": wit_log.Level.INFO,
    "warn": wit_log.Level.WARN,
    "error": wit_log.Level.ERROR,
}

_OUTCOMES = {
    Outcome.PASS: wit_types.Outcome.PASS,
    Outcome.FAIL: wit_types.Outcome.FAIL,
    Outcome.INCONCLUSIVE: wit_types.Outcome.INCONCLUSIVE,
}


class WasmHost:
    def http_send(self, req: http.Request) -> http.Response:
        wire = wit_http.Request(
            method=req.method,
            url=req.url,
            headers=[wit_http.Header(name=n, value=v) for n, v in req.headers],
            body=req.body,
            timeout_ms=req.timeout_ms,
            follow_redirects=req.follow_redirects,
        )
        try:
            r = wit_http.send(wire)
        except Err as e:
            # e.value is one of the Error_* dataclasses; its repr is what a
            # check author must never have to show an operator.
            raise http.HostError(_ERROR_KINDS.get(type(e.value), "other"), e.value.value) from None
        return http.Response(
            r.status,
            r.body,
            [(h.name, h.value) for h in r.headers],
            truncated=r.truncated,
            elapsed_ms=r.elapsed_ms,
        )

    def stack_containers(self) -> List[stack.Container]:
        try:
            found = wit_stack.containers()
        except Err as e:
            raise http.HostError("stack", str(e.value)) from None
        return [
            stack.Container(c.service, c.name, c.image, c.state, c.health, c.restart_count) for c in found
        ]

    def stack_logs(self, service: str, since_ms: int, until_ms: Optional[int], max_lines: int) -> str:
        try:
            return wit_stack.logs(service, since_ms, until_ms, max_lines)
        except Err as e:
            raise http.HostError("stack", str(e.value)) from None

    def stack_open_logs(self, service: str, since_ms: int, until_ms: Optional[int]) -> "_LogReader":
        try:
            return _LogReader(wit_stack.open_logs(service, since_ms, until_ms))
        except Err as e:
            raise http.HostError("stack", str(e.value)) from None

    def log_write(self, level: str, message: str) -> None:
        wit_log.write(_LEVELS[level], message)


class _LogReader:
    """The host's `log-stream`, its errors raised as HostError."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, max_bytes: int) -> Optional[str]:
        try:
            return self._stream.read(max_bytes)
        except Err as e:
            raise http.HostError("stack", str(e.value)) from None


def plugin_class(check: Any) -> type:
    """An implementation of `wit_world.exports.Plugin` running `check`."""

    class Plugin(exports.Plugin):
        def describe(self) -> wit_types.Descriptor:
            d = _check.describe(check)
            return wit_types.Descriptor(
                name=d.name,
                version=d.version,
                description=d.description,
                config_help=d.config_help,
                capabilities=d.capabilities,
            )

        def validate_config(self, config: str) -> None:
            try:
                _check.validate_config(check, config)
            except ValueError as e:
                raise Err(str(e)) from None

        def run(self, ctx: wit_types.Context, config: str) -> wit_types.Verdict:
            v: Verdict = _check.run_check(check, config, _check.Context.from_host(ctx))
            return wit_types.Verdict(
                outcome=_OUTCOMES[v.outcome],
                summary=v.summary,
                evidence=[wit_types.Evidence(label=k, value=val) for k, val in v.evidence.items()],
            )

    return Plugin
