"""A live terminal summary of the running system (`make watch`, and the end of `make up`):
events per second, consumer lag, employees behind target, the top anomalies with their reasons
and the alerts sent. `view` is pure formatting; `collect` is the thin I/O that reads the
services' APIs and metrics, Kafka's end offsets and the offsets stored with the data."""
