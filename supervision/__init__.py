"""Supervision: instruments and scoring, level rules with reasons, barriers and actions, staffing ratios."""
