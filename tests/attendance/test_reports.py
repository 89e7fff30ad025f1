"""The compliance report: figures equal a hand computation on a small fixture and agree with attendance.rules;
CSV opens in a spreadsheet; charts are readable without colour."""

from __future__ import annotations

import csv
import io

import pytest

from attendance import charts, reports
from attendance import operations as ops
from groups import operations as groups
from tests.attendance.helpers import build

NAMES = ["Anneke de Vries-Ÿılmaz", 'Sjoerd "Sjors" van ’t Hoff, jr.', "Zoë Çelik"]


@pytest.fixture
def fixture(ctx):
    """Six sessions held of twelve (9 needed at 75 %), now = two hours after session 6 (index 5):

    A: present, present, late, absent, excused, absent → 3 attended, 1 excused, 2 absent, rate 3/5, 2 in a row
       (the excused one neither breaks nor extends the run), early miss (session 4 is in the first two weeks),
       3 + 6 to come = 9 ≥ 9: reachable.
    B: present ×6 → rate 1, 0 in a row, last attended today.
    C: present, absent, absent, then withdrawn (NO_TIME) before session 4 → 3 held, rate 1/3, unreachable.
    """
    s = build(3, names=NAMES, session_count=12, threshold=75)
    a, b, c = s.patients
    plan = {
        a.id: ["present", "present", "late", "absent", "excused", "absent"],
        b.id: ["present"] * 6,
        c.id: ["present", "absent", "absent"],
    }
    for n in range(6):
        rows = [{"patient_id": pid, "status": st[n]} for pid, st in plan.items() if n < len(st)]
        ops.record_attendance(s.actor, s.sessions[n].id, rows, now=s.at(n), follow_up=False)
        if n == 2:
            groups.withdraw(s.actor, s.enrolments[2].id, reason="NO_TIME", at=s.at(2, 24))
    now = s.at(5)
    report = reports.compliance(s.practice.id, s.sessions[0].starts_at.date(), now.date(), now=now, group=s.group)
    return s, now, report


def test_report_figures_equal_a_hand_computation(fixture):
    s, now, report = fixture
    rows = {row.name: row for row in report.patients}
    a, b, c = (rows[name] for name in NAMES)
    assert (a.scheduled, a.attended, a.excused, a.absent, a.rate) == (6, 3, 1, 2, 0.6)
    assert a.consecutive_absences == 2
    assert a.days_since_last == (now - s.sessions[2].starts_at).days
    assert a.early_miss and a.completion == "reachable"
    assert (b.scheduled, b.attended, b.rate, b.consecutive_absences, b.days_since_last) == (6, 6, 1.0, 0, 0)
    assert not b.early_miss
    assert (c.status, c.scheduled, c.attended, c.absent, c.consecutive_absences) == ("withdrawn", 3, 1, 2, 2)
    assert c.rate == pytest.approx(1 / 3)
    assert c.completion == "unreachable"
    summary = report.summary
    assert (summary["patients"], summary["completion_reached"], summary["unreachable"], summary["dropouts"]) == (
        3,
        0,
        1,
        1,
    )
    assert summary["dropouts_after_session"] == [(3, 1)]
    assert summary["dropout_curve"][:5] == [(0, 3), (1, 3), (2, 3), (3, 2), (4, 2)]
    assert summary["dropout_reasons"] == [{"reason": "NO_TIME", "barrier": "NO_TIME", "count": 1}]
    assert [row["attended"] for row in summary["staffing"]] == [3, 2, 2, 1, 1, 1]
    assert all(row["required"] <= 1 and row["assigned"] == 1 for row in summary["staffing"])


def test_report_agrees_with_the_rules(fixture):
    s, now, report = fixture
    for row in report.patients:
        [item] = ops.patient_adherence(s.actor, row.patient_id, now=now)
        f = item.figures
        assert (row.scheduled, row.attended, row.excused, row.absent, row.unrecorded) == (
            f.scheduled,
            f.attended,
            f.excused,
            f.absent,
            f.unrecorded,
        )
        assert (row.rate, row.consecutive_absences, row.days_since_last, row.early_miss, row.completion) == (
            f.rate,
            f.consecutive_absences,
            f.days_since_last,
            f.early_miss,
            f.completion,
        )


def test_a_date_range_limits_the_counts(fixture):
    s, now, _ = fixture
    report = reports.compliance(s.practice.id, s.sessions[3].starts_at.date(), now.date(), now=now, group=s.group)
    rows = {row.name: row for row in report.patients}
    assert (rows[NAMES[0]].scheduled, rows[NAMES[0]].attended, rows[NAMES[0]].excused) == (3, 0, 1)
    assert rows[NAMES[0]].rate == 0
    assert rows[NAMES[2]].scheduled == 0 and rows[NAMES[2]].rate is None
    # Consecutive absences and completion are as of now over the whole enrolment.
    assert rows[NAMES[0]].consecutive_absences == 2


def test_cancelled_sessions_do_not_count_in_the_report(fixture):
    s, now, _ = fixture
    groups.cancel_session(s.actor, s.sessions[5].id, reason="Storm")
    report = reports.compliance(s.practice.id, s.sessions[0].starts_at.date(), now.date(), now=now, group=s.group)
    a = next(row for row in report.patients if row.name == NAMES[0])
    assert (a.scheduled, a.absent, a.consecutive_absences) == (5, 1, 1)


def test_csv_opens_in_a_spreadsheet(fixture):
    _s, _now, report = fixture
    text = reports.patients_csv(report)
    assert text.startswith("\ufeff")
    data = text.encode("utf-8")
    assert "Zoë Çelik".encode() in data
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["patient_id", "name", "group"]
    assert {row[1] for row in rows[1:]} == set(NAMES)
    assert '"Sjoerd ""Sjors"" van ’t Hoff, jr."' in text
    assert text.endswith("\r\n")
    a = next(row for row in rows if row[1] == NAMES[0])
    assert a[rows[0].index("rate")] == "60.0"


def test_every_table_exports(fixture):
    _s, _now, report = fixture
    for table in reports.CSV_TABLES:
        text = reports.table_csv(report, table)
        assert text.startswith("\ufeff") and "\r\n" in text


def test_csv_cells_cannot_run_formulas():
    text = reports.to_csv(["name"], [["=HYPERLINK(1)"], ["-1"], [5]])
    assert "'=HYPERLINK(1)" in text


def test_charts_are_labelled_svg_readable_without_colour():
    svg = charts.line_chart(
        "Attendance",
        [("01-03", 80.0), ("08-03", None), ("15-03", 50.0)],
        x_label="Week",
        y_label="%",
        threshold=75,
        threshold_label="threshold 75%",
        unit="%",
    )
    assert svg.startswith("<svg") and "<title" in svg and "<desc" in svg
    assert "80%" in svg and "50%" in svg and "stroke-dasharray" in svg and "threshold 75%" in svg
    bars = charts.grouped_bars(
        "NRS <by> level", [("level 2", 6.5, 4.0)], series=("intake", "latest"), x_label="Level", y_label="NRS"
    )
    assert "url(#hatch)" in bars and "6.5" in bars and "&lt;by&gt;" in bars
    steps = charts.step_chart("Drop-out", [(0, 10), (1, 9), (2, 9)], x_label="Session", y_label="Patients")
    assert "<circle" in steps and ">9<" in steps
    assert "No data" in charts.line_chart("Empty", [], x_label="", y_label="")
