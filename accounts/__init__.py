"""Practices, staff users and roles, login sessions, API tokens and the audit log."""
