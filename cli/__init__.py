"""The `gate` command line: simulator, check, status, replay, outcomes."""
