"""Which agents belong to which instance. Built once per round as an index: O(agents + instances)."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gate.domain.model import Agent, Waiting


class Mapping(StrEnum):
    """How an instance is matched to its agents."""

    NAME = "name"  # agent name contains the instance id
    CAPABILITY = "capability"  # a capability (e.g. AWS_INSTANCE_ID) equals the instance id
    HOSTNAME = "hostname"  # Agent.ComputerName equals the instance's private DNS name
    IP = "ip"  # the agent's `ip_address` capability equals the instance's private IP (GitLab runner managers)
    SYSTEM_ID = "system-id"  # the agent's `system_id` capability equals the instance's gate:gitlab-system-id tag


# The instance tag naming its GitLab Runner system_id (GATE_MAPPING=system-id): set by the instance itself at boot,
# from gitlab-runner's .runner_system_id file (docs/gitlab.md).
SYSTEM_ID_TAG = "gate:gitlab-system-id"


# An instance id as a whole token: not preceded or followed by a letter or digit ("multi-0123..." or "i-...0ab" is not
# the id, and an 8-digit id is not the prefix of a 17-digit one).
_INSTANCE_TOKEN = re.compile(r"(?<![0-9a-z])i-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![0-9a-z])", re.IGNORECASE)
# ip-10-0-1-5.ec2.internal (us-east-1) or ip-10-0-1-5.eu-west-1.compute.internal; the resource-name form
# i-0123456789abcdef0.eu-west-1.compute.internal has the same suffix.
_PRIVATE_DNS = re.compile(r"^(?:ip-[0-9-]+|i-[0-9a-f]+)\.(?P<suffix>ec2\.internal|[a-z0-9-]+\.compute\.internal)$")


def _host(name: str | None) -> str:
    return (name or "").strip().lower().rstrip(".")


def _ip(value: str | None) -> str | None:
    """An IP address in its canonical text, or None (not an address: never a key)."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


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


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """An agent whose name, capability or hostname matches more than one instance: never acted on (hands off)."""

    agent: Agent
    instances: tuple[str, ...]  # the instance ids (lower case) it matches; for a hostname, the instances claiming it
    why: str

    def describe(self) -> str:
        return f"agent {self.agent.label()} {self.why} ({', '.join(self.instances)}): never disabled or deleted"


class AgentIndex:
    """Agents by instance. Ambiguity means hands off: an agent whose name holds two instance ids as whole tokens, a
    capability value that is not exactly one instance id, or a hostname claimed by two of the round's instances
    belongs to no instance (`agents_for` leaves it out), and every instance it may belong to learns of it
    (`ambiguous_for`), so the decision holds that instance instead of releasing it for want of agents."""

    def __init__(
        self,
        agents: Sequence[Agent],
        mapping: Mapping,
        capability_name: str = "AWS_INSTANCE_ID",
        instances: Sequence[Waiting] = (),
    ):
        """`instances`: the round's instances (hostname mapping): a host name two of them answer to is ambiguous."""
        self.mapping = mapping
        self.capability_name = capability_name
        self._by_key: dict[str, list[Agent]] = defaultdict(list)
        self._ambiguous_by_key: dict[str, list[Ambiguous]] = defaultdict(list)
        self.ambiguous: list[Ambiguous] = []
        for agent in agents:
            keys, why = self._keys(agent, capability_name)
            if why:
                found = Ambiguous(agent, tuple(sorted(keys)), why)
                self.ambiguous.append(found)
                for key in keys:
                    self._ambiguous_by_key[key].append(found)
                continue
            for key in keys:
                self._by_key[key].append(agent)
        if mapping in (Mapping.HOSTNAME, Mapping.IP, Mapping.SYSTEM_ID):
            self._shared_hosts(instances)

    def _keys(self, agent: Agent, capability_name: str) -> tuple[set[str], str]:
        """(keys, why ambiguous or "")."""
        if self.mapping is Mapping.NAME:
            keys = {m.lower() for m in _INSTANCE_TOKEN.findall(agent.name)}
            return keys, "names several instances" if len(keys) > 1 else ""
        if self.mapping is Mapping.CAPABILITY:
            value = (agent.capabilities.get(capability_name) or "").strip().lower()
            ids = {m.lower() for m in _INSTANCE_TOKEN.findall(value)}
            if not ids or ids == {value}:
                return ({value} if value else set()), ""
            return ids, "has a capability naming instances but not exactly one instance id"
        if self.mapping is Mapping.IP:
            ip = _ip(agent.capabilities.get("ip_address"))
            return ({f"ip:{ip}"} if ip else set()), ""
        if self.mapping is Mapping.SYSTEM_ID:
            sid = (agent.capabilities.get("system_id") or "").strip()
            return ({f"sid:{sid}"} if sid else set()), ""
        host = _host(agent.computer_name)
        return ({host} if "." in host else set()), ""  # a short name is ambiguous: never a key

    def _shared_hosts(self, instances: Sequence[Waiting]) -> None:
        """A host name, private IP or system id that two instances answer to (the same private IP in two VPCs, a
        resource name's IP-derived twin, a system id baked into an image) matches both: its agents become
        ambiguous."""
        claims: dict[str, set[str]] = defaultdict(set)
        for w in instances:
            for key in self._lookup_keys(w):
                claims[key].add(w.instance_id.lower())
        for key, ids in claims.items():
            if len(ids) > 1 and key in self._by_key:
                for agent in self._by_key.pop(key):
                    found = Ambiguous(agent, tuple(sorted(ids)), "has a host name several instances answer to")
                    self.ambiguous.append(found)
                    self._ambiguous_by_key[key].append(found)

    def _lookup_keys(self, waiting: Waiting) -> set[str]:
        if self.mapping is Mapping.HOSTNAME:
            return host_keys(waiting.private_dns, waiting.private_ip) if waiting.private_dns else set()
        if self.mapping is Mapping.IP:
            ip = _ip(waiting.private_ip)
            return {f"ip:{ip}"} if ip else set()
        if self.mapping is Mapping.SYSTEM_ID:
            sid = (waiting.tags.get(SYSTEM_ID_TAG) or "").strip()
            return {f"sid:{sid}"} if sid else set()
        return {waiting.instance_id.lower()}

    def agents_for(self, waiting: Waiting) -> list[Agent]:
        """The instance's agents, never an ambiguous one."""
        found: dict[tuple[int, int], Agent] = {}
        for key in self._lookup_keys(waiting):
            for agent in self._by_key.get(key, ()):
                found[(agent.pool_id, agent.id)] = agent
        return list(found.values())

    def owns(self, waiting: Waiting, agent: Agent) -> bool:
        """Whether the agent's own record (one asked for by id, outside the round's list) maps it to this instance,
        unambiguously. A registration replaced from another machine keeps its id and takes that machine's name,
        capabilities and host: the hold that saw the id earlier must not take it for its own."""
        keys, why = self._keys(agent, self.capability_name)
        return not why and bool(keys & self._lookup_keys(waiting))

    def ambiguous_for(self, waiting: Waiting) -> list[Ambiguous]:
        """The ambiguous agents that may be this instance's: it must not be released for want of agents."""
        found: dict[tuple[int, int], Ambiguous] = {}
        for key in self._lookup_keys(waiting):
            for amb in self._ambiguous_by_key.get(key, ()):
                found[(amb.agent.pool_id, amb.agent.id)] = amb
        return list(found.values())
