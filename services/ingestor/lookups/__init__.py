"""Durable WeCom contact lookups: every contact that needs a profile gets one.

The contact-event topic is folded into a local SQLite ledger (feed.py, ledger.py) with its
offsets in the same transaction; workers (worker.py) look up the contacts that wait, within
WeCom's rate (pacing.py), retry transient failures forever with backoff, and publish the
answer (answers.py) before marking the contact answered. Nothing is answered by dropping."""
