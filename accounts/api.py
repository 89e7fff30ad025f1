"""JSON API of accounts: the practice's staff, for other clients."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from accounts import operations
from accounts.auth import current_actor
from core.api import api_blueprint

blp = api_blueprint("Staff", __name__, "Staff members of the practice.")


class StaffSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    email = ma.fields.Email()
    role = ma.fields.String(metadata={"enum": ["admin", "therapist", "assistant"]})
    active = ma.fields.Boolean()


class StaffListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(StaffSchema))
    total = ma.fields.Integer()


@blp.route("/staff")
class StaffList(MethodView):
    @blp.response(200, StaffListSchema)
    def get(self):
        """List the practice's staff (id, name, email, role)."""
        staff = operations.list_staff(current_actor())
        return {"items": staff, "total": len(staff)}
