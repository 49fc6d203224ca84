"""A pure-Python stand-in for pitwall, for unit tests under plain CPython.

    host = FakeHost()
    host.respond("http://app/health", json={"db": "ok"})
    verdict = host.run(MyCheck, {"url": "http://app/health"})
    assert host.requests[0].url == "http://app/health"

It answers from canned responses, logs and containers, and records every
call. It enforces nothing else: no grants (`allow_http`), no caps, no time
limit — `pitwall check test` cases check those against the real host.
HTTP answers match by method and URL, in the order given; when a URL's
answers run out the last one repeats (as in `pitwall check test` cases). A
call with no answer raises HostError (kind `other`) naming the call.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Union

from . import _host
from .check import Context, run_check
from .http import HeadersLike, HostError, Request, Response
from .stack import Container
from .verdict import Verdict

__all__ = ["FakeHost"]

_UNSET: Any = object()


class FakeHost:
    def __init__(self) -> None:
        self._http: Dict[Tuple[str, str], List[Union[Response, HostError]]] = {}
        self._logs: Dict[str, List[str]] = {}
        self._containers: List[Container] = []
        # What the check did, in order.
        self.requests: List[Request] = []
        self.calls: List[Tuple[Any, ...]] = []  # ("http.send", Request), ("stack.logs", service, ...), ...
        self.messages: List[Tuple[str, str]] = []  # (level, message) written with pitwall_check.log
        self._previous: List[Any] = []

    # -- canned answers -------------------------------------------------

    def respond(
        self,
        url: str,
        status: int = 200,
        body: Union[bytes, str] = b"",
        *,
        json: Any = _UNSET,
        headers: HeadersLike = None,
        method: str = "GET",
        error: Optional[Dict[str, str]] = None,
        truncated: bool = False,
        elapsed_ms: int = 1,
    ) -> "FakeHost":
        """Adds an answer to `method url`: a response, or with `error` a
        failure as in a test case, e.g. `error={"timeout": "no answer in 2s"}`
        (denied, timeout, connect, invalid, other)."""
        if error is not None:
            if not isinstance(error, dict) or len(error) != 1:
                raise ValueError(f'error= is one kind and its text, e.g. {{"connect": "refused"}}, not {error!r}')
            ((kind, message),) = error.items()
            answer: Union[Response, HostError] = HostError(kind, message)
        else:
            kw = {} if json is _UNSET else {"json": json}
            answer = Response(status, body, headers, truncated=truncated, elapsed_ms=elapsed_ms, **kw)
        self._http.setdefault((method.upper(), url), []).append(answer)
        return self

    def add_logs(self, service: str, lines: List[str]) -> "FakeHost":
        """Log lines of `service` (any window); a service without any is
        refused, as an ungranted one is by pitwall."""
        self._logs.setdefault(service, []).extend(line.rstrip("\n") for line in lines)
        return self

    def add_container(self, service: str, state: str = "running", **fields: Any) -> "FakeHost":
        """A container of `service`; other fields as in stack.Container
        (name, image, health, restart_count)."""
        fields.setdefault("name", f"{service}-1")
        self._containers.append(Container(service=service, state=state, **fields))
        return self

    # -- running a check --------------------------------------------------

    def run(self, check: type, config: Any, ctx: Optional[Context] = None) -> Verdict:
        """Runs `check` once with `config` (dict or JSON text) against this
        host, through the same path as the component export."""
        with self:
            return run_check(check, config, ctx)

    def __enter__(self) -> "FakeHost":
        self._previous.append(_host.install(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        _host.install(self._previous.pop())

    # -- the host interface (see pitwall_check._host) -----------------------

    def http_send(self, request: Request) -> Response:
        self.requests.append(request)
        self.calls.append(("http.send", request))
        answers = self._http.get((request.method, request.url))
        if not answers:
            known = ", ".join(f"{m} {u}" for m, u in self._http) or "none"
            raise HostError(
                "other",
                f"fake host: no canned answer for {request.method} {request.url} "
                f'(add one with host.respond("{request.url}", ...); canned: {known})',
            )
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, HostError):
            raise answer
        return answer

    def stack_containers(self) -> List[Container]:
        self.calls.append(("stack.containers",))
        return list(self._containers)

    def stack_logs(self, service: str, since_ms: int, until_ms: Optional[int], max_lines: int) -> str:
        self.calls.append(("stack.logs", service, since_ms, until_ms, max_lines))
        if service not in self._logs:
            raise HostError("stack", f"fake host: no logs for service `{service}` (add them with host.add_logs)")
        lines = self._logs[service][-max_lines:] if max_lines else []
        return "".join(line + "\n" for line in lines)

    def stack_open_logs(self, service: str, since_ms: int, until_ms: Optional[int]) -> "_FakeReader":
        self.calls.append(("stack.open_logs", service, since_ms, until_ms))
        if service not in self._logs:
            raise HostError("stack", f"fake host: no logs for service `{service}` (add them with host.add_logs)")
        return _FakeReader(self._logs[service])

    def log_write(self, level: str, message: str) -> None:
        self.calls.append(("log.write", level, message))
        self.messages.append((level, message))



class _FakeReader:
    """Canned lines in chunks of whole lines, as the host's `log-stream`
    gives them (a line longer than a chunk comes cut)."""

    def __init__(self, lines: List[str]) -> None:
        self._lines = list(lines)

    def read(self, max_bytes: int) -> Optional[str]:
        if not self._lines:
            return None
        chunk: List[str] = []
        size = 0
        while self._lines and size + len(self._lines[0]) + 1 <= max_bytes:
            line = self._lines.pop(0)
            chunk.append(line + "\n")
            size += len(line) + 1
        if not chunk:
            chunk.append(self._lines.pop(0)[: max_bytes - 1] + "\n")
        return "".join(chunk)
