"""The functional layer runs the gate over HTTP on a simulated clock: botocore's wall-time back-off and rate
limiting decide nothing there (tests/support/backoff.py)."""

from tests.support.backoff import no_client_side_waits

__all__ = ["no_client_side_waits"]  # an autouse fixture for every test of the layer
