"""Two enrolments racing for the last place: one enrolled and one waitlisted, never an over-full group.

Two processes, each with its own app, engine and connection, commit to a fresh database of their own (so this
test cannot run inside the rolled-back test transaction). A barrier releases both at once, and each sleeps right
after counting the places, so without the group row lock (FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite)
both would take the last place.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections import defaultdict

import pytest
import sqlalchemy as sa

from tests import processes
from tests.groups import race

ROUNDS = 3

pytestmark = [pytest.mark.committing, pytest.mark.slow]


@pytest.fixture(params=["sqlite", "postgresql"])
def race_database(request, tmp_path):
    yield from processes.race_database(request.param, tmp_path, "race")


def _run(ctx, target, args):
    process = ctx.Process(target=target, args=args)
    process.start()
    return process


def test_two_enrolments_for_the_last_place(race_database):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    setup = _run(ctx, race.prepare, (race_database, ROUNDS, results))
    plan = results.get(timeout=120)
    setup.join(timeout=60)
    assert setup.exitcode == 0

    races = plan["last_place"] + plan["same_patient"]
    barrier = ctx.Barrier(2)
    workers = [
        _run(ctx, race.enrol_in_turn, (race_database, n, plan["practice_id"], races, barrier, results)) for n in (0, 1)
    ]
    outcomes = defaultdict(list)
    try:
        for _ in range(2 * len(races)):
            group_id, _worker, status = results.get(timeout=120)
            outcomes[group_id].append(status)
    except queue.Empty:
        pytest.fail(f"the workers did not finish: {dict(outcomes)}")
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    assert [w.exitcode for w in workers] == [0, 0]

    for group_id, _first, _second in plan["last_place"]:
        assert sorted(outcomes[group_id]) == ["enrolled", "waitlisted"], outcomes[group_id]
    for group_id, _patient, _same in plan["same_patient"]:
        assert sorted(outcomes[group_id]) == ["enrolled", "refused:conflict"], outcomes[group_id]

    engine = sa.create_engine(race_database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT g.id, g.capacity, "
                    "SUM(CASE WHEN e.status = 'enrolled' THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN e.status = 'waitlisted' THEN 1 ELSE 0 END) "
                    "FROM groups g JOIN enrolments e ON e.group_id = g.id GROUP BY g.id, g.capacity"
                )
            ).all()
    finally:
        engine.dispose()
    assert rows
    for group_id, capacity, enrolled, waitlisted in rows:
        assert enrolled <= capacity, f"group {group_id} is over-full"
        if any(group_id == r[0] for r in plan["last_place"]):
            assert (enrolled, waitlisted) == (2, 1)
