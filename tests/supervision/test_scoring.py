"""Scoring of the instruments, checked against the published scorings quoted in CLINICAL.md ("Instruments")."""

import json
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervision.definitions import INSTRUMENTS, ITEM_LANGUAGES, STAGES, load_instrument_items
from supervision.scoring import (
    SCORERS,
    AnswerError,
    is_meaningful_psfs_change,
    psfs_change,
    score_answers,
    score_fabq_pa,
    score_nrs,
    score_phq2,
    score_phq9,
    score_psfs,
    score_sbst,
    score_sils,
    score_stage,
    score_tsk11,
)


def items_for(total: int, count: int, low: int, high: int) -> list[int]:
    """`count` answers between low and high that add up to `total`."""
    spare = total - count * low
    assert 0 <= spare <= count * (high - low), "total out of reach"
    items = []
    for _ in range(count):
        step = min(high - low, spare)
        items.append(low + step)
        spare -= step
    return items


def sbst(physical: int, psychosocial: int) -> list[int]:
    """STarT Back answers: `physical` of items 1–4 agreed, `psychosocial` points on items 5–9."""
    items = [1] * physical + [0] * (4 - physical) + [1] * min(psychosocial, 4) + [0] * (4 - min(psychosocial, 4))
    return items + [4 if psychosocial == 5 else 0]


# ---------------------------------------------------------------------------------------------------------
# Band boundaries


@pytest.mark.parametrize(
    ("answer", "band"),
    [(0, "mild"), (5, "mild"), (6, "moderate"), (7, "moderate"), (8, "severe"), (10, "severe")],
)
def test_nrs_bands(answer, band):
    """CLINICAL.md: NRS 0–10, the number; ≤5 mild, 6–7 moderate, ≥8 severe (Boonstra 2016, low back pain)."""
    score = score_nrs(answer)
    assert (score.total, score.band) == (answer, band)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (11, "low"),
        (22, "low"),
        (23, "moderate"),
        (28, "moderate"),
        (29, "high"),
        (35, "high"),
        (36, "very_high"),
        (44, "very_high"),
    ],
)
def test_tsk11_bands(total, band):
    """CLINICAL.md: TSK-11, 11 items 1–4, sum 11–44; ≤22 low, 23–28 moderate, 29–35 high, ≥36 very high."""
    score = score_tsk11(items_for(total, 11, 1, 4))
    assert (score.total, score.band) == (total, band)


@pytest.mark.parametrize(("total", "band"), [(0, "not_high"), (14, "not_high"), (15, "high"), (24, "high")])
def test_fabq_pa_band(total, band):
    """CLINICAL.md: FABQ-PA items 2–5, 0–6 each, sum 0–24; >14 high."""
    score = score_fabq_pa(items_for(total, 4, 0, 6))
    assert (score.total, score.band) == (total, band)


@pytest.mark.parametrize(("total", "band"), [(0, "negative"), (2, "negative"), (3, "positive"), (6, "positive")])
def test_phq2_band(total, band):
    """CLINICAL.md: PHQ-2, 2 items 0–3, sum 0–6; ≥3 positive (then PHQ-9 is required)."""
    score = score_phq2(items_for(total, 2, 0, 3))
    assert (score.total, score.band) == (total, band)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands(total, band):
    """CLINICAL.md: PHQ-9, 9 items 0–3, sum 0–27; 5 mild, 10 moderate, 15 moderately severe, 20 severe."""
    items = items_for(total, 9, 0, 3)
    score = score_phq9(items)
    assert (score.total, score.band, score.item9) == (total, band, items[8])


@pytest.mark.parametrize(("answer", "band"), [(1, "adequate"), (2, "adequate"), (3, "limited"), (5, "limited")])
def test_sils_band(answer, band):
    """CLINICAL.md: SILS 1 never … 5 always, the answer; ≥3 (sometimes or more) = limited health literacy."""
    assert score_sils(answer).band == band


@pytest.mark.parametrize(
    ("physical", "psychosocial", "band"), [(3, 0, "low"), (0, 3, "low"), (4, 0, "medium"), (1, 3, "medium")]
)
def test_sbst_total_boundary(physical, psychosocial, band):
    """CLINICAL.md: SBST total 0–9; total ≤3 low; total ≥4 and psychosocial subscale ≤3 medium."""
    score = score_sbst(sbst(physical, psychosocial))
    assert (score.total, score.psychosocial, score.band) == (physical + psychosocial, psychosocial, band)


@pytest.mark.parametrize(
    ("physical", "psychosocial", "band"), [(1, 3, "medium"), (0, 4, "high"), (4, 3, "medium"), (0, 5, "high")]
)
def test_sbst_subscale_boundary(physical, psychosocial, band):
    """CLINICAL.md: SBST psychosocial subscale = items 5–9 (0–5); subscale ≥4 high, ≤3 (with total ≥4) medium."""
    score = score_sbst(sbst(physical, psychosocial))
    assert (score.psychosocial, score.band) == (psychosocial, band)


@pytest.mark.parametrize(("answer", "point"), [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1)])
def test_sbst_item9_bothersomeness(answer, point):
    """CLINICAL.md: SBST item 9 bothersomeness: very much (3) / extremely (4) = 1 point, and it is psychosocial."""
    score = score_sbst([0] * 8 + [answer])
    assert (score.total, score.psychosocial) == (point, point)


def test_sbst_explanation_shows_total_and_subscale():
    """CLINICAL.md: every computed figure shows how it was computed."""
    score = score_sbst(sbst(2, 4))
    assert "total 6 of 9" in score.explanation
    assert "psychosocial subscale (items 5–9) 4 of 5" in score.explanation
    assert "totaal 6 van 9" in score.explanation_nl


def test_psfs_mean():
    """CLINICAL.md: PSFS 1–5 activities the patient chooses, each 0–10; the score is the mean."""
    score = score_psfs([4, 5, 7])
    assert (score.total, score.mean) == (16, Fraction(16, 3))
    assert score.explanation == "mean of 3 activities = (4 + 5 + 7) / 3 = 5.3"


@pytest.mark.parametrize(
    ("before", "after", "meaningful"),
    [
        ([4, 4, 4], [6, 6, 6], True),
        ([4, 4, 4], [5, 6, 6], False),
        ([6, 6], [4, 4], True),
        # 4.6 → 6.6 is exactly 2; in floats 6.6 − 4.6 is 1.9999999999999996.
        ([5, 4, 5, 4, 5], [7, 6, 7, 6, 7], True),
        ([5, 4, 5, 4, 5], [7, 6, 7, 6, 6], False),
    ],
)
def test_psfs_change_boundary(before, after, meaningful):
    """CLINICAL.md: PSFS change ≥2 (mean) is meaningful."""
    change = psfs_change(score_psfs(before), score_psfs(after))
    assert is_meaningful_psfs_change(change) is meaningful


def test_psfs_change_unknown_when_a_mean_is_missing():
    """CLINICAL.md: missing answers are shown as missing, never counted as 0."""
    assert psfs_change(score_psfs([4, None]), score_psfs([8, 8])) is None
    assert psfs_change(None, score_psfs([8])) is None
    assert not is_meaningful_psfs_change(None)


def test_stage_is_recorded_with_its_position():
    """CLINICAL.md: STAGE is one of precontemplation, contemplation, preparation, action, maintenance."""
    assert [(score_stage(s).band, score_stage(s).total) for s in STAGES] == [(s, i) for i, s in enumerate(STAGES, 1)]


def test_explanations_say_how_the_total_was_computed():
    """CLINICAL.md: every computed figure shows how it was computed."""
    assert score_tsk11(items_for(27, 11, 1, 4)).explanation.startswith("sum of 11 items = 27 → moderate")
    assert score_nrs(6).explanation.startswith("answer 6 → moderate (0–5 mild, 6–7 moderate, 8–10 severe)")
    assert "item 9 = 0" in score_phq9([0] * 9).explanation


# ---------------------------------------------------------------------------------------------------------
# Missing answers


def test_missing_item_makes_the_total_missing_not_zero():
    """CLINICAL.md: missing answers are shown as missing, never counted as 0."""
    answers = {
        "NRS": 3,
        "TSK11": [1, 1, None, 1, 1, 1, 1, 1, 1, 1, 1],
        "PHQ2": [0, 0],
        "SBST": [0] * 9,
        "STAGE": "action",
    }
    scores = score_answers(answers)
    tsk = scores.get("TSK11")
    assert (tsk.total, tsk.band, tsk.complete) == (None, None, False)
    assert "item 3" in tsk.explanation
    assert scores.missing == ("TSK11",)


def test_missing_required_instrument_is_absent_and_listed():
    """CLINICAL.md: NRS, TSK-11, PHQ-2, SBST and STAGE are required for level 1."""
    scores = score_answers({"NRS": 3, "STAGE": "action", "SBST": None})
    assert set(scores.scores) == {"NRS", "STAGE"}
    assert scores.missing == ("TSK11", "PHQ2", "SBST")


def test_incomplete_optional_instrument_is_listed_as_missing():
    """CLINICAL.md: missing answers are shown as missing; FABQ-PA is optional but, once started, incomplete."""
    scores = score_answers({"FABQ_PA": [1, None, 2, 3]})
    assert "FABQ_PA" in scores.missing
    assert scores.total("FABQ_PA") is None


def test_phq9_item9_is_kept_when_another_item_is_missing():
    """CLINICAL.md: PHQ-9 item 9 > 0 is a safety flag, so it must survive an unanswered item."""
    score = score_phq9([None, 0, 0, 0, 0, 0, 0, 0, 2])
    assert (score.total, score.item9) == (None, 2)


def test_positive_phq2_makes_phq9_required():
    """CLINICAL.md: PHQ-2 ≥3 positive → PHQ-9 required."""
    assert "PHQ9" in score_answers({"PHQ2": [2, 1]}).missing
    assert "PHQ9" not in score_answers({"PHQ2": [1, 1]}).missing


def test_phq2_is_taken_from_phq9_items_1_and_2():
    """PHQ-2 is items 1–2 of the PHQ-9 (CLINICAL.md is silent on asking both; asking twice is not needed)."""
    scores = score_answers({"PHQ9": [2, 1, 0, 0, 0, 0, 0, 0, 0]})
    assert (scores.total("PHQ2"), scores.band("PHQ2")) == (3, "positive")
    assert scores.get("PHQ2").explanation.startswith("from PHQ-9 items 1–2")
    assert score_answers({"PHQ2": [0, 0], "PHQ9": [2, 1, 0, 0, 0, 0, 0, 0, 0]}).total("PHQ2") == 0


# ---------------------------------------------------------------------------------------------------------
# Invalid answers


@pytest.mark.parametrize(
    ("answers", "field", "fragment"),
    [
        ({"NRS": 11}, "NRS", "between 0 and 10, got 11"),
        ({"NRS": -1}, "NRS", "between 0 and 10"),
        ({"NRS": True}, "NRS", "not true/false"),
        ({"NRS": "7"}, "NRS", "not text"),
        ({"NRS": 7.0}, "NRS", "whole number"),
        ({"SILS": 0}, "SILS", "between 1 and 5"),
        ({"SILS": 6}, "SILS", "between 1 and 5"),
        ({"TSK11": [2] * 10}, "TSK11", "must have 11 items, got 10"),
        ({"TSK11": [2] * 12}, "TSK11", "must have 11 items, got 12"),
        ({"TSK11": [2, 2, 0] + [2] * 8}, "TSK11", "item 3: must be between 1 and 4, got 0"),
        ({"TSK11": "27"}, "TSK11", "must be a list"),
        ({"TSK11": 27}, "TSK11", "must be a list"),
        ({"FABQ_PA": [0, 0, 7, 0]}, "FABQ_PA", "item 4: must be between 0 and 6"),
        ({"PHQ2": [1, "2"]}, "PHQ2", "item 2: must be a number, not text"),
        ({"PHQ9": [True] + [0] * 8}, "PHQ9", "item 1: must be a whole number, not true/false"),
        ({"SBST": [0] * 8 + [5]}, "SBST", "item 9: must be between 0 and 4"),
        ({"SBST": [2] + [0] * 8}, "SBST", "item 1: must be between 0 and 1"),
        ({"SBST": [0] * 8}, "SBST", "must have 9 items"),
        ({"PSFS": []}, "PSFS", "must have 1–5 items, got 0"),
        ({"PSFS": [5] * 6}, "PSFS", "must have 1–5 items, got 6"),
        ({"PSFS": [11]}, "PSFS", "between 0 and 10"),
        ({"STAGE": "ready"}, "STAGE", "must be one of"),
        ({"STAGE": 3}, "STAGE", "must be one of"),
        ({"ENV": ["NO_BUS"]}, "ENV", "unknown code(s) NO_BUS"),
        ({"ENV": "NO_TIME"}, "ENV", "must be a list of codes"),
        ({"RED_FLAGS": ["BACK_PAIN"]}, "RED_FLAGS", "unknown code(s) BACK_PAIN"),
        ({"HADS": [1, 2]}, "HADS", "unknown instrument"),
        ({5: 3}, "5", "unknown instrument"),
    ],
)
def test_invalid_answer_names_the_field(answers, field, fragment):
    """CLINICAL.md ranges and item counts; the error names the instrument so an API can answer 422."""
    with pytest.raises(AnswerError) as raised:
        score_answers(answers)
    assert list(raised.value.fields) == [field]
    assert fragment in raised.value.fields[field]


def test_all_problems_are_reported_at_once():
    """Every invalid instrument is named, not just the first one."""
    with pytest.raises(AnswerError) as raised:
        score_answers({"NRS": 12, "TSK11": [1], "STAGE": "action", "SBST": [0] * 9, "FOO": 1})
    assert set(raised.value.fields) == {"NRS", "TSK11", "FOO"}
    assert isinstance(raised.value, ValueError)
    assert "NRS: must be between 0 and 10" in str(raised.value)


def test_answers_must_be_a_mapping():
    with pytest.raises(AnswerError) as raised:
        score_answers([("NRS", 3)])
    assert list(raised.value.fields) == ["answers"]


def test_every_instrument_has_a_scorer():
    assert list(SCORERS) == list(INSTRUMENTS)


# Anything a JSON client could send: the result is a ScoreSet or an AnswerError, never another exception.
scalars = st.none() | st.booleans() | st.integers(-3, 50) | st.floats() | st.text(max_size=5)
json_values = (
    scalars
    | st.lists(scalars | st.lists(scalars, max_size=2), max_size=12)
    | st.dictionaries(st.text(max_size=3), scalars, max_size=3)
)
instrument_keys = st.sampled_from([*INSTRUMENTS, "XYZ"])


# On a fresh checkout Hypothesis first builds its Unicode table for st.text() (over a second), which would trip
# the too_slow health check on the first draw; the draws themselves are fast (but slow on a busy CI machine).
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(instrument_keys, json_values, max_size=6))
def test_any_input_scores_or_raises_answer_error(answers):
    try:
        scores = score_answers(answers)
    except AnswerError as error:
        assert error.fields
        assert set(error.fields) <= set(answers)
    else:
        assert set(scores.scores) <= set(INSTRUMENTS)


@given(st.lists(st.integers(1, 4), min_size=11, max_size=11))
def test_tsk11_total_is_the_item_sum(items):
    """CLINICAL.md: TSK-11 sum 11–44."""
    assert score_tsk11(items).total == sum(items)


# ---------------------------------------------------------------------------------------------------------
# Item wording file


def test_bundled_item_wording_matches_the_instruments():
    """CLINICAL.md: SBST and TSK-11 wording comes from a replaceable file, in nl and en."""
    items = load_instrument_items()
    assert "SBST" in items["_licence"] and "TSK" in items["_licence"]
    for code in ("TSK11", "SBST", "PHQ2", "PHQ9", "FABQ_PA", "SILS", "STAGE", "ENV"):
        for lang in ITEM_LANGUAGES:
            wording = items[code][lang]
            assert wording["title"] and wording["instruction"]
            if INSTRUMENTS[code].answer == "items":
                assert len(wording["items"]) == INSTRUMENTS[code].item_count
    assert items["PHQ2"]["en"]["items"] == items["PHQ9"]["en"]["items"][:2]


def test_a_practice_can_point_to_its_own_wording_file(tmp_path):
    own = load_instrument_items()
    own["SBST"]["en"]["items"][0] = "Licensed wording of item 1."
    path = tmp_path / "licensed.json"
    path.write_text(json.dumps(own), encoding="utf-8")
    assert load_instrument_items(path)["SBST"]["en"]["items"][0] == "Licensed wording of item 1."


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["TSK11"]["nl"]["items"].pop(), "TSK11.nl: expected 11 items, found 10"),
        (lambda d: d["STAGE"]["en"]["options"].pop("action"), "STAGE.en: options must be exactly"),
        (lambda d: d["SBST"]["en"]["item_options"]["9"].update({"5": "more"}), "outside the answer range"),
        (lambda d: d.update({"HADS": {}}), "HADS: unknown instrument"),
        (lambda d: d["PHQ9"].pop("nl"), "PHQ9.nl: missing"),
    ],
)
def test_a_wording_file_that_disagrees_with_scoring_is_rejected(tmp_path, change, problem):
    data = load_instrument_items()
    change(data)
    path = tmp_path / "items.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_instrument_items(path)
