"""Answer sets for the supervision tests, in the API's format (CLINICAL.md instruments)."""

from __future__ import annotations

import copy

#: Complete and unremarkable: only SELF_DIRECTED_OK fires (level 1).
CALM = {
    "NRS": 3,
    "TSK11": [1] * 11,
    "PHQ2": [0, 0],
    "SBST": [0] * 9,
    "STAGE": "action",
}

#: A realistic intake: moderate pain (NRS 6), moderate fear (TSK-11 = 24), medium STarT Back risk, preparation.
#: Fires PAIN_MODERATE, FEAR_MODERATE, SBST_MEDIUM, STAGE_PREPARATION: level 2.
INTAKE = {
    "NRS": 6,
    "TSK11": [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 2],
    "PHQ2": [1, 1],
    "SILS": 1,
    "STAGE": "preparation",
    "SBST": [1, 1, 1, 1, 0, 0, 0, 0, 1],
    "PSFS": [{"activity": "Walking the dog", "score": 4}, {"activity": "Gardening", "score": 3}],
    "ENV": [],
    "RED_FLAGS": [],
}

#: PHQ-9 of 17 (moderately severe) → DEPRESSION_SEVERE, level 4; item 9 = 0.
DEPRESSED = {**CALM, "PHQ2": [2, 2], "PHQ9": [2, 2, 2, 2, 2, 2, 2, 3, 0]}

#: PHQ-9 item 9 = 1: the safety gate fires, no automatic level.
ITEM9 = {**CALM, "PHQ2": [1, 1], "PHQ9": [1, 1, 1, 1, 1, 0, 0, 0, 1]}


def answers(base: dict, **changes) -> dict:
    """A deep copy of `base` with some instruments replaced (None removes one)."""
    result = copy.deepcopy(base)
    for code, value in changes.items():
        if value is None:
            result.pop(code, None)
        else:
            result[code] = value
    return result
