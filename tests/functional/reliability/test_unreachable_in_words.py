"""An Azure DevOps that cannot be reached is named in words in the decision records (issue 20, item 7): the host and
port the gate tried and what happened ("refused the connection"), not `ConnectionError: (...)`. The gate holds."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.support.world import World


def test_a_stopped_azure_devops_reads_in_words_in_the_records(world: World) -> None:
    victim = world.scale_in(2)[0]
    where = urlsplit(world.ado.url).netloc  # 127.0.0.1:PORT
    world.ado.stop()  # nothing listens on its port any more

    records = world.gate().tick(budget=20)

    words = f"{where} refused the connection (nothing listens there)"
    mine = [r for r in records if r.get("instance") == victim]
    assert mine and all(r["outcome"] == "held" for r in mine), mine
    assert words in mine[0]["reason"] and "fail safe" in mine[0]["reason"], mine[0]
    errors = [r for r in records if r["outcome"] == "error"]
    assert any("agent system unavailable" in r["reason"] and words in r["reason"] for r in errors), errors
    assert not any("ConnectionError" in str(r.get("reason")) for r in records), records
    assert world.history("heartbeat").get(victim)  # held means heartbeated
    assert not world.history("complete")
