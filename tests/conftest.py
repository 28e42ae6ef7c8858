from __future__ import annotations

import os

# Microsoft's SDK caches discovery data under $HOME; keep test runs hermetic.
os.environ.setdefault("AZURE_DEVOPS_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest-sdk-cache"))
# boto3 must never find real credentials or reach a real endpoint from tests.
for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(key, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)

from gate.adapters import logs  # noqa: E402

# Decision lines as JSON (pytest shows captured output only for failing tests).
logs.configure()
