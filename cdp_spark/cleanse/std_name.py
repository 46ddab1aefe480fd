"""Person names: Unicode folding, whitespace, and careful re-casing of shouted or lower-case names."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from cdp_spark.cleanse.std_core import (
    Standardised,
    blank_to_null,
    collapse_ws,
    flag_if,
    is_placeholder,
    nfkc,
)

__all__ = ["NAME_PARTICLES", "std_name"]

# Lower-case surname particles when they are not the first token: "van der Berg", "de la Cruz",
# "von Weizsäcker". As the first token they keep their capital ("Van der Berg" as a surname field),
# which is the Dutch and German convention for a surname written on its own.
NAME_PARTICLES: tuple[str, ...] = (
    "van", "von", "der", "den", "de", "da", "di", "du", "del", "della", "des", "dos", "das", "do",
    "la", "le", "ten", "ter", "zu", "zum", "zur", "y", "e",
)  # fmt: skip

# Quotes and list punctuation that exports leave around a name.
_EDGE_JUNK = r"""^["“”„«»,;:]+|["“”„«»,;:]+$"""
# A name made only of Latin letters (with accents), spaces, dots, hyphens and apostrophes.
_LATIN_NAME = r"^[\p{IsLatin}\p{M} .'’-]+$"


def _title_case(text: Column) -> Column:
    """Title-case a lower- or upper-case Latin name with the exceptions people notice.

    Capitals after hyphens and apostrophes (``Anne-Marie``, ``O'Brien``, ``D'Angelo``), after a
    leading ``Mc`` (``McDonald``; not ``Mac``, which would break ``Mack`` and ``Macy``), and
    lower-case particles after the first token (``van der Berg``). ``initcap`` only splits on
    spaces, so a space is inserted after the separators and removed again afterwards.
    """
    s = F.lower(text)
    s = F.regexp_replace(s, r"([-'’])", "$1 ")
    s = F.regexp_replace(s, r"(^| )(mc)(\p{L})", "$1$2 $3")
    s = F.initcap(s)
    s = F.regexp_replace(s, r"(^| )Mc (\p{L})", "$1Mc$2")
    s = F.regexp_replace(s, r"([-'’]) ", "$1")
    tokens = F.transform(
        F.split(s, " "),
        lambda token, i: F.when((i > 0) & F.lower(token).isin(*NAME_PARTICLES), F.lower(token)).otherwise(
            token
        ),
    )
    return F.array_join(tokens, " ")


def std_name(col: Column) -> Standardised:
    """Clean a person-name field (full name, first name or last name).

    Steps: NFKC (full-width letters fold, half-width katakana widen), whitespace collapsed
    and trimmed, stray quotes/commas at the ends removed. Placeholders (``null``, ``N/A``, ``-``,
    ``未知``) are treated as missing, not flagged.

    Casing is only touched where the source lost it: a Latin-script name written entirely in
    upper or lower case is title-cased (see :func:`_title_case`); a mixed-case name is kept as
    typed, because ``McDonald``, ``van der Berg`` or ``DeShawn`` carry information no rule can
    recover. CJK, Cyrillic, Greek and other scripts are kept as they are (CJK has no case; the
    others are rare enough in our sources that guessing would do more harm than good).

    Flags: ``name.invalid`` when the value contains digits or ``@`` or no letter at all (an
    e-mail or phone typed into the name field).
    """
    text = collapse_ws(nfkc(col))
    text = blank_to_null(F.trim(F.regexp_replace(text, _EDGE_JUNK, "")))
    present = text.isNotNull() & ~is_placeholder(text)
    invalid = text.rlike(r"[\p{N}@]") | ~text.rlike(r"\p{L}")
    recase = text.rlike(_LATIN_NAME) & ((text == F.upper(text)) | (text == F.lower(text)))
    cleaned = F.when(recase, _title_case(text)).otherwise(text)
    return Standardised(
        value=F.when(present & ~invalid, cleaned),
        flag=flag_if(present & invalid, "name.invalid"),
    )
