"""Language: Dutch by default, English on request, the switch in the header remembered for the session."""

from tests.conftest import csrf_token
from tests.factories import login, make_practice, make_user


def test_dutch_is_the_default(app):
    client = app.test_client()  # no Accept-Language header
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="nl">' in page and "Inloggen" in page


def test_browser_language_is_respected_before_login(app):
    client = app.test_client()
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Log in to Motio" in page


def test_language_switch_is_remembered(app):
    client = app.test_client()
    user = make_user(practice=make_practice(locale="nl"))
    login(client, user)
    assert "Patiënten" in client.get("/").get_data(as_text=True)
    response = client.post(
        "/language", data={"lang": "en", "next": "/patients/", "csrf_token": csrf_token(client, "/")}
    )
    assert response.headers["Location"] == "/patients/"
    assert "Add patient" in client.get("/patients/").get_data(as_text=True)


def test_validation_messages_are_translated(app):
    client = app.test_client()
    user = make_user(practice=make_practice(locale="nl"))
    login(client, user)
    response = client.post(
        "/patients/new",
        data={
            "name": "Test",
            "email": "kapot",
            "language": "nl",
            "calendar_preference": "feed",
            "csrf_token": csrf_token(client, "/patients/new"),
        },
    )
    assert response.status_code == 422
    assert "ongeldig e-mailadres" in response.get_data(as_text=True).lower()
