"""Failures named by what the caller does with them (issue 23), so a caller catches a meaning, not an adapter's class.

- `Gone`: the thing no longer exists (a lifecycle action completed by someone else, an agent deleted): forget it.
- `Unavailable`: the service could not answer now (5xx, throttling, network, the invocation's deadline): hold and
  retry next round; a hold that persists is alarmed.
- `Misconfigured`: it will not work until someone changes something (bad settings, credentials refused): hold, alarm,
  and name what to fix.

Each adapter's errors derive from one of these (gate/adapters/*.py, gate/service/sources.py, gate/settings.py). A
catch of `Exception` remains only at isolation boundaries, where any surprise, a bug included, must stay with the one
instance, pool or route it hit (docs/architecture.md, "Errors")."""

from __future__ import annotations


class GateError(RuntimeError):
    """Any failure the gate knows how to handle; the text never holds a secret (adapters redact before raising)."""


class Gone(GateError):
    """The thing acted on no longer exists."""


class Unavailable(GateError):
    """A service could not answer this time."""


class DeadlineExceeded(Unavailable):
    """No time was left in the invocation for the call (or for the wait the service asked for): the next round or tick
    retries."""


class ActionGone(Gone):
    """The lifecycle action is no longer active: completed by someone else, timed out, or never ours."""


class AwsError(Unavailable):
    """An Auto Scaling or EC2 call failed after its retries."""


class Misconfigured(GateError):
    """It cannot work as configured (settings, credentials, permissions)."""
