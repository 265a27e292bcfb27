"""Official rest days, working-day deadlines and pauses, against dates worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.calendar import WorkingCalendar, official_rest_days

MX = "America/Mexico_City"
MXZ = ZoneInfo(MX)
CAL = WorkingCalendar()


def d(text: str) -> date:
    return date.fromisoformat(text)


def local(text: str, tz: str = MX) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def end_of(day: str, tz: str = MX) -> datetime:
    """The last instant of ``day`` in ``tz``, as the UTC datetime the calendar returns."""
    return local(f"{day}T23:59:59.999999", tz).astimezone(UTC)


#: LFT art. 74 rest days, looked up on a wall calendar, year by year
KNOWN_REST_DAYS: dict[int, list[str]] = {
    2024: ["2024-01-01", "2024-02-05", "2024-03-18", "2024-05-01", "2024-09-16", "2024-10-01",
           "2024-11-18", "2024-12-25"],
    2025: ["2025-01-01", "2025-02-03", "2025-03-17", "2025-05-01", "2025-09-16", "2025-11-17", "2025-12-25"],
    2026: ["2026-01-01", "2026-02-02", "2026-03-16", "2026-05-01", "2026-09-16", "2026-11-16", "2026-12-25"],
    2027: ["2027-01-01", "2027-02-01", "2027-03-15", "2027-05-01", "2027-09-16", "2027-11-15", "2027-12-25"],
    2028: ["2028-01-01", "2028-02-07", "2028-03-20", "2028-05-01", "2028-09-16", "2028-11-20", "2028-12-25"],
    2029: ["2029-01-01", "2029-02-05", "2029-03-19", "2029-05-01", "2029-09-16", "2029-11-19", "2029-12-25"],
    2030: ["2030-01-01", "2030-02-04", "2030-03-18", "2030-05-01", "2030-09-16", "2030-10-01",
           "2030-11-18", "2030-12-25"],
    2031: ["2031-01-01", "2031-02-03", "2031-03-17", "2031-05-01", "2031-09-16", "2031-11-17", "2031-12-25"],
}


@pytest.mark.parametrize("year", sorted(KNOWN_REST_DAYS))
def test_official_rest_days_2024_to_2031(year: int):
    assert list(official_rest_days(year)) == [d(x) for x in KNOWN_REST_DAYS[year]]


def test_rest_day_names_2030():
    assert official_rest_days(2030) == {
        d("2030-01-01"): "Año Nuevo",
        d("2030-02-04"): "Día de la Constitución",
        d("2030-03-18"): "Natalicio de Benito Juárez",
        d("2030-05-01"): "Día del Trabajo",
        d("2030-09-16"): "Día de la Independencia",
        d("2030-10-01"): "Transmisión del Poder Ejecutivo Federal",
        d("2030-11-18"): "Día de la Revolución",
        d("2030-12-25"): "Navidad",
    }


@pytest.mark.parametrize("year", [2024, 2030, 2036, 2042, 2102])
def test_october_first_every_six_years(year: int):
    assert official_rest_days(year)[date(year, 10, 1)] == "Transmisión del Poder Ejecutivo Federal"


@pytest.mark.parametrize("year", [2025, 2026, 2027, 2028, 2029, 2031, 2035, 2037])
def test_no_transmission_in_other_years(year: int):
    assert date(year, 10, 1) not in official_rest_days(year)
    assert len(official_rest_days(year)) == 7


def test_monday_rules_hold_for_any_year():
    for year in range(2006, 2200):
        days = official_rest_days(year)
        mondays = [x for x, name in days.items() if name in {
            "Día de la Constitución", "Natalicio de Benito Juárez", "Día de la Revolución"}]
        assert [(x.month, x.weekday()) for x in mondays] == [(2, 0), (3, 0), (11, 0)]
        first_feb, third_mar, third_nov = mondays
        assert 1 <= first_feb.day <= 7 and 15 <= third_mar.day <= 21 and 15 <= third_nov.day <= 21


def test_before_the_2006_reform_and_the_december_transmission():
    assert list(official_rest_days(2018)) == [
        d("2018-01-01"), d("2018-02-05"), d("2018-03-19"), d("2018-05-01"), d("2018-09-16"),
        d("2018-11-19"), d("2018-12-01"), d("2018-12-25")]
    assert list(official_rest_days(2005)) == [
        d("2005-01-01"), d("2005-02-05"), d("2005-03-21"), d("2005-05-01"), d("2005-09-16"),
        d("2005-11-20"), d("2005-12-25")]


def test_election_day_is_not_automatic():
    # 2024-06-02 was the federal election (a Sunday); 2027-06-06 is the next mid-term one
    assert d("2024-06-02") not in official_rest_days(2024)
    assert d("2027-06-06") not in official_rest_days(2027)


def test_working_days():
    assert CAL.is_working_day(d("2026-12-24"))      # Thursday
    assert not CAL.is_working_day(d("2026-12-25"))  # Navidad
    assert not CAL.is_working_day(d("2026-12-26"))  # Saturday
    assert not CAL.is_working_day(d("2026-12-27"))  # Sunday
    assert not CAL.is_working_day(d("2026-03-16"))  # Juárez
    assert not CAL.is_working_day(d("2026-03-21"))  # the old fixed date is a Saturday anyway
    assert CAL.is_working_day(d("2026-11-20"))      # the old fixed date, a Friday, is worked now
    with pytest.raises(TypeError):
        CAL.is_working_day(local("2026-12-24T10:00"))


def test_extra_and_removed_holidays():
    cal = WorkingCalendar({d("2026-12-12"): "Día de la Virgen de Guadalupe", d("2026-07-25"): "Santiago Apóstol",
                           d("2026-10-12"): "Fiesta patronal"},
                          removed_days=[d("2026-11-16")])
    assert not cal.is_working_day(d("2026-10-12"))
    assert cal.is_working_day(d("2026-11-16"))
    assert cal.holiday_name(d("2026-10-12")) == "Fiesta patronal"
    assert cal.holiday_name(d("2026-12-25")) == "Navidad"
    assert cal.holiday_name(d("2026-11-16")) is None
    assert list(cal.holidays(2026)) == [
        d("2026-01-01"), d("2026-02-02"), d("2026-03-16"), d("2026-05-01"), d("2026-07-25"), d("2026-09-16"),
        d("2026-10-12"), d("2026-12-12"), d("2026-12-25")]
    assert WorkingCalendar([d("2026-10-12")]).holiday_name(d("2026-10-12")) == "Día inhábil"
    # removing a weekend day does not make it a working day
    assert not WorkingCalendar(removed_days=[d("2026-12-26")]).is_working_day(d("2026-12-26"))
    # what holidays() returns is a copy
    cal.holidays(2026).clear()
    assert cal.holiday_name(d("2026-12-25")) == "Navidad"


DEADLINES = [
    # (received, local time in Mexico City), working days, last working day
    pytest.param("2026-12-18T15:00", 5, "2026-12-28", id="friday-over-christmas"),
    pytest.param("2026-12-30T10:00", 3, "2027-01-05", id="over-new-year"),
    pytest.param("2026-12-31T23:59", 1, "2027-01-04", id="new-year-eve-late"),
    pytest.param("2026-03-09T09:00", 5, "2026-03-17", id="weekend-and-juarez"),
    pytest.param("2026-09-11T08:00", 10, "2026-09-28", id="independence"),
    pytest.param("2026-02-28T12:00", 1, "2026-03-02", id="received-saturday"),
    pytest.param("2026-03-01T12:00", 1, "2026-03-02", id="received-sunday"),
    pytest.param("2026-03-16T12:00", 1, "2026-03-17", id="received-on-holiday"),
    pytest.param("2026-05-04T00:00", 1, "2026-05-05", id="midnight"),
    pytest.param("2030-09-30T14:00", 1, "2030-10-02", id="transmission-2030"),
    pytest.param("2026-01-05T10:00", 15, "2026-01-26", id="three-weeks"),
    pytest.param("2024-12-20T10:00", 10, "2025-01-07", id="2024-year-end"),
]


@pytest.mark.parametrize(("received", "days", "last_day"), DEADLINES)
def test_add_working_days(received: str, days: int, last_day: str):
    due = CAL.add_working_days(local(received), days, MX)
    assert due == end_of(last_day)
    assert due.tzinfo is UTC
    assert due.astimezone(MXZ).time().isoformat() == "23:59:59.999999"
    assert CAL.working_days_between(local(received), due, MX) == days


def test_friday_before_christmas_exactly():
    due = CAL.add_working_days(local("2026-12-18T15:00"), 5, MX)
    assert due == datetime(2026, 12, 29, 5, 59, 59, 999999, tzinfo=UTC)  # Monday 28 at 23:59:59.999999, UTC-6


def test_local_day_of_receipt_not_utc_day():
    # Monday 4 May at 23:30 in Mexico City is already Tuesday in UTC: the term starts on Tuesday
    received = datetime(2026, 5, 5, 5, 30, tzinfo=UTC)
    assert CAL.add_working_days(received, 1, MX) == end_of("2026-05-05")
    assert CAL.add_working_days(received, 1, "UTC") == end_of("2026-05-06", "UTC")


def test_extra_holiday_moves_the_deadline():
    cal = WorkingCalendar({d("2026-12-21"): "Fiesta patronal"})
    assert cal.add_working_days(local("2026-12-18T15:00"), 5, MX) == end_of("2026-12-29")
    cal = WorkingCalendar(removed_days=[d("2026-12-25")])
    assert cal.add_working_days(local("2026-12-18T15:00"), 5, MX) == end_of("2026-12-25")


@pytest.mark.parametrize("month", range(1, 13))
def test_mexico_city_has_no_dst_since_2022(month: int):
    # the last working day is the 15th or the next working day; always UTC-6
    due = CAL.add_working_days(local(f"2026-{month:02d}-14T10:00"), 1, MX)
    assert due.astimezone(MXZ).utcoffset() == timedelta(hours=-6)
    assert (due.hour, due.minute) == (5, 59)


def test_time_zone_is_honoured_where_dst_applies():
    # before the 2022 reform Mexico City used DST in summer (UTC-5)
    assert CAL.add_working_days(local("2021-07-12T10:00"), 1, MX) == datetime(2021, 7, 14, 4, 59, 59, 999999,
                                                                                 tzinfo=UTC)
    # Tijuana still follows the US rules: UTC-7 in summer, UTC-8 in winter
    tj = "America/Tijuana"
    assert CAL.add_working_days(local("2026-07-13T10:00", tj), 1, tj) == datetime(2026, 7, 15, 6, 59, 59, 999999,
                                                                                     tzinfo=UTC)
    assert CAL.add_working_days(local("2026-01-12T10:00", tj), 1, tj) == datetime(2026, 1, 14, 7, 59, 59, 999999,
                                                                                     tzinfo=UTC)


def test_add_working_days_refuses_bad_input():
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2026, 5, 4, 10, 0), 1, MX)  # naive
    with pytest.raises(ValueError):
        CAL.add_working_days(local("2026-05-04T10:00"), 0, MX)


def test_working_days_between():
    a, b = local("2026-12-18T15:00"), local("2027-01-05T09:00")
    # 21, 22, 23, 24, 28, 29, 30, 31 Dec and 4, 5 Jan
    assert CAL.working_days_between(a, b, MX) == 10
    assert CAL.working_days_between(b, a, MX) == -10
    assert CAL.working_days_between(a, a + timedelta(hours=3), MX) == 0
    assert CAL.working_days_between(d("2026-12-24"), d("2026-12-28"), MX) == 1
    with pytest.raises(ValueError):
        CAL.working_days_between(datetime(2026, 1, 1), b, MX)


def test_shift_for_pause_by_the_paused_working_days():
    due = CAL.add_working_days(local("2026-12-18T15:00"), 5, MX)  # Monday 28 Dec; 21 and 22 Dec ran
    # paused on Tuesday 22 Dec, the filer answered on Monday 28 Dec: 23, 24 and 28 Dec did not run
    shifted = CAL.shift_for_pause(due, local("2026-12-22T11:00"), local("2026-12-28T09:00"), MX)
    assert shifted == end_of("2026-12-31")
    assert CAL.working_days_between(due, shifted, MX) == 3


def test_pause_within_one_day_or_a_weekend_moves_nothing():
    due = CAL.add_working_days(local("2026-03-02T10:00"), 10, MX)
    assert CAL.shift_for_pause(due, local("2026-03-04T09:00"), local("2026-03-04T17:00"), MX) == due
    assert CAL.shift_for_pause(due, local("2026-03-06T16:00"), local("2026-03-08T12:00"), MX) == due


def test_pause_across_the_year_end():
    due = CAL.add_working_days(local("2026-12-21T10:00"), 10, MX)
    assert due == end_of("2027-01-06")
    # 31 Dec, 4 and 5 Jan stopped
    shifted = CAL.shift_for_pause(due, local("2026-12-30T10:00"), local("2027-01-05T18:00"), MX)
    assert shifted == end_of("2027-01-11")


PAUSES = [
    # received, term, paused, resumed
    ("2026-12-18T15:00", 5, "2026-12-22T11:00", "2026-12-28T09:00"),
    ("2026-03-02T10:00", 15, "2026-03-06T12:00", "2026-03-20T12:00"),
    ("2026-03-02T10:00", 15, "2026-03-07T12:00", "2026-03-16T12:00"),  # paused Saturday, resumed on a holiday
    ("2026-09-01T10:00", 20, "2026-09-02T10:00", "2026-10-30T10:00"),
    ("2026-12-21T10:00", 10, "2026-12-30T10:00", "2027-01-05T18:00"),
    ("2030-09-20T10:00", 10, "2030-09-27T10:00", "2030-10-03T10:00"),
]


@pytest.mark.parametrize(("received", "days", "paused", "resumed"), PAUSES)
def test_pause_equals_counting_the_remaining_days_after_resuming(received: str, days: int, paused: str,
                                                                 resumed: str):
    """The clock stopped on ``paused`` had run some days; the rest run from the day after ``resumed``."""
    start, p, r = local(received), local(paused), local(resumed)
    due = CAL.add_working_days(start, days, MX)
    remaining = days - CAL.working_days_between(start, p, MX)
    assert remaining > 0
    shifted = CAL.shift_for_pause(due, p, r, MX)
    assert shifted == CAL.add_working_days(r, remaining, MX)
    assert CAL.working_days_between(due, shifted, MX) == CAL.working_days_between(p, r, MX)


def test_shift_for_pause_refuses_bad_input():
    due = end_of("2026-03-20")
    with pytest.raises(ValueError):
        CAL.shift_for_pause(due, local("2026-03-10T10:00"), local("2026-03-09T10:00"), MX)
    with pytest.raises(ValueError):
        CAL.shift_for_pause(due, datetime(2026, 3, 9, 10), local("2026-03-10T10:00"), MX)
