"""`python -m services.ingestor.reconcile`: the daily reconciliation against the WeCom API.

Walks `batch/get_by_user` for the employees given (`--employees a,b` or `--employees-file`,
one userid a line) and publishes an add event and a profile for every follow relation (see
reconciliation.py for why this is idempotent). Schedule it daily (cron / systemd timer /
Kubernetes CronJob); it exits non-zero when WeCom or Kafka fails, so the scheduler sees it."""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from services.ingestor.delivery.kafka_link import KafkaLink
from services.ingestor.enrichment.wecom_api import WeComApi
from services.ingestor.reconciliation import chunks, corrections
from services.ingestor.settings import IngestorSettings
from shared.kafka import make_broker
from shared.logging import configure_logging, register_secrets

log = logging.getLogger(__name__)


def employee_ids(employees: str | None, employees_file: Path | None) -> list[str]:
    ids = [e.strip() for e in (employees or "").split(",")]
    if employees_file is not None:
        ids += [line.strip() for line in employees_file.read_text("utf-8").splitlines()]
    return sorted({i for i in ids if i and not i.startswith("#")})


async def reconcile(settings: IngestorSettings, employees: list[str]) -> int:
    """Publish corrections for `employees`; returns how many follow relations were seen."""
    if not settings.enrichment_enabled or settings.wecom_corp_secret is None:
        raise SystemExit("reconciliation needs WECOM_CORP_ID and WECOM_CORP_SECRET")
    corp_id = settings.wecom_corp_id or ""
    api = WeComApi(
        settings.wecom_api_base,
        corp_id,
        settings.wecom_corp_secret.get_secret_value(),
        timeout=settings.wecom_api_timeout_seconds,
        rate_limit_backoff=settings.wecom_rate_limit_backoff_seconds,
    )
    topics = settings.topics
    link = KafkaLink(
        make_broker(settings.kafka_bootstrap_servers, "ingestor-reconcile"),
        [topics.contact_events, topics.bank_records],
        settings.topic_partitions,
        settings.kafka_connect_retry_seconds,
    )
    as_of = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    relations = 0
    if not await link.connect():
        raise SystemExit("Kafka is not reachable")
    try:
        for group in chunks(employees):
            cursor = ""
            while True:
                page = await api.contacts_by_user(group, cursor)
                rows = page.get("external_contact_list") or []
                await link.send(corrections(corp_id, rows, topics, as_of))
                relations += len(rows)
                cursor = str(page.get("next_cursor") or "")
                if not cursor:
                    break
    finally:
        await api.close()
        await link.close()
    log.info("reconciliation done", extra={"employees": len(employees), "relations": relations})
    return relations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--employees", help="comma-separated WeCom userids")
    parser.add_argument("--employees-file", type=Path, help="one WeCom userid a line")
    args = parser.parse_args(argv)
    settings = IngestorSettings()
    register_secrets(settings.secrets())
    configure_logging("ingestor-reconcile", settings.log_level)
    ids = employee_ids(args.employees, args.employees_file)
    if not ids:
        parser.error("no employees: pass --employees or --employees-file")
    relations = asyncio.run(reconcile(settings, ids))
    print(f"{relations} follow relations reconciled for {len(ids)} employees")


if __name__ == "__main__":
    main()
