"""`wecom-quota`: the operator's command (SECURITY.md).

    wecom-quota tokens create --role supervisor --employee-id lisi --name lisi-laptop
    wecom-quota tokens list
    wecom-quota tokens revoke lisi-laptop
    wecom-quota erase --external-userid wmXXXXXXXX [--database-only | --ingestor-only]

It works on the database DATABASE_URL names (migrations applied first, with
DATABASE_MIGRATION_URL when set). A created token is printed once, on stdout alone, and only
its hash is kept; every token issued or revoked is written to the audit log.

`erase` removes one external contact's data (PIPL; docs/operations.md, "Erasing a contact"):
from every table of the scorer and the notifier, and from the ingestor's spool, reconciliation
state and lookup ledger on this host (SPOOL_DIR, RECONCILE_STATE_DIR, LOOKUP_STATE_DIR; the
ingestor stopped). It lists the contact by a keyed hash (ERASURE_HMAC_KEY) for the consumers to
drop when a topic is replayed, and audits the erasure by that hash, never the id. It runs with
the scorer's settings (its rules recount the open periods)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

import asyncpg

from shared.auth import audit, token_store
from shared.auth.roles import Identity, Role
from shared.clock import Clock, system_clock
from shared.db import apply_migrations
from shared.governance import EXTERNAL_USERID, contact_hmac
from shared.settings import ERASURE_KEY_LENGTH, DatabaseSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wecom-quota", description=__doc__.split("\n\n")[0])
    groups = parser.add_subparsers(dest="group", required=True)
    tokens = groups.add_parser("tokens", help="API tokens: create, list, revoke")
    commands = tokens.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="issue a token (printed once)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True, help="unique name, e.g. lisi-laptop")
    create.add_argument("--employee-id", help="whose org subtree a supervisor sees")
    commands.add_parser("list", help="every token: name, role, employee, created, revoked")
    revoke = commands.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    erase = groups.add_parser(
        "erase",
        help="erase one external contact's data everywhere (PIPL)",
        description="Erase one external contact's data from the database (scorer and notifier "
        "tables) and from this host's ingestor state, list it for replays, audit it by a keyed "
        "hash. Stop the ingestor on this host first.",
    )
    erase.add_argument(
        "--external-userid",
        required=True,
        type=external_userid,
        help="the contact's WeCom external_userid (wm… or wo…)",
    )
    where = erase.add_mutually_exclusive_group()
    where.add_argument(
        "--database-only",
        action="store_true",
        help="the database only (the ingestor runs on another host: erase there with "
        "--ingestor-only)",
    )
    where.add_argument(
        "--ingestor-only",
        action="store_true",
        help="this host's ingestor state only (no database needed)",
    )
    return parser


def external_userid(text: str) -> str:
    if not EXTERNAL_USERID.match(text):
        raise argparse.ArgumentTypeError(
            "not an external_userid: WeCom's ids are 1 to 128 letters, digits, '_' or '-' "
            "(e.g. wmAbC123...), nothing else"
        )
    return text


def operator() -> Identity:
    return Identity(f"cli:{getpass.getuser()}", Role.ADMIN, via="cli")


async def issue(
    dsn: str, name: str, role: Role, employee_id: str | None = None, clock: Clock = system_clock
) -> str:
    """Issue a token in the database at `dsn` (migrated), audited as `tokens create` is; for
    tools and tests that run the services on a database of their own."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            token = await token_store.create(conn, name, role, employee_id)
            after = {"name": name, "role": role.value, "employee_id": employee_id}
            entry = audit.Entry("token.create", name, None, after)
            await audit.record(conn, operator(), entry, clock())
        return token
    finally:
        await conn.close()


async def run(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    await apply_migrations(settings.migration_dsn)
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    now = settings.clock()()
    try:
        if args.command == "list":
            for t in await token_store.list_tokens(conn):
                gone = t.revoked_at.isoformat() if t.revoked_at else "-"
                print(
                    f"{t.name}\t{t.role.value}\t{t.employee_id or '-'}\t"
                    f"{t.created_at.isoformat()}\trevoked: {gone}"
                )
            return 0
        async with conn.transaction():
            if args.command == "create":
                role = Role(args.role)
                token = await token_store.create(conn, args.name, role, args.employee_id)
                after = {"name": args.name, "role": role.value, "employee_id": args.employee_id}
                entry = audit.Entry("token.create", args.name, None, after)
            else:
                old = await token_store.revoke(conn, args.name, now)
                after = {"name": old.name, "revoked_at": old.revoked_at}
                entry = audit.Entry("token.revoke", args.name, {"revoked_at": None}, after)
            await audit.record(conn, operator(), entry, now)
    except token_store.TokenError as exc:
        print(f"wecom-quota: {exc}", file=sys.stderr)
        return 2
    finally:
        await conn.close()
    if args.command == "create":
        print(token)
    else:
        print(f"revoked {args.name}", file=sys.stderr)
    return 0


async def erase(args: argparse.Namespace) -> int:
    """`wecom-quota erase`: the ingestor state first (refused while an ingestor runs, before
    anything is touched), then the database in one transaction with its audit row."""
    from services.ingestor.erasure import IngestorRunningError, erase_ingestor_state
    from services.ingestor.settings import IngestorSettings
    from services.notifier import contact_data as notifier_data
    from services.scorer import contact_data as scorer_data
    from services.scorer.settings import ScorerSettings
    from services.scorer.verify import scorer_of

    contact = args.external_userid
    try:
        settings = ScorerSettings()
        ingestor = None if args.database_only else IngestorSettings()
    except ValueError as exc:  # pydantic's ValidationError: names the setting, never a secret
        print(f"wecom-quota: the settings are refused: {exc}", file=sys.stderr)
        return 2
    key = settings.erasure_hmac_key
    if key is None and not args.ingestor_only:  # the ingestor's files need no hash
        print(
            "wecom-quota: ERASURE_HMAC_KEY is not set: an erased contact is listed and audited "
            f"by a keyed hash, never its id; set it (at least {ERASURE_KEY_LENGTH} random "
            "characters), the same value as the scorer's and the notifier's",
            file=sys.stderr,
        )
        return 2
    local: dict[str, Any] = {"not_run": "--database-only"}
    if ingestor is not None:
        try:
            erased_here = erase_ingestor_state(
                contact, ingestor.spool_dir, ingestor.reconcile_state_dir, ingestor.lookup_state_dir
            )
        except IngestorRunningError as exc:
            print(f"wecom-quota: {exc}; nothing was erased", file=sys.stderr)
            return 2
        local = erased_here.summary()
        print(
            f"ingestor state on this host: {erased_here.spool_records} spooled record(s), "
            f"{erased_here.quarantined_lines} quarantined line(s), "
            f"{erased_here.reconcile_rows} reconciliation row(s), "
            f"{erased_here.lookup_rows} lookup row(s)"
            + (f"; not here: {', '.join(erased_here.missing)}" if erased_here.missing else "")
        )
    if args.ingestor_only or key is None:
        return 0
    hashed = contact_hmac(key, contact)
    await apply_migrations(settings.migration_dsn)
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    now = settings.clock()()
    try:
        async with conn.transaction():
            done = await scorer_data.erase(
                conn, scorer_of(settings), contact, lambda v: contact_hmac(key, v), now
            )
            quoted = await notifier_data.erase(conn, contact)
            after = {
                **done.summary(),
                "notifier": dict(sorted((c, n) for c, n in quoted.items() if n)),
                "ingestor": local,
            }
            entry = audit.Entry("contact.erase", f"hmac-sha256:{hashed}", None, after)
            await audit.record(conn, operator(), entry, now)
    except scorer_data.RulesDifferError as exc:
        print(f"wecom-quota: {exc}; nothing was erased in the database", file=sys.stderr)
        return 2
    finally:
        await conn.close()
    rows = ", ".join(f"{t} {n}" for t, n in after["rows"].items()) or "nothing stored"
    print(f"database: {rows}")
    print(f"notifier: {', '.join(f'{c} {n}' for c, n in after['notifier'].items()) or 'nothing'}")
    print(f"open periods recounted without it: {', '.join(done.open_periods) or 'none'}")
    print(f"closed periods kept as closed: {', '.join(done.closed_periods) or 'none'}")
    listed = "already listed" if done.already_listed else "listed"
    print(f"erased; {listed} and audited as hmac-sha256:{hashed}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.group == "erase":
        return asyncio.run(erase(args))
    return asyncio.run(run(args, DatabaseSettings()))


if __name__ == "__main__":
    sys.exit(main())
