"""Test-only fakes and harnesses, kept out of the wheel: the fake GitHub and Entra servers, moto IAM enforcement, the
local Lambda runtime for the packaged zip, and CloudWatch Logs query definitions for `terraform apply`. They build on
the emulator's `emulator.httpserver`, which users run; nothing outside tests/ imports them."""
