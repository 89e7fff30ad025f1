"""Programmes, rooms, groups (cohorts), their materialised sessions, enrolment and the waitlist."""
