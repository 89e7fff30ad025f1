"""HTML forms of supervision. The assessment's answers are read by `answers_from_form` (one field per item, built
from the instrument definitions); the operations validate everything again, as for the API."""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from supervision.definitions import BARRIERS, INSTRUMENTS, LEVELS, MISCONCEPTIONS, STAGE_STRATEGIES, STAGES
from supervision.models import ACTION_STATUSES
from supervision.operations import ACTION_TEXT_MAX, NOTE_MAX, RATIO_MAX, REASON_MAX

#: PHQ-9 items 1–2 are the PHQ-2 items: the form asks them once, in the PHQ-2 block.
PHQ9_OWN_FIRST_ITEM = 3


def lang() -> str:
    return "nl" if str(get_locale() or "nl") == "nl" else "en"


def item_numbers(code: str) -> list[int]:
    instrument = INSTRUMENTS[code]
    numbers = [instrument.first_item + n for n in range(instrument.item_count)]
    return [n for n in numbers if n >= PHQ9_OWN_FIRST_ITEM] if code == "PHQ9" else numbers


def _number(raw: str):
    """A whole number from a form value; anything else is passed on as text so scoring names the field."""
    raw = raw.strip()
    if raw.isascii() and raw.isdigit() and len(raw) < 6:  # isdigit() alone accepts "²"
        return int(raw)
    return raw


def answers_from_form(formdata: MultiDict) -> dict:
    """The answers in the API's format. An instrument with no answered item is left out (not answered); one with
    some items answered keeps the others as null, so they show as missing instead of counting as 0."""
    answers: dict = {}
    for code, instrument in INSTRUMENTS.items():
        if code == "PSFS":
            rows = []
            for n in range(1, instrument.item_count + 1):
                activity = (formdata.get(f"PSFS-activity-{n}") or "").strip()
                score = (formdata.get(f"PSFS-score-{n}") or "").strip()
                if activity or score:
                    rows.append({"activity": activity, "score": _number(score) if score else None})
            if rows:
                answers["PSFS"] = rows
        elif instrument.answer == "number":
            raw = (formdata.get(code) or "").strip()
            if raw:
                answers[code] = _number(raw)
        elif instrument.answer == "items":
            values = [(formdata.get(f"{code}-{n}") or "").strip() for n in item_numbers(code)]
            if not any(values):
                continue
            items = [_number(v) if v else None for v in values]
            if code == "PHQ9":
                items = [
                    _number(v) if (v := (formdata.get(f"PHQ2-{n}") or "").strip()) else None for n in (1, 2)
                ] + items
            answers[code] = items
        elif instrument.answer == "choice":
            raw = (formdata.get(code) or "").strip()
            if raw:
                answers[code] = raw
        elif instrument.answer == "codes":
            ticked = [value for value in formdata.getlist(code) if value]
            if ticked:
                answers[code] = ticked
    return answers


def kind_choices():
    return [SelectChoice("intake", _l("Intake")), SelectChoice("reassessment", _l("Reassessment"))]


class AssessmentForm(FlaskForm):
    """Kind and the "PHQ-9 not done" escape; the instrument answers are read with `answers_from_form`."""

    kind = RadioField(_l("Moment"), choices=kind_choices, validators=[InputRequired()])
    phq9_skipped = BooleanField(_l("PHQ-9 not done now (the screen stays incomplete)"))


def level_choices():
    return [SelectChoice(str(n), f"{n} · {LEVELS[n].name.get(lang())}") for n in sorted(LEVELS)]


class DecisionForm(FlaskForm):
    level = RadioField(_l("Supervision level"), choices=level_choices, validators=[InputRequired()])
    reason = TextAreaField(
        _l("Reason"), validators=[Optional(), Length(max=REASON_MAX)], render_kw={"rows": 3, "maxlength": REASON_MAX}
    )


class SafetyReviewForm(FlaskForm):
    note = TextAreaField(
        _l("What did you do?"), validators=[DataRequired(), Length(max=NOTE_MAX)], render_kw={"rows": 2}
    )


def barrier_choices():
    return [SelectChoice(code, barrier.label.get(lang())) for code, barrier in BARRIERS.items()]


class BarrierForm(FlaskForm):
    code = SelectField(_l("Barrier"), choices=barrier_choices)
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ActionForm(FlaskForm):
    """Choices are set per barrier by the view (its suggested actions) and per practice (owners)."""

    code = SelectField(_l("Action"), choices=[])
    text = StringField(_l("Describe (for Other)"), validators=[Optional(), Length(max=ACTION_TEXT_MAX)])
    owner_id = SelectField(_l("Owner"), choices=[], validate_choice=False)
    due_on = DateField(_l("Due"), validators=[Optional()])


def status_choices():
    labels = {"open": _l("open"), "done": _l("done"), "cancelled": _l("cancelled")}
    return [SelectChoice(status, labels[status]) for status in ACTION_STATUSES]


class ActionUpdateForm(FlaskForm):
    status = SelectField(_l("Status"), choices=status_choices)
    outcome = StringField(_l("Outcome"), validators=[Optional(), Length(max=NOTE_MAX)])


class TeachBackForm(FlaskForm):
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=NOTE_MAX)])


class RatiosForm(FlaskForm):
    ratio_1 = IntegerField(validators=[InputRequired(), NumberRange(1, RATIO_MAX)])
    ratio_2 = IntegerField(validators=[InputRequired(), NumberRange(1, RATIO_MAX)])
    ratio_3 = IntegerField(validators=[InputRequired(), NumberRange(1, RATIO_MAX)])
    ratio_4 = IntegerField(validators=[InputRequired(), NumberRange(1, RATIO_MAX)])


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def misconception_choices():
    return [SelectChoice(code, text.get(lang())) for code, text in MISCONCEPTIONS.items()]


def stage_choices():
    return [SelectChoice(code, STAGE_STRATEGIES[code].label.get(lang())) for code in STAGES]


class EducationItemForm(FlaskForm):
    title_nl = StringField(_l("Title (Dutch)"), validators=[Optional(), Length(max=200)])
    text_nl = TextAreaField(_l("Text (Dutch)"), validators=[Optional(), Length(max=20_000)], render_kw={"rows": 6})
    plain_nl = TextAreaField(
        _l("Plain-language text (Dutch)"), validators=[Optional(), Length(max=20_000)], render_kw={"rows": 4}
    )
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=200)])
    text_en = TextAreaField(_l("Text (English)"), validators=[Optional(), Length(max=20_000)], render_kw={"rows": 6})
    plain_en = TextAreaField(
        _l("Plain-language text (English)"), validators=[Optional(), Length(max=20_000)], render_kw={"rows": 4}
    )
    video_url = URLField(_l("Video link"), validators=[Optional(), Length(max=500)])
    misconceptions = MultiCheckboxField(_l("Misconceptions it addresses"), choices=misconception_choices)
    barriers = MultiCheckboxField(_l("Barriers it helps with"), choices=barrier_choices)
    stages = MultiCheckboxField(_l("Stages of change it fits"), choices=stage_choices)

    def values(self) -> dict:
        values = {
            name: getattr(self, name).data or ""
            for name in ("title_nl", "text_nl", "plain_nl", "title_en", "text_en", "plain_en", "video_url")
        }
        values["tags"] = {
            "misconception": self.misconceptions.data or [],
            "barrier": self.barriers.data or [],
            "stage": self.stages.data or [],
        }
        return values


class VideoForm(FlaskForm):
    video = FileField(_l("Video file (mp4 or webm)"), validators=[FileRequired()])
