"""HTTP through the host.

    response = http.get(url, headers={"accept": "application/json"}, timeout_ms=2000)
    response = http.request("POST", url, json={"user": "probe"})

pitwall sends the request only to URLs the operator granted (`allow_http`),
applies its own timeout too and caps the body it returns. Redirects are not
followed unless asked (a redirect is an answer worth judging); each hop must
be granted. A failed call raises HostError, whose text reads `denied: …`,
`timed out: …`, `cannot connect: …`.
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

from . import _host

__all__ = ["HostError", "Headers", "Request", "Response", "request", "get", "head", "post"]

_UNSET: Any = object()
_U32 = 2**32 - 1

HeadersLike = Union[Mapping, Iterable[Tuple[str, str]], None]


class HostError(Exception):
    """The host could not do what was asked.

    `kind` is the contract's `http.error` case — `denied` (outside the
    check's grants; the text names the grant to add), `timeout`, `connect`,
    `invalid` (a refused header, a bad URL), `other` — or `stack` for a
    refused stack call. `message` is the host's text.
    """

    KINDS = ("denied", "timeout", "connect", "invalid", "other", "stack")
    # The same words as the Rust SDK, so summaries read alike in both.
    _PREFIX = {
        "denied": "denied: ",
        "timeout": "timed out: ",
        "connect": "cannot connect: ",
        "invalid": "invalid request: ",
    }

    def __init__(self, kind: str, message: str):
        if kind not in self.KINDS:
            raise ValueError(f"HostError kind must be one of {', '.join(self.KINDS)}, not {kind!r}")
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        # pitwall's own denials already say "denied"; it is not said twice.
        if self.kind == "denied" and "denied" in self.message:
            return self.message
        return self._PREFIX.get(self.kind, "") + self.message

    def __repr__(self) -> str:
        return f"HostError({self.kind!r}, {self.message!r})"


class Headers(Mapping):
    """Response headers: looked up case-insensitively (`headers["Content-Type"]`
    and `headers.get("content-type")` are the same), first value wins;
    `get_all` returns every value, `pairs` keeps the order and spelling."""

    def __init__(self, pairs: HeadersLike = None):
        self.pairs: List[Tuple[str, str]] = _pairs(pairs)

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        for n, v in self.pairs:
            if n.lower() == wanted:
                return v
        raise KeyError(name)

    def get_all(self, name: str) -> List[str]:
        wanted = name.lower()
        return [v for n, v in self.pairs if n.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for n, _ in self.pairs:
            if n.lower() not in seen:
                seen.add(n.lower())
                yield n

    def __len__(self) -> int:
        return len({n.lower() for n, _ in self.pairs})

    def __repr__(self) -> str:
        return f"Headers({self.pairs!r})"


@dataclass
class Request:
    """A request as the host receives it (what a fake host records)."""

    method: str
    url: str
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: Optional[bytes] = None
    timeout_ms: Optional[int] = None
    follow_redirects: bool = False

    def header(self, name: str) -> Optional[str]:
        """The first header named `name`, case-insensitively."""
        return Headers(self.headers).get(name)

    def json(self) -> Any:
        """The body parsed as JSON (for assertions in tests)."""
        return None if self.body is None else _json.loads(self.body)


class Response:
    """An answer. Plain data: build one in a unit test to exercise your logic,
    e.g. `Response(200, json={"db": "ok"})` or `Response(503, "down")`."""

    def __init__(
        self,
        status: int = 200,
        body: Union[bytes, str] = b"",
        headers: HeadersLike = None,
        *,
        json: Any = _UNSET,
        truncated: bool = False,
        elapsed_ms: int = 0,
    ):
        self.status = status
        self.headers = Headers(headers)  # a copy: json= may add to it
        if json is not _UNSET:
            body = _json.dumps(json)
            if "content-type" not in self.headers:
                self.headers.pairs.append(("content-type", "application/json"))
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        # True when the host cut the body at its cap.
        self.truncated = truncated
        # Time to the full (possibly truncated) response.
        self.elapsed_ms = elapsed_ms

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self, schema: Any = None) -> Any:
        """The body parsed as JSON; with a `schema` (a dataclass or a dict, see
        `pitwall_check.config`) parsed into it, unknown keys ignored. Raises
        ValueError saying why, with the start of the body."""
        try:
            value = _json.loads(self.body)
        except ValueError as e:
            cut = " (the body was cut at the host's cap)" if self.truncated else ""
            raise ValueError(f"the body is not JSON: {e}{cut}; it starts {_excerpt(self.text())!r}") from None
        if schema is None:
            return value
        from . import config  # config imports nothing from here: no cycle at load time

        return config.parse(value, schema, strict=False, what="body")

    def __repr__(self) -> str:
        return f"Response({self.status}, {_excerpt(self.text(), 60)!r})"


def request(
    method: str,
    url: str,
    *,
    headers: HeadersLike = None,
    body: Union[bytes, str, None] = None,
    json: Any = _UNSET,
    timeout_ms: Optional[int] = None,
    follow_redirects: bool = False,
) -> Response:
    """Sends one request through the host and returns its answer.

    `json=` sends a JSON body with `content-type: application/json`.
    `timeout_ms` shortens the host's own timeout, which always applies. The
    host refuses `Host` and the framing headers (`Content-Length`, ...).
    Raises HostError when there is no answer (denied, timeout, connect, ...).
    """
    pairs = _pairs(headers)
    if json is not _UNSET:
        if body is not None:
            raise ValueError("give either body= or json=, not both")
        body = _json.dumps(json)
        if not any(n.lower() == "content-type" for n, _ in pairs):
            pairs.append(("content-type", "application/json"))
    if timeout_ms is not None and not (isinstance(timeout_ms, int) and 0 <= timeout_ms <= _U32):
        raise ValueError(f"timeout_ms must be a whole number of milliseconds, not {timeout_ms!r}")
    req = Request(
        method=method.upper(),
        url=url,
        headers=pairs,
        body=body.encode("utf-8") if isinstance(body, str) else body,
        timeout_ms=timeout_ms,
        follow_redirects=bool(follow_redirects),
    )
    return _host.current().http_send(req)


def get(url: str, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def head(url: str, **kwargs: Any) -> Response:
    return request("HEAD", url, **kwargs)


def post(url: str, **kwargs: Any) -> Response:
    return request("POST", url, **kwargs)


def _pairs(headers: HeadersLike) -> List[Tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Headers):
        return list(headers.pairs)
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for item in items:
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"a header is a pair of strings, not {item!r}")
        out.append((name, value))
    return out


def _excerpt(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"
