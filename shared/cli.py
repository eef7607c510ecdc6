"""`wecom-quota`: the operator's command (SECURITY.md).

    wecom-quota tokens create --role supervisor --employee-id lisi --name lisi-laptop
    wecom-quota tokens list
    wecom-quota tokens revoke lisi-laptop

It works on the database DATABASE_URL names (migrations applied first, with
DATABASE_MIGRATION_URL when set). A created token is printed once, on stdout alone, and only
its hash is kept; every token issued or revoked is written to the audit log."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

import asyncpg

from shared.auth import audit, token_store
from shared.auth.roles import Identity, Role
from shared.clock import Clock, system_clock
from shared.db import apply_migrations
from shared.settings import DatabaseSettings


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
    return parser


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return asyncio.run(run(args, DatabaseSettings()))


if __name__ == "__main__":
    sys.exit(main())
