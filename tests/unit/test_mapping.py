"""Exact mapping: an instance's agents and nobody else's (a wrong match disables, then deletes, a stranger's agent)."""

from __future__ import annotations

from gate.domain.mapping import AgentIndex, Mapping, host_keys
from gate.domain.model import Agent, Waiting

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


# -- ambiguity means hands off ---------------------------------------------------------------------------------
OTHER = "i-0fedcba9876543210"


def test_a_name_holding_two_instance_ids_belongs_to_neither() -> None:
    agents = [named(1, f"azp-{VICTIM}-{OTHER}"), named(2, f"azp-{VICTIM}"), named(3, f"azp-{OTHER}")]
    index = AgentIndex(agents, Mapping.NAME)
    victim, other = Waiting("g", VICTIM, "h"), Waiting("g", OTHER, "h")
    assert ids(index, victim) == [2]
    assert ids(index, other) == [3]
    # ... but both learn of it, so neither is released for want of agents, and it is reported once
    assert [a.agent.id for a in index.ambiguous_for(victim)] == [1]
    assert [a.agent.id for a in index.ambiguous_for(other)] == [1]
    assert [(a.agent.id, a.instances) for a in index.ambiguous] == [(1, (VICTIM, OTHER))]
    assert "never disabled or deleted" in index.ambiguous[0].describe()


def test_the_same_id_twice_is_not_ambiguous_and_an_instance_outside_the_groups_is() -> None:
    outsider = "i-01234567"  # an 8-digit id: any instance id other than the one asked about counts
    agents = [named(1, f"{VICTIM}-{VICTIM.upper()}"), named(2, f"azp-{VICTIM}-{outsider}")]
    index = AgentIndex(agents, Mapping.NAME)
    assert ids(index, Waiting("g", VICTIM, "h")) == [1]
    assert [a.agent.id for a in index.ambiguous_for(Waiting("g", VICTIM, "h"))] == [2]
    assert ids(index, Waiting("g", outsider, "h")) == []
    assert [a.agent.id for a in index.ambiguous_for(Waiting("g", outsider, "h"))] == [2]


def _cap(id: int, value: str) -> Agent:
    return Agent("azure-devops", 1, "p", id, f"agent{id}", True, capabilities={"AWS_INSTANCE_ID": value})


def test_a_capability_value_must_be_exactly_one_instance_id() -> None:
    agents = [
        _cap(1, VICTIM),
        _cap(2, f" {VICTIM.upper()} "),  # case and surrounding blanks do not matter
        _cap(3, f"{VICTIM},{OTHER}"),  # several ids
        _cap(4, f"{VICTIM} {OTHER}"),
        _cap(5, f"old-{VICTIM}"),  # an id inside something else: not exactly one instance id
        _cap(6, "unset"),  # no id at all: matches nothing, not ambiguous
    ]
    index = AgentIndex(agents, Mapping.CAPABILITY)
    victim = Waiting("g", VICTIM, "h")
    assert ids(index, victim) == [1, 2]
    assert sorted(a.agent.id for a in index.ambiguous_for(victim)) == [3, 4, 5]
    assert sorted(a.agent.id for a in index.ambiguous_for(Waiting("g", OTHER, "h"))) == [3, 4]
    assert sorted(a.agent.id for a in index.ambiguous) == [3, 4, 5]


def test_a_host_name_two_of_the_rounds_instances_answer_to_belongs_to_neither() -> None:
    # The same private IP in two VPCs of one region: both instances are ip-10-0-1-5.ec2.internal.
    dns = "ip-10-0-1-5.ec2.internal"
    a, b = Waiting("g", VICTIM, "h", private_dns=dns), Waiting("g2", OTHER, "h", private_dns=dns)
    agents = [named(1, "a", dns), named(2, "b", "ip-10-0-1-6.ec2.internal")]
    index = AgentIndex(agents, Mapping.HOSTNAME, instances=[a, b])
    assert ids(index, a) == ids(index, b) == []
    assert [x.agent.id for x in index.ambiguous_for(a)] == [x.agent.id for x in index.ambiguous_for(b)] == [1]
    assert index.ambiguous[0].instances == (VICTIM, OTHER)
    # Without the twin in the round the name is the victim's, as before.
    assert ids(AgentIndex(agents, Mapping.HOSTNAME, instances=[a]), a) == [1]


def test_a_resource_named_instance_and_an_ip_named_twin_share_the_ip_name() -> None:
    region = "eu-west-1.compute.internal"
    resource = Waiting("g", VICTIM, "h", private_dns=f"{VICTIM}.{region}", private_ip="10.0.1.5")
    twin = Waiting("g", OTHER, "h", private_dns=f"ip-10-0-1-5.{region}")
    agents = [named(1, "a", f"ip-10-0-1-5.{region}"), named(2, "b", f"{VICTIM}.{region}")]
    index = AgentIndex(agents, Mapping.HOSTNAME, instances=[resource, twin])
    assert ids(index, resource) == [2]  # its own resource name is unambiguous
    assert ids(index, twin) == []
    assert [x.agent.id for x in index.ambiguous_for(resource)] == [1]
    assert [x.agent.id for x in index.ambiguous_for(twin)] == [1]
