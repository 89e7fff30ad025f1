"""`flask demo load`: a demo practice that shows every feature. Safe to run again (nothing is duplicated)."""
