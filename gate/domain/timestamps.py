"""Timestamps as the gate writes and reads them (ISO 8601 UTC in tags): one codec, no clock."""

from __future__ import annotations

from datetime import UTC, datetime


def format_ts(ts: float) -> str:
    """Tag values are ISO 8601 UTC so an operator reading the console understands them."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(value: str | None) -> float | None:
    """Inverse of format_ts; an empty or foreign value means 'not set' rather than an error. A timestamp without a
    zone is unknown too (None): read as local or as UTC it could be hours off, and no bound may rest on a guess."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def parse_http_date(value: str | None) -> float | None:
    """An HTTP `Date` header (RFC 9110 IMF-fixdate, always GMT) as epoch seconds; None when missing or garbled."""
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None
