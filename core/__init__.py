"""Cross-cutting pieces every domain package uses: column types, errors, access control, API helpers."""
