"""Keep secrets out of every log line and exception text, whatever code path produced them."""

from __future__ import annotations

import base64
import threading
from typing import Any

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"


def register_secret(secret: str) -> None:
    """Remember a secret and the encodings it travels in (Basic auth carries base64(':' + PAT))."""
    if len(secret) < 4:
        return
    forms = {secret}
    for user in ("", "gate", "user", "pat"):
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    with _lock:
        _secrets.update(forms)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value
