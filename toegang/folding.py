"""Names as people type them when they search: without accents and case ("zoe" finds "Zoë").

``fold`` is the one definition, applied in Python both to the stored search copies of a name
(delegation's FOLDED_COPIES, written whenever the name is) and to what a person types, so that
PostgreSQL and SQLite compare the same strings with a plain ``LIKE`` (which PostgreSQL serves from
a trigram index, docs/performance.md) and find the same rows.

Unicode's decomposition strips the accents of "é", "ë", "ç", "ñ"...; the letters that do not
decompose (ø, ł, æ, œ, ß, đ, ð, þ, ı) are spelled out as PostgreSQL's ``unaccent`` spells them.
"""

from __future__ import annotations

import unicodedata

_SPELLED = str.maketrans(
    {"ø": "o", "ł": "l", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h"}
)


def fold(text: str) -> str:
    """``text`` in lower case without accents: "Lefèvre" -> "lefevre", "Æsøy" -> "aesoy"."""
    lowered = text.casefold().translate(_SPELLED)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
