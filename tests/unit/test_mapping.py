"""Exact mapping: an instance's agents and nobody else's (a wrong match disables, then deletes, a stranger's agent)."""

from __future__ import annotations

from gate.mapping import AgentIndex, host_keys
from gate.model import Agent, Waiting
from gate.settings import Mapping

VICTIM = "i-0123456789abcdef0"


def named(id: int, name: str, host: str | None = None) -> Agent:
    return Agent("azure-devops", 1, "p", id, name, True, computer_name=host)


def ids(index: AgentIndex, waiting: Waiting) -> list[int]:
    return sorted(a.id for a in index.agents_for(waiting))


def test_name_matches_the_instance_id_as_a_whole_token() -> None:
    agents = [
        named(1, VICTIM),
        named(2, f"azp-{VICTIM}"),
        named(3, f"azp_{VICTIM}_2"),
        named(4, f"{VICTIM}.agent"),
        named(5, f"multi{VICTIM}"),  # preceded by a letter: another word
        named(6, f"x{VICTIM[2:]}"),  # no "i-" at all
        named(7, f"{VICTIM}ab"),  # followed by letters: a longer name part
        named(8, f"{VICTIM}1"),  # a longer (18-digit) token
        named(9, f"AZP-{VICTIM.upper()}"),  # case does not matter
    ]
    assert ids(AgentIndex(agents, Mapping.NAME), Waiting("g", VICTIM, "h")) == [1, 2, 3, 4, 9]


def test_short_instance_id_is_not_a_prefix_of_a_long_one() -> None:
    agents = [named(1, f"azp-{VICTIM}"), named(2, "azp-i-01234567")]
    assert ids(AgentIndex(agents, Mapping.NAME), Waiting("g", "i-01234567", "h")) == [2]


def test_hostname_needs_the_full_private_dns_name_never_the_short_one() -> None:
    agents = [
        named(1, "a", "ip-10-0-1-5.ec2.internal"),
        named(2, "b", "ip-10-0-1-5"),  # the same short name exists in every VPC and region
        named(3, "c", "ip-10-0-1-5.eu-west-1.compute.internal"),  # same IP, another region
        named(4, "d", "IP-10-0-1-5.EC2.INTERNAL."),  # case and a trailing dot do not matter
    ]
    w = Waiting("g", VICTIM, "h", private_dns="ip-10-0-1-5.ec2.internal")
    assert ids(AgentIndex(agents, Mapping.HOSTNAME), w) == [1, 4]


def test_hostname_of_a_resource_named_instance_also_matches_its_ip_name_in_the_same_region() -> None:
    dns = f"{VICTIM}.eu-west-1.compute.internal"
    assert host_keys(dns, "10.0.1.5") == {dns, "ip-10-0-1-5.eu-west-1.compute.internal"}
    agents = [
        named(1, "a", "ip-10-0-1-5.eu-west-1.compute.internal"),
        named(2, "b", "ip-10-0-1-5.us-east-2.compute.internal"),
        named(3, "c", dns),
    ]
    w = Waiting("g", VICTIM, "h", private_dns=dns, private_ip="10.0.1.5")
    assert ids(AgentIndex(agents, Mapping.HOSTNAME), w) == [1, 3]


def test_no_private_dns_name_matches_nothing() -> None:
    agents = [named(1, "a", "ip-10-0-1-5.ec2.internal")]
    assert AgentIndex(agents, Mapping.HOSTNAME).agents_for(Waiting("g", VICTIM, "h")) == []
    assert host_keys(None, "10.0.1.5") == set()
