"""Write pitwall deploy checks in Python.

A check is a `Check` subclass exported as `Plugin = export(MyCheck)` in the
app module, built into a WebAssembly component with componentize-py against
the contract this package carries (`wit_dir()`). The package gives the host
calls (`http`, `stack`, `log`), verdict helpers (`passed`, `failed`,
`inconclusive`), strict configuration parsing (`parse_config`) and, for unit
tests under plain CPython, a fake host (`FakeHost`). Keep the decision logic
in plain functions over plain values (`Response`, dataclasses): they run in
CPython tests, while the host calls only work inside pitwall or a FakeHost.
"""

from __future__ import annotations

import os

from . import http, log, stack
from .check import Check, Context, Descriptor, ServiceImage, describe, export, run_check, validate_config
from .config import ConfigError
from .config import parse as parse_config
from .fake import FakeHost
from .http import HostError, Request, Response
from .verdict import Outcome, Verdict, failed, inconclusive, passed

__version__ = "0.2.0"

# The contract this SDK speaks, as pitwall names it.
CONTRACT = "pitwall:check@0.2.0"

__all__ = [
    "CONTRACT",
    "Check",
    "ConfigError",
    "Context",
    "Descriptor",
    "FakeHost",
    "HostError",
    "Outcome",
    "Request",
    "Response",
    "ServiceImage",
    "Verdict",
    "contract_path",
    "describe",
    "export",
    "failed",
    "http",
    "inconclusive",
    "log",
    "parse_config",
    "passed",
    "run_check",
    "stack",
    "validate_config",
    "wit_dir",
]


def wit_dir() -> str:
    """The folder holding the contract, for `componentize-py -d`."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "wit")


def contract_path() -> str:
    """The contract itself, `wit/check.wit`."""
    return os.path.join(wit_dir(), "check.wit")
