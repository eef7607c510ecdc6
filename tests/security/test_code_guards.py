"""Guards over the source itself (no I/O): SQL is only ever parameterised, secrets and
signatures are only compared in constant time, and what the WeCom API tells about a customer
is cut down to what scoring needs before it leaves the ingestor (no phone number, no name)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingestor.enrichment.profiles import follower_profile
from tests.infra import ROOT

SOURCES = sorted(p for d in ("services", "shared") for p in (ROOT / d).rglob("*.py"))
QUERY_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"}
SECRET_WORDS = {"token", "tokens", "secret", "signature", "password", "digest", "sig", "mac"}


def calls(tree: ast.AST) -> Iterator[ast.Call]:
    yield from (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def built_string(node: ast.expr) -> bool:
    """An f-string, a `%` or `+` over strings, or `.format(...)`: SQL assembled from values."""
    if isinstance(node, ast.JoinedStr):  # a module constant (a fixed column list) is allowed
        return any(
            isinstance(v, ast.FormattedValue)
            and not (isinstance(v.value, ast.Name) and v.value.id.isupper())
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


def test_the_guard_sees_the_sources() -> None:
    assert len(SOURCES) > 50
    bad = ast.parse('conn.execute(f"SELECT * FROM t WHERE id = {x}")')
    assert any(built_string(c.args[0]) for c in calls(bad))
    compared = ast.parse("ok = given_signature == expected")
    assert any(named_secret(n) for n in ast.walk(compared) if isinstance(n, ast.Name))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_is_never_built_from_values(path: Path) -> None:
    """Every query's text is a constant (or a module-level constant); values travel as $n
    parameters, never inside the SQL text."""
    tree = ast.parse(path.read_text(), str(path))
    offending = [
        f"{path.name}:{c.lineno}"
        for c in calls(tree)
        if isinstance(c.func, ast.Attribute)
        and c.func.attr in QUERY_METHODS
        and c.args
        and built_string(c.args[0])
    ]
    assert offending == []


def named_secret(node: ast.expr) -> bool:
    """A variable or attribute named like a secret (constants such as ErrorCode.SIGNATURE are
    names of things, not secrets)."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return not name.isupper() and bool(SECRET_WORDS & set(name.lower().split("_")))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_secrets_are_compared_in_constant_time(path: Path) -> None:
    """No `==`/`!=` on a token, secret, signature or digest: hmac.compare_digest only."""
    tree = ast.parse(path.read_text(), str(path))
    offending = [
        f"{path.name}:{n.lineno}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in n.ops)
        and any(named_secret(side) for side in [n.left, *n.comparators])
        and not any(isinstance(side, ast.Constant) for side in [n.left, *n.comparators])
    ]
    assert offending == []


@pytest.mark.parametrize(
    "path",
    [
        "services/ingestor/settings.py",  # the /v1/events bearer tokens
        "services/ingestor/wecom/crypto.py",  # the callback signature and the CorpID
        "services/notifier/domain/acklink.py",  # the signed acknowledgement links
    ],
)
def test_every_secret_check_uses_compare_digest(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text())
    assert any(
        isinstance(c.func, ast.Attribute) and c.func.attr == "compare_digest" for c in calls(tree)
    )


def test_a_customers_phone_numbers_and_name_never_leave_the_ingestor() -> None:
    answer = {
        "external_contact": {
            "external_userid": "wmCUSTOMER",
            "name": "张三",
            "avatar": "http://wx.qlogo.cn/mmhead/x/0",
            "type": 1,
            "gender": 1,
            "unionid": "ozynqsulJFCZ2z1aYeS8h-nuasdA",
        },
        "follow_user": [
            {
                "userid": "m01",
                "remark": "张三 13800138000",
                "description": "VIP",
                "createtime": 1_760_000_000,
                "remark_mobiles": ["13800138000", "+86 139 0013 9000"],
                "remark_corp_name": "某公司",
                "add_way": 1,
                "state": "branch-7",
                "oper_userid": "m01",
            }
        ],
    }
    record = follower_profile(answer, "m01", datetime(2026, 10, 1, tzinfo=UTC)).to_json()
    for personal in (b"13800138000", b"139 0013", "张三".encode(), b"avatar", b"VIP", b"remark"):
        assert personal not in record
    assert b"wmCUSTOMER" in record and b"branch-7" in record  # what scoring needs stays
