"""Getting records durably out of the process: Kafka when it acknowledges, the local spool
when it does not, and the replay of the spool once Kafka is back."""

from services.ingestor.delivery.outgoing import Outgoing

__all__ = ["Outgoing"]
