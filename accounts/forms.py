from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from accounts.models import ROLES


def role_choices():
    labels = {"admin": _l("Admin"), "therapist": _l("Therapist"), "assistant": _l("Assistant")}
    return [(role, labels[role]) for role in ROLES]


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class InviteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    # Therapist by default: making someone an admin should be a deliberate choice.
    role = SelectField(_l("Role"), choices=role_choices, default="therapist")


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices)


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change something."""


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=12, max=200)])
    confirm = PasswordField(
        _l("Repeat the password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))]
    )


class PracticeForm(FlaskForm):
    name = StringField(_l("Practice name"), validators=[DataRequired(), Length(max=200)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    sender_email = EmailField(
        _l("Practice mailbox (sender of emails)"), validators=[Optional(), Email(), Length(max=254)]
    )
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    locale = SelectField(_l("Language"), choices=[("nl", "Nederlands"), ("en", "English")])


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    patient_id = StringField(_l("Patient number"), validators=[Optional(), Length(max=19)])
    action = StringField(_l("Action"), validators=[Optional(), Length(max=40)])


class TokenForm(FlaskForm):
    label = StringField(_l("What is the token for?"), validators=[DataRequired(), Length(max=100)])
