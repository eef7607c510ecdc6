"""The evaluation's split, fixed before any detector is tuned against the adaptive kinds
(issue #20): which seeds and which gaming kinds a detector may be tuned on, and which are held
out to judge it.

Seeds. Seeds 1, 2 and 3 are the ones `make eval` has always run: the current signals were
shaped while looking at them, so they can only ever be tuning seeds. Seeds 101 and 102 have
never been generated for an evaluation; they are held out. A figure that is good on the tuning
seeds and poor on the held-out ones means the detector fits the simulator's draws, not the
behaviour.

Gaming kinds. Tuning a detector on the very disguise it is then graded on measures how well it
learnt the simulator's rendering of that disguise. So each held-out kind has a tuning sibling
of the same family, and the held-out kind asks whether what was learnt on the sibling carries
over to a disguise the tuner did not look at:

- `BEHAVING_BOUGHT` (bought real-person adds that greet, chat for weeks and never delete; the
  field failure of issue #20) is held out. Its tuning siblings are `QR_BATCH_BURST` (bought in
  an hour) and `SLOW_DRIP` (bought, spread thin over the month). Were it a tuning kind, a detector
  could learn the simulator's scripted latencies exactly and report a catch rate that says
  nothing about real sellers, whose scripts differ.
- `TEAM_RING` (colleagues of one team adding each other's contacts) is held out; its sibling is
  `MUTUAL_ADD_RING` (a ring across unrelated teams).
- `STAFF_PADDING` (personal WeChat of staff of other branches) is held out; its siblings are
  `PEER_INSTITUTION` (staff of other institutions) and the `STAFF_ACCOUNT` rule.
- The six patterns the detector already knows, `SPREAD_PILEUP` (a month-end pile-up spread over
  the last week), `LATE_DELETE` (removed just after the retention window) and `SLOW_DRIP` are
  tuning kinds.

Honest kinds are never split: every one is reported on every seed, because a detector must stay
quiet on all of them, and a tuner who never sees the honest prospector would simply not know what
it is breaking.

This module is data only; `tests/unit/test_eval_split.py` checks that it stays as committed and
that every kind the simulator labels is in exactly one place."""

from __future__ import annotations

from typing import Final, Literal

TUNING_SEEDS: Final[tuple[int, ...]] = (1, 2, 3)
HELD_OUT_SEEDS: Final[tuple[int, ...]] = (101, 102)

TUNING_GAMING_KINDS: Final[frozenset[str]] = frozenset(
    {
        "QR_BATCH_BURST",
        "PEER_INSTITUTION",
        "MUTUAL_ADD_RING",
        "QUICK_DELETE",
        "NO_ENGAGEMENT",
        "PERIOD_END_PILEUP",
        "SLOW_DRIP",
        "SPREAD_PILEUP",
        "LATE_DELETE",
    }
)
HELD_OUT_GAMING_KINDS: Final[frozenset[str]] = frozenset(
    {"BEHAVING_BOUGHT", "TEAM_RING", "STAFF_PADDING"}
)
HONEST_KINDS: Final[frozenset[str]] = frozenset(
    {
        "clean",
        "hard_negative:branch_event",
        "hard_negative:new_hire",
        "hard_negative:team_month_end",
        "hard_negative:top_performer",
        "hard_negative:prospector",
        "hard_negative:inherited_book",
        "hard_negative:holiday_event",
    }
)

SeedSet = Literal["tuning", "held_out"]
KindSet = Literal["tuning", "held_out", "honest"]


def seed_set(seed: int) -> SeedSet:
    """Which side of the split a seed is on; a seed outside both is refused."""
    if seed in TUNING_SEEDS:
        return "tuning"
    if seed in HELD_OUT_SEEDS:
        return "held_out"
    raise ValueError(f"seed {seed} is in neither the tuning nor the held-out seeds")


def kind_set(label: str) -> KindSet:
    """Which side of the split an employee label is on; an unknown label is refused."""
    if label in TUNING_GAMING_KINDS:
        return "tuning"
    if label in HELD_OUT_GAMING_KINDS:
        return "held_out"
    if label in HONEST_KINDS:
        return "honest"
    raise ValueError(f"label {label!r} is not in the evaluation split")
