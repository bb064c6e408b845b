"""Why is this case late (services/case_history.py, /cases/<id>/history): the time a case spent in each
state, with the clock stopped or not, the deadline of each state and whether it was kept, and who held the
case meanwhile — against a hand-counted case — and who may see it (need-to-know reads logged)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from caseflow.calendar import LOCAL_TZ
from caseflow.extensions import db, transactional
from caseflow.models import CaseRead
from caseflow.services.case_history import case_history
from caseflow.services.cases import apply_transition, assign_case
from tests.factories import make_case, make_procedure_case, make_user, reload
from tests.functional.ui_support import html_of, make_outside_case, signed_in, text_of

HOUR, DAY = 3600, 86400


def local(text: str) -> datetime:
    """An office-local time as a UTC instant: local("2025-11-03 10:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def step(case, trigger: str, actor, at: str, **data):
    with transactional():
        apply_transition(case, trigger, actor, case.version, data=data, now=local(at))
    return case


def waited_then_late(office):
    """A birth registration (November 2025, no public holidays) that waited for documents, changed hands
    and ran late in one state:

    submitted         Mon 11-03 10:00 → Tue 11-04 10:00   1 d, 1 wd; due 11-10 24:00: kept
    needs_supplement  Tue 11-04 10:00 → Fri 11-14 10:00   10 d, 8 wd; clock stopped, no deadline
    submitted         Fri 11-14 10:00 → Mon 11-17 09:00   2 d 23 h, 1 wd; due 11-21 24:00: kept
    accepted          Mon 11-17 09:00 → Wed 11-26 15:00   9 d 6 h, 7 wd; due 11-20 24:00: 5 d 15 h late
                                                          (4 wd: 11-21, 24, 25, 26)
    registered        Wed 11-26 15:00 → (closed)

    Held by: nobody until the clerk accepted it (11-17 09:00, assigned to them by the acceptance); the
    supervisor gave it to clerk2 on Tue 11-18 10:00; clerk2 registered it.
    """
    case = make_case(office, now=local("2025-11-03 10:00"))
    step(case, "request_supplement", office["clerk"], "2025-11-04 10:00", missing_items="结婚证复印件")
    step(case, "resubmit", office["village1"], "2025-11-14 10:00", supplied_items="结婚证复印件")
    step(case, "accept", office["clerk"], "2025-11-17 09:00")
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version, reason="休假前移交",
                    now=local("2025-11-18 10:00"))
    step(case, "register", office["clerk2"], "2025-11-26 15:00")
    return reload(case)


def test_spans_times_clock_deadlines_lateness_and_holders(app, office):
    case = waited_then_late(office)
    assert case.late_steps == 1 and case.state == "registered"
    history = case_history(case, now=local("2026-01-05 10:00"))
    spans = history.spans
    assert [s.state for s in spans] == ["submitted", "needs_supplement", "submitted", "accepted", "registered"]
    assert [s.entered_by for s in spans] == ["submit", "request_supplement", "resubmit", "accept", "register"]
    assert [s.seconds for s in spans[:4]] == [DAY, 10 * DAY, 2 * DAY + 23 * HOUR, 9 * DAY + 6 * HOUR]
    assert [s.working_days for s in spans[:4]] == [1, 8, 1, 7]
    assert [s.clock_stopped for s in spans] == [False, True, False, False, False]
    assert [s.closed for s in spans] == [False, False, False, False, True]
    assert [s.due_at for s in spans] == [local("2025-11-11 00:00"), None, local("2025-11-22 00:00"),
                                         local("2025-11-21 00:00"), None]
    assert [s.late for s in spans] == [False, False, False, True, False]
    late = spans[3]
    assert late.overrun_seconds == 5 * DAY + 15 * HOUR and late.overrun_working_days == 4
    assert spans[4].running and spans[4].left_at is None

    assert [(h.username, h.start, h.end) for h in history.holdings] == [
        (None, local("2025-11-03 10:00"), local("2025-11-17 09:00")),
        ("clerk", local("2025-11-17 09:00"), local("2025-11-18 10:00")),
        ("clerk2", local("2025-11-18 10:00"), None),
    ]
    assert spans[0].holders == ((None, DAY),) and spans[1].holders == ((None, 10 * DAY),)
    assert spans[3].holders == (("clerk", DAY + HOUR), ("clerk2", 8 * DAY + 5 * HOUR))
    assert history.stopped_seconds == 10 * DAY
    assert len(history.late_spans) == 1
    assert history.total_seconds == (local("2025-11-26 15:00") - local("2025-11-03 10:00")).total_seconds()


def test_history_page_shows_each_stay_and_who_held_it(app, office):
    case = waited_then_late(office)
    page = signed_in(app, "village1").get(f"/cases/{case.id}/history")  # whoever may read the case
    assert page.status_code == 200
    html = html_of(page)
    rows = dict(re.findall(r'<tr class="span-row[^"]*" data-index="(\d)" data-state="\w+">(.*?)</tr>', html, re.DOTALL))
    assert len(rows) == 5
    assert "10天0小时" in text_of(rows["2"]) and "暂停计时" not in text_of(rows["1"])
    accepted = text_of(rows["4"])
    assert "9天6小时" in accepted and "2025-11-20 24:00" in accepted
    assert "否：迟延5天15小时（4 个工作日）" in accepted
    assert "Clerk (1天1小时)" in accepted and "Clerk2 (8天5小时)" in accepted
    assert 'class="span-row span-late" data-index="4"' in html
    assert re.search(r'data-key="stopped">\s*10天0小时', html)
    assert re.search(r'data-key="late-steps">\s*1<', html)
    # The chart: SVG, classes only; the late stay hatched.
    assert "<svg" in html and "style=" not in html and "<script" not in html
    assert 'fill="url(#case-history-hatch)"' in html
    # The case page links to it.
    assert f'href="/cases/{case.id}/history"' in html_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))
    english = signed_in(app, "clerk")
    english.post("/lang/en", data={"next": "/"})
    assert "Why is this late?" in text_of(english.get(f"/cases/{case.id}/history"))


def test_an_open_case_runs_late_in_the_state_it_is_in(app, office):
    case = make_case(office, now=datetime.now(UTC) - timedelta(days=30))
    history = case_history(case)
    (span,) = history.spans
    assert span.running and span.late and span.due_at == case.due_at and span.holders == ((None, span.seconds),)
    assert "仍在此状态" in text_of(signed_in(app, "supervisor").get(f"/cases/{case.id}/history"))


def test_need_to_know_history_is_for_those_who_may_read_it_and_every_read_is_logged(app, office):
    case = make_procedure_case(office, by="clerk", now=local("2025-11-03 10:00"))
    step(case, "issue", office["clerk"], "2025-11-04 09:00")  # the same-day deadline passed at midnight
    history = case_history(reload(case), now=local("2025-11-05 10:00"))
    # Its opener held it from the start (no assignment event says so).
    assert [(h.username, h.start) for h in history.holdings] == [("clerk", local("2025-11-03 10:00"))]
    assert history.spans[0].late and history.spans[0].overrun_seconds == 9 * HOUR

    for username in ("clerk2", "village1", "outsider", "admin"):
        assert signed_in(app, username).get(f"/cases/{case.id}/history").status_code == 404, username
    with transactional():
        make_user("elsewhere_sup", ["supervisor"], [office.other_village])
    assert signed_in(app, "elsewhere_sup").get(f"/cases/{case.id}/history").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseRead)) == 0
    for username in ("clerk", "supervisor", "auditor"):
        assert signed_in(app, username).get(f"/cases/{case.id}/history").status_code == 200, username
    reads = db.session.execute(sa.select(CaseRead.user_id, CaseRead.what).order_by(CaseRead.id)).all()
    assert reads == [(office["clerk"].id, "history"), (office["supervisor"].id, "history"),
                     (office["auditor"].id, "history")]


def test_history_of_a_case_elsewhere_is_not_found(app, office):
    outside = make_outside_case(office)
    assert signed_in(app, "supervisor").get(f"/cases/{outside.id}/history").status_code == 404
    assert signed_in(app, "supervisor").get("/cases/999999/history").status_code == 404
    assert signed_in(app, "outsider").get(f"/cases/{outside.id}/history").status_code == 200
