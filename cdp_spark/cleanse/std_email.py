"""E-mail standardisers: the clean address, its SHA-256 for ad platforms, and pre-hashed input."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from cdp_spark.cleanse.std_core import (
    Standardised,
    blank_to_null,
    collapse_ws,
    flag_if,
    fold_fullwidth,
    is_placeholder,
)

__all__ = ["EMAIL_PATTERN", "sha256_email", "std_email", "std_email_sha256"]

# Deliberately not RFC 5322: no quoted local parts, comments or IP-literal domains, which real
# customers never type but which junk does. Local part: dot-separated atoms of the usual
# characters; domain: dot-separated LDH labels (no leading/trailing hyphen) and a TLD of letters
# or punycode (``xn--``). Internationalised (non-ASCII) addresses are rejected on purpose: they are
# rare in CDP sources and most activation platforms refuse them.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})$"
_MAX_EMAIL_LENGTH = 254


def std_email(col: Column) -> Standardised:
    """Trim, fold full-width forms (``ＪＯＨＮ＠ＱＱ．ＣＯＭ``), lower-case and validate an e-mail address.

    Folding uses :func:`fold_fullwidth`, the part of NFKC that can turn a typed address into
    ASCII, inside the JVM: e-mail is the most frequent identifier, and whatever else NFKC would
    change (ligatures, superscripts) leaves a non-ASCII character that fails validation anyway,
    so a Python round trip would buy nothing.

    Lower-casing the whole address (not only the domain) is what identity resolution and ad
    platforms expect; providers that treat local parts case-sensitively do not exist in practice.
    A ``mailto:`` prefix and one pair of enclosing angle brackets are removed because CRM exports
    carry them. Junk but well-formed addresses (``test@test.com``) pass here on purpose: the
    identity guards own the blocklist. Placeholders (``null``, ``N/A``, ``-``) count as missing.

    Flags: ``email.invalid_format``.
    """
    text = F.lower(collapse_ws(fold_fullwidth(col.cast("string"))))
    text = F.regexp_replace(text, r"^mailto:\s*", "")
    text = F.regexp_replace(text, r"^<\s*(.*?)\s*>$", "$1")
    text = blank_to_null(text)
    present = text.isNotNull() & ~is_placeholder(text)
    valid = text.rlike(EMAIL_PATTERN) & (F.length(text) <= _MAX_EMAIL_LENGTH)
    return Standardised(
        value=F.when(valid, text),
        flag=flag_if(present & ~valid, "email.invalid_format"),
    )


def std_email_sha256(col: Column) -> Standardised:
    """Normalise an already hashed e-mail (SHA-256 hex): trim, lower-case, exactly 64 hex digits.

    Sources that only ever saw hashed e-mails (ad platforms, clean rooms) deliver these; upper-case
    hex from some SDKs must meet lower-case hex from :func:`sha256_email`.

    Flags: ``email_sha256.invalid_format``.
    """
    text = blank_to_null(F.lower(collapse_ws(col)))
    valid = text.rlike(r"^[0-9a-f]{64}$")
    return Standardised(
        value=F.when(valid, text),
        flag=flag_if(text.isNotNull() & ~valid, "email_sha256.invalid_format"),
    )


def sha256_email(email: Column) -> Column:
    """SHA-256 hex of the trimmed, lower-cased e-mail (the ad-platform matching convention).

    Feed it the ``value`` of :func:`std_email`; trimming and lower-casing again here keeps the
    hash stable even when a caller passes a raw column. Null and blank stay null.
    """
    text = blank_to_null(F.lower(F.trim(email)))
    return F.sha2(text, 256)
