"""Patient records: contact details and preferences, consent, archive, export and erasure."""
