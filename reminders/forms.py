from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, TimeField
from wtforms.validators import InputRequired


class ReminderSettingsForm(FlaskForm):
    remind_24h = BooleanField(_l("Reminder 24 hours before each session"))
    remind_2h = BooleanField(_l("Extra reminder 2 hours before each session"))
    quiet_hours = BooleanField(_l("No reminders at night (quiet hours)"))
    quiet_start = TimeField(_l("Quiet hours start"), validators=[InputRequired()])
    quiet_end = TimeField(_l("Quiet hours end"), validators=[InputRequired()])
