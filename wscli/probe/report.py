"""The probe's report card: one graded result per check, with one line of evidence.

Grades, from best to worst: ``PASS`` (the server did what RFC 6455 or RFC 7692 asks),
``INFO`` (a fact, not a grade: a limit discovered, the ``Server`` header), ``SKIP``
(the check could not run: out of time, no connections left, a category that does not
apply), ``WARN`` (allowed but questionable, or a SHOULD not followed) and ``FAIL`` (a
MUST broken). A run's exit status is 6 when any check failed, 0 otherwise.

Evidence holds what the server chose (headers, close reasons, payload excerpts), so it
is cut to :data:`EVIDENCE_LIMIT` characters here and escaped by whoever prints it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Grade", "Result", "Report", "CATEGORIES", "EVIDENCE_LIMIT", "excerpt"]

#: The categories, in the order they run.
CATEGORIES = (
    "handshake",
    "framing",
    "validation",
    "close",
    "ping",
    "compression",
    "security",
    "limits",
)

#: Longest evidence line kept. Checks cut what the server chose much shorter (see
#: :func:`excerpt`); this bound is the last guard, and leaves room for a whole link.
EVIDENCE_LIMIT = 320


class Grade(enum.Enum):
    """How a check went."""

    PASS = "PASS"
    INFO = "INFO"
    SKIP = "SKIP"
    WARN = "WARN"
    FAIL = "FAIL"


def excerpt(value: str | bytes | None, limit: int = 60) -> str:
    """A short rendering of peer data for evidence: quoted text, or hex for binary."""
    if value is None:
        return "none"
    if isinstance(value, bytes):
        try:
            text = value.decode()
        except UnicodeDecodeError:
            more = "…" if len(value) > limit // 2 else ""
            return f"0x{value[: limit // 2].hex()}{more}"
        value = text
    more = "…" if len(value) > limit else ""
    return repr(value[:limit]) + more


@dataclass(frozen=True)
class Result:
    """One check's outcome."""

    category: str
    name: str
    grade: Grade
    evidence: str
    rfc: str = ""
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of the result."""
        return {
            "category": self.category,
            "check": self.name,
            "grade": self.grade.value,
            "evidence": self.evidence,
            "rfc": self.rfc,
            "ms": round(self.elapsed * 1e3, 3),
        }


@dataclass
class Report:
    """Every result of one run, in order, and what the run learned on the way."""

    url: str
    results: list[Result] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    connections: int = 0
    #: Facts learnt by one check that others use (e.g. whether the server echoes).
    facts: dict[str, Any] = field(default_factory=dict)
    #: Called with each result as it is recorded (the command prints as the run goes).
    listener: Callable[[Result], None] | None = None

    def add(
        self,
        category: str,
        name: str,
        grade: Grade,
        evidence: str,
        rfc: str = "",
        elapsed: float = 0.0,
    ) -> Result:
        """Record a result (evidence cut to :data:`EVIDENCE_LIMIT`) and return it."""
        if len(evidence) > EVIDENCE_LIMIT:
            evidence = evidence[: EVIDENCE_LIMIT - 1] + "…"
        result = Result(category, name, grade, evidence, rfc, elapsed)
        self.results.append(result)
        if self.listener is not None:
            self.listener(result)
        return result

    def __iter__(self) -> Iterator[Result]:
        return iter(self.results)

    def counts(self) -> dict[str, int]:
        """How many results have each grade."""
        counts = {grade.value: 0 for grade in Grade}
        for result in self.results:
            counts[result.grade.value] += 1
        return counts

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return any(result.grade is Grade.FAIL for result in self.results)

    def summary(self) -> dict[str, Any]:
        """The numbers of the last line: counts, connections, time."""
        return {
            "url": self.url,
            **{key.lower(): value for key, value in self.counts().items()},
            "connections": self.connections,
            "time_ms": round((time.monotonic() - self.started) * 1e3, 1),
        }

    def as_dict(self) -> dict[str, Any]:
        """The whole report as one JSON-ready object."""
        return {"results": [result.as_dict() for result in self.results], **self.summary()}
