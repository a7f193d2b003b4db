"""Languages of the UI: gettext catalogues (``invekto/locale/<lang>/LC_MESSAGES/messages.po``)
read with Babel, and locale-aware formatting of dates and numbers.

Source strings are English; ``make messages`` extracts them from the code and templates and
updates the catalogues. The ``.po`` files are compiled in memory when first used, so no binary
``.mo`` file is kept in the repository or built by a separate step.

Language choice: a signed-in user's saved language wins; otherwise ``?lang=``, the ``lang``
cookie, then the browser's Accept-Language; Turkish by default.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("tr", "en")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_TIMEZONE = "Europe/Istanbul"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> gettext_module.NullTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language not in LANGUAGES or not path.exists():
        return gettext_module.NullTranslations()
    with path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext_module.GNUTranslations(compiled)


def N_(message: str) -> str:
    """Marks a word or phrase for the catalogue without translating it here: it is a value
    that a translated sentence shows (an error's ``%(what)s``), translated where it is shown."""
    return message


def text(language: str, message: str, **values: object) -> str:
    """``message`` in ``language``, with ``%(name)s`` placeholders filled from ``values``."""
    translated = translations(language).gettext(message)
    return translated % values if values else translated


def pick_language(*, explicit: str | None, cookie: str | None, accept_language: str | None,
                  default: str = "tr") -> str:
    for candidate in (explicit, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


class Formatter:
    """Dates, times and numbers the way a reader of ``language`` in ``timezone`` expects."""

    def __init__(self, language: str, timezone: str = DEFAULT_TIMEZONE):
        self.language = language
        self.locale = Locale.parse(language)
        self.tz = ZoneInfo(timezone)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def time(self, moment: datetime) -> str:
        return babel_dates.format_time(self.local(moment), "short", locale=self.locale)

    def date(self, moment: datetime) -> str:
        return babel_dates.format_date(self.local(moment), "long", locale=self.locale)

    def calendar_day(self, day: date) -> str:
        """A day of the calendar (a holiday), with its weekday: no time zone to apply."""
        return babel_dates.format_date(day, "full", locale=self.locale)

    def datetime(self, moment: datetime) -> str:
        return babel_dates.format_datetime(self.local(moment), "medium", locale=self.locale)

    def day(self, moment: datetime, *, now: datetime | None = None) -> str:
        """A day separator: "Today", "Yesterday", or the date."""
        today = self.local(now or datetime.now(UTC)).date()
        day = self.local(moment).date()
        if day == today:
            return text(self.language, "Today")
        if day == today - timedelta(days=1):
            return text(self.language, "Yesterday")
        return babel_dates.format_date(day, "full" if (today - day).days < 7 else "long",
                                       locale=self.locale)

    def short_when(self, moment: datetime, *, now: datetime | None = None) -> str:
        """The list's timestamp: a time today, a weekday this week, a date before."""
        now_local = self.local(now or datetime.now(UTC))
        local = self.local(moment)
        if local.date() == now_local.date():
            return self.time(moment)
        if (now_local.date() - local.date()).days < 7:
            return babel_dates.format_date(local, "EEE", locale=self.locale)
        return babel_dates.format_date(local, "short", locale=self.locale)

    def waiting(self, since: datetime, *, now: datetime | None = None) -> str:
        """How long a customer has been waiting, e.g. "5 dakika" / "5 minutes"."""
        delta = (now or datetime.now(UTC)) - since
        return babel_dates.format_timedelta(delta, threshold=1, format="short",
                                            locale=self.locale)

    def duration_until(self, moment: datetime, *, now: datetime | None = None) -> str:
        """How long until ``moment``, e.g. "25 dk." / "25 min" (an SLA's time left)."""
        delta = moment - (now or datetime.now(UTC))
        return babel_dates.format_timedelta(delta, threshold=1, format="short",
                                            locale=self.locale)

    def number(self, value: float) -> str:
        return babel_numbers.format_decimal(value, locale=self.locale)

    def amount(self, value: Decimal) -> str:
        """Money with its two decimals, grouped the reader's way: 1.249,90 / 1,249.90."""
        return babel_numbers.format_decimal(value, format="#,##0.00", locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        """A measured duration in its two largest units: "45 sn", "2 dk 15 sn", "1 sa 5 dk",
        "2 g 3 sa" (a report's reply time); None is a dash."""
        if seconds is None:
            return "—"
        whole = round(seconds)
        days, rest = divmod(whole, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        if days:
            return text(self.language, "%(days)s d %(hours)s h", days=days, hours=hours)
        if hours:
            return text(self.language, "%(hours)s h %(minutes)s min", hours=hours,
                        minutes=minutes)
        if minutes:
            return text(self.language, "%(minutes)s min %(seconds)s s", minutes=minutes,
                        seconds=secs)
        return text(self.language, "%(seconds)s s", seconds=secs)

    def percent(self, fraction: float | None) -> str:
        """A rate as a percentage with at most one decimal ("%87,5" in Turkish)."""
        if fraction is None:
            return "—"
        # The language's own pattern ("%#,##0" in Turkish: the sign comes first), one decimal.
        pattern = self.locale.percent_formats[None].pattern.replace("0", "0.#", 1)
        return babel_numbers.format_percent(fraction, pattern, locale=self.locale)

    def file_size(self, size_bytes: int) -> str:
        for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
            if size_bytes >= scale:
                amount = babel_numbers.format_decimal(size_bytes / scale, "#,##0.#",
                                                      locale=self.locale)
                return f"{amount} {unit}"
        return f"{size_bytes} B"
