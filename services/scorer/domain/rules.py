"""The bank's validity and quality rules, as configuration (defaults of docs/product.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PEER_PATTERNS = (
    "银行",
    "农商",
    "农信",
    "信用社",
    "村镇银行",
    "证券",
    "保险",
    "信托",
    "基金",
    "期货",
    "金融",
    "资管",
    "理财",
    "支付",
    "bank",
    "insurance",
    "securities",
)


SHARED_BY_COLLEAGUE = 201
ASSIGNED_BY_ADMIN = 202


class QualityWeights(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_match: float = Field(
        default=0.25, ge=0, description="Weight of the share of contacts matched to a customer."
    )
    engagement: float = Field(
        default=0.25,
        ge=0,
        description="Weight of the share of adds where the customer wrote within 7 days.",
    )
    retention: float = Field(
        default=0.2, ge=0, description="Weight of the share of adds kept for 30 days."
    )
    responsiveness: float = Field(
        default=0.2,
        ge=0,
        description="Weight of the share of customer-initiated chat-days answered the same day.",
    )
    personal_touch: float = Field(
        default=0.1,
        ge=0,
        description="Weight of the share of one-to-one messages among one-to-one and mass ones.",
    )


class ScoringRules(BaseModel):
    """What makes an add valid, and how quality is weighed. Optional bank rules are off by
    default, each a switch."""

    model_config = ConfigDict(frozen=True)

    retention_days: int = Field(default=7, ge=0)
    engagement_days: int = Field(default=7, ge=1)
    long_retention_days: int = Field(default=30, ge=1)
    peer_corp_patterns: tuple[str, ...] = DEFAULT_PEER_PATTERNS
    own_corp_names: tuple[str, ...] = ()
    require_customer_match: bool = False
    require_assignment: bool = False
    max_adds_per_state_per_day: int | None = Field(default=None, ge=1)
    quality_weights: QualityWeights = QualityWeights()
    # How long an add waits for its contact's profile before it is judged `unverified`.
    profile_wait_hours: float = Field(default=72.0, ge=0)
    # Bank switches, off by default: count unverified adds as valid; count inherited
    # customers (add_way 202, handovers) as valid; treat add_way 201 (shared by a colleague)
    # as inherited.
    count_unverified_as_valid: bool = False
    count_inherited_as_valid: bool = False
    inherit_shared_by_colleague: bool = False

    @cached_property
    def retention_window(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @cached_property
    def profile_wait(self) -> timedelta:
        return timedelta(hours=self.profile_wait_hours)

    @cached_property
    def inherited_add_ways(self) -> frozenset[int]:
        """`add_way` codes of customers the employee did not win: 202 assigned by an admin
        (handovers included), and 201 shared by a colleague when the bank says so."""
        return (
            frozenset({ASSIGNED_BY_ADMIN, SHARED_BY_COLLEAGUE})
            if (self.inherit_shared_by_colleague)
            else frozenset({ASSIGNED_BY_ADMIN})
        )

    @cached_property
    def _peer_regex(self) -> re.Pattern[str]:
        names = [*self.peer_corp_patterns, *self.own_corp_names]
        return re.compile("|".join(re.escape(n) for n in names if n), re.IGNORECASE)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy whose derived values (the cached properties above, judged with for every
        relation) are computed again from its own fields."""
        copy = super().model_copy(update=update, deep=deep)
        for name, member in vars(ScoringRules).items():
            if isinstance(member, cached_property):
                copy.__dict__.pop(name, None)
        return copy

    def is_peer_institution(self, contact_type: int | None, corp_name: str | None) -> bool:
        """A WeCom user (type 2) of a bank or other financial institution is a peer."""
        if contact_type != 2 or not corp_name:
            return False
        return bool(self._peer_regex.pattern) and bool(self._peer_regex.search(corp_name))
