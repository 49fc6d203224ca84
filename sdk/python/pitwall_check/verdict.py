"""Verdicts as plain values, so decision logic returns them in CPython tests.

    failed("db is down", db="down", status=503)
    passed("db ok").add("host.x", 1)   # labels that are not Python names
"""

from __future__ import annotations

import enum
from typing import Any, Dict, Optional


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    # The check could not decide (e.g. no traffic yet); the host retries until
    # its deadline and treats a final inconclusive as a failure.
    INCONCLUSIVE = "inconclusive"


def _text(value: Any) -> str:
    # JSON spelling for the values a check most often reports, so evidence
    # reads the same as in the Rust SDK (`true`, not `True`).
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


class Verdict:
    """What a run concludes: an outcome, one line of summary, and evidence
    (label -> value, in the order added; values are kept as text)."""

    __slots__ = ("outcome", "summary", "evidence")

    def __init__(self, outcome: Outcome, summary: str, evidence: Optional[Dict[str, Any]] = None):
        if not isinstance(outcome, Outcome):
            raise TypeError(f"outcome must be an Outcome (Outcome.PASS, ...), not {outcome!r}")
        self.outcome = outcome
        self.summary = str(summary)
        self.evidence: Dict[str, str] = {}
        for label, value in (evidence or {}).items():
            self.add(label, value)

    def add(self, label: str, value: Any) -> "Verdict":
        """Adds (or replaces) one piece of evidence; returns the verdict.
        Labels starting with `host.` are the host's own: pitwall renames a
        check's."""
        self.evidence[str(label)] = _text(value)
        return self

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return (self.outcome, self.summary, self.evidence) == (other.outcome, other.summary, other.evidence)

    def __repr__(self) -> str:
        return f"Verdict({self.outcome.value}, {self.summary!r}, {self.evidence!r})"


def passed(summary: str, /, **evidence: Any) -> Verdict:
    """The release looks good by this check's standard."""
    return Verdict(Outcome.PASS, summary, evidence)


def failed(summary: str, /, **evidence: Any) -> Verdict:
    """The release is bad: the deploy rolls back."""
    return Verdict(Outcome.FAIL, summary, evidence)


def inconclusive(summary: str, /, **evidence: Any) -> Verdict:
    """The check could not decide this time; the host tries again."""
    return Verdict(Outcome.INCONCLUSIVE, summary, evidence)
