"""What each role may do (shared/auth/roles.py) and the shape of issued tokens
(shared/auth/tokens.py): pure, no I/O."""

from __future__ import annotations

from shared.auth import Action, Identity, Role, permits
from shared.auth.roles import parse_role
from shared.auth.tokens import looks_like_token, new_token, token_hash

EXPECTED = {
    Role.ADMIN: set(Action) - {Action.INGEST},
    Role.RISK: set(Action)
    - {
        Action.INGEST,
        Action.CLOSE_PERIOD,
        Action.READ_TARGETS,
        Action.SET_TARGETS,
        Action.MANAGE_CAMPAIGNS,  # ops register campaigns; risk reads them
    },
    Role.SUPERVISOR: {
        Action.READ_SCORES,
        Action.READ_CONTACTS,
        Action.READ_ALERTS,
        Action.ACK_ALERT,
        # their subtree's cases; deciding also needs REVIEW_SUPERVISORS_DECIDE (the route)
        Action.READ_CASES,
        Action.DECIDE_CASE,
    },
    Role.VIEWER: {Action.READ_AGGREGATES},
    Role.INGEST: {Action.INGEST},
}


def test_each_role_may_take_exactly_its_actions() -> None:
    for role, allowed in EXPECTED.items():
        who = Identity("x", role, "e1" if role is Role.SUPERVISOR else None)
        assert {a for a in Action if permits(who, a)} == allowed, role


def test_only_admin_and_risk_are_unscoped() -> None:
    assert [r for r in Role if not Identity("x", r).scoped] == [Role.ADMIN, Role.RISK]


def test_roles_parse_from_claims_strictly() -> None:
    assert parse_role(" Supervisor ") is Role.SUPERVISOR
    assert parse_role("root") is None
    assert parse_role(["admin"]) is None  # a list is not a role
    assert parse_role(None) is None


def test_an_acknowledgement_names_the_caller() -> None:
    assert (
        Identity("lisi-laptop", Role.SUPERVISOR, "lisi").label == "lisi-laptop (lisi) [supervisor]"
    )
    assert Identity("ops", Role.ADMIN).label == "ops [admin]"


def test_issued_tokens_are_random_and_kept_as_a_hash() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(looks_like_token(t) and len(t) == 46 for t in tokens)
    token = next(iter(tokens))
    assert token_hash(token) != token and len(token_hash(token)) == 64
    assert token_hash(token) == token_hash(token)
    for other in ("", "wq_short", "eyJhbGciOi.eyJzdWIi.sig", token + "!", "Bearer " + token):
        assert not looks_like_token(other)
