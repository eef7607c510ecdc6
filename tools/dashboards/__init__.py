"""Grafana dashboards generated from code with Grafana's typed builder (grafana-foundation-sdk):
`make dashboards` (python -m tools.dashboards) writes deploy/grafana/dashboards/*.json, which
are checked in and provisioned; tests compare them with what this package generates."""
