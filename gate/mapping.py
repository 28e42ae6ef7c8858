"""Which agents belong to which instance. Built once per round as an index: O(agents + instances)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from gate.model import Agent, Waiting
from gate.settings import Mapping

# An instance id as a whole token: not preceded or followed by a letter or digit ("multi-0123..." or "i-...0ab" is not
# the id, and an 8-digit id is not the prefix of a 17-digit one).
_INSTANCE_TOKEN = re.compile(r"(?<![0-9a-z])i-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![0-9a-z])", re.IGNORECASE)
# ip-10-0-1-5.ec2.internal (us-east-1) or ip-10-0-1-5.eu-west-1.compute.internal; the resource-name form
# i-0123456789abcdef0.eu-west-1.compute.internal has the same suffix.
_PRIVATE_DNS = re.compile(r"^(?:ip-[0-9-]+|i-[0-9a-f]+)\.(?P<suffix>ec2\.internal|[a-z0-9-]+\.compute\.internal)$")


def _host(name: str | None) -> str:
    return (name or "").strip().lower().rstrip(".")


def host_keys(private_dns: str | None, private_ip: str | None = None) -> set[str]:
    """The full names an instance is known by: its private DNS name, and the IP-derived name with the same regional
    suffix (a resource-named instance still answers to ip-a-b-c-d.<suffix>). Never the bare short name: the same
    ip-10-0-1-5 exists in every region and VPC."""
    dns = _host(private_dns)
    if not dns:
        return set()
    keys = {dns}
    found = _PRIVATE_DNS.match(dns)
    if found and private_ip:
        keys.add(f"ip-{private_ip.strip().replace('.', '-')}.{found['suffix']}")
    return keys


class AgentIndex:
    def __init__(self, agents: Sequence[Agent], mapping: Mapping, capability_name: str = "AWS_INSTANCE_ID"):
        self.mapping = mapping
        self._by_key: dict[str, list[Agent]] = defaultdict(list)
        for agent in agents:
            for key in self._keys(agent, capability_name):
                self._by_key[key].append(agent)

    def _keys(self, agent: Agent, capability_name: str) -> set[str]:
        if self.mapping is Mapping.NAME:
            return {m.lower() for m in _INSTANCE_TOKEN.findall(agent.name)}
        if self.mapping is Mapping.CAPABILITY:
            value = agent.capabilities.get(capability_name)
            return {value.strip().lower()} if value else set()
        host = _host(agent.computer_name)
        return {host} if "." in host else set()  # a short name is ambiguous: never a key

    def agents_for(self, waiting: Waiting) -> list[Agent]:
        if self.mapping is Mapping.HOSTNAME:
            if not waiting.private_dns:
                return []
            found: dict[tuple[int, int], Agent] = {}
            for key in host_keys(waiting.private_dns, waiting.private_ip):
                for agent in self._by_key.get(key, ()):
                    found[(agent.pool_id, agent.id)] = agent
            return list(found.values())
        return list(self._by_key.get(waiting.instance_id.lower(), ()))
