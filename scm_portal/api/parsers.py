"""The API's body parsers: DRF's, refusing what no view can store or answer (scm_portal/api/text.py).

A refused body is a 400 `invalid_text` (a NUL, a lone surrogate) or `too_deep` in the contract's
error format, with `fields` pointing at the offending value; the offending text itself is never
echoed. Every view gets them (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES); a view that names its
own parsers names these.
"""

import json

from rest_framework import exceptions, parsers
from rest_framework.utils.json import strict_constant

from scm_portal.api.text import UnstorableText, check_json_value, error_fields, is_unstorable


class BodyRefused(exceptions.ParseError):
    """A refused body, answered with the problem's code and `fields` (scm_portal/api/errors.py)."""

    def __init__(self, problem):
        super().__init__(problem.message, code=problem.code)
        self.problem = problem
        self.fields = problem.fields

    def in_row_errors(self, name):
        """For a batch endpoint that names a bad row's errors `{name: {index: {field: [...]}}}`:
        the same error in that shape when it is in a row, else this one."""
        path = self.problem.path
        if not path or not isinstance(path[0], int):
            return self
        return exceptions.ValidationError({name: error_fields(path, self.problem.message)})


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (strict: no NaN or Infinity), plus the checks of scm_portal/api/text.py."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_constant=strict_constant if self.strict else None)
        except RecursionError:  # nested past the interpreter's stack: the decoder gives up cleanly
            raise BodyRefused(UnstorableText((), "too_deep")) from None
        except ValueError as exc:  # also UnicodeDecodeError: bytes that are not in the charset
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        try:
            check_json_value(data, text)
        except UnstorableText as problem:
            raise BodyRefused(problem) from None
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser; a NUL in a field's name or value, or in a file's name, is refused
    (Django decodes form text with replacement characters, so no surrogate gets through)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        named = [(name, value) for name, values in parsed.data.lists() for value in values]
        named += [(name, upload.name or "") for name, uploads in parsed.files.lists() for upload in uploads]
        for name, value in named:
            if is_unstorable(name):
                raise BodyRefused(UnstorableText(()))
            if isinstance(value, str) and is_unstorable(value):
                raise BodyRefused(UnstorableText((name,)))
        return parsed
