"""Calendars: pure iCalendar building (session events, subscription feeds, iTIP invitations).

The rules are in ``ICAL.md``; everything in ``calendars.ical`` is free of Flask and the database.
"""
