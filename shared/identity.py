"""Who someone is: the one owner of "is this the same person?".

Subjects come from tokens (the identity provider's ``sub``) and are recorded on events. Two spellings of one
person must never count as two people for separation of duties, so subjects are

* refused when they hold control or invisible format characters (``\\x00``, zero-width joiners, bidi marks) or
  mix scripts (Latin with Cyrillic or Greek letters: the classic look-alike attack), and
* compared by :func:`same_person`: Unicode NFKC (fullwidth ``dora`` is ``dora``), case folded, with the
  look-alike letters of other scripts mapped to the Latin ones they imitate (a skeleton in the spirit of
  Unicode TS #39).
"""

from __future__ import annotations

import unicodedata

from shared.limits import MAX_SUBJECT

# Letters of other scripts that render like Latin ones (Unicode confusables, the common subset), and the Latin
# letters they imitate, position by position.
_LOOK_ALIKES = (
    "\u0430\u0432\u0441\u0435\u04bb\u0456\u0458\u043a\u043c\u043d\u043e\u0440\u0455\u0442\u0443\u0445"  # Cyrillic
    "\u0501\u051b\u051d\u04cf\u0451\u0457"
    "\u03b1\u03b2\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u03b3\u03f2"  # Greek
    "\u0131\u0261\u028f\u2113"  # Latin and letterlike look-alikes
    "01|"
)
_IMITATED = "abcehijkmhopstyxdqwleiabenikvoptuxycigyloll"
_CONFUSABLES = str.maketrans(_LOOK_ALIKES, _IMITATED)

_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "HEBREW", "ARABIC", "CJK", "HIRAGANA", "KATAKANA", "HANGUL")


class InvalidSubjectError(ValueError):
    """A subject that cannot name a person safely (empty, too long, invisible characters, mixed scripts)."""


def _script(char: str) -> str | None:
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return next((s for s in _SCRIPTS if name.startswith(s)), "OTHER")


def canonical_subject(raw: str) -> str:
    """The subject as recorded: NFKC-normalised and trimmed. Raises :class:`InvalidSubjectError` for a subject
    that is empty, longer than :data:`~shared.limits.MAX_SUBJECT`, holds control or format characters, or mixes
    scripts."""
    subject = unicodedata.normalize("NFKC", raw).strip()
    if not subject:
        raise InvalidSubjectError("the subject is empty")
    if len(subject) > MAX_SUBJECT:
        raise InvalidSubjectError(f"the subject is longer than {MAX_SUBJECT} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in subject):
        raise InvalidSubjectError("the subject holds control or invisible characters")
    scripts = {s for c in subject if (s := _script(c)) is not None}
    if len(scripts) > 1:
        raise InvalidSubjectError(f"the subject mixes scripts ({', '.join(sorted(scripts))})")
    return subject


def skeleton(subject: str) -> str:
    """What ``subject`` looks like: NFKC, case folded, invisible characters dropped, look-alikes mapped to Latin.
    Two subjects with the same skeleton are one person."""
    folded = unicodedata.normalize("NFKC", subject).casefold()
    visible = "".join(c for c in folded if unicodedata.category(c) not in ("Cc", "Cf") and not c.isspace())
    return unicodedata.normalize("NFKD", visible.translate(_CONFUSABLES)).encode("ascii", "ignore").decode() or visible


def same_person(a: str | None, b: str | None) -> bool:
    """Whether two recorded subjects name the same person (``None`` is nobody, and never the same as anyone)."""
    if a is None or b is None:
        return False
    return skeleton(a) == skeleton(b)
