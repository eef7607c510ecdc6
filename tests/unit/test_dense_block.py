"""The FRAUDAR dense-block pass: a planted ring under camouflage is found, honest shapes that
look busy (a branch event, a contact everybody adds, a team's shared customers) are not, and
the answer does not depend on the order of the adds."""

from __future__ import annotations

import random

from services.scorer.domain.dense_block import (
    Add,
    DenseBlock,
    column_weight,
    dense_blocks,
    densest_block,
    shared_beyond,
    star_bound,
)

RING = [f"ring{i}" for i in range(5)]


def honest_bank(rng: random.Random, employees: int = 60, per_employee: int = 40) -> list[Add]:
    """Each employee adds their own customers; a few customers know two managers (a family
    account, a customer who moved branch); everyone adds the branch's own service account."""
    adds: list[Add] = []
    for e in range(employees):
        for k in range(per_employee):
            adds.append(Add(f"emp{e}", f"cust{e}-{k}", rng.choice((0.1, 0.1, 0.1, 1.0))))
        adds.append(Add(f"emp{e}", "branch-service-account", 0.1))
    for _ in range(employees):
        a, b = rng.sample(range(employees), 2)
        adds.append(Add(f"emp{b}", f"cust{a}-{rng.randrange(per_employee)}", 1.0))
    return adds


def planted_ring(rng: random.Random, coverage: float = 0.6) -> list[Add]:
    """Five employees each adding about 60% of one pool of 25 hollow accounts, and also doing
    honest work (camouflage: 40 real customers each, which the honest bank adds below)."""
    return [
        Add(member, f"pool{k}", 1.0)
        for member in RING
        for k in range(25)
        if rng.random() < coverage
    ] + [Add(member, f"own-{member}-{k}", 0.1) for member in RING for k in range(40)]


def test_a_planted_ring_is_found_under_camouflage() -> None:
    rng = random.Random(7)
    blocks = dense_blocks(honest_bank(rng) + planted_ring(rng))
    assert len(blocks) == 1
    block = blocks[0]
    assert block.employees == tuple(RING)
    assert set(block.contacts) <= {f"pool{k}" for k in range(25)}
    assert len(block.contacts) >= 15
    assert block.ratio >= 1.5


def test_a_branch_event_and_a_popular_contact_are_no_block() -> None:
    rng = random.Random(3)
    event = [Add("host", f"guest{k}", 1.0) for k in range(40)]
    everybody = [Add(f"emp{e}", "branch-service-account", 1.0) for e in range(60)]
    assert dense_blocks(honest_bank(rng) + event + everybody) == []


def test_no_star_however_large_reaches_the_bound() -> None:
    for size in (1, 10, 100, 1000):
        star = densest_block([Add("host", f"guest{k}", 1.0) for k in range(size)])
        assert star is not None
        assert star.density < star_bound()
    reverse = densest_block([Add(f"emp{e}", "popular", 1.0) for e in range(200)])
    assert reverse is not None
    assert reverse.density < column_weight(200)


def test_two_colleagues_sharing_real_customers_are_no_block() -> None:
    """A team's shared, matched and engaged customers weigh little."""
    shared = [Add(e, f"cust{k}", 0.1) for e in ("a", "b", "c") for k in range(30)]
    assert dense_blocks(shared) == []
    hollow = [Add(e, f"cust{k}", 1.0) for e in ("a", "b", "c") for k in range(30)]
    assert [b.employees for b in dense_blocks(hollow)] == [("a", "b", "c")]


def test_the_result_does_not_depend_on_the_order_of_the_adds() -> None:
    rng = random.Random(11)
    adds = honest_bank(rng) + planted_ring(rng)
    first = dense_blocks(adds)
    for seed in range(3):
        shuffled = list(adds)
        random.Random(seed).shuffle(shuffled)
        assert dense_blocks(shuffled) == first


def test_a_block_names_the_contacts_its_employees_share_hollow_beyond_its_core() -> None:
    """Two ring members who each added the same hollow account outside the dense core: the
    ring's pool goes on there. One member's add alone, a matched customer or a conversation
    (less than full suspicion), or an outsider's add does not make a contact shared."""
    rng = random.Random(7)
    beyond = [
        Add("ring0", "extra-both", 1.0),
        Add("ring1", "extra-both", 1.0),
        Add("ring2", "extra-one", 1.0),
        Add("ring3", "extra-customer", 0.1),
        Add("ring4", "extra-customer", 1.0),
        Add("ring0", "extra-outsider", 1.0),
        Add("emp5", "extra-outsider", 1.0),
    ]
    blocks = dense_blocks(honest_bank(rng) + planted_ring(rng) + beyond)
    assert len(blocks) == 1
    block = blocks[0]
    assert "extra-both" in block.shared
    assert not {"extra-one", "extra-customer", "extra-outsider"} & set(block.shared)
    assert not set(block.shared) & set(block.contacts)
    core = DenseBlock(("a", "b"), ("k1",), 1.0, 0.56, 2)
    edges = [Add("a", "k1"), Add("b", "k1"), Add("a", "k2"), Add("b", "k2"), Add("c", "k3")]
    assert shared_beyond(core, [*edges, Add("a", "k3"), Add("b", "k4", 0.5)]) == ("k2",)
