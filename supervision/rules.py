"""Supervision level rules, barriers from scores, reassessment suggestions and staffing (CLINICAL.md).

Pure functions: no Flask, no database. Motio proposes, the therapist decides: every proposal lists all
the rules that fired, with their reasons, so it can be checked and overridden.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real
from typing import NamedTuple

from supervision.definitions import (
    BAND_LABELS,
    BARRIERS,
    DEFAULT_RATIOS,
    ENV_BARRIERS,
    FOLLOW_UPS,
    LEVEL_WHEN_NOT_SET,
    LEVELS,
    REASSESSMENT,
    REASSESSMENT_REASONS,
    RED_FLAGS,
    RULES,
    SCORE_BARRIERS,
    STAGE_STRATEGIES,
    Condition,
    Rule,
    Text,
)
from supervision.scoring import ScoreSet, psfs_change, required_instruments, score_red_flags


@dataclass(frozen=True)
class Reason:
    code: str
    #: The level the rule asks for; None for a safety gate (and for reassessment reasons).
    level: int | None
    text_en: str
    text_nl: str


@dataclass(frozen=True)
class Proposal:
    #: None when a safety gate fired: no automatic level, a clinician reviews.
    level: int | None
    #: Every rule that fired, in rule-table order.
    reasons: list[Reason]
    safety_flags: list[str]
    #: Instruments a complete screen still needs (why SCREEN_INCOMPLETE fired).
    missing: list[str]


@dataclass(frozen=True)
class Suggestion:
    #: "down", "up" or None (no change suggested); the therapist decides.
    direction: str | None
    reasons: list[Reason]


class Staffing(NamedTuple):
    required: int
    #: Patients with a confirmed level, keyed "1".."4" (string keys, as in JSON).
    patients_by_level: dict[str, int]
    #: Patients without a confirmed level; they are counted at LEVEL_WHEN_NOT_SET in `required`.
    level_not_set: int


class _Values(dict):
    """Placeholder values for reason texts; an unknown value shows as a dash instead of failing."""

    def __missing__(self, key: str) -> str:
        return "–"


# ---------------------------------------------------------------------------------------------------------
# Level proposal


def propose_level(scores: ScoreSet, red_flags: Iterable[str] = ()) -> Proposal:
    """Apply the rule table: all rules that fire are listed, the highest level wins, a safety gate gives None.

    Red flags are those ticked in `red_flags` plus any RED_FLAGS answer in `scores`; an unknown code raises
    AnswerError.
    """
    flags = _red_flags(scores, red_flags)
    missing = [code for code in required_instruments(scores.scores) if not _complete(scores, code)]
    fired = [rule for rule in RULES if rule.check != "otherwise" and _fires(rule, scores, flags, missing)]
    if not fired:
        fired = [rule for rule in RULES if rule.check == "otherwise"]
    levels = [rule.level for rule in fired]
    level = None if None in levels else max(levels, default=None)
    values = {lang: _values(scores, flags, missing, lang) for lang in ("en", "nl")}
    reasons = [
        Reason(rule.code, rule.level, rule.text.en.format_map(values["en"]), rule.text.nl.format_map(values["nl"]))
        for rule in fired
    ]
    safety_flags = [rule.code for rule in fired if rule.level is None]
    return Proposal(level, reasons, safety_flags, missing)


def _red_flags(scores: ScoreSet, extra: Iterable[str]) -> tuple[str, ...]:
    ticked = set(scores.red_flags) | set(score_red_flags(list(extra)).codes)
    return tuple(code for code in RED_FLAGS if code in ticked)


def _complete(scores: ScoreSet, code: str) -> bool:
    score = scores.get(code)
    return score is not None and score.complete


def _holds(scores: ScoreSet, condition: Condition) -> bool:
    code, bands = condition
    return scores.band(code) in bands


def _fires(rule: Rule, scores: ScoreSet, flags: tuple[str, ...], missing: list[str]) -> bool:
    if rule.check == "bands":
        return (not rule.all_of or all(_holds(scores, c) for c in rule.all_of)) and (
            not rule.any_of or any(_holds(scores, c) for c in rule.any_of)
        )
    if rule.check == "phq9_item9":
        # Item 9 counts even when another PHQ-9 item is unanswered: a safety question is never ignored.
        phq9 = scores.get("PHQ9")
        return phq9 is not None and phq9.item9 is not None and phq9.item9 > 0
    if rule.check == "red_flag":
        return bool(flags)
    if rule.check == "screen_incomplete":
        return bool(missing)
    raise ValueError(f"rule {rule.code}: unknown check {rule.check!r}")


def _values(scores: ScoreSet, flags: tuple[str, ...], missing: list[str], lang: str) -> _Values:
    values = _Values()
    for code, score in scores.scores.items():
        if score.complete:
            values[code] = str(score.total)
        if score.band in BAND_LABELS:
            values[f"{code}_BAND"] = BAND_LABELS[score.band].get(lang)
    stage = scores.band("STAGE")
    if stage:
        values["STAGE"] = STAGE_STRATEGIES[stage].label.get(lang)
    sbst, phq9 = scores.get("SBST"), scores.get("PHQ9")
    if sbst and sbst.psychosocial is not None:
        values["SBST_PSYCHOSOCIAL"] = str(sbst.psychosocial)
    if phq9 and phq9.item9 is not None:
        values["PHQ9_ITEM9"] = str(phq9.item9)
    values["RED_FLAGS"] = ", ".join(RED_FLAGS[code].get(lang) for code in flags)
    values["MISSING"] = ", ".join(missing)
    return values


# ---------------------------------------------------------------------------------------------------------
# Barriers


def derive_barriers(scores: ScoreSet) -> list[str]:
    """Barrier codes that follow from the scores, in BARRIERS order.

    NRS ≥6 pain intensity; TSK-11 ≥29 or FABQ-PA >14 fear of movement; PHQ-2 ≥3 or PHQ-9 ≥10 depression;
    SILS ≥3 low health literacy; each ticked ENV item its own barrier. A positive PHQ-2 no longer counts
    once a complete PHQ-9 is there: the fuller instrument overrules the screen (PHQ-9 < 10, no barrier).
    """
    found = set()
    for barrier, conditions in SCORE_BARRIERS:
        if any(_holds(scores, c) for c in conditions if not _superseded(scores, c[0])):
            found.add(barrier)
    env = scores.get("ENV")
    if env:
        found.update(ENV_BARRIERS[code] for code in env.codes)
    return [code for code in BARRIERS if code in found]


def _superseded(scores: ScoreSet, code: str) -> bool:
    return any(f.screen == code and _complete(scores, f.then) for f in FOLLOW_UPS)


# ---------------------------------------------------------------------------------------------------------
# Reassessment


def suggest_reassessment(
    previous: ScoreSet,
    current: ScoreSet,
    attendance_rate: Real | None,
    new_barrier: bool = False,
) -> Suggestion:
    """Suggest one level down or up at a reassessment (CLINICAL.md, "Reassessment suggestions").

    Down: PSFS mean improved ≥2 and attendance ≥75%. Up: attendance <75%, NRS rose ≥2, or a new barrier
    (`new_barrier`, or a barrier derived from `current` that `previous` did not have). When both apply, up
    wins: a patient who is slipping needs more support, whatever else improved. `attendance_rate` is a
    fraction 0–1, or None before any session was held (then attendance suggests nothing).
    """
    if attendance_rate is not None and (
        isinstance(attendance_rate, bool) or not isinstance(attendance_rate, Real) or not 0 <= attendance_rate <= 1
    ):
        raise ValueError(f"attendance_rate must be between 0 and 1, got {attendance_rate!r}")
    threshold = REASSESSMENT.attendance_threshold
    values = _Values(THRESHOLD=f"{float(threshold):.0%}")
    if attendance_rate is not None:
        values["ATTENDANCE"] = f"{float(attendance_rate):.0%}"
    down, up = [], []

    change = psfs_change(previous.get("PSFS"), current.get("PSFS"))
    improved = change is not None and change >= REASSESSMENT.psfs_min_improvement
    if improved and attendance_rate is not None and attendance_rate >= threshold:
        values["PSFS_CHANGE"] = f"{float(change):.1f}"
        down.append("PSFS_IMPROVED_AND_ATTENDING")

    if attendance_rate is not None and attendance_rate < threshold:
        up.append("LOW_ATTENDANCE")

    before, now = previous.total("NRS"), current.total("NRS")
    if before is not None and now is not None and now - before >= REASSESSMENT.nrs_min_rise:
        values.update(NRS_BEFORE=str(before), NRS_NOW=str(now))
        up.append("PAIN_ROSE")

    derived = [code for code in derive_barriers(current) if code not in derive_barriers(previous)]
    if new_barrier or derived:
        values["BARRIERS"] = f" ({', '.join(derived)})" if derived else ""
        up.append("NEW_BARRIER")

    direction = "up" if up else "down" if down else None
    reasons = [_reassessment_reason(code, values) for code in down + up]
    return Suggestion(direction, reasons)


def _reassessment_reason(code: str, values: _Values) -> Reason:
    text: Text = REASSESSMENT_REASONS[code]
    return Reason(code, None, text.en.format_map(values), text.nl.format_map(values))


# ---------------------------------------------------------------------------------------------------------
# Staffing


def required_supervisors(levels: Iterable[int | None], ratios: Mapping[int, int] = DEFAULT_RATIOS) -> Staffing:
    """Supervisors needed for a session: ceil(Σ over expected patients of 1/ratio(level)).

    A patient without a confirmed level (None) counts as level 2 and is reported in `level_not_set`.
    Fractions keep the sum exact, so 10 patients at ratio 10 need exactly 1 supervisor, not 2.
    """
    _check_ratios(ratios)
    by_level = {str(level): 0 for level in sorted(LEVELS)}
    not_set = 0
    load = Fraction(0)
    for level in levels:
        if level is None:
            not_set += 1
            level = LEVEL_WHEN_NOT_SET
        elif isinstance(level, bool) or level not in LEVELS:
            raise ValueError(f"unknown supervision level {level!r}")
        else:
            by_level[str(level)] += 1
        load += Fraction(1, ratios[level])
    return Staffing(math.ceil(load), by_level, not_set)


def explain_staffing(staffing: Staffing, ratios: Mapping[int, int] = DEFAULT_RATIOS, lang: str = "en") -> str:
    """How `required` was computed, e.g. "ceil(5/10 + 3/6 + 1/1) = ceil(2) = 2"."""
    _check_ratios(ratios)
    terms, load = [], Fraction(0)
    for level in sorted(LEVELS):
        count = staffing.patients_by_level[str(level)] + (staffing.level_not_set if level == LEVEL_WHEN_NOT_SET else 0)
        if count:
            terms.append(f"{count}/{ratios[level]}")
            load += Fraction(count, ratios[level])
    shown = f"{float(load):.2f}".rstrip("0").rstrip(".")
    text = f"ceil({' + '.join(terms) or '0'}) = ceil({shown}) = {math.ceil(load)}"
    if staffing.level_not_set:
        note = Text(
            f"{staffing.level_not_set} without a confirmed level counted as level {LEVEL_WHEN_NOT_SET}",
            f"{staffing.level_not_set} zonder vastgesteld niveau geteld als niveau {LEVEL_WHEN_NOT_SET}",
        )
        text = f"{text} ({note.get(lang)})"
    return text


def _check_ratios(ratios: Mapping[int, int]) -> None:
    for level in LEVELS:
        ratio = ratios.get(level)
        if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1:
            raise ValueError(f"ratio for level {level} must be a whole number of at least 1, got {ratio!r}")
