"""HTML forms. Limits mirror the operations' rules so the browser can tell the user early; operations decide."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from groups.labels import LANGUAGE_LABELS, WEEKDAY_LABELS, WITHDRAWAL_LABELS
from groups.operations import MAX_CAPACITY, MAX_MINUTES, MAX_SESSIONS
from groups.rules import WEEKDAYS


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes instead of a multi-select: easier to tap on a tablet."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _scope_choices():
    return [("one", _l("This session only")), ("future", _l("This and all later sessions of the group"))]


class RoomForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    capacity = IntegerField(_l("Places"), validators=[InputRequired(), NumberRange(min=1, max=MAX_CAPACITY)])
    active = BooleanField(_l("In use"), default=True)

    def values(self) -> dict:
        return {
            "name": self.name.data or "",
            "address": self.address.data or "",
            "capacity": self.capacity.data,
            "active": bool(self.active.data),
        }


class ProgrammeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description for patients"), validators=[Optional(), Length(max=5000)])
    session_count = IntegerField(
        _l("Number of sessions"), validators=[InputRequired(), NumberRange(min=1, max=MAX_SESSIONS)]
    )
    education_sessions = IntegerField(
        _l("Education sessions"), default=0, validators=[InputRequired(), NumberRange(min=0, max=MAX_SESSIONS)]
    )
    sessions_per_week = IntegerField(_l("Sessions per week"), validators=[InputRequired(), NumberRange(min=1, max=7)])
    session_minutes = IntegerField(
        _l("Session length (minutes)"), validators=[InputRequired(), NumberRange(min=15, max=MAX_MINUTES)]
    )
    default_group_size = IntegerField(
        _l("Group size"), validators=[InputRequired(), NumberRange(min=1, max=MAX_CAPACITY)]
    )
    completion_threshold = IntegerField(
        _l("Completed at (% of sessions attended)"), default=75, validators=[InputRequired(), NumberRange(1, 100)]
    )
    language = SelectField(_l("Language"), choices=lambda: list(LANGUAGE_LABELS.items()))
    active = BooleanField(_l("Open for new groups"), default=True)

    def values(self) -> dict:
        return {
            "name": self.name.data or "",
            "description": self.description.data or "",
            "session_count": self.session_count.data,
            "education_sessions": self.education_sessions.data,
            "sessions_per_week": self.sessions_per_week.data,
            "session_minutes": self.session_minutes.data,
            "default_group_size": self.default_group_size.data,
            "completion_threshold": self.completion_threshold.data,
            "language": self.language.data,
            "active": bool(self.active.data),
        }


class GroupForm(FlaskForm):
    programme_id = SelectField(_l("Programme"), coerce=int, validators=[InputRequired()])
    room_id = SelectField(_l("Room"), coerce=int, validators=[InputRequired()])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    start_date = DateField(_l("First day"), validators=[InputRequired()])
    weekdays = MultiCheckboxField(
        _l("Weekdays"), choices=lambda: [(d, WEEKDAY_LABELS[d]) for d in WEEKDAYS], validators=[InputRequired()]
    )
    start_time = TimeField(_l("Start time"), validators=[InputRequired()])
    capacity = IntegerField(_l("Places"), validators=[Optional(), NumberRange(min=1, max=MAX_CAPACITY)])
    supervisor_ids = MultiCheckboxField(_l("Supervisors"), coerce=int)
    override_supervisor_conflicts = BooleanField(_l("Plan even if a supervisor is booked elsewhere at that time"))


class GroupSettingsForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    capacity = IntegerField(_l("Places"), validators=[InputRequired(), NumberRange(min=1, max=MAX_CAPACITY)])


class SessionChangeForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired()])
    start_time = TimeField(_l("Start"), validators=[InputRequired()])
    end_time = TimeField(_l("End"), validators=[InputRequired()])
    room_id = SelectField(_l("Room"), coerce=int, validators=[InputRequired()])
    supervisor_ids = MultiCheckboxField(_l("Supervisors"), coerce=int)
    scope = RadioField(_l("Apply to"), choices=_scope_choices, default="one")
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
    override_supervisor_conflicts = BooleanField(_l("Keep a supervisor even if booked elsewhere at that time"))


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    scope = RadioField(_l("Cancel"), choices=_scope_choices, default="one")


class NotesForm(FlaskForm):
    notes = TextAreaField(_l("Notes for staff"), validators=[Optional(), Length(max=5000)])


class PatientChoiceForm(FlaskForm):
    patient_id = SelectField(_l("Patient"), coerce=int, validators=[InputRequired()])


class WithdrawForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=lambda: [("", _l("Choose a reason"))] + list(WITHDRAWAL_LABELS.items()))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ClosureForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired()])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=200)])
