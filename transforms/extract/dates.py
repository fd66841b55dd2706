"""Publication dates: free-form strings -> microseconds since the epoch, UTC (or None)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Optional

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NUMERIC = re.compile(r"^\d{9,13}(\.\d+)?$")
_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%d.%m.%Y",
    "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y",
    "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M %p", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
)
# A leading "date 2022-03-18" line, as some text exports carry.
LEADING_DATE = re.compile(r"^\s*date\s*[:=]?\s*(\d{4}-\d{2}-\d{2})\b[ \t]*\n?", re.I)


def _plausible(dt: datetime) -> bool:
    return 1900 <= dt.year <= datetime.now(timezone.utc).year + 1


def to_micros(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)  # undeclared zones are read as UTC
    delta = dt.astimezone(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_date(value: Optional[str]) -> Optional[int]:
    """Microseconds since the epoch (UTC) for a date string, or None when it is not a date.

    Accepts ISO 8601 (with or without zone, ``Z`` included), RFC 2822 (RSS ``pubDate``),
    Unix seconds or milliseconds, and common written forms ("March 18, 2022").
    """
    if value is None:
        return None
    s = str(value).strip()
    if not s or len(s) > 64:
        return None
    dt = None
    if _NUMERIC.match(s):
        x = float(s)
        x = x / 1000 if x > 1e11 else x
        try:
            dt = datetime.fromtimestamp(x, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if dt is None:
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
        except ValueError:
            dt = None
    if dt is None:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            dt = None
    if dt is None:
        cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", s)
        for fmt in _FORMATS:
            try:
                dt = datetime.strptime(cleaned, fmt)
                break
            except ValueError:
                continue
    if dt is None or not _plausible(dt):
        return None
    return to_micros(dt)


def split_leading_date(text: str):
    """(date string or None, rest of text) for text that opens with ``date YYYY-MM-DD``."""
    m = LEADING_DATE.match(text)
    if not m:
        return None, text
    return m.group(1), text[m.end():]
