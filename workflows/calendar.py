"""The working-day calendar and deadline arithmetic.

Owns Mexico's official rest days (Ley Federal del Trabajo, art. 74), computed for any year, and
:class:`WorkingCalendar`, which adds the holidays an administrator declares (a patron saint's day,
a municipal anniversary) and turns "N working days" into a due instant. Pure: no Flask, no
database; callers load the administrator's holidays and build the calendar.

Election day (art. 74, frac. IX) is **not** included: it is a rest day only where and when the
federal or local electoral laws set an ordinary election, so administrators add it as an extra
holiday for the years and places that apply.

Deadline semantics (Mexican administrative practice): the term starts counting on the first
working day after the day of receipt, whatever the hour of receipt; the deadline is the last
instant (23:59:59.999999, local time) of the N-th working day. Saturdays and Sundays are never
working days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["WorkingCalendar", "official_rest_days"]

_ONE_DAY = timedelta(days=1)
_END_OF_DAY = time(23, 59, 59, 999999)
_MONDAY = 0
_SATURDAY = 5

#: the first year of the "Monday" rest days (reform to art. 74, DOF 17-01-2006)
_MONDAY_RULE_SINCE = 2006
#: the first federal executive to take office on October 1 (before, it was December 1)
_OCTOBER_TRANSMISSION_SINCE = 2024


def _nth_monday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    first_monday = first + timedelta(days=(_MONDAY - first.weekday()) % 7)
    return first_monday + timedelta(weeks=n - 1)


def official_rest_days(year: int) -> dict[date, str]:
    """Mexico's official rest days of ``year`` (LFT art. 74), with their Spanish names.

    Election days are not included (see the module docstring).

    :param year: any year; before 2006 the fixed dates that the Monday rule replaced are used,
        and the change of federal executive falls on December 1 until 2018, October 1 from 2024.
    :returns: ``{date: name}`` in date order.
    """
    if year >= _MONDAY_RULE_SINCE:
        constitution = _nth_monday(year, 2, 1)
        juarez = _nth_monday(year, 3, 3)
        revolution = _nth_monday(year, 11, 3)
    else:
        constitution, juarez, revolution = date(year, 2, 5), date(year, 3, 21), date(year, 11, 20)
    days = {
        date(year, 1, 1): "Año Nuevo",
        constitution: "Día de la Constitución",
        juarez: "Natalicio de Benito Juárez",
        date(year, 5, 1): "Día del Trabajo",
        date(year, 9, 16): "Día de la Independencia",
        revolution: "Día de la Revolución",
        date(year, 12, 25): "Navidad",
    }
    # every six years, when the federal executive changes (2024, 2030, 2036, ...; 2018, 2012, ...)
    if (year - _OCTOBER_TRANSMISSION_SINCE) % 6 == 0:
        if year >= _OCTOBER_TRANSMISSION_SINCE:
            days[date(year, 10, 1)] = "Transmisión del Poder Ejecutivo Federal"
        else:
            days[date(year, 12, 1)] = "Transmisión del Poder Ejecutivo Federal"
    return dict(sorted(days.items()))


def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _local_date(moment: datetime | date, zone: ZoneInfo) -> date:
    """The calendar day of ``moment`` in ``zone``; a plain :class:`date` is taken as it is."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("se requiere una fecha y hora con zona horaria (aware datetime)")
        return moment.astimezone(zone).date()
    return moment


def _end_of_day_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, _END_OF_DAY, tzinfo=zone).astimezone(UTC)


class WorkingCalendar:
    """Weekends, official rest days and the administrator's own holidays.

    :param extra_holidays: days the institution does not work besides the official ones: either
        ``{date: name}`` or just dates (named "Día inhábil").
    :param removed_days: official rest days this institution works anyway (for instance a day
        moved by agreement). Removing a day never makes a Saturday or Sunday a working day.
    """

    __slots__ = ("_extra", "_removed", "_by_year")

    def __init__(self, extra_holidays: Mapping[date, str] | Iterable[date] = (),
                 removed_days: Iterable[date] = ()) -> None:
        if isinstance(extra_holidays, Mapping):
            self._extra: dict[date, str] = dict(extra_holidays)
        else:
            self._extra = {day: "Día inhábil" for day in extra_holidays}
        self._removed: frozenset[date] = frozenset(removed_days)
        self._by_year: dict[int, dict[date, str]] = {}

    def holidays(self, year: int) -> dict[date, str]:
        """Every rest day of ``year`` other than weekends, ``{date: name}`` in date order."""
        if year not in self._by_year:
            days = official_rest_days(year)
            days.update((day, name) for day, name in self._extra.items() if day.year == year)
            self._by_year[year] = {
                day: name for day, name in sorted(days.items()) if day not in self._removed
            }
        return dict(self._by_year[year])

    def holiday_name(self, day: date) -> str | None:
        """The name of the rest day ``day``, or ``None`` if it is not one (weekends are not named)."""
        if day.year not in self._by_year:
            self.holidays(day.year)
        return self._by_year[day.year].get(day)

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day: Monday to Friday and not a rest day."""
        if isinstance(day, datetime):
            raise TypeError("is_working_day espera una fecha (date), no una fecha y hora")
        return day.weekday() < _SATURDAY and self.holiday_name(day) is None

    def _next_working_day(self, day: date) -> date:
        day += _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def _add_working_days_to_date(self, day: date, days: int) -> date:
        for _ in range(days):
            day = self._next_working_day(day)
        return day

    def add_working_days(self, start: datetime, days: int, tz: str) -> datetime:
        """The deadline ``days`` working days after ``start``.

        The term starts on the first working day after the local day of ``start`` (whatever the
        hour, and also when ``start`` falls on a rest day); the deadline is the end of the
        ``days``-th working day, local time.

        :param start: the aware instant of receipt (or of notification).
        :param days: the term in working days, at least 1.
        :param tz: the IANA time zone of the institution, e.g. ``"America/Mexico_City"``.
        :returns: the deadline as an aware datetime in UTC.
        :raises ValueError: ``start`` is naive or ``days`` is less than 1.
        """
        if days < 1:
            raise ValueError("el plazo debe ser de al menos un día hábil")
        zone = _zone(tz)
        due = self._add_working_days_to_date(_local_date(start, zone), days)
        return _end_of_day_utc(due, zone)

    def working_days_between(self, a: datetime | date, b: datetime | date, tz: str) -> int:
        """How many working days fall after the local day of ``a`` up to and including that of ``b``.

        It is the inverse of :meth:`add_working_days`:
        ``working_days_between(s, add_working_days(s, n, tz), tz) == n``. Negative when ``b`` is
        before ``a``.

        :param a: an aware datetime, or a local date.
        :param b: an aware datetime, or a local date.
        :param tz: the IANA time zone in which the days are counted.
        """
        zone = _zone(tz)
        first, last = _local_date(a, zone), _local_date(b, zone)
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        count = 0
        day = first + _ONE_DAY
        while day <= last:
            if self.is_working_day(day):
                count += 1
            day += _ONE_DAY
        return sign * count

    def shift_for_pause(self, due_at: datetime, paused_from: datetime, resumed_at: datetime,
                        tz: str) -> datetime:
        """Move ``due_at`` by exactly the working days the clock was stopped.

        The day of the pause had already run; the working days after it, up to and including the
        day of resumption, did not (the term runs again from the next working day, as after a
        receipt). Pausing and resuming on the same day moves nothing.

        :param due_at: the current deadline (aware).
        :param paused_from: when the clock stopped (``request_info``), aware.
        :param resumed_at: when it ran again (``resume``), aware.
        :param tz: the IANA time zone of the institution.
        :returns: the new deadline, aware, in UTC: the end of the working day that lies as many
            working days after the old deadline's day as were paused.
        :raises ValueError: naive datetimes, or ``resumed_at`` before ``paused_from``.
        """
        zone = _zone(tz)
        due_day = _local_date(due_at, zone)
        for moment in (paused_from, resumed_at):
            _local_date(moment, zone)  # refuse naive datetimes before comparing them
        if resumed_at < paused_from:
            raise ValueError("la reanudación no puede ser anterior a la suspensión")
        paused = self.working_days_between(paused_from, resumed_at, tz)
        if paused == 0:
            return due_at.astimezone(UTC)
        return _end_of_day_utc(self._add_working_days_to_date(due_day, paused), zone)
