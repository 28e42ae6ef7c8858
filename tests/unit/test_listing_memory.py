"""When an empty answer is evidence (gate.service.sources.ListingMemory, chaos seed 550): only once every agent the
container last saw the pool list is confirmed gone; never on a container's first look."""

from __future__ import annotations

from gate.domain.model import Agent
from gate.service.sources import Listing, ListingMemory


def agent(pool: int, id: int) -> Agent:
    return Agent("azure-devops", pool, f"pool-{pool}", id, f"agent-{id}", enabled=True)


def test_a_first_empty_answer_is_not_believed() -> None:
    memory = ListingMemory()
    assert memory.update(Listing([], frozenset({1})), {}) == frozenset()


def test_an_empty_answer_is_believed_once_every_agent_listed_before_is_confirmed_gone() -> None:
    memory = ListingMemory()
    assert memory.update(Listing([agent(1, 7), agent(1, 8)], frozenset({1})), {}) == {1}
    assert memory.expected() == {(1, 7), (1, 8)}
    # Emptied: agent 8 not asked (the audit's limit), agent 7 gone: not yet believed.
    assert memory.update(Listing([], frozenset({1})), {(1, 7): None}) == frozenset()
    assert memory.expected() == {(1, 8)}
    # An agent that still exists would have made the pool failing (gate.service.sources.audited); one that answers
    # 404 completes the evidence.
    assert memory.update(Listing([], frozenset({1})), {(1, 8): None}) == {1}
    assert memory.update(Listing([], frozenset({1})), {}) == {1}  # stays explained while empty
    assert memory.update(Listing([agent(1, 9)], frozenset({1})), {}) == {1}  # agents again: listed, fine
