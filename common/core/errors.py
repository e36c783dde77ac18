"""The project's one error tree.

    IvrError
    ├── FlowInvalid            a flow document failed validation; carries the whole report
    ├── EngineError            the engine was driven wrongly (an event it is not waiting for, an ended call)
    │   └── UnexpectedEvent
    └── NotFound               a tenant, flow, version or number that does not exist (used by the service layer)

Every error carries a message meant for the person who can fix it: what is wrong, where (node id,
field) and, when there is one, how to fix it. An engine error never changes the call state it was
given: the step function raises before it builds a new state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.core.validation import ValidationReport


class IvrError(Exception):
    """Base of every error this project raises on purpose."""


class FlowInvalid(IvrError):
    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        first = report.errors[0].render() if report.errors else "no details"
        more = len(report.errors) - 1
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"flow is invalid: {first}{suffix}")


class EngineError(IvrError):
    """The engine was asked to do something the call's state does not allow."""


class UnexpectedEvent(EngineError):
    """An event arrived that the call is not waiting for (for example digits while a transfer rings)."""


class NotFound(IvrError):
    """Something named by the caller of an API does not exist (or is not theirs to see)."""
