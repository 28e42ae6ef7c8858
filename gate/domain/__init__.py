"""The domain: pure types and rules (the lifecycle model, the event parser and its "is it ours" predicates, `decide`,
the actions it asks for, agent-to-instance mapping, the hold-state codec, clocks, redaction). Imports nothing outside
the domain: no settings, no boto3, no HTTP."""
