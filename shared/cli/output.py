"""What the CLI prints: data made safe for a terminal, and tables of it."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Terminal escape sequences: CSI (colours, cursor moves, screen clearing), OSC (window titles, hyperlinks, clipboard
# writes), DCS/SOS/PM/APC strings, the other two-byte escapes, and the 8-bit CSI.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)


def printable(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text that is safe to print on a terminal: escape sequences removed, then every other control
    or invisible format character (C0, C1, DEL, bidi overrides, zero-width characters) removed; tabs (and line
    breaks unless ``keep_newlines``) become spaces. Everything the CLI prints that comes from data (names, codes,
    subjects, reasons, answers of a service) goes through here, so a name cannot recolour, retitle or rewrite the
    operator's terminal."""
    text = _ESCAPES.sub("", str(value))
    kept = []
    for char in text:
        if char == "\n" and keep_newlines:
            kept.append(char)
        elif char in "\t\n\r":
            kept.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cf"):
            kept.append(char)
    return "".join(kept)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """``rows`` as aligned columns under upper-case headings, every cell made :func:`printable` first."""
    cells = [{c: printable(r.get(c, "") or "") for c in columns} for r in rows]
    widths = {c: max([len(c), *(len(r[c]) for r in cells)]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in cells]
    return "\n".join(lines)
