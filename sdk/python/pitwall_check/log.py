"""The check's own log lines, shown to the operator prefixed with the check's
name and kept (capped) with its verdict. Under CPython without a fake host
they go to standard error."""

from __future__ import annotations

import sys

from . import _host

__all__ = ["debug", "info", "warn", "error"]

LEVELS = ("debug", "info", "warn", "error")


def write(level: str, message: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    host = _host.current_or_none()
    if host is None:
        print(f"[{level}] {message}", file=sys.stderr)
    else:
        host.log_write(level, str(message))


def debug(message: str) -> None:
    write("debug", message)


def info(message: str) -> None:
    write("info", message)


def warn(message: str) -> None:
    write("warn", message)


def error(message: str) -> None:
    write("error", message)
