"""Two tablets saving the same roll-call at once, each on its own connection (SQLite and PostgreSQL): nothing is
lost (every patient either tablet saved has a record), the last change per patient wins, and the follow-ups both
saves try to open stay one per patient."""

from __future__ import annotations

import multiprocessing
import queue

import pytest
import sqlalchemy as sa

from tests import processes
from tests.attendance import race

pytestmark = [pytest.mark.committing, pytest.mark.slow]


@pytest.fixture(params=["sqlite", "postgresql"])
def race_database(request, tmp_path):
    yield from processes.race_database(request.param, tmp_path, "att_race")


def test_two_tablets_saving_at_once_lose_nothing(race_database):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    setup = ctx.Process(target=race.prepare, args=(race_database, results))
    setup.start()
    plan = results.get(timeout=180)
    setup.join(timeout=60)
    assert setup.exitcode == 0

    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=race.save_in_turn, args=(race_database, n, plan, barrier, results)) for n in (0, 1)]
    for worker in workers:
        worker.start()
    outcomes = []
    try:
        for _ in range(2 * len(plan["sessions"])):
            outcomes.append(results.get(timeout=180))
    except queue.Empty:
        pytest.fail(f"the tablets did not finish: {outcomes}")
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    assert [w.exitcode for w in workers] == [0, 0]
    assert all(status == "saved" for _s, _w, status in outcomes), outcomes

    engine = sa.create_engine(race_database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT session_id, patient_id, status, updated_by_id FROM attendance_records")
            ).all()
            open_follow_ups = conn.execute(
                sa.text("SELECT patient_id, COUNT(*) FROM follow_ups WHERE status = 'open' GROUP BY patient_id")
            ).all()
    finally:
        engine.dispose()
    by_key = {(r.session_id, r.patient_id): r for r in rows}
    assert len(rows) == len(plan["sessions"]) * len(plan["patients"])  # nothing lost
    for session_id in plan["sessions"]:
        for patient_id in plan["patients"][:2]:
            row = by_key[(session_id, patient_id)]
            # The last writer's change wins, and it says who that was.
            assert (row.status, row.updated_by_id) in {("late", plan["users"][0]), ("absent", plan["users"][1])}
    assert open_follow_ups and all(n == 1 for _p, n in open_follow_ups)
