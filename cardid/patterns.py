"""Regular expressions that administrators and API clients write (conversion steps, the
sync's card regex), compiled with RE2: matching takes time linear in the input, so no
pattern can stall the server; what RE2 cannot run (back-references, look-arounds) is
refused when it is saved (no Django import)."""

import re2

MAX_LENGTH = 500  # characters of a pattern
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the refusal says why; nothing on standard error
_OPTIONS.max_mem = 8 << 20  # bytes for one compiled pattern: enormous patterns are refused


class PatternError(ValueError):
    """A pattern that is too long or that RE2 cannot run; the message says why."""


def compile_pattern(expr: str):
    """The compiled pattern (with `.search`, `.groups`), or PatternError."""
    if len(expr) > MAX_LENGTH:
        raise PatternError(f"the expression has {len(expr)} characters; at most {MAX_LENGTH}")
    try:
        return re2.compile(expr, _OPTIONS)
    except re2.error as e:
        why = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise PatternError(
            f"not a regular expression that runs in linear time ({why}); back-references "
            "and look-arounds are not supported"
        ) from None
