"""Group robots' webhook URLs, kept sealed (migration 0014, shared/sealed.py): the URL carries
the robot's key, so it is kept in `employee_robot` (never in a table the dashboards read),
sealed under NOTIFIER_ROBOT_KEYS, and opened only to send.

The scorer seals a URL itself as it stores the employee's record when it has the key ring
(services/scorer/repository.py); otherwise it arrives in plain (`url_plain`). `seal` seals
every such row (at start, then every delivery round) and, with `rotate`, re-seals the rows
under an older key of the ring (at start). A send opens the URL, sealing it first when it
arrived in plain since the last round."""

from __future__ import annotations

import logging

from shared.db import Connection
from shared.sealed import KeyRing, SealError, robot_context

log = logging.getLogger(__name__)

# The newest employee record of the team that names a robot.
TEAM_ROBOT = """
SELECT r.employee_id, r.url_plain, r.sealed
  FROM employee e JOIN employee_robot r USING (employee_id)
 WHERE e.branch_id = $1 AND e.team_id = $2
 ORDER BY e.active DESC, e.as_of DESC, e.employee_id
 LIMIT 1
"""
TO_SEAL = """
SELECT employee_id, url_plain, sealed FROM employee_robot
 WHERE url_plain IS NOT NULL OR ($1::text IS NOT NULL AND key_id <> $1)
 ORDER BY employee_id
 LIMIT $2
 FOR UPDATE SKIP LOCKED
"""
STORE = """
UPDATE employee_robot SET url_plain = NULL, sealed = $2, key_id = $3
 WHERE employee_id = $1
"""
# sealed at a send, unless a sealer (or a newer URL) got there first
STORE_IF_PLAIN = """
UPDATE employee_robot SET url_plain = NULL, sealed = $2, key_id = $3
 WHERE employee_id = $1 AND url_plain = $4
"""


class RobotUnavailable(Exception):  # noqa: N818 - an outcome, not an error
    """The team's robot URL cannot be opened (sealed under a key no longer in the ring)."""


def context(employee_id: str) -> str:
    """The associated data of a sealed URL: it opens only on its own row."""
    return robot_context(employee_id)


def _team(destination: str) -> tuple[str, str]:
    branch, _, team = destination.removeprefix("team:").partition("/")
    return branch, team


class RobotUrls:
    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    async def seal(self, conn: Connection, rotate: bool = False, batch: int = 500) -> int:
        """Seal the URLs that arrived in plain (and, with `rotate`, re-seal those under an
        older key); returns how many. Rows another process is sealing are skipped. A row that
        does not open (its key left the ring) is logged and left as it is."""
        done = 0
        while True:
            async with conn.transaction():
                rows = await conn.fetch(TO_SEAL, self._keys.current if rotate else None, batch)
                stored = 0
                for r in rows:
                    try:
                        url = r["url_plain"] or self._keys.open(
                            r["sealed"], context(r["employee_id"])
                        )
                    except SealError as exc:
                        log.error(
                            "a robot URL does not open; its key left NOTIFIER_ROBOT_KEYS",
                            extra={"employee_id": r["employee_id"], "error": str(exc)},
                        )
                        continue
                    sealed = self._keys.seal(url, context(r["employee_id"]))
                    await conn.execute(STORE, r["employee_id"], sealed, self._keys.current)
                    stored += 1
            done += stored
            if len(rows) < batch or stored == 0:
                return done

    async def url(self, conn: Connection, destination: str) -> str | None:
        """The robot URL of `team:{branch}/{team}` (None: the team names no robot)."""
        row = await conn.fetchrow(TEAM_ROBOT, *_team(destination))
        if row is None:
            return None
        employee_id = row["employee_id"]
        if row["url_plain"] is not None:  # arrived since the last round: sealed now
            url: str = row["url_plain"]
            sealed = self._keys.seal(url, context(employee_id))
            await conn.execute(STORE_IF_PLAIN, employee_id, sealed, self._keys.current, url)
            return url
        try:
            return self._keys.open(row["sealed"], context(employee_id))
        except SealError as exc:
            raise RobotUnavailable(f"{destination}: the robot URL does not open ({exc})") from None


async def team_has_robot(conn: Connection, destination: str) -> bool:
    """Whether the team names a robot (nothing opened)."""
    return await conn.fetchrow(TEAM_ROBOT, *_team(destination)) is not None
