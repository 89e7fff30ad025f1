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


def test_every_text_in_the_code_has_a_dutch_translation(tmp_path):
    """Dutch is the default language: a new English text without its translation shows up in a Dutch UI."""
    import re
    import subprocess
    import sys

    from babel.messages.pofile import read_po

    from config import ROOT

    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(pot.open("rb")) if m.id}
    catalog = read_po((ROOT / "translations/nl/LC_MESSAGES/messages.po").open("rb"))
    translated, plural = {}, set()
    for m in catalog:
        if m.id:
            key = m.id if isinstance(m.id, str) else m.id[0]
            if not isinstance(m.id, str):
                plural.add(key)
            translated[key] = m.string if isinstance(m.string, str) else " ".join(m.string)
    missing = sorted(key for key in wanted if not translated.get(key))
    assert missing == [], f"{len(missing)} texts without Dutch: {missing[:10]} (run make extract-messages)"
    placeholder = re.compile(r"%\(\w+\)[sd]")
    broken = [
        key
        for key in wanted - plural
        if "%(" in key and sorted(placeholder.findall(key)) != sorted(placeholder.findall(translated[key]))
    ]
    assert broken == [], broken[:5]
