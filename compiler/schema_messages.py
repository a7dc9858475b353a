"""What a JSON Schema violation says to a person, in our words where jsonschema's read oddly.

jsonschema words a failed `format` as `'x' is not a 'email'`; we say
`'x' is not a valid email`. The interpreter's payload, signal and data checks
and the compiler's check of data defaults (FY509) take their messages from
here, so the text is the same wherever it is shown.
"""

from __future__ import annotations

from jsonschema.exceptions import ValidationError


def violation_message(error: ValidationError) -> str:
    """`error.message`, with a failed `format` said as "is not a valid <format>"."""
    if error.validator == "format" and isinstance(error.validator_value, str):
        return f"{error.instance!r} is not a valid {error.validator_value}"
    return error.message
