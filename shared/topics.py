"""Every Kafka topic's settings in one place: partitions, replication factor,
min.insync.replicas, retention and cleanup policy, from the environment (docs/configuration.md)
and the role of each topic. Pure: the specs and their comparison with what a cluster has;
shared/kafka.py creates missing topics from them and checks existing ones at each service's
start (docs/operations.md, "Kafka topics").

- The source topics (WeCom contact events, the bank's records) are kept for
  TOPIC_SOURCE_RETENTION_DAYS, forever by default: the reconciliation folds the known followers
  from the contact-event topic's start, and a new consumer group reads from the earliest record.
- The others (raw callbacks, breaches, dead letters) are kept TOPIC_RETENTION_DAYS.
- A topic that is a table (the latest record per key is the state, e.g. a lease) is compacted
  instead: `cleanup.policy=compact`, never deleted by age. None of the contract's topics is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

DAY_MS = 86_400_000


class Profile(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class TopicRole(StrEnum):
    SOURCE = "source"  # what happened, as the ingestor took it in: kept
    DERIVED = "derived"  # raw callbacks, breaches, dead letters: kept for a while
    TABLE = "table"  # the latest record per key is the state: compacted


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int
    retention_ms: int  # -1: forever
    compacted: bool = False

    def configs(self) -> dict[str, str]:
        """Topic-level configs set at creation and compared at start."""
        found = {
            "min.insync.replicas": str(self.min_insync_replicas),
            "cleanup.policy": "compact" if self.compacted else "delete",
        }
        if not self.compacted:
            found["retention.ms"] = str(self.retention_ms)
        return found


@dataclass(frozen=True)
class TopicPolicy:
    """The settings every topic is made from (CommonSettings.topic_policy())."""

    partitions: int
    replication_factor: int
    min_insync_replicas: int
    retention_days: int
    source_retention_days: int

    def spec(self, name: str, role: TopicRole) -> TopicSpec:
        days = self.source_retention_days if role is TopicRole.SOURCE else self.retention_days
        return TopicSpec(
            name=name,
            partitions=1 if role is TopicRole.TABLE else self.partitions,
            replication_factor=self.replication_factor,
            min_insync_replicas=self.min_insync_replicas,
            retention_ms=-1 if days < 0 else days * DAY_MS,
            compacted=role is TopicRole.TABLE,
        )


def policy_problems(policy: TopicPolicy, profile: Profile) -> list[str]:
    """Why these settings cannot run; in production, a topic must survive a broker's loss."""
    problems = []
    if policy.min_insync_replicas > policy.replication_factor:
        problems.append(
            f"TOPIC_MIN_INSYNC_REPLICAS={policy.min_insync_replicas} exceeds "
            f"TOPIC_REPLICATION_FACTOR={policy.replication_factor}: no write could succeed"
        )
    if profile is Profile.PRODUCTION:
        if policy.replication_factor < 3:
            problems.append(
                f"WQ_PROFILE=production needs TOPIC_REPLICATION_FACTOR of at least 3, not "
                f"{policy.replication_factor}: a broker's loss would lose or stop the data"
            )
        if policy.min_insync_replicas < 2:
            problems.append(
                "WQ_PROFILE=production needs TOPIC_MIN_INSYNC_REPLICAS of at least 2: an "
                "acknowledged write must be on two brokers"
            )
        elif policy.min_insync_replicas >= policy.replication_factor:
            problems.append(
                "WQ_PROFILE=production needs TOPIC_MIN_INSYNC_REPLICAS below "
                "TOPIC_REPLICATION_FACTOR: writes must go on while one broker is down"
            )
    return problems


@dataclass(frozen=True)
class TopicState:
    """What the cluster has for one topic."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


def differences(spec: TopicSpec, state: TopicState) -> list[str]:
    """What differs, in words; more partitions than wanted is fine (they cannot be removed)."""
    found = []
    if state.partitions < spec.partitions:
        found.append(f"{state.partitions} partitions, wanted {spec.partitions}")
    if state.replication_factor != spec.replication_factor:
        found.append(
            f"replication factor {state.replication_factor}, wanted {spec.replication_factor}"
        )
    for key, wanted in spec.configs().items():
        have = state.configs.get(key)
        if have != wanted:
            found.append(f"{key}={have}, wanted {wanted}")
    return found


def mismatches(specs: Iterable[TopicSpec], states: Mapping[str, TopicState]) -> list[str]:
    """`topic: difference; difference` for each existing topic unlike its spec."""
    lines = []
    for spec in specs:
        state = states.get(spec.name)
        if state is None:
            continue
        found = differences(spec, state)
        if found:
            lines.append(f"{spec.name}: " + "; ".join(found))
    return lines
