"""Which agents belong to which instance. Built once per round as an index: O(agents + instances)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from gate.model import Agent, Waiting
from gate.settings import Mapping

_INSTANCE_IN_NAME = re.compile(r"i-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![0-9a-f])", re.IGNORECASE)


def _host_keys(name: str) -> set[str]:
    """ip-10-0-1-5.ec2.internal and ip-10-0-1-5 name the same host (containers often report the short form)."""
    name = name.strip().lower().rstrip(".")
    return {name, name.split(".", 1)[0]} if name else set()


class AgentIndex:
    def __init__(self, agents: Sequence[Agent], mapping: Mapping, capability_name: str = "AWS_INSTANCE_ID"):
        self.mapping = mapping
        self._by_key: dict[str, list[Agent]] = defaultdict(list)
        for agent in agents:
            for key in self._keys(agent, capability_name):
                self._by_key[key].append(agent)

    def _keys(self, agent: Agent, capability_name: str) -> set[str]:
        if self.mapping is Mapping.NAME:
            return {m.lower() for m in _INSTANCE_IN_NAME.findall(agent.name)}
        if self.mapping is Mapping.CAPABILITY:
            value = agent.capabilities.get(capability_name)
            return {value.strip().lower()} if value else set()
        return _host_keys(agent.computer_name or "")

    def agents_for(self, waiting: Waiting) -> list[Agent]:
        if self.mapping is Mapping.HOSTNAME:
            if not waiting.private_dns:
                return []
            found: dict[tuple[int, int], Agent] = {}
            for key in _host_keys(waiting.private_dns):
                for agent in self._by_key.get(key, ()):
                    found[(agent.pool_id, agent.id)] = agent
            return list(found.values())
        return list(self._by_key.get(waiting.instance_id.lower(), ()))
