"""Benchmarks behind `gate bench`: a discrete-event fleet simulation and real-path measurements.

Development tooling only. The Lambda handler never imports this package (a test checks it), and nothing here
runs in AWS: the fleet simulation drives the real `gate.service.triggers.Gate` on a simulated clock, the real-path
benchmarks drive it over HTTP against the local emulator and the fake Azure DevOps.
"""
