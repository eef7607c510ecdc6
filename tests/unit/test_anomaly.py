"""Each anomaly signal on hand-made cases: one that must fire, one look-alike that must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.scorer.domain.anomaly import PeerBaseline, assess
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.validity import ContactFacts, ContactVerdict, Removal, classify

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 14, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: off hours
END = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 29, tzinfo=UTC)
RULES = ScoringRules()


def verdicts(n: int, step: timedelta = timedelta(minutes=5), **kw: object) -> list[ContactVerdict]:
    out = []
    for i in range(n):
        base: dict[str, object] = {
            "employee_id": "e1",
            "external_userid": f"wm{i}",
            "first_added_at": START + i * step,
        }
        out.append(classify(ContactFacts(**{**base, **kw}), RULES, NOW))  # type: ignore[arg-type]
    return out


def codes(vs: list[ContactVerdict], shared: dict[str, int] | None = None) -> dict[str, float]:
    result = assess(vs, shared or {}, PeerBaseline(median_engagement=0.6), END, 30, NOW, TZ)
    return {r["code"]: r["contribution"] for r in result.reasons}


def test_bought_batch_through_one_qr_code_fires() -> None:
    found = codes(verdicts(30, state="qr-777", is_customer=False))
    assert found["QR_BATCH_BURST"] >= 40
    assert "NO_ENGAGEMENT" in found


def test_branch_event_of_real_customers_stays_quiet() -> None:
    event = verdicts(
        40,
        step=timedelta(minutes=1),
        state="branch-fair",
        is_customer=True,
        first_customer_msg_at=START + timedelta(hours=3),
    )
    assert codes(event) == {}


def test_peer_institution_contacts_fire() -> None:
    peers = verdicts(5, contact_type=2, corp_name="某农商银行", is_customer=False)
    honest = verdicts(20, step=timedelta(hours=9), is_customer=True)
    assert "PEER_INSTITUTION" in codes(peers + honest)
    assert "PEER_INSTITUTION" not in codes(honest)


def test_shared_non_customers_fire_and_shared_customers_do_not() -> None:
    vs = verdicts(10, step=timedelta(hours=7), is_customer=False)
    shared = {f"wm{i}": 3 for i in range(6)}
    assert "SHARED_CONTACTS" in codes(vs, shared)
    customers = verdicts(10, step=timedelta(hours=7), is_customer=True)
    assert "SHARED_CONTACTS" not in codes(customers, shared)


def test_quick_deletes_fire_and_late_deletes_do_not() -> None:
    quick = [
        classify(
            ContactFacts(
                "e1",
                f"wm{i}",
                START + i * timedelta(hours=9),
                removals=(
                    Removal(START + i * timedelta(hours=9) + timedelta(hours=5), "employee"),
                ),
            ),
            RULES,
            NOW,
        )
        for i in range(6)
    ]
    assert "QUICK_DELETE" in codes(quick + verdicts(10, step=timedelta(hours=9), is_customer=True))
    late = [
        classify(
            ContactFacts(
                "e1",
                f"wm{i}",
                START + i * timedelta(hours=9),
                is_customer=True,
                removals=(Removal(START + timedelta(days=20), "customer"),),
            ),
            RULES,
            NOW,
        )
        for i in range(6)
    ]
    assert "QUICK_DELETE" not in codes(late)


def test_month_end_pileup_of_poor_adds_fires_but_good_ones_do_not() -> None:
    early = verdicts(5, step=timedelta(days=2), is_customer=True)
    tail_start = END - timedelta(days=2)
    poor = [
        classify(ContactFacts("e1", f"tail{i}", tail_start + i * timedelta(hours=1)), RULES, NOW)
        for i in range(20)
    ]
    assert "PERIOD_END_PILEUP" in codes(early + poor)
    good = [
        classify(
            ContactFacts("e1", f"tail{i}", tail_start + i * timedelta(hours=1), is_customer=True),
            RULES,
            NOW,
        )
        for i in range(20)
    ]
    assert "PERIOD_END_PILEUP" not in codes(early + good)


def test_every_reason_has_evidence_and_the_employees_side() -> None:
    result = assess(verdicts(30, state="qr-1"), {}, PeerBaseline(), END, 30, NOW, TZ)
    assert result.score == min(100.0, sum(r["contribution"] for r in result.reasons))
    for reason in result.reasons:
        assert reason["evidence"]["in_favour"]["adds"] == 30
    assert result.contact_flags["wm0"] == ["QR_BATCH_BURST", "NO_ENGAGEMENT"]


def test_a_dense_block_of_partners_fires_and_a_single_shared_neighbour_does_not() -> None:
    vs = verdicts(10, step=timedelta(hours=7), is_customer=True)
    ring = assess(vs, {}, PeerBaseline(), END, 30, NOW, TZ, {"p1": 6, "p2": 5, "p3": 7, "p4": 4})
    assert ring.reasons[0]["code"] == "MUTUAL_ADD_RING"
    assert ring.score >= 40
    lone = assess(vs, {}, PeerBaseline(), END, 30, NOW, TZ, {"p1": 3})
    assert lone.score == 0
