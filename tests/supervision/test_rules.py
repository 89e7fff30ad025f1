"""Supervision level rules, barriers, reassessment and staffing, checked against CLINICAL.md."""

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervision.definitions import (
    ABSENCE_REASON_CODES,
    ABSENCE_REASONS,
    BAND_LABELS,
    BANDS,
    BARRIERS,
    DEFAULT_RATIOS,
    ENV_BARRIERS,
    INSTRUMENTS,
    LEVELS,
    RED_FLAGS,
    REQUIRED_INSTRUMENTS,
    RULES,
    SCORE_BARRIERS,
    STAGE_STRATEGIES,
    STAGES,
    WITHDRAWAL_REASON_CODES,
)
from supervision.rules import (
    derive_barriers,
    explain_staffing,
    propose_level,
    required_supervisors,
    suggest_reassessment,
)
from supervision.scoring import AnswerError, score_answers

# Complete, unremarkable answers: the only rule that fires is SELF_DIRECTED_OK.
CALM = {"NRS": 3, "TSK11": [1] * 11, "PHQ2": [0, 0], "SBST": [0] * 9, "STAGE": "action"}


def spread(total: int, count: int, low: int, high: int) -> list[int]:
    """`count` answers between low and high that add up to `total`."""
    spare, items = total - count * low, []
    for _ in range(count):
        step = min(high - low, spare)
        items.append(low + step)
        spare -= step
    assert spare == 0 and low * count <= total
    return items


def tsk(total: int) -> list[int]:
    return spread(total, 11, 1, 4)


def phq9(total: int, item9: int = 0) -> list[int]:
    return spread(total - item9, 8, 0, 3) + [item9]


SBST_HIGH = [0, 0, 0, 0, 1, 1, 1, 1, 0]  # psychosocial subscale 4
SBST_MEDIUM = [1, 1, 1, 0, 1, 0, 0, 0, 0]  # total 4, subscale 1


def propose(red_flags=(), **changes):
    return propose_level(score_answers({**CALM, **changes}), red_flags)


def codes(proposal):
    return [reason.code for reason in proposal.reasons]


def test_helpers_build_the_totals_they_promise():
    assert [sum(tsk(t)) for t in (11, 22, 23, 28, 29, 35, 36, 44)] == [11, 22, 23, 28, 29, 35, 36, 44]
    assert all(len(tsk(t)) == 11 for t in (11, 23, 44))
    assert [sum(phq9(t)) for t in (9, 10, 14, 15)] == [9, 10, 14, 15]
    assert phq9(5, item9=1)[-1] == 1


# ---------------------------------------------------------------------------------------------------------
# One test per rule row


def test_self_directed_ok_when_nothing_else_fired():
    """CLINICAL.md rule SELF_DIRECTED_OK: none of the above fired → level 1."""
    proposal = propose()
    assert (proposal.level, codes(proposal), proposal.safety_flags, proposal.missing) == (
        1,
        ["SELF_DIRECTED_OK"],
        [],
        [],
    )
    assert proposal.reasons[0].text_nl


def test_safety_phq9_item9():
    """CLINICAL.md rule SAFETY_PHQ9_ITEM9: PHQ-9 item 9 > 0 → no automatic level, clinician review today."""
    proposal = propose(PHQ9=phq9(1, item9=1))
    assert proposal.level is None
    assert proposal.safety_flags == ["SAFETY_PHQ9_ITEM9"]
    assert codes(proposal) == ["SAFETY_PHQ9_ITEM9"]
    assert "item 9" in proposal.reasons[0].text_en and "is 1" in proposal.reasons[0].text_en
    assert propose(PHQ9=phq9(1, item9=0)).level == 1


def test_safety_phq9_item9_fires_on_an_incomplete_phq9():
    """CLINICAL.md: item 9 > 0 is a safety flag; an unanswered other item does not hide it."""
    proposal = propose(PHQ9=[None, 0, 0, 0, 0, 0, 0, 0, 3])
    assert proposal.level is None
    assert "SAFETY_PHQ9_ITEM9" in proposal.safety_flags


@pytest.mark.parametrize("flag", list(RED_FLAGS))
def test_safety_red_flag(flag):
    """CLINICAL.md rule SAFETY_RED_FLAG: therapist ticked a red flag → no automatic level."""
    for proposal in (propose(red_flags=[flag]), propose(RED_FLAGS=[flag])):
        assert proposal.level is None
        assert proposal.safety_flags == ["SAFETY_RED_FLAG"]
        assert RED_FLAGS[flag].en in proposal.reasons[0].text_en


def test_safety_gate_still_lists_every_other_fired_rule():
    """CLINICAL.md: all rules that fire are listed; safety codes appear in safety_flags and in the reasons."""
    proposal = propose(red_flags=["HISTORY_OF_CANCER"], NRS=8, PHQ9=phq9(12, item9=2))
    assert proposal.level is None
    assert proposal.safety_flags == ["SAFETY_PHQ9_ITEM9", "SAFETY_RED_FLAG"]
    assert codes(proposal) == ["SAFETY_PHQ9_ITEM9", "SAFETY_RED_FLAG", "PAIN_SEVERE", "DEPRESSION_MODERATE"]


def test_unknown_red_flag_is_rejected():
    with pytest.raises(AnswerError) as raised:
        propose(red_flags=["BACK_PAIN"])
    assert list(raised.value.fields) == ["RED_FLAGS"]


@pytest.mark.parametrize(("total", "fires"), [(14, False), (15, True), (20, True)])
def test_depression_severe(total, fires):
    """CLINICAL.md rule DEPRESSION_SEVERE: PHQ-9 ≥ 15 → level 4."""
    proposal = propose(PHQ9=phq9(total))
    assert ("DEPRESSION_SEVERE" in codes(proposal)) is fires
    assert proposal.level == (4 if fires else 3)


@pytest.mark.parametrize(
    ("tsk_total", "sbst_answers", "fires"),
    [(36, SBST_HIGH, True), (35, SBST_HIGH, False), (36, SBST_MEDIUM, False)],
)
def test_fear_and_risk(tsk_total, sbst_answers, fires):
    """CLINICAL.md rule FEAR_AND_RISK: TSK-11 ≥ 36 and SBST high → level 4."""
    proposal = propose(TSK11=tsk(tsk_total), SBST=sbst_answers)
    assert ("FEAR_AND_RISK" in codes(proposal)) is fires
    assert proposal.level == (4 if fires else 3)


@pytest.mark.parametrize(
    ("nrs", "sbst_answers", "fires"), [(8, SBST_HIGH, True), (7, SBST_HIGH, False), (8, SBST_MEDIUM, False)]
)
def test_pain_and_risk(nrs, sbst_answers, fires):
    """CLINICAL.md rule PAIN_AND_RISK: NRS ≥ 8 and SBST high → level 4."""
    proposal = propose(NRS=nrs, SBST=sbst_answers)
    assert ("PAIN_AND_RISK" in codes(proposal)) is fires
    assert proposal.level == (4 if fires else 3)


def test_sbst_high():
    """CLINICAL.md rule SBST_HIGH: SBST high (psychosocial subscale ≥4) → level 3."""
    proposal = propose(SBST=SBST_HIGH)
    assert (proposal.level, codes(proposal)) == (3, ["SBST_HIGH"])
    assert "psychosocial subscale 4" in proposal.reasons[0].text_en


@pytest.mark.parametrize("nrs", [8, 10])
def test_pain_severe(nrs):
    """CLINICAL.md rule PAIN_SEVERE: NRS ≥ 8 → level 3."""
    proposal = propose(NRS=nrs)
    assert (proposal.level, codes(proposal)) == (3, ["PAIN_SEVERE"])
    assert f"NRS = {nrs}" in proposal.reasons[0].text_en


@pytest.mark.parametrize("nrs", [6, 7])
def test_pain_moderate(nrs):
    """CLINICAL.md rule PAIN_MODERATE: NRS 6–7 → level 2 (5 is mild: no rule)."""
    assert (propose(NRS=nrs).level, codes(propose(NRS=nrs))) == (2, ["PAIN_MODERATE"])
    assert propose(NRS=5).level == 1


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        ({"TSK11": tsk(29)}, 3),
        ({"TSK11": tsk(35)}, 3),
        ({"FABQ_PA": [6, 6, 3, 0]}, 3),  # 15 > 14
        ({"FABQ_PA": [6, 6, 2, 0]}, 1),  # 14, not above 14
    ],
)
def test_fear_high(changes, level):
    """CLINICAL.md rule FEAR_HIGH: TSK-11 ≥ 29, or FABQ-PA > 14 → level 3."""
    proposal = propose(**changes)
    assert proposal.level == level
    assert ("FEAR_HIGH" in codes(proposal)) is (level == 3)


@pytest.mark.parametrize(
    ("total", "code", "level"), [(23, "FEAR_MODERATE", 2), (28, "FEAR_MODERATE", 2), (22, None, 1)]
)
def test_fear_moderate(total, code, level):
    """CLINICAL.md rule FEAR_MODERATE: TSK-11 23–28 → level 2."""
    proposal = propose(TSK11=tsk(total))
    assert proposal.level == level
    assert codes(proposal) == [code or "SELF_DIRECTED_OK"]


@pytest.mark.parametrize(("total", "fires"), [(9, False), (10, True), (14, True)])
def test_depression_moderate(total, fires):
    """CLINICAL.md rule DEPRESSION_MODERATE: PHQ-9 10–14 → level 3."""
    proposal = propose(PHQ9=phq9(total))
    assert codes(proposal) == (["DEPRESSION_MODERATE"] if fires else ["SELF_DIRECTED_OK"])
    assert proposal.level == (3 if fires else 1)


@pytest.mark.parametrize(
    ("stage", "code", "level"),
    [
        ("precontemplation", "STAGE_EARLY", 3),
        ("contemplation", "STAGE_EARLY", 3),
        ("preparation", "STAGE_PREPARATION", 2),
        ("action", "SELF_DIRECTED_OK", 1),
        ("maintenance", "SELF_DIRECTED_OK", 1),
    ],
)
def test_stage_rules(stage, code, level):
    """CLINICAL.md rules STAGE_EARLY: precontemplation or contemplation → 3; STAGE_PREPARATION → 2."""
    proposal = propose(STAGE=stage)
    assert (proposal.level, codes(proposal)) == (level, [code])


def test_stage_reason_names_the_stage_in_each_language():
    proposal = propose(STAGE="contemplation")
    assert "Contemplation" in proposal.reasons[0].text_en
    assert STAGE_STRATEGIES["contemplation"].label.nl in proposal.reasons[0].text_nl


def test_sbst_medium():
    """CLINICAL.md rule SBST_MEDIUM: SBST medium (total ≥4, subscale ≤3) → level 2."""
    assert (propose(SBST=SBST_MEDIUM).level, codes(propose(SBST=SBST_MEDIUM))) == (2, ["SBST_MEDIUM"])


@pytest.mark.parametrize("code", REQUIRED_INSTRUMENTS)
def test_screen_incomplete_when_a_required_instrument_is_missing(code):
    """CLINICAL.md rule SCREEN_INCOMPLETE: a required instrument missing → at least 2 (level 1 needs complete data)."""
    answers = {k: v for k, v in CALM.items() if k != code}
    proposal = propose_level(score_answers(answers))
    assert (proposal.level, codes(proposal), proposal.missing) == (2, ["SCREEN_INCOMPLETE"], [code])
    assert code in proposal.reasons[0].text_en


def test_screen_incomplete_when_an_item_is_unanswered():
    """CLINICAL.md: missing answers are never counted as 0, so level 1 is not possible."""
    proposal = propose(TSK11=[1] * 10 + [None])
    assert (proposal.level, proposal.missing) == (2, ["TSK11"])


def test_screen_incomplete_when_phq2_positive_without_phq9():
    """CLINICAL.md rule SCREEN_INCOMPLETE: PHQ-2 ≥ 3 without PHQ-9."""
    proposal = propose(PHQ2=[2, 1])
    assert (proposal.level, codes(proposal), proposal.missing) == (2, ["SCREEN_INCOMPLETE"], ["PHQ9"])
    assert propose(PHQ2=[1, 1]).level == 1


def test_positive_phq2_with_phq9_is_complete():
    """CLINICAL.md: PHQ-2 ≥ 3 → PHQ-9 required; with it, the screen is complete and PHQ-9 decides."""
    proposal = propose(PHQ2=[2, 1], PHQ9=phq9(4))
    assert (proposal.level, codes(proposal)) == (1, ["SELF_DIRECTED_OK"])


def test_screen_incomplete_is_at_least_2_not_at_most():
    """CLINICAL.md: SCREEN_INCOMPLETE gives at least 2; a higher rule still wins."""
    proposal = propose_level(score_answers({"NRS": 9}))
    assert proposal.level == 3
    assert codes(proposal) == ["PAIN_SEVERE", "SCREEN_INCOMPLETE"]
    assert proposal.missing == ["TSK11", "PHQ2", "SBST", "STAGE"]


def test_no_answers_at_all():
    proposal = propose_level(score_answers({}))
    assert (proposal.level, codes(proposal)) == (2, ["SCREEN_INCOMPLETE"])


def test_all_fired_rules_are_listed_and_the_highest_level_wins():
    """CLINICAL.md: all that fire are listed; the highest level wins."""
    proposal = propose(NRS=7, TSK11=tsk(30), SBST=SBST_MEDIUM, STAGE="preparation", PHQ9=phq9(16))
    assert proposal.level == 4
    assert codes(proposal) == [
        "DEPRESSION_SEVERE",
        "FEAR_HIGH",
        "SBST_MEDIUM",
        "PAIN_MODERATE",
        "STAGE_PREPARATION",
    ]
    assert [reason.level for reason in proposal.reasons] == [4, 3, 2, 2, 2]


def test_health_literacy_and_environment_do_not_change_the_level():
    """CLINICAL.md: SILS ≥ 3 and environmental barriers do not change the level; they add actions."""
    proposal = propose(SILS=5, ENV=list(ENV_BARRIERS))
    assert (proposal.level, codes(proposal)) == (1, ["SELF_DIRECTED_OK"])


# ---------------------------------------------------------------------------------------------------------
# Properties

item_answers = {
    "NRS": st.integers(0, 10),
    "TSK11": st.lists(st.integers(1, 4), min_size=11, max_size=11),
    "PHQ2": st.lists(st.integers(0, 3), min_size=2, max_size=2),
    "SBST": st.tuples(*[st.integers(0, 1)] * 8, st.integers(0, 4)).map(list),
    "STAGE": st.sampled_from(STAGES),
    "SILS": st.integers(1, 5),
    "ENV": st.lists(st.sampled_from(list(ENV_BARRIERS)), unique=True),
}
optional_answers = {
    "PHQ9": st.lists(st.integers(0, 3), min_size=9, max_size=9),
    "FABQ_PA": st.lists(st.integers(0, 6), min_size=4, max_size=4),
    "PSFS": st.lists(st.integers(0, 10), min_size=1, max_size=5),
}
answer_sets = st.fixed_dictionaries(item_answers, optional=optional_answers)
red_flag_sets = st.lists(st.sampled_from(list(RED_FLAGS)), max_size=2)


def severity(level):
    """A safety gate (no automatic level) ranks above level 4."""
    return 5 if level is None else level


def worsen(answers, data):
    """The same answers with one item made worse (or an earlier stage of change)."""
    worse = {key: list(value) if isinstance(value, list) else value for key, value in answers.items()}
    code = data.draw(
        st.sampled_from(sorted(set(worse) & {"NRS", "TSK11", "PHQ2", "PHQ9", "FABQ_PA", "SBST", "SILS", "STAGE"}))
    )
    if code == "STAGE":
        worse[code] = data.draw(st.sampled_from(STAGES[: STAGES.index(worse[code]) + 1]))
    elif isinstance(worse[code], int):
        worse[code] = data.draw(st.integers(worse[code], INSTRUMENTS[code].item_ranges[0][1]))
    else:
        index = data.draw(st.integers(0, len(worse[code]) - 1))
        highest = INSTRUMENTS[code].item_ranges[index][1]
        worse[code][index] = data.draw(st.integers(worse[code][index], highest))
    return worse


@given(answer_sets, red_flag_sets, st.data())
def test_a_worse_answer_never_lowers_the_level(answers, red_flags, data):
    """CLINICAL.md rules are monotone: more pain, fear, depression or risk never means less supervision."""
    before = propose_level(score_answers(answers), red_flags)
    after = propose_level(score_answers(worsen(answers, data)), red_flags)
    assert severity(after.level) >= severity(before.level)


@given(answer_sets, red_flag_sets, st.sampled_from(list(RED_FLAGS)))
def test_ticking_a_red_flag_never_lowers_the_level(answers, red_flags, flag):
    before = propose_level(score_answers(answers), red_flags)
    after = propose_level(score_answers(answers), [*red_flags, flag])
    assert severity(after.level) >= severity(before.level) and after.level is None


@given(answer_sets, red_flag_sets, st.randoms())
def test_same_input_same_output(answers, red_flags, random):
    """Deterministic: the same answers (in any order) give the same proposal and barriers."""
    items = list(answers.items())
    random.shuffle(items)
    first, second = score_answers(answers), score_answers(dict(items))
    assert propose_level(first, red_flags) == propose_level(second, list(reversed(red_flags)))
    assert derive_barriers(first) == derive_barriers(second)


@given(answer_sets, red_flag_sets)
def test_proposal_is_consistent(answers, red_flags):
    proposal = propose_level(score_answers(answers), red_flags)
    levels = [reason.level for reason in proposal.reasons]
    assert proposal.level == (None if None in levels else max(levels))
    assert proposal.safety_flags == [r.code for r in proposal.reasons if r.level is None]
    assert ("SELF_DIRECTED_OK" in codes(proposal)) is (codes(proposal) == ["SELF_DIRECTED_OK"])


# ---------------------------------------------------------------------------------------------------------
# Barriers derived from scores


@pytest.mark.parametrize(
    ("changes", "barriers"),
    [
        ({}, []),
        ({"NRS": 5}, []),
        ({"NRS": 6}, ["PAIN_INTENSITY"]),
        ({"TSK11": tsk(28)}, []),
        ({"TSK11": tsk(29)}, ["FEAR_OF_MOVEMENT"]),
        ({"FABQ_PA": [6, 6, 2, 0]}, []),
        ({"FABQ_PA": [6, 6, 3, 0]}, ["FEAR_OF_MOVEMENT"]),
        ({"PHQ2": [2, 1]}, ["DEPRESSION"]),
        ({"PHQ9": phq9(10)}, ["DEPRESSION"]),
        ({"PHQ9": phq9(9)}, []),
        # A complete PHQ-9 below 10 overrules a positive PHQ-2 screen.
        ({"PHQ2": [2, 1], "PHQ9": phq9(9)}, []),
        ({"SILS": 2}, []),
        ({"SILS": 3}, ["LOW_HEALTH_LITERACY"]),
        ({"ENV": ["POOR_COMMUNICATION", "NO_TIME"]}, ["NO_TIME", "POOR_COMMUNICATION"]),
        (
            {"ENV": ["NO_FACILITY_NEARBY", "INSUFFICIENT_SUPPORT"], "NRS": 9},
            ["PAIN_INTENSITY", "NO_FACILITY_NEARBY", "INSUFFICIENT_SUPPORT"],
        ),
    ],
)
def test_derive_barriers(changes, barriers):
    """CLINICAL.md barriers (seed point 5): NRS ≥6, TSK ≥29 or FABQ >14, PHQ-2 ≥3 / PHQ-9 ≥10, SILS ≥3, ENV."""
    assert derive_barriers(score_answers({**CALM, **changes})) == barriers


def test_every_barrier_has_actions_in_both_languages():
    """CLINICAL.md "Barriers → actions"."""
    for barrier in BARRIERS.values():
        assert barrier.actions and all(a.text.en and a.text.nl for a in barrier.actions)
    assert [a.code for a in BARRIERS["TOO_LITTLE_SUPERVISION"].actions] == ["RAISE_LEVEL_OR_SUPERVISOR"]


# ---------------------------------------------------------------------------------------------------------
# Reassessment suggestions


def scored(**changes):
    return score_answers({**CALM, **changes})


@pytest.mark.parametrize(
    ("psfs_before", "psfs_after", "attendance", "direction"),
    [
        ([4, 4], [6, 6], Fraction(3, 4), "down"),
        ([4, 4], [6, 6], 0.9, "down"),
        ([4, 4], [5, 6], 0.9, None),  # improved 1.5: not enough
        ([4, 4], [6, 6], None, None),  # no sessions held yet: attendance unknown
        ([4, 4], [6, 6], Fraction(74, 100), "up"),  # attendance below 75% is a reason to step up
    ],
)
def test_step_down(psfs_before, psfs_after, attendance, direction):
    """CLINICAL.md: step down one level when PSFS mean improved ≥ 2 and attendance ≥ 75%."""
    suggestion = suggest_reassessment(scored(PSFS=psfs_before), scored(PSFS=psfs_after), attendance)
    assert suggestion.direction == direction


def test_step_down_reason_shows_the_figures():
    suggestion = suggest_reassessment(scored(PSFS=[4, 4]), scored(PSFS=[6, 7]), 0.8)
    assert [r.code for r in suggestion.reasons] == ["PSFS_IMPROVED_AND_ATTENDING"]
    assert "improved by 2.5 with attendance 80%" in suggestion.reasons[0].text_en


@pytest.mark.parametrize(
    ("before", "after", "attendance", "new_barrier", "reasons"),
    [
        ({}, {}, 0.74, False, ["LOW_ATTENDANCE"]),
        ({}, {}, 0.75, False, []),
        ({"NRS": 3}, {"NRS": 5}, 1, False, ["PAIN_ROSE"]),
        ({"NRS": 3}, {"NRS": 4}, 1, False, []),
        ({}, {}, 1, True, ["NEW_BARRIER"]),
        ({}, {"ENV": ["NO_TIME"]}, 1, False, ["NEW_BARRIER"]),
        ({"NRS": 4}, {"NRS": 6}, 0.5, True, ["LOW_ATTENDANCE", "PAIN_ROSE", "NEW_BARRIER"]),
    ],
)
def test_step_up(before, after, attendance, new_barrier, reasons):
    """CLINICAL.md: step up when attendance < 75%, NRS rose ≥ 2, or a new barrier was recorded."""
    suggestion = suggest_reassessment(scored(**before), scored(**after), attendance, new_barrier)
    assert [r.code for r in suggestion.reasons] == reasons
    assert suggestion.direction == ("up" if reasons else None)


def test_derived_new_barrier_is_named():
    suggestion = suggest_reassessment(scored(), scored(SILS=4), 1)
    assert "(LOW_HEALTH_LITERACY)" in suggestion.reasons[0].text_en


def test_up_wins_over_down():
    """Suggestions only; when both apply, more support is the safer suggestion (CLINICAL.md is silent)."""
    suggestion = suggest_reassessment(scored(PSFS=[2], NRS=2), scored(PSFS=[6], NRS=5), 0.9)
    assert suggestion.direction == "up"
    assert [r.code for r in suggestion.reasons] == ["PSFS_IMPROVED_AND_ATTENDING", "PAIN_ROSE"]


@pytest.mark.parametrize("rate", [1.5, -0.1, 75, True, "0.8"])
def test_attendance_rate_must_be_a_fraction(rate):
    with pytest.raises(ValueError, match="attendance_rate"):
        suggest_reassessment(scored(), scored(), rate)


# ---------------------------------------------------------------------------------------------------------
# Staffing


def test_staffing_hand_computation():
    """CLINICAL.md staffing: 3 × level 3 + 5 × level 2 + 1 × level 4 → ceil(3/6 + 5/10 + 1/1) = 2."""
    staffing = required_supervisors([3, 3, 3, 2, 2, 2, 2, 2, 4])
    assert staffing == (2, {"1": 0, "2": 5, "3": 3, "4": 1}, 0)
    assert explain_staffing(staffing) == "ceil(5/10 + 3/6 + 1/1) = ceil(2) = 2"


@pytest.mark.parametrize(
    ("levels", "required"),
    [
        ([1] * 12, 1),
        ([1] * 13, 2),
        ([2] * 10, 1),  # exactly 1: ten times 0.1 in floats is 0.9999999999999999
        ([2] * 11, 2),
        ([3] * 6, 1),
        ([3] * 7, 2),
        ([4, 4], 2),
        ([], 0),
        ([1] * 6 + [2] * 5, 1),
    ],
)
def test_required_supervisors(levels, required):
    """CLINICAL.md staffing: ceil(Σ 1/ratio(level)) with ratios 12, 10, 6, 1."""
    assert required_supervisors(levels).required == required


def test_level_not_set_counts_as_level_2_and_is_flagged():
    """CLINICAL.md: a patient without a confirmed level counts as level 2 and is flagged "level not set"."""
    staffing = required_supervisors([2] * 9 + [None])
    assert staffing == (1, {"1": 0, "2": 9, "3": 0, "4": 0}, 1)
    assert required_supervisors([2] * 10 + [None]).required == 2
    assert "1 without a confirmed level counted as level 2" in explain_staffing(staffing)
    assert "zonder vastgesteld niveau" in explain_staffing(staffing, lang="nl")


def test_ratios_are_practice_settings():
    """CLINICAL.md: ratios are practice settings."""
    ratios = {1: 15, 2: 8, 3: 4, 4: 1}
    assert required_supervisors([2] * 8, ratios).required == 1
    assert required_supervisors([2] * 9, ratios).required == 2
    assert explain_staffing(required_supervisors([3] * 5, ratios), ratios) == "ceil(5/4) = ceil(1.25) = 2"


@pytest.mark.parametrize("levels", [[5], [0], [True], ["2"]])
def test_unknown_level_is_rejected(levels):
    with pytest.raises(ValueError, match="unknown supervision level"):
        required_supervisors(levels)


@pytest.mark.parametrize("ratios", [{1: 12, 2: 10, 3: 6}, {1: 12, 2: 0, 3: 6, 4: 1}, {1: 12, 2: 2.5, 3: 6, 4: 1}])
def test_invalid_ratios_are_rejected(ratios):
    with pytest.raises(ValueError, match="ratio for level"):
        required_supervisors([1], ratios)


# ---------------------------------------------------------------------------------------------------------
# The tables themselves


def test_levels_and_default_ratios():
    """CLINICAL.md "Supervision levels": ratios 12, 10, 6, 1."""
    assert DEFAULT_RATIOS == {1: 12, 2: 10, 3: 6, 4: 1}
    assert [LEVELS[n].code for n in (1, 2, 3, 4)] == [
        "self_directed",
        "standard_group",
        "close_supervision",
        "individual_start",
    ]


def test_rule_table_matches_clinical_md():
    """CLINICAL.md "Rules": codes in table order with their levels."""
    assert [(rule.code, rule.level) for rule in RULES] == [
        ("SAFETY_PHQ9_ITEM9", None),
        ("SAFETY_RED_FLAG", None),
        ("DEPRESSION_SEVERE", 4),
        ("FEAR_AND_RISK", 4),
        ("PAIN_AND_RISK", 4),
        ("SBST_HIGH", 3),
        ("PAIN_SEVERE", 3),
        ("FEAR_HIGH", 3),
        ("DEPRESSION_MODERATE", 3),
        ("STAGE_EARLY", 3),
        ("SBST_MEDIUM", 2),
        ("PAIN_MODERATE", 2),
        ("FEAR_MODERATE", 2),
        ("STAGE_PREPARATION", 2),
        ("SCREEN_INCOMPLETE", 2),
        ("SELF_DIRECTED_OK", 1),
    ]


def test_rule_and_barrier_conditions_name_real_bands():
    """A typo in a band name would make a rule silently never fire."""
    known = {code: {band for _, band in bands} for code, bands in BANDS.items()}
    known["SBST"] = {"low", "medium", "high"}
    known["STAGE"] = set(STAGES)
    conditions = [c for rule in RULES for c in rule.all_of + rule.any_of]
    conditions += [c for _, conds in SCORE_BARRIERS for c in conds]
    for code, bands in conditions:
        assert code in INSTRUMENTS and set(bands) <= known[code], (code, bands)
    assert set().union(*known.values()) - set(STAGES) <= set(BAND_LABELS)


def test_reason_codes_map_to_known_barriers():
    """CLINICAL.md "Attendance and adherence": reason codes for absences and withdrawals, each mapped to a barrier."""
    assert ABSENCE_REASON_CODES == (
        "ILLNESS",
        "PAIN_INTENSITY",
        "FEAR_OF_MOVEMENT",
        "DEPRESSION",
        "NO_TIME",
        "NO_FACILITY_NEARBY",
        "INSUFFICIENT_SUPPORT",
        "POOR_COMMUNICATION",
        "OTHER",
    )
    assert WITHDRAWAL_REASON_CODES[len(ABSENCE_REASON_CODES) :] == ("RECOVERED", "MOVED_AWAY")
    assert WITHDRAWAL_REASON_CODES[: len(ABSENCE_REASON_CODES)] == ABSENCE_REASON_CODES
    mapped = {r.barrier for r in ABSENCE_REASONS.values()} | set(ENV_BARRIERS.values())
    mapped |= {barrier for barrier, _ in SCORE_BARRIERS}
    assert mapped - {None} <= set(BARRIERS)


def test_stages_have_strategies():
    """CLINICAL.md "Stages of change → strategies" (seed point 6)."""
    assert list(STAGE_STRATEGIES) == list(STAGES)
    assert all(stage.strategies for stage in STAGE_STRATEGIES.values())


def test_clinical_core_imports_no_framework():
    """DESIGN.md: pure modules (rules.py, scoring.py) import nothing from Flask or the database layer."""
    probe = (
        "import sys, supervision.rules, supervision.scoring; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'flask', 'sqlalchemy', 'flask_sqlalchemy'}))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root)
    assert result.stdout.strip() == "[]"
