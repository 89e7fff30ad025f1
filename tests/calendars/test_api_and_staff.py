"""Feed link API (rotate/revoke, cross-practice 404, OpenAPI) and the staff pages (patient section, session page)."""

from __future__ import annotations

import sqlalchemy as sa

from calendars import operations as ops
from core.actor import Actor
from core.db import utcnow
from extensions import db
from reminders.models import OutboxMessage
from tests.calendars.helpers import setup_group
from tests.conftest import csrf_from
from tests.factories import api_token, login, make_practice, make_user


def test_patient_feed_api_rotates_and_revokes(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    auth = api_token(supervisor)
    first = client.post(f"/api/v1/patients/{anna.id}/feed", headers=auth)
    assert first.status_code == 201
    url, webcal = first.json["url"], first.json["webcal_url"]
    assert url.startswith("http://motio.test/feeds/") and url.endswith(".ics")
    assert webcal == "webcal://" + url.removeprefix("http://")
    path = url.removeprefix("http://motio.test")
    assert client.get(path).status_code == 200
    second = client.post(f"/api/v1/patients/{anna.id}/feed", headers=auth)
    assert second.json["url"] != url and client.get(path).status_code == 404
    assert client.delete(f"/api/v1/patients/{anna.id}/feed", headers=auth).status_code == 204
    assert client.get(second.json["url"].removeprefix("http://motio.test")).status_code == 404


def test_feed_api_is_scoped_to_the_practice(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    stranger = make_user(make_practice(), role="admin")
    auth = api_token(stranger)
    assert client.post(f"/api/v1/patients/{anna.id}/feed", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/patients/{anna.id}/feed", headers=auth).status_code == 404
    assert client.post(f"/api/v1/staff/{supervisor.id}/feed", headers=auth).status_code == 404
    assert client.post(f"/api/v1/patients/{anna.id}/feed").status_code == 401


def test_staff_feed_api_for_yourself_or_as_admin(app, client, ctx):
    practice, supervisor, group, sessions, _ = setup_group(patients=[])
    colleague = make_user(practice, role="therapist")
    admin = make_user(practice, role="admin")
    own = client.post(f"/api/v1/staff/{supervisor.id}/feed", headers=api_token(supervisor))
    assert own.status_code == 201 and client.get(own.json["url"].removeprefix("http://motio.test")).status_code == 200
    assert client.post(f"/api/v1/staff/{supervisor.id}/feed", headers=api_token(colleague)).status_code == 404
    assert client.post(f"/api/v1/staff/{supervisor.id}/feed", headers=api_token(admin)).status_code == 201
    assert client.delete(f"/api/v1/staff/{supervisor.id}/feed", headers=api_token(admin)).status_code == 204


def test_openapi_documents_the_feed_endpoints(app, client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/patients/{patient_id}/feed", "/api/v1/staff/{user_id}/feed"):
        assert set(paths[path]) >= {"post", "delete"}, path
        assert "201" in paths[path]["post"]["responses"]


def test_patient_page_rotates_and_revokes_links_and_resends_welcome(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    login(client, supervisor)
    page = client.get(f"/patients/{anna.id}").get_data(as_text=True)
    assert 'id="calendar-links"' in page
    links = ops.patient_links(anna)
    assert links.feed.webcal_url in page and links.portal_url in page  # made by the welcome email
    token = csrf_from(page)
    base = f"/calendars/patients/{anna.id}"
    assert client.post(f"{base}/links/feed/rotate", data={"csrf_token": token}).status_code == 302
    assert ops.patient_links(anna).feed.url != links.feed.url
    assert client.post(f"{base}/links/portal/revoke", data={"csrf_token": token}).status_code == 302
    assert ops.patient_links(anna).portal_url is None
    assert client.post(f"{base}/links/portal/revoke").status_code == 400  # no CSRF token
    before = db.session.execute(sa.select(sa.func.count()).where(OutboxMessage.kind == "welcome")).scalar_one()
    assert client.post(f"{base}/welcome", data={"csrf_token": token}).status_code == 302
    after = db.session.execute(sa.select(sa.func.count()).where(OutboxMessage.kind == "welcome")).scalar_one()
    assert after == before + 1


def test_other_practice_cannot_touch_links(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    stranger = make_user(make_practice(), role="admin")
    login(client, stranger)
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post(f"/calendars/patients/{anna.id}/links/feed/rotate", data={"csrf_token": token})
    assert response.status_code == 404


def test_session_page_shows_invitation_status_per_patient(app, client, ctx):
    practice, supervisor, group, sessions, (anna, carl) = setup_group(
        patients=[{"name": "Anna Invite", "calendar_preference": "invitations"}, {"name": "Carl Feed"}]
    )
    ops.queue_invitations(utcnow())
    login(client, supervisor)
    html = client.get(f"/sessions/{sessions[0].id}").get_data(as_text=True)
    section = html.split('id="invitations"')[1]
    assert "Anna Invite" in section and "Carl Feed" in section
    assert "pending" in section and "Invitations by email" in section


def test_staff_links_page(app, client, ctx):
    practice, supervisor, group, sessions, _ = setup_group(patients=[])
    admin = make_user(practice, role="admin")
    login(client, admin)
    page = client.get("/calendars/links").get_data(as_text=True)
    assert group.room.name in page
    token = csrf_from(page)
    assert client.post(f"/calendars/rooms/{group.room_id}/feed/rotate", data={"csrf_token": token}).status_code == 302
    assert client.post(f"/calendars/staff/{admin.id}/feed/rotate", data={"csrf_token": token}).status_code == 302
    page = client.get("/calendars/links").get_data(as_text=True)
    assert page.count("webcal://motio.test/feeds/") == 2


def test_export_contains_calendar_data(app, ctx):
    from patients import operations as patients

    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    data = patients.export_patient(Actor.for_user(make_user(practice, role="admin")), anna.id)
    assert {link["kind"] for link in data["calendars"]["links"]} == {"patient", "portal"}
