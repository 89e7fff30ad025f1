"""JSON API for calendar feed links: make a new link (the old one stops working) or revoke it."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from accounts.auth import current_actor
from calendars import operations
from core.api import api_blueprint
from extensions import db

blp = api_blueprint("Calendar feeds", __name__, "Personal calendar feed links (webcal) of patients and staff.")


class FeedLinkSchema(ma.Schema):
    url = ma.fields.String(required=True, metadata={"example": "https://motio.example/feeds/abc.ics"})
    webcal_url = ma.fields.String(required=True, metadata={"example": "webcal://motio.example/feeds/abc.ics"})


def _links(row) -> dict:
    links = operations.feed_links(row)
    return {"url": links.url, "webcal_url": links.webcal_url}


@blp.route("/patients/<id:patient_id>/feed")
class PatientFeed(MethodView):
    @blp.response(201, FeedLinkSchema)
    def post(self, patient_id: int):
        """Make a new feed link for the patient; the previous link stops working at once."""
        row = operations.rotate_patient_link(current_actor(), patient_id, "patient")
        db.session.commit()
        return _links(row)

    @blp.response(204)
    def delete(self, patient_id: int):
        """Revoke the patient's feed link (subscribed calendars stop updating)."""
        operations.revoke_patient_link(current_actor(), patient_id, "patient")
        db.session.commit()


@blp.route("/staff/<id:user_id>/feed")
class StaffFeed(MethodView):
    @blp.response(201, FeedLinkSchema)
    def post(self, user_id: int):
        """Make a new feed link of the sessions a staff member supervises (your own, or anyone's as admin)."""
        row = operations.rotate_staff_feed(current_actor(), user_id)
        db.session.commit()
        return _links(row)

    @blp.response(204)
    def delete(self, user_id: int):
        """Revoke a staff member's feed link."""
        operations.revoke_staff_feed(current_actor(), user_id)
        db.session.commit()
