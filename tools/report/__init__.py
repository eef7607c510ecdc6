"""An HTML report of one period and branch for supervisors who only get e-mail: attainment by
team and employee against target, status counts, quality components, the anomaly leaderboard
with its reasons and the alerts sent — the dashboards' figures, read from the same SQL views.
`figures` is pure arithmetic, `charts` draws PNGs in memory, `html` renders (pure), `source`
reads the database (the read-only role)."""
