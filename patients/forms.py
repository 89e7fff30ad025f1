from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional


def language_choices():
    return [("nl", _l("Dutch")), ("en", _l("English"))]


def calendar_choices():
    return [
        ("feed", _l("Calendar feed (subscribe once, always up to date)")),
        ("invitations", _l("Invitation by email for each session")),
        ("none", _l("No calendar")),
    ]


class PatientForm(FlaskForm):
    # Length limits mirror the operation's rules so the browser tells the user early; the operation decides.
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
    phone = TelField(_l("Phone"), validators=[Optional(), Length(max=40)])
    date_of_birth = DateField(_l("Date of birth"), validators=[Optional()])
    language = SelectField(_l("Language"), choices=language_choices)
    calendar_preference = SelectField(_l("Calendar"), choices=calendar_choices)
    reminders_enabled = BooleanField(_l("Send reminders before sessions"), default=True)
    email_consent = BooleanField(_l("Patient agrees to be contacted by email"))
    plain_language = BooleanField(_l("Plain language (limited health literacy)"))

    def values(self) -> dict:
        return {
            "name": self.name.data or "",
            "email": self.email.data or "",
            "phone": self.phone.data or "",
            "date_of_birth": self.date_of_birth.data,
            "language": self.language.data,
            "calendar_preference": self.calendar_preference.data,
            "reminders_enabled": bool(self.reminders_enabled.data),
            "email_consent": bool(self.email_consent.data),
            "plain_language": bool(self.plain_language.data),
        }


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=100)])


class EraseForm(FlaskForm):
    confirm_name = StringField(
        _l("Type the patient's full name to confirm"), validators=[DataRequired(), Length(max=200)]
    )
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
