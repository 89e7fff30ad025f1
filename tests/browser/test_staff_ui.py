"""What a therapist does on a Monday morning, in a real browser."""

import pytest

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_log_in_find_and_add_a_patient_with_a_corrected_mistake(page):
    log_in(page, "therapeut@example.com")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Fijn dat u er bent")

    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Patiënten").click()
    page.get_by_label("Zoeken op naam, e-mailadres of telefoonnummer").fill("Bakker")
    page.get_by_role("button", name="Zoeken").click()
    assert page.get_by_role("link", name="Anna de Vries").count() == 0
    assert page.locator("tbody tr").count() >= 1

    page.get_by_role("link", name="Patiënt toevoegen").click()
    page.get_by_label("Naam").fill("Ilse Vermeer")
    page.get_by_label("E-mailadres").fill("ilse@voorbeeld")
    page.get_by_role("button", name="Opslaan").click()

    email = page.get_by_label("E-mailadres")
    assert email.get_attribute("aria-invalid") == "true"
    error_id = email.get_attribute("aria-describedby")
    assert page.locator(f"#{error_id}").inner_text() == "Ongeldig e-mailadres."

    email.fill("ilse.vermeer@example.com")
    page.get_by_role("button", name="Opslaan").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Ilse Vermeer"
    assert "toegevoegd" in page.locator(".flash").inner_text()


def test_language_switch_and_logout(page):
    log_in(page)
    page.get_by_role("button", name="English").click()
    assert page.get_by_role("link", name="Patients", exact=True).is_visible()
    page.get_by_role("button", name="Nederlands").click()
    page.get_by_role("button", name="Uitloggen").click()
    page.wait_for_url("**/login")
    page.goto("/patients/")
    assert "/login" in page.url


def test_keyboard_user_can_skip_to_content_and_log_in(page):
    page.goto("/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Naar de inhoud"
    page.get_by_label("E-mailadres").focus()
    page.keyboard.type("assistent@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("motio-demo-2026")
    page.keyboard.press("Enter")
    page.wait_for_url("**/")
    # Assistants see no staff administration.
    assert page.get_by_role("link", name="Medewerkers").count() == 0


def test_api_docs_render_from_local_files(page):
    page.goto("/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=15000)
    assert "Motio API" in page.locator(".swagger-ui .info").inner_text()


def test_a_form_being_sent_cannot_be_sent_twice(page):
    log_in(page, "therapeut@example.com")
    page.goto("/patients/new")
    # Two submit events in a row (a double tap): the second is stopped while the first is on its way.
    prevented = page.evaluate(
        """() => {
            const form = document.querySelector("main form");
            const first = new Event("submit", {cancelable: true, bubbles: true});
            const second = new Event("submit", {cancelable: true, bubbles: true});
            form.dispatchEvent(first);
            form.dispatchEvent(second);
            return [first.defaultPrevented, second.defaultPrevented, form.getAttribute("aria-busy")];
        }"""
    )
    assert prevented == [False, True, "true"]
