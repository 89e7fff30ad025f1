"""Staff management, practice settings, audit log viewing: admins only."""

import pytest
import sqlalchemy as sa

from accounts.models import User
from extensions import db
from tests.conftest import csrf_from, csrf_token
from tests.factories import PASSWORD, api_token, login, make_practice, make_user

ADMIN_PAGES = ["/staff", "/settings", "/audit"]


@pytest.mark.parametrize("role", ["assistant", "therapist"])
def test_non_admins_cannot_manage_staff_or_settings(client, role):
    user = make_user(role=role)
    other = make_user(practice=user.practice, role="therapist")
    login(client, user)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 403, url
    token = csrf_token(client, "/")
    invite = client.post(
        "/staff", data={"name": "New Person", "email": "new@example.com", "role": "admin", "csrf_token": token}
    )
    assert invite.status_code == 403
    assert client.post(f"/staff/{other.id}/role", data={"role": "admin", "csrf_token": token}).status_code == 403
    assert client.post(f"/staff/{other.id}/active", data={"active": "0", "csrf_token": token}).status_code == 403
    db.session.expire_all()
    assert db.session.execute(sa.select(User).where(User.email == "new@example.com")).first() is None
    assert db.session.get(User, other.id).role == "therapist"
    assert db.session.get(User, other.id).active


def test_admin_invites_staff_who_set_their_own_password(client, app):
    admin = make_user(role="admin")
    login(client, admin)
    page = client.get("/staff")
    response = client.post(
        "/staff",
        data={
            "name": "Nieuwe Collega",
            "email": "nieuw@example.com",
            "role": "assistant",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    link = html.split('id="invite-link" type="text" readonly value="')[1].split('"')[0]
    path = link.replace("http://localhost", "")
    assert path.startswith("/invite/")

    newcomer = app.test_client()
    form = newcomer.get(path)
    assert form.status_code == 200
    done = newcomer.post(
        path,
        data={
            "password": "a long new password",
            "confirm": "a long new password",
            "csrf_token": csrf_from(form.get_data(as_text=True)),
        },
    )
    assert done.status_code == 302
    token = csrf_token(newcomer)
    assert (
        newcomer.post(
            "/login", data={"email": "nieuw@example.com", "password": "a long new password", "csrf_token": token}
        ).status_code
        == 302
    )
    # The link works once.
    assert app.test_client().get(path).status_code == 404


def test_invite_rejects_duplicate_email_and_bad_input(client):
    admin = make_user(role="admin")
    login(client, admin)
    token = csrf_token(client, "/staff")
    dup = client.post("/staff", data={"name": "Dubbel", "email": admin.email, "role": "therapist", "csrf_token": token})
    assert "already exists" in dup.get_data(as_text=True)
    bad = client.post("/staff", data={"name": "", "email": "not-an-email", "role": "boss", "csrf_token": token})
    assert bad.status_code == 200
    assert "Not a valid choice" in bad.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count(User.id))).scalar_one() == 1


def test_admin_changes_role_and_cannot_lock_themselves_out(client):
    admin = make_user(role="admin")
    colleague = make_user(practice=admin.practice, role="assistant")
    login(client, admin)
    token = csrf_token(client, "/staff")
    assert (
        client.post(f"/staff/{colleague.id}/role", data={"role": "therapist", "csrf_token": token}).status_code == 302
    )
    own = client.post(f"/staff/{admin.id}/active", data={"active": "0", "csrf_token": token})
    assert own.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, colleague.id).role == "therapist"
    assert db.session.get(User, admin.id).active


def test_admin_cannot_touch_staff_of_another_practice(client):
    admin = make_user(role="admin")
    stranger = make_user(practice=make_practice(), role="therapist")
    login(client, admin)
    token = csrf_token(client, "/staff")
    assert client.post(f"/staff/{stranger.id}/active", data={"active": "0", "csrf_token": token}).status_code == 404
    assert client.post(f"/staff/{stranger.id}/role", data={"role": "admin", "csrf_token": token}).status_code == 404
    db.session.expire_all()
    assert db.session.get(User, stranger.id).active


def test_practice_settings_are_validated(client):
    admin = make_user(role="admin")
    login(client, admin)
    token = csrf_token(client, "/settings")
    bad = client.post(
        "/settings", data={"name": "Praktijk X", "timezone": "Mars/Olympus", "locale": "en", "csrf_token": token}
    )
    assert bad.status_code == 200
    assert "Unknown time zone." in bad.get_data(as_text=True)
    good = client.post(
        "/settings",
        data={
            "name": "Praktijk Zuid",
            "timezone": "Europe/Brussels",
            "locale": "en",
            "address": "Markt 1, Maastricht",
            "csrf_token": token,
        },
    )
    assert good.status_code == 302
    db.session.expire_all()
    assert admin.practice.timezone == "Europe/Brussels"


def test_api_lists_only_own_practice_staff(client):
    user = make_user(role="assistant", name="Sanne Smit")
    make_user(practice=user.practice, role="admin", name="Annelies Bakker")
    make_user(practice=make_practice(), role="admin", name="Somebody Else")
    response = client.get("/api/v1/staff", headers=api_token(user))
    assert response.status_code == 200
    names = {s["name"] for s in response.json["items"]}
    assert names == {"Sanne Smit", "Annelies Bakker"}
    assert set(response.json["items"][0]) >= {"id", "name", "email", "role"}
    assert "password_hash" not in response.get_data(as_text=True)


def test_password_is_stored_as_argon2id_hash():
    user = make_user()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
