"""Staffing per session (CLINICAL.md "Staffing"): required = ceil(Σ 1/ratio(level)) over the expected patients,
a patient without a confirmed level counts as level 2; compared with the supervisors assigned."""

from datetime import timedelta

import pytest

from core.actor import Actor
from core.db import utcnow
from extensions import db
from groups import operations as groups
from supervision import operations as ops
from supervision.staffing import staffing_for
from tests.conftest import csrf_token
from tests.factories import api_token, login, make_patient, make_practice, make_user
from tests.groups.helpers import make_group, make_programme, make_room
from tests.supervision.samples import CALM, answers


def _with_level(practice, therapist, level: int | None):
    patient = make_patient(practice)
    if level is not None:
        actor = Actor.for_user(therapist)
        ops.create_assessment(actor, patient.id, kind="intake", answers=answers(CALM))
        reason = "" if level == 1 else "clinical judgement in the test"
        ops.decide_level(actor, patient.id, level=level, reason=reason)
    return patient


@pytest.fixture
def setting():
    practice = make_practice()
    therapist = make_user(practice=practice, role="therapist")
    group = make_group(practice, room=make_room(practice, capacity=20), capacity=20, supervisor_ids=[therapist.id])
    session = groups.group_sessions(Actor.system(practice.id), group.id)[0]
    return practice, therapist, group, session


def _enrol(practice, group, patients):
    for patient in patients:
        groups.enrol(Actor.system(practice.id), group.id, patient.id, at=utcnow() - timedelta(days=1))
    db.session.flush()


def test_mixed_levels_match_a_hand_computation(setting):
    practice, therapist, group, session = setting
    # 3 x level 3 (ratio 6), 5 x level 2 (ratio 10), 1 x level 4 (ratio 1), 2 without a level (count as 2):
    # 3/6 + 5/10 + 1/1 + 2/10 = 0.5 + 0.5 + 1 + 0.2 = 2.2 → ceil = 3 supervisors.
    patients = (
        [_with_level(practice, therapist, 3) for _ in range(3)]
        + [_with_level(practice, therapist, 2) for _ in range(5)]
        + [_with_level(practice, therapist, 4)]
        + [_with_level(practice, therapist, None) for _ in range(2)]
    )
    _enrol(practice, group, patients)
    figures = staffing_for(practice.id, [session])[session.id]
    assert figures.required == 3 and figures.assigned == 1 and figures.understaffed
    assert figures.patients_by_level == {"1": 0, "2": 5, "3": 3, "4": 1}
    assert figures.level_not_set == 2
    assert figures.individual_start == [patients[8].id]


def test_ten_standard_patients_need_exactly_one_supervisor(setting):
    practice, therapist, group, session = setting
    _enrol(practice, group, [_with_level(practice, therapist, 2) for _ in range(10)])
    figures = staffing_for(practice.id, [session])[session.id]
    assert (figures.required, figures.understaffed) == (1, False)  # 10 x 1/10 is exactly 1, not 2


def test_practice_ratios_change_the_figure(setting):
    practice, therapist, group, session = setting
    admin = make_user(practice=practice, role="admin")
    _enrol(practice, group, [_with_level(practice, therapist, 1) for _ in range(7)])
    assert staffing_for(practice.id, [session])[session.id].required == 1  # 7/12
    ops.update_ratios(Actor.for_user(admin), {1: 6, 2: 10, 3: 6, 4: 1})
    assert staffing_for(practice.id, [session])[session.id].required == 2  # 7/6


def test_staffing_api_reports_the_figures_and_is_scoped(client, setting):
    practice, therapist, group, session = setting
    _enrol(practice, group, [_with_level(practice, therapist, 3) for _ in range(7)])  # 7/6 → 2
    response = client.get(f"/api/v1/sessions/{session.id}/staffing", headers=api_token(therapist))
    assert response.status_code == 200
    assert response.json == {
        "required": 2,
        "assigned": 1,
        "understaffed": True,
        "patients_by_level": {"1": 0, "2": 0, "3": 7, "4": 0},
        "level_not_set": 0,
        "individual_start": [],
    }
    stranger = make_user(practice=make_practice(), role="admin")
    assert client.get(f"/api/v1/sessions/{session.id}/staffing", headers=api_token(stranger)).status_code == 404
    assert client.get("/api/v1/sessions/0/staffing", headers=api_token(therapist)).status_code == 404


def test_understaffed_sessions_show_on_the_dashboard_and_session_page(client, setting):
    practice, therapist, group, session = setting
    session.starts_at, session.ends_at = utcnow() + timedelta(days=2), utcnow() + timedelta(days=2, hours=1)
    _enrol(practice, group, [_with_level(practice, therapist, 4) for _ in range(2)])  # 2 x 1/1 → 2 needed
    login(client, therapist)
    dashboard = client.get("/").get_data(as_text=True)
    assert "Understaffed sessions" in dashboard and group.name in dashboard
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "understaffed" in page and "individual start" in page.lower()


def test_enrolling_a_patient_who_makes_a_session_understaffed_warns(client, setting):
    practice, therapist, group, session = setting
    session.starts_at, session.ends_at = utcnow() + timedelta(days=3), utcnow() + timedelta(days=3, hours=1)
    _enrol(practice, group, [_with_level(practice, therapist, 2) for _ in range(10)])  # exactly 1 needed
    newcomer = _with_level(practice, therapist, 3)
    login(client, therapist)
    token = csrf_token(client, f"/groups/{group.id}")
    client.post(f"/groups/{group.id}/enrol", data={"patient_id": newcomer.id, "csrf_token": token})
    page = client.get(f"/groups/{group.id}").get_data(as_text=True)
    assert "Understaffed" in page


def test_reassessment_is_due_at_session_4_and_at_the_end_of_the_programme(setting):
    practice, therapist, _, _ = setting
    group = make_group(practice, programme=make_programme(practice, session_count=12), room=make_room(practice))
    patient = _with_level(practice, therapist, 2)
    _enrol(practice, group, [patient])
    sessions = groups.group_sessions(Actor.system(practice.id), group.id)
    fourth, last = sessions[3], sessions[-1]
    actor = Actor.for_user(therapist)
    day = ops.practice_today(practice.id)
    due = {d.moment for d in ops.reassessments_due(actor, today=fourth.starts_at.date()) if d.patient.id == patient.id}
    assert "session_4" in due
    assert {d.moment for d in ops.reassessments_due(actor, today=day) if d.patient.id == patient.id} <= {"week_6"}
    # A reassessment around session 4 clears it; the end of the programme comes later.
    ops.create_assessment(actor, patient.id, kind="reassessment", answers=answers(CALM), taken_at=fourth.starts_at)
    later = {d.moment for d in ops.reassessments_due(actor, today=last.starts_at.date()) if d.patient.id == patient.id}
    assert "session_4" not in later and "end" in later
