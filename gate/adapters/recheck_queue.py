"""The service hook's re-check queue (an SQS FIFO queue): the receiver's only call to AWS besides its secret.

One message per `DEDUP_SECONDS` bucket of calls (the bucket is the MessageDeduplicationId, so SQS drops the others
within its 5-minute deduplication interval, whichever receiver container sent them), all in one message group, so
the re-check function takes them in order, one batch at a time (gate/servicehook.py `consume`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

DEDUP_SECONDS = 1.0


def sqs_sender(queue_url: str, every: float = DEDUP_SECONDS, client: Any = None) -> Callable[[int], None]:
    """send(bucket): one message per bucket (FIFO deduplication), one message group (the consumer runs in order)."""
    if client is None:
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
        client = boto3.client("sqs", config=config)

    def send(index: int) -> None:
        body = json.dumps({"recheck": True, "bucket": index, "every": every})
        client.send_message(
            QueueUrl=queue_url, MessageBody=body, MessageGroupId="recheck", MessageDeduplicationId=f"recheck-{index}"
        )

    return send
