"""The file name a job's result is stored and downloaded under."""

from __future__ import annotations

import unicodedata

from werkzeug.utils import secure_filename

from .errors import InvalidArgument


def result_name(filename: str) -> str:
    """``filename`` reduced to a safe file name (``"result"`` when nothing is left of it).

    :param filename: the name the job asked for.
    :raises InvalidArgument: the name holds a control character (a line break, NUL), which no
        download name may carry.
    """
    bad = next((c for c in filename if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise InvalidArgument(
            f"the result file name contains the control character U+{ord(bad):04X};"
            " choose a name without line breaks or other control characters"
        )
    return secure_filename(filename) or "result"
