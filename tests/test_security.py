"""Security rules of RELIABILITY.md: the IDOR matrix, headers, generic errors, no 500 on bad input."""

import os
import subprocess
import sys

import pytest

from config import ROOT
from tests.conftest import csrf_token
from tests.factories import api_token, login, make_patient, make_practice, make_user

ROLES = ["admin", "therapist", "assistant"]


@pytest.fixture
def two_practices():
    home, away = make_practice(), make_practice()
    return {
        "home": home,
        "away": away,
        "own_patient": make_patient(home, name="Eigen Patiënt"),
        "other_patient": make_patient(away, name="Vreemde Patiënt"),
        "other_staff": make_user(practice=away, role="therapist"),
    }


@pytest.mark.parametrize("role", ROLES)
def test_idor_matrix_html(client, two_practices, role):
    user = make_user(practice=two_practices["home"], role=role)
    login(client, user)
    own, other = two_practices["own_patient"].id, two_practices["other_patient"].id
    token = csrf_token(client, "/")
    for url in ("/patients/{}", "/patients/{}/edit"):
        assert client.get(url.format(own)).status_code == 200, url
        response = client.get(url.format(other))
        assert response.status_code == 404, url
        assert "Vreemde" not in response.get_data(as_text=True)
    edit = client.post(
        f"/patients/{other}/edit",
        data={"name": "Overgenomen", "language": "nl", "calendar_preference": "feed", "csrf_token": token},
    )
    assert edit.status_code == 404
    archive = client.post(f"/patients/{other}/archive", data={"archived": "1", "csrf_token": token})
    assert archive.status_code == (404 if role != "assistant" else 403)
    assert ">Vreemde Patiënt</a>" not in client.get("/patients/?q=Vreemde").get_data(as_text=True)
    if role == "admin":
        staff = two_practices["other_staff"].id
        assert client.post(f"/staff/{staff}/active", data={"active": "0", "csrf_token": token}).status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_idor_matrix_api(client, two_practices, role):
    headers = api_token(make_user(practice=two_practices["home"], role=role))
    own, other = two_practices["own_patient"].id, two_practices["other_patient"].id
    assert client.get(f"/api/v1/patients/{own}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/patients/{other}", headers=headers).status_code == 404
    assert client.patch(f"/api/v1/patients/{other}", json={"name": "Overgenomen"}, headers=headers).status_code == 404
    listed = client.get("/api/v1/patients?q=Patiënt", headers=headers).json
    assert [p["id"] for p in listed["items"]] == [own]
    staff = client.get("/api/v1/staff", headers=headers).json
    assert two_practices["other_staff"].id not in {s["id"] for s in staff["items"]}


def test_security_headers_on_pages_and_api(client):
    for url in ("/login", "/api/v1/openapi.json"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert (
            "frame-ancestors 'none'" in csp
            and "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_session_cookie_flags(client):
    user = make_user()
    response = login(client, user)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def _run_in_production(code: str, **env) -> subprocess.CompletedProcess:
    """Production settings are checked in a fresh process: extensions are configured once per process."""
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    environ.update({"MOTIO_ENV": "production", "DATABASE_URL": "sqlite://", **env})
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_production_settings_secure_cookies_and_hsts():
    result = _run_in_production(
        "from app import create_app\n"
        "app = create_app()\n"
        "assert app.config['SESSION_COOKIE_SECURE'] is True\n"
        "client = app.test_client()\n"
        "r = client.get('/login', base_url='https://motio.example')\n"
        "assert 'max-age' in r.headers['Strict-Transport-Security'], r.headers\n"
        "assert client.get('/login', base_url='http://motio.example').status_code == 302\n"
        "print('ok')\n",
        SECRET_KEY="x" * 40,
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_production_without_secret_key_refuses_to_start():
    result = _run_in_production("from app import create_app\ncreate_app()\n")
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_errors_are_generic_pages_without_stack_traces(client):
    page = client.get("/no/such/page")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "Traceback" not in html and "Not found" in html
    api = client.get("/api/v1/nothing-here", headers={"Authorization": "Bearer x"})
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_unexpected_errors_answer_a_generic_500(app):
    from app import create_app

    fresh = create_app(app.config)  # a route can only be added before an app's first request

    @fresh.route("/_boom")
    def boom():
        raise RuntimeError("secret internals")

    fresh.view_functions["boom"]._motio_public = True
    response = fresh.test_client().get("/_boom")
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_bad_input_on_public_endpoints_never_500(client):
    token = csrf_token(client)
    cases = [
        client.post("/login", data={"email": "x" * 5000, "password": "y" * 5000, "csrf_token": token}),
        client.post("/login", data={"csrf_token": token}),
        client.post("/language", data={"lang": "xx", "next": "//evil.example", "csrf_token": token}),
        client.get("/invite/" + "a" * 500),
        client.get("/api/v1/patients/%00"),
    ]
    for response in cases:
        assert response.status_code < 500, response.request.path
    assert cases[2].headers["Location"] == "/"
