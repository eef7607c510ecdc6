"""Dense employee–contact blocks: the FRAUDAR pass (Hooi et al., KDD 2016), pure.

A ring of employees who all add one pool of contacts forms a block far denser than honest work
does. The graph is bipartite (employees, contacts); an edge weighs how suspicious the add is
(a hollow add counts fully, a matched customer who chats hardly at all) times its contact's
column weight 1 / log(degree + c), so a popular contact everybody adds (the branch's own
account, a well-known customer) adds little: that is what keeps camouflage — gamers who also
add many real customers — from hiding the block. Greedy peeling removes, one at a time, the node
whose edges weigh least and keeps the densest set seen (average weight per node); FRAUDAR
proves this is within a factor two of the densest block under camouflage.

Honest structures stay below a fixed bound: a star (one employee and their own contacts, e.g.
a branch event where forty customers scan one employee's code) has density below the weight of
a single degree-one edge, 1 / log(1 + c), however large it grows; so does a reverse star (one
contact many employees add). A block is reported only when its density is well above that
bound and it holds at least two employees and three contacts.

A ring's pool does not stop at the block's edge: peeling keeps the densest core, and a contact
that only two or three of the ring's employees added weighs too little to stay in it. So each
block also names the contacts outside its core that two or more of its employees each added with
nothing real behind the add (a full-suspicion edge: no matched customer, no conversation):
`shared`, the pool the ring's members share beyond the core, in or across teams."""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import NamedTuple

COLUMN_CONSTANT = 5.0
MIN_DENSITY_RATIO = 1.5
"""How far above the densest honest shape (a star) a block must be."""
MIN_EMPLOYEES = 2
MIN_CONTACTS = 3
MIN_SHARING = 2
"""Employees of a block who must each have added a contact hollow for it to be in `shared`."""
HOLLOW = 1.0
"""An edge's suspicion when the add has nothing real behind it (what `anomaly.add_suspicion`
gives a hollow add; an `Add`'s default)."""


class Add(NamedTuple):
    """One edge: an employee added a contact, with how suspicious that add looks (0..1). A
    named tuple: a bank's month builds about a million of them per pass."""

    employee_id: str
    contact: str
    suspicion: float = HOLLOW


@dataclass(frozen=True)
class DenseBlock:
    employees: tuple[str, ...]
    contacts: tuple[str, ...]
    density: float
    """Weighted adds per node of the block."""
    star_bound: float
    """The density no star can reach: the block's density is judged against it."""
    adds: int
    shared: tuple[str, ...] = ()
    """Contacts outside the block that MIN_SHARING or more of its employees each added with
    nothing real behind the add (sorted): the ring's pool beyond its dense core."""

    @property
    def ratio(self) -> float:
        return self.density / self.star_bound

    @cached_property
    def contact_rank(self) -> dict[str, int]:
        """Each block contact's position: membership and order without scanning the block."""
        return {c: i for i, c in enumerate(self.contacts)}


def column_weight(degree: int, c: float = COLUMN_CONSTANT) -> float:
    return 1.0 / math.log(degree + c)


def star_bound(c: float = COLUMN_CONSTANT) -> float:
    return column_weight(1, c)


def densest_block(adds: Sequence[Add], c: float = COLUMN_CONSTANT) -> DenseBlock | None:
    """The densest sub-block by greedy peeling; deterministic (ties broken by node: employees
    before contacts, each by id). Nodes are small integers and edges flat lists: a bank's
    month holds about a million edges, and tuples and dicts per node cost several times that
    memory."""
    adds = sorted(adds, key=lambda a: (a.employee_id, a.contact, a.suspicion))
    degree: dict[str, int] = defaultdict(int)
    for a in adds:
        degree[a.contact] += 1
    # One edge per (employee, contact), its heaviest add (adds are sorted: repeats adjacent).
    edge_e: list[str] = []
    edge_k: list[str] = []
    edge_w: list[float] = []
    for a in adds:
        w = max(0.0, min(1.0, a.suspicion)) * column_weight(degree[a.contact], c)
        if edge_e and edge_e[-1] == a.employee_id and edge_k[-1] == a.contact:
            edge_w[-1] = max(edge_w[-1], w)
        else:
            edge_e.append(a.employee_id)
            edge_k.append(a.contact)
            edge_w.append(w)
    live = [i for i, w in enumerate(edge_w) if w > 0]
    if not live:
        return None
    employees = sorted({edge_e[i] for i in live})
    contacts = sorted({edge_k[i] for i in live})
    node_of = {e: n for n, e in enumerate(employees)}
    first_contact = len(employees)
    node_of_contact = {k: first_contact + n for n, k in enumerate(contacts)}
    nodes = first_contact + len(contacts)
    adjacent: list[list[int]] = [[] for _ in range(nodes)]
    weight: list[list[float]] = [[] for _ in range(nodes)]
    for i in live:
        u, v, w = node_of[edge_e[i]], node_of_contact[edge_k[i]], edge_w[i]
        adjacent[u].append(v)
        weight[u].append(w)
        adjacent[v].append(u)
        weight[v].append(w)
    load = [sum(ws) for ws in weight]
    total = math.fsum(edge_w)
    alive = bytearray(b"\x01") * nodes
    remaining = nodes
    heap = [(round(v, 12), n) for n, v in enumerate(load)]
    heapq.heapify(heap)
    best_density = total / remaining
    removed_order: list[int] = []
    best_cut = 0
    while heap and remaining > 1:
        value, node = heapq.heappop(heap)
        if not alive[node] or round(load[node], 12) != value:
            continue
        alive[node] = 0
        remaining -= 1
        removed_order.append(node)
        total -= load[node]
        for other, w in zip(adjacent[node], weight[node], strict=True):
            if alive[other]:
                load[other] -= w
                heapq.heappush(heap, (round(load[other], 12), other))
        density = total / remaining
        if density > best_density + 1e-12:
            best_density, best_cut = density, len(removed_order)
    gone = set(removed_order[:best_cut])
    members = tuple(e for n, e in enumerate(employees) if n not in gone)
    pool = tuple(k for n, k in enumerate(contacts, first_contact) if n not in gone)
    in_members, in_pool = set(members), set(pool)
    inside = [
        edge_w[i] for i in range(len(edge_w)) if edge_e[i] in in_members and edge_k[i] in in_pool
    ]
    density = math.fsum(inside) / (len(members) + len(pool))
    return DenseBlock(members, pool, density, star_bound(c), len(inside))


def dense_blocks(
    adds: Sequence[Add],
    max_blocks: int = 10,
    min_ratio: float = MIN_DENSITY_RATIO,
    c: float = COLUMN_CONSTANT,
) -> list[DenseBlock]:
    """Blocks one after another (each found block's adds taken out before the next search),
    while they stay well above the star bound; each with the contacts its employees share
    hollow beyond it (`shared_beyond`, over every add)."""
    remaining = list(adds)
    found: list[DenseBlock] = []
    for _ in range(max_blocks):
        block = densest_block(remaining, c)
        if (
            block is None
            or block.ratio < min_ratio
            or len(block.employees) < MIN_EMPLOYEES
            or len(block.contacts) < MIN_CONTACTS
        ):
            break
        found.append(block)
        employees, contacts = set(block.employees), set(block.contacts)
        remaining = [
            a for a in remaining if not (a.employee_id in employees and a.contact in contacts)
        ]
    # the blocks' employees' hollow adds, gathered in one pass (a bank's month: a million adds)
    members = {e for b in found for e in b.employees}
    theirs = (
        [a for a in adds if a.suspicion >= HOLLOW and a.employee_id in members] if found else []
    )
    return [replace(b, shared=shared_beyond(b, theirs)) for b in found]


def shared_beyond(block: DenseBlock, adds: Sequence[Add]) -> tuple[str, ...]:
    """The contacts outside `block` that MIN_SHARING or more of its employees each added
    hollow (suspicion HOLLOW), sorted."""
    members, pool = set(block.employees), set(block.contacts)
    adders: dict[str, set[str]] = defaultdict(set)
    for a in adds:
        if a.suspicion >= HOLLOW and a.employee_id in members and a.contact not in pool:
            adders[a.contact].add(a.employee_id)
    return tuple(sorted(k for k, who in adders.items() if len(who) >= MIN_SHARING))
