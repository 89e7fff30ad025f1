"""Scoring of the intake and reassessment instruments (CLINICAL.md, "Instruments").

Pure functions: no Flask, no database. Every score says how it was computed, and an unanswered item is
shown as missing, never counted as 0: the total of an instrument with a missing item is None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from supervision.definitions import (
    BAND_LABELS,
    BANDS,
    FOLLOW_UPS,
    INSTRUMENTS,
    PHQ9_SAFETY_ITEM,
    PSFS_MEANINGFUL_CHANGE,
    REQUIRED_INSTRUMENTS,
    SBST_ITEM9_POINT_FROM,
    SBST_PSYCHOSOCIAL_HIGH_MIN,
    SBST_PSYCHOSOCIAL_ITEMS,
    SBST_TOTAL_LOW_MAX,
    STAGE_STRATEGIES,
    STAGES,
    Text,
)


class AnswerError(ValueError):
    """Invalid answers; `fields` maps each instrument code (or "answers") to what is wrong with it."""

    def __init__(self, fields: Mapping[str, str]):
        self.fields = dict(fields)
        super().__init__("; ".join(f"{code}: {message}" for code, message in self.fields.items()))


@dataclass(frozen=True)
class Score:
    code: str
    #: None when an item is unanswered: shown as missing, never as 0.
    total: int | None
    band: str | None
    explanation: str
    explanation_nl: str
    #: The answers as given (None = unanswered), for showing them back.
    items: tuple[int | None, ...] = ()
    #: Ticked codes (ENV, RED_FLAGS), in definition order.
    codes: tuple[str, ...] = ()
    #: SBST psychosocial subscale (items 5–9).
    psychosocial: int | None = None
    #: PHQ-9 item 9, kept even when another item is missing because it is a safety question.
    item9: int | None = None
    #: PSFS mean, exact so that a change of exactly 2 is not lost to float rounding.
    mean: Fraction | None = None

    @property
    def complete(self) -> bool:
        return self.total is not None


@dataclass(frozen=True)
class ScoreSet:
    #: Answered instruments in definition order (an incomplete one has total None).
    scores: Mapping[str, Score]
    #: Required instruments that are absent or incomplete, plus answered instruments that are incomplete.
    missing: tuple[str, ...]

    def get(self, code: str) -> Score | None:
        return self.scores.get(code)

    def total(self, code: str) -> int | None:
        score = self.scores.get(code)
        return score.total if score else None

    def band(self, code: str) -> str | None:
        score = self.scores.get(code)
        return score.band if score and score.complete else None

    @property
    def red_flags(self) -> tuple[str, ...]:
        score = self.scores.get("RED_FLAGS")
        return score.codes if score else ()


# ---------------------------------------------------------------------------------------------------------
# Validation


def _item_problem(value: Any, low: int, high: int) -> str | None:
    # bool is a subclass of int, but True is not an answer on a 0–10 scale.
    if isinstance(value, bool):
        return "must be a whole number, not true/false"
    if isinstance(value, str):
        return "must be a number, not text"
    if not isinstance(value, int):
        return f"must be a whole number, not {type(value).__name__}"
    if not low <= value <= high:
        return f"must be between {low} and {high}, got {value}"
    return None


def _number(code: str, value: Any) -> int:
    low, high = INSTRUMENTS[code].item_ranges[0]
    problem = _item_problem(value, low, high)
    if problem:
        raise AnswerError({code: problem})
    return value


def _items(code: str, value: Any) -> tuple[int | None, ...]:
    instrument = INSTRUMENTS[code]
    ranges = instrument.item_ranges
    fewest = instrument.min_items or len(ranges)
    expected = f"{fewest}–{len(ranges)}" if fewest != len(ranges) else str(len(ranges))
    if not isinstance(value, list | tuple):
        raise AnswerError({code: f"must be a list of {expected} answers"})
    if not fewest <= len(value) <= len(ranges):
        raise AnswerError({code: f"must have {expected} items, got {len(value)}"})
    problems = [
        f"item {instrument.first_item + index}: {problem}"
        for index, (item, (low, high)) in enumerate(zip(value, ranges[: len(value)], strict=True))
        if item is not None and (problem := _item_problem(item, low, high))
    ]
    if problems:
        raise AnswerError({code: "; ".join(problems)})
    return tuple(value)


def _codes(code: str, value: Any) -> tuple[str, ...]:
    choices = INSTRUMENTS[code].choices
    if not isinstance(value, list | tuple | set | frozenset):
        raise AnswerError({code: "must be a list of codes"})
    unknown = [str(item) for item in value if not isinstance(item, str) or item not in choices]
    if unknown:
        raise AnswerError({code: f"unknown code(s) {', '.join(unknown)}; allowed: {', '.join(choices)}"})
    return tuple(choice for choice in choices if choice in value)


# ---------------------------------------------------------------------------------------------------------
# Explanations


def band_for(code: str, total: int) -> str:
    """The band of a total, from the cut-offs in definitions.BANDS."""
    for highest, band in BANDS[code]:
        if total <= highest:
            return band
    raise ValueError(f"{code}: total {total} above the highest band")


def _bands_described(code: str, lang: str) -> str:
    lowest = sum(low for low, _ in INSTRUMENTS[code].item_ranges)
    parts = []
    for highest, band in BANDS[code]:
        span = str(lowest) if lowest == highest else f"{lowest}–{highest}"
        parts.append(f"{span} {BAND_LABELS[band].get(lang)}")
        lowest = highest + 1
    return ", ".join(parts)


def _label(band: str, lang: str) -> str:
    return BAND_LABELS[band].get(lang)


def _missing_items_text(code: str, items: tuple[int | None, ...]) -> Text:
    first = INSTRUMENTS[code].first_item
    numbers = ", ".join(str(first + index) for index, item in enumerate(items) if item is None)
    return Text(
        f"not answered: item {numbers}; total not computed (missing is never counted as 0)",
        f"niet beantwoord: vraag {numbers}; geen totaal berekend (ontbrekend telt nooit als 0)",
    )


def _score(code: str, total: int | None, band: str | None, text: Text, **extras: Any) -> Score:
    return Score(code, total, band, text.en, text.nl, **extras)


def _summed(code: str, items: tuple[int | None, ...], **extras: Any) -> Score:
    """Sum of all items, banded; None when an item is unanswered."""
    if None in items:
        return _score(code, None, None, _missing_items_text(code, items), items=items, **extras)
    total = sum(items)
    band = band_for(code, total)
    text = Text(
        f"sum of {len(items)} items = {total} → {_label(band, 'en')} ({_bands_described(code, 'en')})",
        f"som van {len(items)} vragen = {total} → {_label(band, 'nl')} ({_bands_described(code, 'nl')})",
    )
    return _score(code, total, band, text, items=items, **extras)


def _single(code: str, value: Any) -> Score:
    answer = _number(code, value)
    band = band_for(code, answer)
    text = Text(
        f"answer {answer} → {_label(band, 'en')} ({_bands_described(code, 'en')})",
        f"antwoord {answer} → {_label(band, 'nl')} ({_bands_described(code, 'nl')})",
    )
    return _score(code, answer, band, text, items=(answer,))


# ---------------------------------------------------------------------------------------------------------
# One function per instrument


def score_nrs(value: Any) -> Score:
    """NRS pain intensity 0–10: the number; ≤5 mild, 6–7 moderate, ≥8 severe."""
    return _single("NRS", value)


def score_tsk11(value: Any) -> Score:
    """TSK-11: 11 items 1–4, sum 11–44; ≤22 low, 23–28 moderate, 29–35 high, ≥36 very high."""
    return _summed("TSK11", _items("TSK11", value))


def score_fabq_pa(value: Any) -> Score:
    """FABQ physical activity subscale: items 2–5, 0–6 each, sum 0–24; >14 high."""
    return _summed("FABQ_PA", _items("FABQ_PA", value))


def score_phq2(value: Any) -> Score:
    """PHQ-2: 2 items 0–3, sum 0–6; ≥3 positive (then PHQ-9 is required)."""
    return _summed("PHQ2", _items("PHQ2", value))


def score_phq9(value: Any) -> Score:
    """PHQ-9: 9 items 0–3, sum 0–27; bands at 5, 10, 15, 20; item 9 > 0 is a safety flag."""
    items = _items("PHQ9", value)
    item9 = items[PHQ9_SAFETY_ITEM - 1]
    score = _summed("PHQ9", items, item9=item9)
    shown = "–" if item9 is None else str(item9)
    return dataclasses.replace(
        score,
        explanation=f"{score.explanation}; item 9 = {shown}",
        explanation_nl=f"{score.explanation_nl}; vraag 9 = {shown}",
    )


def score_sils(value: Any) -> Score:
    """Single Item Literacy Screener 1 never … 5 always; ≥3 is limited health literacy."""
    return _single("SILS", value)


def score_stage(value: Any) -> Score:
    """Stage of change; the total is the stage's position (1 precontemplation … 5 maintenance)."""
    if not isinstance(value, str) or value not in STAGES:
        raise AnswerError({"STAGE": f"must be one of {', '.join(STAGES)}"})
    position = STAGES.index(value) + 1
    label = STAGE_STRATEGIES[value].label
    text = Text(
        f"answer {label.en} (stage {position} of {len(STAGES)})",
        f"antwoord {label.nl} (fase {position} van {len(STAGES)})",
    )
    return _score("STAGE", position, value, text)


def score_sbst(value: Any) -> Score:
    """STarT Back: items 1–8 agree = 1; item 9 (0 not at all … 4 extremely) very much/extremely = 1.

    Total 0–9 and psychosocial subscale items 5–9 (0–5): total ≤3 low; total ≥4 and subscale ≤3
    medium; subscale ≥4 high.
    """
    items = _items("SBST", value)
    if None in items:
        return _score("SBST", None, None, _missing_items_text("SBST", items), items=items)
    points = (*items[:-1], 1 if items[-1] >= SBST_ITEM9_POINT_FROM else 0)
    total = sum(points)
    psychosocial = sum(points[number - 1] for number in SBST_PSYCHOSOCIAL_ITEMS)
    if psychosocial >= SBST_PSYCHOSOCIAL_HIGH_MIN:
        band = "high"
    elif total > SBST_TOTAL_LOW_MAX:
        band = "medium"
    else:
        band = "low"
    text = Text(
        f"items 1–8 agree = 1 point, item 9 answer {items[-1]} = {points[-1]} point "
        f"(very much/extremely = 1); total {total} of 9, psychosocial subscale (items 5–9) {psychosocial} of 5 "
        f"→ {_label(band, 'en')} (total ≤{SBST_TOTAL_LOW_MAX} low; subscale ≥{SBST_PSYCHOSOCIAL_HIGH_MIN} high; "
        "otherwise medium)",
        f"vraag 1–8 mee eens = 1 punt, vraag 9 antwoord {items[-1]} = {points[-1]} punt "
        f"(erg veel/heel erg veel = 1); totaal {total} van 9, psychosociale subschaal (vraag 5–9) {psychosocial} "
        f"van 5 → {_label(band, 'nl')} (totaal ≤{SBST_TOTAL_LOW_MAX} laag; subschaal "
        f"≥{SBST_PSYCHOSOCIAL_HIGH_MIN} hoog; anders gemiddeld)",
    )
    return _score("SBST", total, band, text, items=items, psychosocial=psychosocial)


def score_psfs(value: Any) -> Score:
    """PSFS: 1–5 activities chosen by the patient, each 0–10; the score is the mean (total is the sum)."""
    items = _items("PSFS", value)
    if None in items:
        return _score("PSFS", None, None, _missing_items_text("PSFS", items), items=items)
    total = sum(items)
    mean = Fraction(total, len(items))
    sum_text = " + ".join(map(str, items))
    text = Text(
        f"mean of {len(items)} activities = ({sum_text}) / {len(items)} = {float(mean):.1f}",
        f"gemiddelde van {len(items)} activiteiten = ({sum_text}) / {len(items)} = {float(mean):.1f}",
    )
    return _score("PSFS", total, None, text, items=items, mean=mean)


def _ticked(code: str, value: Any, none: Text, some: Text) -> Score:
    codes = _codes(code, value)
    text = Text(f"{some.en}: {', '.join(codes)}", f"{some.nl}: {', '.join(codes)}") if codes else none
    return _score(code, len(codes), None, text, codes=codes)


def score_env(value: Any) -> Score:
    """Environmental barriers checklist: each ticked code is a barrier; the total is how many."""
    return _ticked("ENV", value, Text("nothing ticked", "niets aangekruist"), Text("ticked", "aangekruist"))


def score_red_flags(value: Any) -> Score:
    """Red flags ticked by the therapist; any one is a safety gate (see rules.py)."""
    return _ticked(
        "RED_FLAGS", value, Text("no red flags ticked", "geen rode vlaggen"), Text("red flags", "rode vlaggen")
    )


SCORERS: dict[str, Callable[[Any], Score]] = {
    "NRS": score_nrs,
    "TSK11": score_tsk11,
    "FABQ_PA": score_fabq_pa,
    "PHQ2": score_phq2,
    "PHQ9": score_phq9,
    "SILS": score_sils,
    "STAGE": score_stage,
    "SBST": score_sbst,
    "PSFS": score_psfs,
    "ENV": score_env,
    "RED_FLAGS": score_red_flags,
}


# ---------------------------------------------------------------------------------------------------------
# A whole questionnaire


def score_answers(answers: Mapping[str, Any]) -> ScoreSet:
    """Score every answered instrument; raises AnswerError naming every invalid one at once.

    An instrument that is absent or None is not answered. PHQ-2 is the first two PHQ-9 items, so when
    PHQ-2 is not answered but those items are, it is taken from the PHQ-9.
    """
    if not isinstance(answers, Mapping):
        raise AnswerError({"answers": "must be an object mapping instrument codes to answers"})
    scores: dict[str, Score] = {}
    problems: dict[str, str] = {}
    for code, value in answers.items():
        scorer = SCORERS.get(code) if isinstance(code, str) else None
        if scorer is None:
            problems[str(code)] = f"unknown instrument; known: {', '.join(SCORERS)}"
        elif value is not None:
            try:
                scores[code] = scorer(value)
            except AnswerError as error:
                problems.update(error.fields)
    if problems:
        raise AnswerError(problems)
    _phq2_from_phq9(scores)
    ordered = {code: scores[code] for code in INSTRUMENTS if code in scores}
    required = required_instruments(ordered)
    missing = tuple(
        code
        for code in INSTRUMENTS
        if (code in required or code in ordered) and not (code in ordered and ordered[code].complete)
    )
    return ScoreSet(ordered, missing)


def _phq2_from_phq9(scores: dict[str, Score]) -> None:
    phq9, phq2 = scores.get("PHQ9"), scores.get("PHQ2")
    if phq9 is None or (phq2 is not None and phq2.complete) or None in phq9.items[:2]:
        return
    derived = score_phq2(list(phq9.items[:2]))
    scores["PHQ2"] = dataclasses.replace(
        derived,
        explanation=f"from PHQ-9 items 1–2: {derived.explanation}",
        explanation_nl=f"uit PHQ-9 vraag 1–2: {derived.explanation_nl}",
    )


def required_instruments(scores: Mapping[str, Score]) -> tuple[str, ...]:
    """Instruments a complete screen needs: the required set plus follow-ups that a screen's band triggers."""
    required = list(REQUIRED_INSTRUMENTS)
    for follow_up in FOLLOW_UPS:
        screen = scores.get(follow_up.screen)
        if screen is not None and screen.complete and screen.band == follow_up.band:
            required.append(follow_up.then)
    return tuple(required)


def psfs_change(previous: Score | None, current: Score | None) -> Fraction | None:
    """Change of the PSFS mean (positive = better), or None when either mean is unknown."""
    if previous is None or current is None or previous.mean is None or current.mean is None:
        return None
    return current.mean - previous.mean


def is_meaningful_psfs_change(change: Fraction | None) -> bool:
    """A change of the PSFS mean of at least 2 points, better or worse, is meaningful."""
    return change is not None and abs(change) >= PSFS_MEANINGFUL_CHANGE
