"""Builders for groups tests: rows made through the real operations, dates relative to today."""

from __future__ import annotations

import itertools
from datetime import date, time, timedelta

from core.actor import Actor
from core.db import utcnow
from groups import operations, rules

_seq = itertools.count(1)


def system(practice) -> Actor:
    return Actor.system(practice.id)


def monday(weeks: int = 1) -> date:
    """The Monday `weeks` weeks from this week's Monday (UTC date; tests avoid Sunday-night edge cases)."""
    return rules.week_start(utcnow().date()) + timedelta(weeks=weeks)


def last_sunday(year: int, month: int) -> date:
    """EU DST changes happen on the last Sunday of March and October."""
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def make_room(practice, **values):
    data = {"name": f"Zaal {next(_seq)}", "capacity": 12}
    data.update(values)
    return operations.create_room(system(practice), data)


def make_programme(practice, **values):
    data = {
        "name": f"Programma {next(_seq)}",
        "session_count": 4,
        "sessions_per_week": 2,
        "session_minutes": 60,
        "education_sessions": 1,
        "default_group_size": 10,
    }
    data.update(values)
    return operations.create_programme(system(practice), data)


def make_group(practice, *, programme=None, room=None, override=False, **values):
    programme = programme or make_programme(practice)
    room = room or make_room(practice)
    data = {
        "programme_id": programme.id,
        "room_id": room.id,
        "start_date": monday(1),
        "weekdays": ["MO", "TH"],
        "start_time": time(18),
        "capacity": 10,
    }
    data.update(values)
    return operations.create_group(system(practice), data, override_supervisor_conflicts=override)
