"""JSON API for rooms, programmes, closure days, groups, sessions, enrolment and make-up bookings.

Datetimes are ISO 8601 with a UTC offset (naive ones are refused); dates are YYYY-MM-DD; times HH:MM local.
"""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from accounts.auth import current_actor
from core.api import PageArgs, PageSchema, StrictSchema, api_blueprint, page_of
from core.db import MAX_ID
from extensions import db
from groups import operations
from groups.models import ENROLMENT_STATUSES, SESSION_KINDS, SESSION_STATUSES
from groups.rules import WEEKDAYS, WITHDRAWAL_REASONS
from patients.models import LANGUAGES

rooms_blp = api_blueprint("Rooms", __name__, "Training rooms of the practice.")
programmes_blp = api_blueprint("Programmes", __name__, "Training programmes: number, frequency and length of sessions.")
groups_blp = api_blueprint(
    "Groups", __name__, "Groups (cohorts) with their materialised sessions, enrolments and waitlist."
)
sessions_blp = api_blueprint("Sessions", __name__, "Single group sessions: move, cancel, change room or staff.")
closures_blp = api_blueprint("Closure days", __name__, "Days the practice is closed; new groups skip them.")

blueprints = [rooms_blp, programmes_blp, groups_blp, sessions_blp, closures_blp]


def _id(**kwargs):
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


def _count(low: int, high: int, **kwargs):
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=low, max=high), **kwargs)


class ListSchema(ma.Schema):
    total = ma.fields.Integer(required=True)


# --- rooms ---------------------------------------------------------------------------------------------------


class RoomSchema(StrictSchema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    address = ma.fields.String(validate=ma.validate.Length(max=300), metadata={"description": "Calendar location."})
    capacity = _count(1, operations.MAX_CAPACITY, required=True)
    active = ma.fields.Boolean()


class RoomUpdateSchema(RoomSchema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    capacity = _count(1, operations.MAX_CAPACITY)


class RoomListSchema(ListSchema):
    items = ma.fields.List(ma.fields.Nested(RoomSchema), required=True)


@rooms_blp.route("/rooms")
class Rooms(MethodView):
    @rooms_blp.response(200, RoomListSchema)
    def get(self):
        """List the practice's rooms."""
        rooms = operations.list_rooms(current_actor())
        return {"items": rooms, "total": len(rooms)}

    @rooms_blp.arguments(RoomSchema)
    @rooms_blp.response(201, RoomSchema)
    def post(self, data):
        """Add a room (admins and therapists)."""
        room = operations.create_room(current_actor(), data)
        db.session.commit()
        return room


@rooms_blp.route("/rooms/<id:room_id>")
class RoomItem(MethodView):
    @rooms_blp.response(200, RoomSchema)
    def get(self, room_id: int):
        """Read one room."""
        return operations.get_room(current_actor(), room_id)

    @rooms_blp.arguments(RoomUpdateSchema)
    @rooms_blp.response(200, RoomSchema)
    def patch(self, data, room_id: int):
        """Change some fields of a room."""
        room = operations.update_room(current_actor(), room_id, data)
        db.session.commit()
        return room


# --- programmes ----------------------------------------------------------------------------------------------


class ProgrammeSchema(StrictSchema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(
        validate=ma.validate.Length(max=5000), metadata={"description": "Shown to patients: plain language."}
    )
    session_count = _count(1, operations.MAX_SESSIONS, required=True, metadata={"description": "All sessions."})
    sessions_per_week = _count(1, 7, required=True)
    session_minutes = _count(15, operations.MAX_MINUTES, required=True)
    education_sessions = _count(
        0, operations.MAX_SESSIONS, metadata={"description": "The first this-many sessions are education."}
    )
    default_group_size = _count(1, operations.MAX_CAPACITY, required=True)
    completion_threshold = _count(1, 100, metadata={"description": "Percent of sessions attended to complete."})
    language = ma.fields.String(validate=ma.validate.OneOf(LANGUAGES))
    active = ma.fields.Boolean()


class ProgrammeUpdateSchema(ProgrammeSchema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    session_count = _count(1, operations.MAX_SESSIONS)
    sessions_per_week = _count(1, 7)
    session_minutes = _count(15, operations.MAX_MINUTES)
    default_group_size = _count(1, operations.MAX_CAPACITY)


class ProgrammeListSchema(ListSchema):
    items = ma.fields.List(ma.fields.Nested(ProgrammeSchema), required=True)


@programmes_blp.route("/programmes")
class Programmes(MethodView):
    @programmes_blp.response(200, ProgrammeListSchema)
    def get(self):
        """List the practice's programmes."""
        programmes = operations.list_programmes(current_actor())
        return {"items": programmes, "total": len(programmes)}

    @programmes_blp.arguments(ProgrammeSchema)
    @programmes_blp.response(201, ProgrammeSchema)
    def post(self, data):
        """Add a programme (admins and therapists)."""
        programme = operations.create_programme(current_actor(), data)
        db.session.commit()
        return programme


@programmes_blp.route("/programmes/<id:programme_id>")
class ProgrammeItem(MethodView):
    @programmes_blp.response(200, ProgrammeSchema)
    def get(self, programme_id: int):
        """Read one programme."""
        return operations.get_programme(current_actor(), programme_id)

    @programmes_blp.arguments(ProgrammeUpdateSchema)
    @programmes_blp.response(200, ProgrammeSchema)
    def patch(self, data, programme_id: int):
        """Change some fields of a programme; groups already planned keep their sessions."""
        programme = operations.update_programme(current_actor(), programme_id, data)
        db.session.commit()
        return programme


# --- closure days --------------------------------------------------------------------------------------------


class ClosureSchema(StrictSchema):
    id = ma.fields.Integer(dump_only=True)
    day = ma.fields.Date(required=True)
    reason = ma.fields.String(validate=ma.validate.Length(max=200))


class ClosureListSchema(ListSchema):
    items = ma.fields.List(ma.fields.Nested(ClosureSchema), required=True)


@closures_blp.route("/closure-days")
class Closures(MethodView):
    @closures_blp.response(200, ClosureListSchema)
    def get(self):
        """List the practice's closure days."""
        closures = operations.list_closures(current_actor())
        return {"items": closures, "total": len(closures)}

    @closures_blp.arguments(ClosureSchema)
    @closures_blp.response(201, ClosureSchema)
    def post(self, data):
        """Add a closure day (admins). Sessions already planned on it are not changed: move or cancel them."""
        closure, _ = operations.add_closure(current_actor(), data["day"], data.get("reason", ""))
        db.session.commit()
        return closure


@closures_blp.route("/closure-days/<id:closure_id>")
class ClosureItem(MethodView):
    @closures_blp.response(204)
    def delete(self, closure_id: int):
        """Remove a closure day (admins)."""
        operations.remove_closure(current_actor(), closure_id)
        db.session.commit()


# --- groups --------------------------------------------------------------------------------------------------


class GroupCreateSchema(StrictSchema):
    programme_id = _id(required=True)
    room_id = _id(required=True)
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200), metadata={"description": "Optional."})
    start_date = ma.fields.Date(required=True, metadata={"example": "2027-03-01"})
    weekdays = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(WEEKDAYS)),
        required=True,
        validate=ma.validate.Length(min=1, max=7),
        metadata={"example": ["MO", "TH"]},
    )
    start_time = ma.fields.Time(
        format="%H:%M", required=True, metadata={"example": "18:00", "description": "Local time (HH:MM)."}
    )
    capacity = _count(1, operations.MAX_CAPACITY, required=True)
    supervisor_ids = ma.fields.List(_id(), validate=ma.validate.Length(max=20))
    override_supervisor_conflicts = ma.fields.Boolean(
        load_default=False, metadata={"description": "Plan even if a supervisor is booked elsewhere at that time."}
    )


class GroupSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    programme_id = ma.fields.Integer(required=True)
    room_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    start_date = ma.fields.Date(required=True)
    weekdays = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(WEEKDAYS)), required=True)
    start_time = ma.fields.Time(format="%H:%M", required=True)
    session_minutes = ma.fields.Integer(required=True)
    capacity = ma.fields.Integer(required=True)
    supervisor_ids = ma.fields.List(ma.fields.Integer(), required=True)
    enrolled_count = ma.fields.Integer(required=True)
    waitlist_count = ma.fields.Integer(required=True)
    timezone = ma.fields.String(required=True, metadata={"example": "Europe/Amsterdam"})


class GroupUpdateSchema(StrictSchema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    capacity = _count(1, operations.MAX_CAPACITY, metadata={"description": "More places promote the waitlist."})


class GroupPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(GroupSchema), required=True)


def group_out(group, enrolled: int, waitlisted: int) -> dict:
    return {
        "id": group.id,
        "programme_id": group.programme_id,
        "room_id": group.room_id,
        "name": group.name,
        "start_date": group.start_date,
        "weekdays": list(group.weekday_codes),
        "start_time": group.start_time,
        "session_minutes": group.session_minutes,
        "capacity": group.capacity,
        "supervisor_ids": [u.id for u in group.supervisors],
        "enrolled_count": enrolled,
        "waitlist_count": waitlisted,
        "timezone": group.timezone,
    }


def _group_out(group) -> dict:
    counts = operations.group_counts(current_actor(), [group.id])[group.id]
    return group_out(group, counts["enrolled"], counts["waitlisted"])


@groups_blp.route("/groups")
class Groups(MethodView):
    @groups_blp.arguments(PageArgs, location="query")
    @groups_blp.response(200, GroupPageSchema)
    def get(self, args):
        """List groups, newest start first, paged."""
        rows, total = operations.list_groups(current_actor(), page=args["page"], per_page=args["per_page"])
        items = [group_out(r.group, r.enrolled, r.waitlisted) for r in rows]
        return page_of(items, total, args["page"], args["per_page"])

    @groups_blp.arguments(GroupCreateSchema)
    @groups_blp.response(201, GroupSchema)
    def post(self, data):
        """Plan a group and materialise its sessions (closure days skipped and replaced at the end).

        The session length comes from the programme. A room booked at the same time is refused (409); so is a
        supervisor, unless `override_supervisor_conflicts` is true.
        """
        override = data.pop("override_supervisor_conflicts")
        group = operations.create_group(current_actor(), data, override_supervisor_conflicts=override)
        db.session.commit()
        return _group_out(group)


@groups_blp.route("/groups/<id:group_id>")
class GroupItem(MethodView):
    @groups_blp.response(200, GroupSchema)
    def get(self, group_id: int):
        """Read one group with its enrolled and waitlist counts."""
        return _group_out(operations.get_group(current_actor(), group_id))

    @groups_blp.arguments(GroupUpdateSchema)
    @groups_blp.response(200, GroupSchema)
    def patch(self, data, group_id: int):
        """Rename or resize a group; extra places go to the waitlist in order."""
        group, _ = operations.update_group(current_actor(), group_id, data)
        db.session.commit()
        return _group_out(group)


# --- sessions ------------------------------------------------------------------------------------------------


class SessionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    group_id = ma.fields.Integer(required=True)
    number = ma.fields.Integer(required=True, metadata={"description": "Position in the programme, from 1."})
    starts_at = ma.fields.AwareDateTime(required=True)
    ends_at = ma.fields.AwareDateTime(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(SESSION_STATUSES))
    sequence = ma.fields.Integer(required=True, metadata={"description": "iCalendar SEQUENCE."})
    room_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(SESSION_KINDS))
    supervisor_ids = ma.fields.Pluck("StaffRefSchema", "id", many=True, attribute="supervisors", required=True)
    replacement = ma.fields.Boolean(metadata={"description": "Added because a session fell on a closure day."})
    cancel_reason = ma.fields.String()
    notes = ma.fields.String()


class StaffRefSchema(ma.Schema):
    id = ma.fields.Integer()


class SessionPatchSchema(StrictSchema):
    starts_at = ma.fields.AwareDateTime(metadata={"example": "2027-03-04T18:00:00+01:00"})
    ends_at = ma.fields.AwareDateTime()
    room_id = _id()
    supervisor_ids = ma.fields.List(_id(), validate=ma.validate.Length(max=20))
    notes = ma.fields.String(validate=ma.validate.Length(max=5000), metadata={"description": "Does not notify."})
    status = ma.fields.String(validate=ma.validate.OneOf(SESSION_STATUSES))
    reason = ma.fields.String(validate=ma.validate.Length(max=500), metadata={"description": "Required to cancel."})
    scope = ma.fields.String(
        load_default="one",
        validate=ma.validate.OneOf(operations.SCOPES),
        metadata={"description": "`one`: this session; `future`: this and all later scheduled sessions of the group."},
    )
    override_supervisor_conflicts = ma.fields.Boolean(load_default=False)

    @ma.validates_schema
    def one_kind_of_change(self, data, **kwargs):
        changes = {"starts_at", "ends_at", "room_id", "supervisor_ids", "notes"} & set(data)
        if "status" in data and changes:
            raise ma.ValidationError("Change the status on its own, without other fields.", "status")
        if "status" not in data and not changes:
            raise ma.ValidationError("Nothing to change.", "_schema")
        if data.get("status") == "cancelled" and not (data.get("reason") or "").strip():
            raise ma.ValidationError("Give a reason to cancel.", "reason")


class SessionListSchema(ListSchema):
    items = ma.fields.List(ma.fields.Nested(SessionSchema), required=True)


class WeekArgs(StrictSchema):
    week = ma.fields.Date(
        required=True, metadata={"description": "Any day of the week (Monday to Sunday in the practice's zone)."}
    )
    room_id = _id()
    supervisor_id = _id()


@groups_blp.route("/groups/<id:group_id>/sessions")
class GroupSessions(MethodView):
    @groups_blp.response(200, SessionListSchema)
    def get(self, group_id: int):
        """All sessions of a group, cancelled ones included, in time order."""
        sessions = operations.group_sessions(current_actor(), group_id)
        return {"items": sessions, "total": len(sessions)}


@sessions_blp.route("/sessions")
class Sessions(MethodView):
    @sessions_blp.arguments(WeekArgs, location="query")
    @sessions_blp.response(200, SessionListSchema)
    def get(self, args):
        """The practice's sessions of one week, optionally for one room or supervisor."""
        week = operations.week(
            current_actor(), args["week"], room_id=args.get("room_id"), supervisor_id=args.get("supervisor_id")
        )
        sessions = [entry.session for _, entries in week.days for entry in entries]
        return {"items": sessions, "total": len(sessions)}


@sessions_blp.route("/sessions/<id:session_id>")
class SessionItem(MethodView):
    @sessions_blp.response(200, SessionSchema)
    def get(self, session_id: int):
        """Read one session."""
        return operations.get_session(current_actor(), session_id)

    @sessions_blp.arguments(SessionPatchSchema)
    @sessions_blp.response(200, SessionSchema)
    def patch(self, data, session_id: int):
        """Move, re-room or re-staff a session (or it and all later ones), edit its notes, cancel or restore it.

        Give only `starts_at` to keep the length. Time, room and status changes raise `sequence`. To cancel send
        `{"status": "cancelled", "reason": "..."}`; `{"status": "scheduled"}` restores a cancelled session.
        """
        actor = current_actor()
        override = data.pop("override_supervisor_conflicts")
        scope = data.pop("scope")
        reason = data.pop("reason", "")
        status = data.pop("status", None)
        if status == "cancelled":
            session = operations.cancel_session(actor, session_id, reason=reason, scope=scope)
        elif status == "scheduled":
            session = operations.get_session(actor, session_id)
            if session.cancelled:
                operations.restore_session(actor, session_id, reason=reason, override_supervisor_conflicts=override)
        else:
            session = operations.change_session(
                actor, session_id, data, scope=scope, reason=reason, override_supervisor_conflicts=override
            )
        db.session.commit()
        return session


# --- enrolments ----------------------------------------------------------------------------------------------


class EnrolmentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    patient_id = ma.fields.Integer(required=True)
    group_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(ENROLMENT_STATUSES))
    position = ma.fields.Integer(
        required=True, allow_none=True, metadata={"description": "Place on the waitlist (1 = next); null otherwise."}
    )
    enrolled_at = ma.fields.AwareDateTime(allow_none=True, metadata={"description": "Sessions count from here."})
    requested_at = ma.fields.AwareDateTime()
    withdrawn_at = ma.fields.AwareDateTime(allow_none=True)
    withdrawal_reason = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(list(WITHDRAWAL_REASONS)))


class EnrolSchema(StrictSchema):
    patient_id = _id(required=True)


class WithdrawSchema(StrictSchema):
    reason = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(list(WITHDRAWAL_REASONS)),
        metadata={"description": "Coded reason; each maps to a barrier (CLINICAL.md)."},
    )
    note = ma.fields.String(validate=ma.validate.Length(max=500))


class EnrolmentListSchema(ListSchema):
    items = ma.fields.List(ma.fields.Nested(EnrolmentSchema), required=True)


@groups_blp.route("/groups/<id:group_id>/enrolments")
class GroupEnrolments(MethodView):
    @groups_blp.response(200, EnrolmentListSchema)
    def get(self, group_id: int):
        """The group's enrolments: enrolled, then the waitlist in order, then withdrawn."""
        enrolments = operations.group_enrolments(current_actor(), group_id)
        db.session.commit()
        return {"items": enrolments, "total": len(enrolments)}

    @groups_blp.arguments(EnrolSchema)
    @groups_blp.response(201, EnrolmentSchema)
    def post(self, data, group_id: int):
        """Enrol a patient; when the group is full the patient joins the end of the waitlist."""
        enrolment = operations.enrol(current_actor(), group_id, data["patient_id"])
        db.session.commit()
        return enrolment


@groups_blp.route("/enrolments/<id:enrolment_id>")
class EnrolmentItem(MethodView):
    @groups_blp.response(200, EnrolmentSchema)
    def get(self, enrolment_id: int):
        """Read one enrolment."""
        enrolment = operations.get_enrolment(current_actor(), enrolment_id)
        return enrolment

    @groups_blp.arguments(WithdrawSchema)
    @groups_blp.response(200, EnrolmentSchema)
    def delete(self, data, enrolment_id: int):
        """Withdraw with a coded reason. A freed place goes to the first patient on the waitlist."""
        enrolment, _ = operations.withdraw(
            current_actor(), enrolment_id, reason=data["reason"], note=data.get("note", "")
        )
        db.session.commit()
        return enrolment


# --- make-up sessions ----------------------------------------------------------------------------------------


class GuestSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    session_id = ma.fields.Integer(required=True)
    patient_id = ma.fields.Integer(required=True)
    enrolment_id = ma.fields.Integer(required=True, metadata={"description": "The enrolment it counts for."})
    created_at = ma.fields.AwareDateTime()


class GuestListSchema(ListSchema):
    items = ma.fields.List(ma.fields.Nested(GuestSchema), required=True)


@sessions_blp.route("/sessions/<id:session_id>/guests")
class SessionGuests(MethodView):
    @sessions_blp.response(200, GuestListSchema)
    def get(self, session_id: int):
        """Make-up bookings of a session."""
        guests = operations.session_guests(current_actor(), session_id)
        return {"items": guests, "total": len(guests)}

    @sessions_blp.arguments(EnrolSchema)
    @sessions_blp.response(201, GuestSchema)
    def post(self, data, session_id: int):
        """Book a make-up: a patient of another group of the same programme joins this session, if there is room."""
        guest = operations.book_guest(current_actor(), session_id, data["patient_id"])
        db.session.commit()
        return guest


@sessions_blp.route("/guests/<id:guest_id>")
class GuestItem(MethodView):
    @sessions_blp.response(204)
    def delete(self, guest_id: int):
        """Cancel a make-up booking."""
        operations.cancel_guest(current_actor(), guest_id)
        db.session.commit()
