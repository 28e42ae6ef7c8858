"""The project's own red team: a seeded, deterministic fault simulation of the real gate (issue 18).

Each seed draws a world (gate groups, pools, agents per instance, builds, scale-ins and -outs, agent churn and
re-registration) and a fault schedule over the classes in `chaos.classes`, runs the real handler (dispatch ->
rounds -> decide -> execute, through the same clients) against the AWS emulator and the fake Azure DevOps (or, in
one seed in three, the fake GitLab: `chaos.gitlab_world`, issue 21) over HTTP, and checks the invariant from the
servers' records only (`chaos.checker`). `make chaos` runs many seeds; a violating seed becomes a regression test
(tests/functional/chaos/test_chaos.py). Never packaged into the Lambda zip.
"""
