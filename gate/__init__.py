"""asg-termination-gate: hold Auto Scaling scale-in until the instance's CI agents are idle."""

__version__ = "0.2.0"
