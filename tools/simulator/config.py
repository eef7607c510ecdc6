"""What a simulated bank month is made of: the knobs of one scenario.

Everything the generator decides is drawn from `random.Random` streams seeded from `seed`, so
one configuration always yields the same records (the evaluation grades fixed seeds)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PEER_PATTERNS: tuple[str, ...] = (
    "银行",
    "农商",
    "农信",
    "信用社",
    "村镇银行",
    "证券",
    "保险",
)
"""docs/product.md's default name patterns of financial institutions (a peer is not a customer)."""

DEFAULT_ROBOT_BASE = "https://qyapi.weixin.qq.com"
DEFAULT_CORP_ID = "ww5a1c0e8d3b7f9a24"
MIN_EMPLOYEES = 30
"""Below this the org cannot hold every pattern, every hard negative and a clean majority."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """One scenario: a bank of `employees` people over the calendar month `month`.

    `camouflage` 0 is blatant gaming, 1 gaming mixed with honest work, 2 heavily camouflaged
    (bought contacts that send a message, rings that also add real customers). `tail_days` lets
    follow-up events (deletes, replies) of the month's adds run past its end; 0 keeps every
    record inside the month, which is what a month-end snapshot looks like.
    """

    seed: int = 1
    month: str = "2026-10"
    employees: int = 200
    camouflage: int = 1
    corp_id: str = DEFAULT_CORP_ID
    bank_name: str = "江南农商银行"
    robot_base: str = DEFAULT_ROBOT_BASE
    tail_days: int = 0
    # Non-empty: the month's contacts, unionids and message ids are drawn from a stream of
    # their own (the org stays the seed's), so that several months of one bank never share a
    # contact or a message id. Empty (the default) keeps every earlier scenario as it was.
    id_salt: str = ""
    peer_patterns: tuple[str, ...] = DEFAULT_PEER_PATTERNS

    def __post_init__(self) -> None:
        if self.employees < MIN_EMPLOYEES:
            raise ValueError(f"employees must be at least {MIN_EMPLOYEES} (got {self.employees})")
        if self.camouflage not in (0, 1, 2):
            raise ValueError(f"camouflage must be 0, 1 or 2 (got {self.camouflage})")
        if not 0 <= self.tail_days <= 31:
            raise ValueError(f"tail_days must be 0 to 31 (got {self.tail_days})")
