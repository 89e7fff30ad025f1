"""Column types and helpers shared by all models."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

#: The largest id an INTEGER primary key can hold (32-bit on PostgreSQL); larger ids cannot exist, and comparing
#: one with an INTEGER column fails on PostgreSQL ("integer out of range"), so they are a plain 404/422 instead.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC. SQLite has no zone, so we normalise on the way in and re-attach
    UTC on the way out; a naive datetime is a programming error and is refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def practice_fk() -> sa.ForeignKey:
    return sa.ForeignKey("practices.id", ondelete="CASCADE")


def render_migration_item(type_, obj, autogen_context):
    """Write UTCDateTime as a plain timezone-aware DateTime in migrations, so they do not import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
