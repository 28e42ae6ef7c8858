"""Keep secrets out of every log line and exception text, whatever code path produced them.

Redact first, cut afterwards: a message truncated before redaction can end in the first half of a secret, which no
longer matches and leaks. Callers that shorten text (error bodies) call `redact` on the whole text first.
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

_lock = threading.Lock()
_literals: set[str] = set()
_patterns: dict[str, re.Pattern[str]] = {}
MASK = "***"
_B64 = "A-Za-z0-9+/"


def _base64_cores(secret: bytes) -> list[str]:
    """The base64 text the secret turns into inside any longer base64 string ('user:PAT', ':PAT', ...).

    Base64 encodes 3 bytes as 4 characters, so the secret's characters depend on where it starts modulo 3. For each
    of the three offsets, the groups made only of secret bytes are fixed whatever the prefix and suffix are; the
    groups at either end mix in neighbouring bytes, which the pattern absorbs (up to 3 characters before, 4 after).
    """
    cores = []
    for offset in range(3):
        padded = b"\0" * offset + secret
        encoded = base64.b64encode(padded).decode()
        first = 4 if offset else 0  # the first group mixes prefix bytes in
        last = 4 * (len(padded) // 3)  # a final partial group mixes suffix bytes (or '=' padding) in
        core = encoded[first:last]
        if len(core) >= 8:
            cores.append(core)
    return cores


def register_secret(secret: str) -> None:
    """Remember a secret and the encodings it travels in: Basic auth carries base64('user:' + PAT) for any user."""
    if len(secret) < 4:
        return
    literals = {secret}
    for user in ("", "gate", "user", "pat"):
        literals.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    patterns = {
        core: re.compile(f"[{_B64}]{{0,3}}{re.escape(core)}[{_B64}]{{0,4}}={{0,2}}")
        for core in _base64_cores(secret.encode())
    }
    with _lock:
        _literals.update(literals)
        _patterns.update(patterns)


def redact(text: str) -> str:
    with _lock:
        literals = sorted(_literals, key=len, reverse=True)
        patterns = list(_patterns.items())
    for secret in literals:
        if secret in text:
            text = text.replace(secret, MASK)
    for core, pattern in patterns:
        if core in text:
            text = pattern.sub(MASK, text)
    return text


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value
