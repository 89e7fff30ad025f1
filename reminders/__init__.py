"""The outbox of messages, mail transport, the scheduler process and its jobs (RELIABILITY.md)."""
