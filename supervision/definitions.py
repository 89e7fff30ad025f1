"""The clinical tables of CLINICAL.md as data.

Instruments, cut-offs, levels, ratios, the rule table, barriers, stages and reason codes live here so a
practice (or a later version) can change them without touching the logic in `scoring.py` and `rules.py`.
Item wording of the questionnaires is in `instrument_items.json`, because some of it is licensed text
that a practice must be able to replace.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple


class Text(NamedTuple):
    """One text in both supported languages."""

    en: str
    nl: str

    def get(self, lang: str) -> str:
        return self.nl if lang == "nl" else self.en


# ---------------------------------------------------------------------------------------------------------
# Instruments


@dataclass(frozen=True)
class Instrument:
    code: str
    name: Text
    #: "number": one whole number; "items": a list of whole numbers; "choice": one code; "codes": a list of codes.
    answer: str
    #: (lowest, highest) allowed answer per item; one entry for a "number".
    item_ranges: tuple[tuple[int, int], ...] = ()
    #: Only for instruments with a variable number of items (PSFS: the patient picks 1–5 activities).
    min_items: int | None = None
    #: Allowed codes for "choice" and "codes" answers, in display order.
    choices: tuple[str, ...] = ()
    #: Number of the first item, for messages and explanations (FABQ-PA uses the original items 2–5).
    first_item: int = 1

    @property
    def item_count(self) -> int:
        return len(self.item_ranges)


def _same(count: int, low: int, high: int) -> tuple[tuple[int, int], ...]:
    return ((low, high),) * count


STAGES: tuple[str, ...] = ("precontemplation", "contemplation", "preparation", "action", "maintenance")

RED_FLAGS: dict[str, Text] = {
    "CAUDA_EQUINA": Text(
        "Cauda equina syndrome (saddle anaesthesia, bladder or bowel problems)",
        "Cauda-equinasyndroom (rijbroekanesthesie, problemen met plassen of ontlasting)",
    ),
    "PROGRESSIVE_NEURO_DEFICIT": Text("Progressive neurological deficit", "Toenemende neurologische uitval"),
    "UNEXPLAINED_WEIGHT_LOSS": Text("Unexplained weight loss", "Onverklaard gewichtsverlies"),
    "HISTORY_OF_CANCER": Text("History of cancer", "Kanker in de voorgeschiedenis"),
    "FEVER_OR_INFECTION": Text("Fever or infection", "Koorts of infectie"),
    "TRAUMA_OR_FRACTURE": Text("Trauma or (suspected) fracture", "Trauma of (vermoeden van) een botbreuk"),
    "UNRELENTING_NIGHT_PAIN": Text("Unrelenting night pain", "Aanhoudende nachtelijke pijn die niet afneemt"),
}

#: ENV checklist codes are the barrier codes they record, so a ticked item needs no translation table.
ENV_BARRIERS: dict[str, str] = {
    "NO_FACILITY_NEARBY": "NO_FACILITY_NEARBY",
    "NO_TIME": "NO_TIME",
    "INSUFFICIENT_SUPPORT": "INSUFFICIENT_SUPPORT",
    "POOR_COMMUNICATION": "POOR_COMMUNICATION",
}

INSTRUMENTS: dict[str, Instrument] = {
    instrument.code: instrument
    for instrument in (
        Instrument("NRS", Text("Pain intensity (NRS)", "Pijnscore (NRS)"), "number", _same(1, 0, 10)),
        Instrument(
            "TSK11", Text("Fear of movement (TSK-11)", "Angst om te bewegen (TSK-11)"), "items", _same(11, 1, 4)
        ),
        Instrument(
            "FABQ_PA",
            Text("Fear-avoidance, physical activity (FABQ-PA)", "Vermijding door angst, bewegen (FABQ-PA)"),
            "items",
            _same(4, 0, 6),
            first_item=2,
        ),
        Instrument("PHQ2", Text("Depression screen (PHQ-2)", "Screening depressie (PHQ-2)"), "items", _same(2, 0, 3)),
        Instrument("PHQ9", Text("Depression (PHQ-9)", "Depressieve klachten (PHQ-9)"), "items", _same(9, 0, 3)),
        Instrument("SILS", Text("Health literacy (SILS)", "Gezondheidsvaardigheden (SILS)"), "number", _same(1, 1, 5)),
        Instrument("STAGE", Text("Stage of change", "Fase van gedragsverandering"), "choice", choices=STAGES),
        # Items 1–8 are disagree (0) / agree (1); item 9 is bothersomeness 0 not at all … 4 extremely.
        Instrument("SBST", Text("STarT Back Tool", "STarT Back Tool"), "items", _same(8, 0, 1) + ((0, 4),)),
        Instrument(
            "PSFS",
            Text("Patient-specific functional scale (PSFS)", "Patiëntspecifieke klachtenlijst (PSFS)"),
            "items",
            _same(5, 0, 10),
            min_items=1,
        ),
        Instrument(
            "ENV", Text("Environmental barriers", "Belemmeringen in de omgeving"), "codes", choices=tuple(ENV_BARRIERS)
        ),
        Instrument("RED_FLAGS", Text("Red flags", "Rode vlaggen"), "codes", choices=tuple(RED_FLAGS)),
    )
}

#: Level 1 needs all of these (CLINICAL.md, rule SCREEN_INCOMPLETE).
REQUIRED_INSTRUMENTS: tuple[str, ...] = ("NRS", "TSK11", "PHQ2", "SBST", "STAGE")


class FollowUp(NamedTuple):
    """A screen whose band makes a fuller instrument required; the fuller one then supersedes the screen."""

    screen: str
    band: str
    then: str


FOLLOW_UPS: tuple[FollowUp, ...] = (FollowUp("PHQ2", "positive", "PHQ9"),)

# ---------------------------------------------------------------------------------------------------------
# Bands and cut-offs: (highest total in the band, band code), lowest band first.

BANDS: dict[str, tuple[tuple[int, str], ...]] = {
    # Boonstra 2016, low back pain: ≤5 mild, 6–7 moderate, ≥8 severe.
    "NRS": ((5, "mild"), (7, "moderate"), (10, "severe")),
    # TSK-11 sum 11–44: ≤22 low, 23–28 moderate, 29–35 high, ≥36 very high.
    "TSK11": ((22, "low"), (28, "moderate"), (35, "high"), (44, "very_high")),
    # FABQ-PA sum of items 2–5, 0–24: >14 high.
    "FABQ_PA": ((14, "not_high"), (24, "high")),
    # PHQ-2 sum 0–6: ≥3 positive.
    "PHQ2": ((2, "negative"), (6, "positive")),
    # PHQ-9 sum 0–27: 5 mild, 10 moderate, 15 moderately severe, 20 severe.
    "PHQ9": ((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately_severe"), (27, "severe")),
    # SILS 1 never … 5 always: ≥3 (sometimes or more) is limited health literacy.
    "SILS": ((2, "adequate"), (5, "limited")),
}

#: STarT Back: total ≤3 low; total ≥4 and psychosocial subscale ≤3 medium; subscale ≥4 high.
SBST_TOTAL_LOW_MAX = 3
SBST_PSYCHOSOCIAL_HIGH_MIN = 4
SBST_PSYCHOSOCIAL_ITEMS: tuple[int, ...] = (5, 6, 7, 8, 9)
#: Item 9 answers 3 (very much) and 4 (extremely) score 1 point.
SBST_ITEM9_POINT_FROM = 3

#: PHQ-9 item 9 (thoughts of death or self-harm) above 0 is a safety flag.
PHQ9_SAFETY_ITEM = 9

#: A change of the PSFS mean of at least 2 points is meaningful.
PSFS_MEANINGFUL_CHANGE = 2

BAND_LABELS: dict[str, Text] = {
    "mild": Text("mild", "licht"),
    "moderate": Text("moderate", "matig"),
    "severe": Text("severe", "ernstig"),
    "low": Text("low", "laag"),
    "medium": Text("medium", "gemiddeld"),
    "high": Text("high", "hoog"),
    "very_high": Text("very high", "zeer hoog"),
    "not_high": Text("not high", "niet hoog"),
    "negative": Text("negative", "negatief"),
    "positive": Text("positive", "positief"),
    "minimal": Text("minimal", "minimaal"),
    "moderately_severe": Text("moderately severe", "matig ernstig"),
    "adequate": Text("adequate", "voldoende"),
    "limited": Text("limited", "beperkt"),
}

# ---------------------------------------------------------------------------------------------------------
# Supervision levels and ratios


@dataclass(frozen=True)
class Level:
    number: int
    code: str
    name: Text
    meaning: Text


LEVELS: dict[int, Level] = {
    level.number: level
    for level in (
        Level(
            1,
            "self_directed",
            Text("Self-directed", "Zelfstandig"),
            Text(
                "Home or online programme with video, group optional, regular check-ins.",
                "Thuis of online trainen met video. Groep mag, hoeft niet. Regelmatig contact.",
            ),
        ),
        Level(
            2,
            "standard_group",
            Text("Standard group", "Standaardgroep"),
            Text("Supervised group training.", "Trainen in een groep, met begeleiding."),
        ),
        Level(
            3,
            "close_supervision",
            Text("Close supervision", "Extra begeleiding"),
            Text(
                "Small group, more feedback, graded exposure.",
                "Kleine groep, meer feedback, stap voor stap wennen aan bewegen.",
            ),
        ),
        Level(
            4,
            "individual_start",
            Text("Individual start", "Individuele start"),
            Text(
                "1:1 sessions first; joins a group after reassessment.",
                "Eerst alleen met de therapeut. Na een nieuwe meting naar een groep.",
            ),
        ),
    )
}

#: Patients per supervisor; a practice setting, these are the defaults.
DEFAULT_RATIOS: dict[int, int] = {1: 12, 2: 10, 3: 6, 4: 1}

#: A patient without a confirmed level counts as this level for staffing (and is flagged "level not set").
LEVEL_WHEN_NOT_SET = 2

# ---------------------------------------------------------------------------------------------------------
# Rule table (all that fire are listed; the highest level wins; a level of None is a safety gate)

#: (instrument code, bands that satisfy the condition)
Condition = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Rule:
    code: str
    #: None: a safety gate, no automatic level (clinician review).
    level: int | None
    #: Reason text; {CODE} placeholders are filled with totals, e.g. {NRS}, {PHQ9_ITEM9}, {MISSING}.
    text: Text
    #: "bands" uses all_of/any_of; the others are checks that bands cannot express (see rules.py).
    check: str = "bands"
    all_of: tuple[Condition, ...] = ()
    any_of: tuple[Condition, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule(
        "SAFETY_PHQ9_ITEM9",
        None,
        Text(
            "Safety: PHQ-9 item 9 (thoughts of death or self-harm) is {PHQ9_ITEM9}. Clinician review today.",
            "Veiligheid: PHQ-9 vraag 9 (gedachten aan dood of zelfbeschadiging) is {PHQ9_ITEM9}. "
            "Vandaag beoordelen door een behandelaar.",
        ),
        check="phq9_item9",
    ),
    Rule(
        "SAFETY_RED_FLAG",
        None,
        Text(
            "Safety: red flag ticked ({RED_FLAGS}). Clinician review needed.",
            "Veiligheid: rode vlag aangevinkt ({RED_FLAGS}). Beoordelen door een behandelaar.",
        ),
        check="red_flag",
    ),
    Rule(
        "DEPRESSION_SEVERE",
        4,
        Text(
            "Severe depressive symptoms: PHQ-9 = {PHQ9} ({PHQ9_BAND}).",
            "Ernstige depressieve klachten: PHQ-9 = {PHQ9} ({PHQ9_BAND}).",
        ),
        any_of=(("PHQ9", ("moderately_severe", "severe")),),
    ),
    Rule(
        "FEAR_AND_RISK",
        4,
        Text(
            "Very high fear of movement (TSK-11 = {TSK11}) and high risk on STarT Back (total {SBST}).",
            "Zeer veel angst om te bewegen (TSK-11 = {TSK11}) en hoog risico op de STarT Back (totaal {SBST}).",
        ),
        all_of=(("TSK11", ("very_high",)), ("SBST", ("high",))),
    ),
    Rule(
        "PAIN_AND_RISK",
        4,
        Text(
            "Severe pain (NRS = {NRS}) and high risk on STarT Back (total {SBST}).",
            "Ernstige pijn (NRS = {NRS}) en hoog risico op de STarT Back (totaal {SBST}).",
        ),
        all_of=(("NRS", ("severe",)), ("SBST", ("high",))),
    ),
    Rule(
        "SBST_HIGH",
        3,
        Text(
            "High risk on STarT Back: total {SBST}, psychosocial subscale {SBST_PSYCHOSOCIAL}.",
            "Hoog risico op de STarT Back: totaal {SBST}, psychosociale subschaal {SBST_PSYCHOSOCIAL}.",
        ),
        any_of=(("SBST", ("high",)),),
    ),
    Rule(
        "PAIN_SEVERE",
        3,
        Text("Severe pain: NRS = {NRS}.", "Ernstige pijn: NRS = {NRS}."),
        any_of=(("NRS", ("severe",)),),
    ),
    Rule(
        "FEAR_HIGH",
        3,
        Text(
            "High fear of movement: TSK-11 = {TSK11}, FABQ-PA = {FABQ_PA}.",
            "Veel angst om te bewegen: TSK-11 = {TSK11}, FABQ-PA = {FABQ_PA}.",
        ),
        any_of=(("TSK11", ("high", "very_high")), ("FABQ_PA", ("high",))),
    ),
    Rule(
        "DEPRESSION_MODERATE",
        3,
        Text("Moderate depressive symptoms: PHQ-9 = {PHQ9}.", "Matige depressieve klachten: PHQ-9 = {PHQ9}."),
        any_of=(("PHQ9", ("moderate",)),),
    ),
    Rule(
        "STAGE_EARLY",
        3,
        Text(
            "Not yet ready to exercise regularly (stage: {STAGE}).",
            "Nog niet klaar om regelmatig te bewegen (fase: {STAGE}).",
        ),
        any_of=(("STAGE", ("precontemplation", "contemplation")),),
    ),
    Rule(
        "SBST_MEDIUM",
        2,
        Text(
            "Medium risk on STarT Back: total {SBST}, psychosocial subscale {SBST_PSYCHOSOCIAL}.",
            "Gemiddeld risico op de STarT Back: totaal {SBST}, psychosociale subschaal {SBST_PSYCHOSOCIAL}.",
        ),
        any_of=(("SBST", ("medium",)),),
    ),
    Rule(
        "PAIN_MODERATE",
        2,
        Text("Moderate pain: NRS = {NRS}.", "Matige pijn: NRS = {NRS}."),
        any_of=(("NRS", ("moderate",)),),
    ),
    Rule(
        "FEAR_MODERATE",
        2,
        Text("Moderate fear of movement: TSK-11 = {TSK11}.", "Matige angst om te bewegen: TSK-11 = {TSK11}."),
        any_of=(("TSK11", ("moderate",)),),
    ),
    Rule(
        "STAGE_PREPARATION",
        2,
        Text(
            "Preparing to start exercising (stage: {STAGE}).",
            "Bereidt zich voor om te gaan bewegen (fase: {STAGE}).",
        ),
        any_of=(("STAGE", ("preparation",)),),
    ),
    Rule(
        "SCREEN_INCOMPLETE",
        # "At least 2": as the highest fired level wins, a level of 2 here can only raise the outcome to 2.
        2,
        Text(
            "Screening incomplete (missing: {MISSING}). Level 1 needs complete data.",
            "Screening niet compleet (ontbreekt: {MISSING}). Niveau 1 kan alleen met complete gegevens.",
        ),
        check="screen_incomplete",
    ),
    Rule(
        "SELF_DIRECTED_OK",
        1,
        Text(
            "Screening complete and no reason for more supervision.",
            "Screening compleet en geen reden voor meer begeleiding.",
        ),
        check="otherwise",
    ),
)

# ---------------------------------------------------------------------------------------------------------
# Barriers → actions (seed point 5, Box 1 inhibitors)


class Action(NamedTuple):
    code: str
    text: Text


@dataclass(frozen=True)
class Barrier:
    code: str
    label: Text
    actions: tuple[Action, ...]


BARRIERS: dict[str, Barrier] = {
    barrier.code: barrier
    for barrier in (
        Barrier(
            "PAIN_INTENSITY",
            Text("Pain intensity", "Veel pijn"),
            (
                Action("PAIN_EDUCATION", Text("Pain education", "Uitleg over pijn")),
                Action("GRADED_ACTIVITY", Text("Graded activity", "Stap voor stap opbouwen (graded activity)")),
                Action("LOWER_INTENSITY", Text("Start at lower intensity", "Beginnen met lagere intensiteit")),
                Action("LIAISE_GP", Text("Liaise with GP", "Overleg met de huisarts")),
            ),
        ),
        Barrier(
            "FEAR_OF_MOVEMENT",
            Text("Fear of movement", "Angst om te bewegen"),
            (
                Action("HURT_IS_NOT_HARM", Text('Education "hurt is not harm"', 'Uitleg "pijn is geen schade"')),
                Action(
                    "GRADED_EXPOSURE", Text("Graded exposure", "Stap voor stap wennen aan bewegen (graded exposure)")
                ),
                Action("CLOSER_SUPERVISION", Text("Closer supervision", "Meer begeleiding")),
            ),
        ),
        Barrier(
            "DEPRESSION",
            Text("Depression", "Depressieve klachten"),
            (
                Action(
                    "MENTAL_HEALTH_LIAISON",
                    Text("GP / mental-health nurse liaison", "Overleg met huisarts of POH-GGZ"),
                ),
                Action("BEHAVIOURAL_ACTIVATION", Text("Behavioural activation", "Gedragsactivatie")),
                Action("MONITOR_PHQ9", Text("Monitor PHQ-9", "PHQ-9 blijven volgen")),
            ),
        ),
        Barrier(
            "LOW_HEALTH_LITERACY",
            Text("Low health literacy", "Beperkte gezondheidsvaardigheden"),
            (
                Action("PLAIN_LANGUAGE", Text("Plain-language material", "Materiaal in eenvoudige taal")),
                Action("TEACH_BACK", Text("Teach-back", "Laten terugvertellen (teach-back)")),
                Action("VIDEO_INSTRUCTIONS", Text("Video instructions", "Uitleg met video")),
                Action("INVOLVE_COMPANION", Text("Involve companion", "Naaste meenemen")),
            ),
        ),
        Barrier(
            "NO_FACILITY_NEARBY",
            Text("No training facility nearby", "Geen trainingsplek in de buurt"),
            (
                Action("HOME_PROGRAMME_VIDEO", Text("Home programme with video", "Thuisprogramma met video")),
                Action("ONLINE_SESSION", Text("Online session", "Online sessie")),
                Action("OTHER_LOCATION", Text("Other location", "Andere locatie")),
            ),
        ),
        Barrier(
            "NO_TIME",
            Text("No time to train", "Geen tijd om te trainen"),
            (
                Action("OTHER_TIME_SLOT", Text("Other time slot", "Ander tijdstip")),
                Action("MAKE_UP_SESSION", Text("Make-up session", "Inhaalsessie")),
                Action("SHORTER_SESSIONS", Text("Shorter sessions", "Kortere sessies")),
                Action("DAILY_ROUTINE", Text("Fit into daily routine", "Inpassen in de dagelijkse routine")),
            ),
        ),
        Barrier(
            "INSUFFICIENT_SUPPORT",
            Text("Insufficient support", "Te weinig steun"),
            (
                Action("GROUP_BUDDY", Text("Buddy in the group", "Maatje in de groep")),
                Action("INVOLVE_FAMILY", Text("Involve partner/family", "Partner of familie betrekken")),
                Action("CHECK_IN_CALLS", Text("Check-in calls", "Regelmatig even bellen")),
            ),
        ),
        Barrier(
            "POOR_COMMUNICATION",
            Text("Poor communication", "Slechte communicatie"),
            (
                Action("AGREE_CONTACT_CHANNEL", Text("Agree contact channel", "Afspreken hoe we contact houden")),
                Action("REMINDERS", Text("Reminders", "Herinneringen sturen")),
                Action("NAMED_CONTACT", Text("Named contact person", "Vaste contactpersoon")),
            ),
        ),
        Barrier(
            "TOO_LITTLE_SUPERVISION",
            Text("Too little supervision", "Te weinig begeleiding"),
            (
                Action(
                    "RAISE_LEVEL_OR_SUPERVISOR",
                    Text("Raise level or add a supervisor", "Niveau omhoog of begeleider erbij"),
                ),
            ),
        ),
    )
}

#: Barriers that follow from scores: any condition that holds records the barrier. A screen is ignored once
#: its follow-up is complete (a PHQ-9 below 10 overrules a positive PHQ-2), see FOLLOW_UPS.
SCORE_BARRIERS: tuple[tuple[str, tuple[Condition, ...]], ...] = (
    ("PAIN_INTENSITY", (("NRS", ("moderate", "severe")),)),
    ("FEAR_OF_MOVEMENT", (("TSK11", ("high", "very_high")), ("FABQ_PA", ("high",)))),
    ("DEPRESSION", (("PHQ2", ("positive",)), ("PHQ9", ("moderate", "moderately_severe", "severe")))),
    ("LOW_HEALTH_LITERACY", (("SILS", ("limited",)),)),
)

# ---------------------------------------------------------------------------------------------------------
# Stages of change → strategies (seed point 6)


@dataclass(frozen=True)
class Stage:
    code: str
    label: Text
    strategies: tuple[Text, ...]


STAGE_STRATEGIES: dict[str, Stage] = {
    stage.code: stage
    for stage in (
        Stage(
            "precontemplation",
            Text("Precontemplation", "Voorbeschouwing"),
            (
                Text("Personalised education", "Persoonlijke uitleg"),
                Text("Benefits of training", "Voordelen van trainen"),
                Text("Address misconceptions", "Misverstanden rechtzetten"),
            ),
        ),
        Stage(
            "contemplation",
            Text("Contemplation", "Overweging"),
            (
                Text("Pros and cons", "Voor- en nadelen afwegen"),
                Text("Motivational interviewing", "Motiverende gespreksvoering"),
                Text("Explore goals", "Doelen verkennen"),
            ),
        ),
        Stage(
            "preparation",
            Text("Preparation", "Voorbereiding"),
            (
                Text("Concrete plan", "Concreet plan maken"),
                Text("PSFS goals", "PSFS-doelen vastleggen"),
                Text("Pick a group", "Een groep kiezen"),
            ),
        ),
        Stage(
            "action",
            Text("Action", "Actie"),
            (
                Text("Feedback", "Feedback geven"),
                Text("Video of own performance", "Video van de eigen uitvoering"),
                Text("Self-monitoring", "Zelf bijhouden"),
            ),
        ),
        Stage(
            "maintenance",
            Text("Maintenance", "Volhouden"),
            (
                Text("Relapse-prevention plan", "Plan om terugval te voorkomen"),
                Text("Move on to community activity", "Doorstromen naar sport of bewegen in de buurt"),
            ),
        ),
    )
}

# ---------------------------------------------------------------------------------------------------------
# Assessments and reassessment suggestions

#: When the instruments are filled in: intake, reassessment at session 4, week 6 and the end.
ASSESSMENT_MOMENTS: dict[str, Text] = {
    "INTAKE": Text("Intake", "Intake"),
    "SESSION_4": Text("Session 4", "Sessie 4"),
    "WEEK_6": Text("Week 6", "Week 6"),
    "END": Text("End of programme", "Einde programma"),
}


@dataclass(frozen=True)
class Reassessment:
    #: Step down needs a PSFS mean improved by at least this much ...
    psfs_min_improvement: int = PSFS_MEANINGFUL_CHANGE
    #: ... and attendance at least this rate; below it is a reason to step up.
    attendance_threshold: Fraction = Fraction(3, 4)
    #: NRS rising by at least this much is a reason to step up.
    nrs_min_rise: int = 2


REASSESSMENT = Reassessment()

#: Reason texts of reassessment suggestions; placeholders are filled in rules.suggest_reassessment.
REASSESSMENT_REASONS: dict[str, Text] = {
    "PSFS_IMPROVED_AND_ATTENDING": Text(
        "PSFS mean improved by {PSFS_CHANGE} with attendance {ATTENDANCE}: consider one level down.",
        "PSFS-gemiddelde {PSFS_CHANGE} beter en opkomst {ATTENDANCE}: overweeg een niveau lager.",
    ),
    "LOW_ATTENDANCE": Text(
        "Attendance {ATTENDANCE} is below {THRESHOLD}: consider one level up.",
        "Opkomst {ATTENDANCE} is lager dan {THRESHOLD}: overweeg een niveau hoger.",
    ),
    "PAIN_ROSE": Text(
        "NRS rose from {NRS_BEFORE} to {NRS_NOW}: consider one level up.",
        "NRS gestegen van {NRS_BEFORE} naar {NRS_NOW}: overweeg een niveau hoger.",
    ),
    "NEW_BARRIER": Text(
        "New barrier recorded{BARRIERS}: consider one level up.",
        "Nieuwe belemmering vastgelegd{BARRIERS}: overweeg een niveau hoger.",
    ),
}

#: The week-6 reassessment is due this long after the intake (session 4 and the end need groups' sessions).
WEEK_6_AFTER_INTAKE = timedelta(weeks=6)
#: A reassessment taken at most this long before a due date (or any time after it) counts for that moment; the
#: due list also shows patients this long before their date, so the reassessment can be planned.
REASSESSMENT_WINDOW = timedelta(days=7)

# ---------------------------------------------------------------------------------------------------------
# Education (seed point 4): misconceptions that education items address, as tags next to barriers and stages.

MISCONCEPTIONS: dict[str, Text] = {
    "HURT_MEANS_HARM": Text("Hurt means harm", "Pijn betekent schade"),
    "REST_IS_BEST": Text("Rest is best", "Rust is het beste"),
    "SCAN_EXPLAINS_PAIN": Text("Scan findings explain pain", "Een scan verklaart de pijn"),
    "EXERCISE_NOT_FOR_PAIN": Text("Exercise is not for people in pain", "Trainen is niet voor mensen met pijn"),
}

#: What an education item can be tagged with, and the codes each kind allows.
EDUCATION_TAG_KINDS: dict[str, tuple[str, ...]] = {
    "misconception": tuple(MISCONCEPTIONS),
    "barrier": tuple(BARRIERS),
    "stage": STAGES,
}

# ---------------------------------------------------------------------------------------------------------
# Reason codes for absences and withdrawals, each mapped to the barrier it records (None: no barrier).


@dataclass(frozen=True)
class AbsenceReason:
    code: str
    label: Text
    barrier: str | None
    withdrawal_only: bool = False


ABSENCE_REASONS: dict[str, AbsenceReason] = {
    reason.code: reason
    for reason in (
        # Being ill is a valid reason to miss a session, not an obstacle to training that an action could remove.
        AbsenceReason("ILLNESS", Text("Illness", "Ziek"), None),
        AbsenceReason("PAIN_INTENSITY", Text("Too much pain", "Te veel pijn"), "PAIN_INTENSITY"),
        AbsenceReason(
            "FEAR_OF_MOVEMENT",
            Text("Afraid to move or to make it worse", "Bang om te bewegen of het erger te maken"),
            "FEAR_OF_MOVEMENT",
        ),
        AbsenceReason("DEPRESSION", Text("Feeling down", "Somber"), "DEPRESSION"),
        AbsenceReason("NO_TIME", Text("No time", "Geen tijd"), "NO_TIME"),
        AbsenceReason(
            "NO_FACILITY_NEARBY",
            Text("Travel (too far, no transport)", "Reizen (te ver, geen vervoer)"),
            "NO_FACILITY_NEARBY",
        ),
        AbsenceReason("INSUFFICIENT_SUPPORT", Text("Not enough support", "Te weinig steun"), "INSUFFICIENT_SUPPORT"),
        AbsenceReason(
            "POOR_COMMUNICATION",
            Text("Forgot or was not informed", "Vergeten of niet op de hoogte"),
            "POOR_COMMUNICATION",
        ),
        AbsenceReason("OTHER", Text("Other", "Anders"), None),
        AbsenceReason("RECOVERED", Text("Recovered", "Hersteld"), None, withdrawal_only=True),
        # Moving away means the training place is no longer nearby; the barrier's actions (home programme,
        # online session, other location) are what could keep the patient training.
        AbsenceReason("MOVED_AWAY", Text("Moved away", "Verhuisd"), "NO_FACILITY_NEARBY", withdrawal_only=True),
    )
}

ABSENCE_REASON_CODES: tuple[str, ...] = tuple(code for code, r in ABSENCE_REASONS.items() if not r.withdrawal_only)
WITHDRAWAL_REASON_CODES: tuple[str, ...] = tuple(ABSENCE_REASONS)

# ---------------------------------------------------------------------------------------------------------
# Item wording (replaceable file)

DEFAULT_ITEMS_FILE = Path(__file__).with_name("instrument_items.json")
ITEM_LANGUAGES: tuple[str, ...] = ("nl", "en")


def load_instrument_items(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Item wording per instrument and language, from `path` or the bundled file.

    A practice points `path` at its own file, e.g. with licensed STarT Back and TSK-11 text. The file is
    checked against INSTRUMENTS so that wording never silently disagrees with scoring; raises ValueError.
    """
    with open(path or DEFAULT_ITEMS_FILE, encoding="utf-8") as handle:
        data = json.load(handle)
    problems = _item_file_problems(data)
    if problems:
        raise ValueError(f"{path or DEFAULT_ITEMS_FILE}: " + "; ".join(problems))
    return data


def _item_file_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["the file must hold one JSON object"]
    problems = []
    for code, texts in data.items():
        if code.startswith("_"):
            continue  # comments such as "_licence"
        instrument = INSTRUMENTS.get(code)
        if instrument is None:
            problems.append(f"{code}: unknown instrument")
            continue
        for lang in ITEM_LANGUAGES:
            wording = texts.get(lang) if isinstance(texts, dict) else None
            if not isinstance(wording, dict):
                problems.append(f"{code}.{lang}: missing")
                continue
            problems.extend(f"{code}.{lang}: {p}" for p in _wording_problems(instrument, wording))
    return problems


def _wording_problems(instrument: Instrument, wording: dict[str, Any]) -> list[str]:
    problems = []
    items = wording.get("items", [])
    # PSFS items are the patient's own activities, so the file holds no item texts for it.
    if (
        instrument.answer in ("number", "items")
        and instrument.min_items is None
        and len(items) != instrument.item_count
    ):
        problems.append(f"expected {instrument.item_count} items, found {len(items)}")
    options = dict(wording.get("options", {}))
    if instrument.answer in ("choice", "codes"):
        if set(options) != set(instrument.choices):
            problems.append(f"options must be exactly {', '.join(instrument.choices)}")
        return problems
    # Numeric options may be anchors only (e.g. 0 and 10 of the NRS), but must lie in the item's range.
    allowed = {str(value) for low, high in instrument.item_ranges for value in range(low, high + 1)}
    for item_options in [options, *dict(wording.get("item_options", {})).values()]:
        if set(item_options) - allowed:
            problems.append(f"options {sorted(set(item_options) - allowed)} outside the answer range")
    return problems
