"""Login, logout, sessions, CSRF and throttling (RELIABILITY.md, Security)."""

from datetime import timedelta

import sqlalchemy as sa

from accounts.models import LoginSession
from extensions import db
from tests.conftest import csrf_token
from tests.factories import PASSWORD, api_token, login, make_patient, make_user


def test_login_shows_dashboard_and_logout_ends_session(client):
    user = make_user(role="therapist", name="Eva Jansen")
    assert client.get("/").status_code == 302  # not logged in: sent to login
    login(client, user)
    page = client.get("/")
    assert page.status_code == 200
    assert "Eva Jansen" in page.get_data(as_text=True)

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")


def test_cookie_captured_before_logout_is_rejected_after_it(app):
    user = make_user()
    browser = app.test_client()
    login(browser, user)
    stolen = browser.get_cookie("session").value

    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/")})

    attacker = app.test_client()
    attacker.set_cookie("session", stolen)
    response = attacker.get("/patients/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_each_login_gets_a_new_server_side_session(client):
    user = make_user()
    login(client, user)
    first = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, user)
    assert client.get_cookie("session").value != first
    assert db.session.execute(sa.select(sa.func.count()).select_from(LoginSession)).scalar_one() == 1


def test_wrong_password_and_unknown_email_get_the_same_generic_message(client):
    user = make_user()
    token = csrf_token(client)
    wrong = client.post("/login", data={"email": user.email, "password": "nope-nope-nope", "csrf_token": token})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "x" * 12, "csrf_token": token})
    assert wrong.status_code == unknown.status_code == 401
    assert "Email or password is not correct." in wrong.get_data(as_text=True)
    assert "Email or password is not correct." in unknown.get_data(as_text=True)


def test_idle_session_expires_server_side(client, app):
    user = make_user()
    login(client, user)
    assert client.get("/").status_code == 200
    row = db.session.execute(sa.select(LoginSession)).scalar_one()
    row.last_seen_at = row.last_seen_at - timedelta(minutes=app.config["LOGIN_IDLE_MINUTES"] + 1)
    db.session.flush()
    assert client.get("/").status_code == 302
    assert db.session.execute(sa.select(LoginSession)).scalar_one_or_none() is None


def test_form_post_without_csrf_token_is_400_and_writes_nothing(client):
    user = make_user()
    login(client, user)
    response = client.post(
        "/patients/new", data={"name": "Zonder Token", "language": "nl", "calendar_preference": "feed"}
    )
    assert response.status_code == 400
    client.get("/patients/?q=Zonder")
    from patients.models import Patient

    assert db.session.execute(sa.select(Patient).where(Patient.name == "Zonder Token")).first() is None


def test_cookie_authenticated_api_write_needs_csrf_but_bearer_does_not(client):
    user = make_user()
    login(client, user)
    without = client.post("/api/v1/patients", json={"name": "Via Cookie", "email": "c@example.com"})
    assert without.status_code == 400
    assert without.json["error"]["code"] == "csrf"
    with_token = client.post(
        "/api/v1/patients",
        json={"name": "Via Cookie", "email": "c@example.com"},
        headers={"X-CSRFToken": csrf_token(client, "/")},
    )
    assert with_token.status_code == 201

    fresh = client.application.test_client()
    bearer = fresh.post(
        "/api/v1/patients", json={"name": "Via Token", "email": "t@example.com"}, headers=api_token(user)
    )
    assert bearer.status_code == 201


def test_sixth_bad_password_in_a_minute_is_throttled(client, rate_limits):
    user = make_user()
    token = csrf_token(client)
    statuses = [
        client.post(
            "/login", data={"email": user.email, "password": f"wrong-{i}-password", "csrf_token": token}
        ).status_code
        for i in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    # Throttled means throttled: even the right password is refused for now, with a clear message.
    right = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 429
    assert "Too many attempts" in right.get_data(as_text=True)


def test_throttle_is_per_account_so_others_can_still_log_in(client, rate_limits):
    victim, other = make_user(), make_user()
    token = csrf_token(client)
    for i in range(6):
        client.post("/login", data={"email": victim.email, "password": f"wrong-{i}-password", "csrf_token": token})
    login(client, other)


def test_deactivated_staff_lose_sessions_and_tokens(app):
    admin = make_user(role="admin")
    staff = make_user(practice=admin.practice)
    headers = api_token(staff)
    staff_browser, admin_browser = app.test_client(), app.test_client()
    login(staff_browser, staff)
    login(admin_browser, admin)
    assert staff_browser.get("/").status_code == 200

    response = admin_browser.post(
        f"/staff/{staff.id}/active", data={"active": "0", "csrf_token": csrf_token(admin_browser, "/staff")}
    )
    assert response.status_code == 302
    assert staff_browser.get("/").status_code == 302
    assert app.test_client().get("/api/v1/patients", headers=headers).status_code == 401
    token = csrf_token(staff_browser)
    again = staff_browser.post("/login", data={"email": staff.email, "password": PASSWORD, "csrf_token": token})
    assert again.status_code == 401


def test_open_redirect_after_login_is_refused(client):
    user = make_user()
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token, "next": "https://evil.example/steal"},
    )
    assert response.headers["Location"] == "/"


def test_login_returns_to_the_page_asked_for(client):
    user = make_user()
    patient = make_patient(user.practice)
    redirect = client.get(f"/patients/{patient.id}")
    assert "next=" in redirect.headers["Location"]
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token, "next": f"/patients/{patient.id}"},
    )
    assert response.headers["Location"] == f"/patients/{patient.id}"
