"""URL converter for object ids: only 1 .. MAX_ID match, so 0, negative or huge ids are a plain 404."""

from werkzeug.routing import IntegerConverter

from core.db import MAX_ID


class IdConverter(IntegerConverter):
    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ID)
