"""好差评: one rating per finished case from the progress page, follow-ups of bad ratings for the supervisors
who may read the case, and the rating figures for the monthly report and the dashboard."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner

from caseflow.calendar import utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case, CaseRead, FollowUp, Jurisdiction, Rating, User
from caseflow.services import ratings
from caseflow.services.cases import apply_transition
from caseflow.services.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from caseflow.views import progress as progress_view
from tests.factories import (
    advance, advance_subsidy, make_case, make_procedure_case, make_subsidy_case, make_user, reload,
)
from tests.functional.ui_support import (
    field_error, form_fields, html_of, make_outside_case, signed_in, text_of, ui_client,
)


# The tests look cases up many times from one address; the throttling tests lower the limits again.
pytestmark = pytest.mark.usefixtures("generous_progress_limits")


def registered_case(office, **applicant_fields) -> Case:
    """A finished (registered) birth registration, accepted and registered by the clerk."""
    case = make_case(office, **({"name": "王秀英"} | applicant_fields))
    return reload(advance(case, ["accept", "register"], office))


def look_up(client, case: Case):
    response = client.post("/progress", data={"number": case.number, "pin": case.pin})
    assert response.status_code == 200, text_of(response)[:300]
    return response


def rate(client, case: Case, level: str | None, comment: str = ""):
    """Look the case up and send the rating form it shows, as an applicant would."""
    token = form_fields(look_up(client, case))["token"][0]
    data = {"token": token, "comment": comment} | ({"level": level} if level is not None else {})
    return client.post("/progress/rating", data=data)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# ------------------------------------------------------------------------------------------------ rating

def test_a_finished_case_is_rated_once(app, office):
    case = registered_case(office)
    client = ui_client(app)
    token = form_fields(look_up(client, case))["token"][0]
    sent = client.post("/progress/rating", data={"token": token, "level": "5", "comment": "办事很快"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/progress")
    assert "感谢您的评价！" in text_of(client.get("/progress"))
    rating = db.session.scalar(sa.select(Rating))
    assert (rating.case_id, rating.level, rating.comment) == (case.id, 5, "办事很快")
    assert count(FollowUp) == 0

    again = client.post("/progress/rating", data={"token": token, "level": "1"})
    assert again.status_code == 409 and "该办件已经评价过，感谢您的反馈。" in text_of(again)
    assert count(Rating) == 1 and db.session.scalar(sa.select(Rating.level)) == 5
    page = look_up(ui_client(app), case)
    assert "本办件已评价，感谢您的反馈。" in text_of(page) and 'name="token"' not in html_of(page)


def test_an_open_case_cannot_be_rated(app, office):
    case = reload(advance(make_case(office), ["accept"], office))
    with pytest.raises(InvalidTransition):
        with transactional():
            ratings.rate_case(case, 4, None)
    # Even with a valid token (the form is never offered for an open case), the server says no.
    with app.test_request_context():
        token = progress_view._rating_token(case)
    refused = ui_client(app).post("/progress/rating", data={"token": token, "level": "4"})
    assert refused.status_code == 422 and "办结后才能评价。" in text_of(refused)
    assert count(Rating) == 0


def test_an_enrolled_subsidy_may_be_rated_although_it_stays_open(app, office):
    case = make_subsidy_case(office)
    advance_subsidy(case, ["village_review", "start_notice", "end_notice", "township_review",
                           "county_approve", "enrol"], office)
    case = reload(case)
    assert case.state == "active" and not case.is_closed
    assert rate(ui_client(app), case, "4").status_code == 302
    assert db.session.scalar(sa.select(Rating.level).where(Rating.case_id == case.id)) == 4


def test_a_rating_needs_a_fresh_untampered_token(app, office, monkeypatch):
    case = registered_case(office)
    client = ui_client(app)
    token = form_fields(look_up(client, case))["token"][0]
    for forged in ("", "forged", token[:-2] + ("AA" if not token.endswith("AA") else "BB")):
        refused = client.post("/progress/rating", data={"token": forged, "level": "5"})
        assert refused.status_code == 400 and "查询结果已过期" in text_of(refused)
    # Half an hour later the token from the look-up is refused.
    later = int(time.time()) + progress_view.RATING_TOKEN_MAX_AGE + 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    expired = client.post("/progress/rating", data={"token": token, "level": "5"})
    assert expired.status_code == 400 and "查询结果已过期" in text_of(expired)
    assert count(Rating) == 0


def test_a_bad_form_comes_back_with_its_messages_and_the_comment_kept(app, office):
    case = registered_case(office)
    missing = rate(ui_client(app), case, None, comment="等了很久")
    assert missing.status_code == 422
    assert field_error(missing, "level") == "请选择一个评价等级。"
    assert form_fields(missing)["comment"] == ["等了很久"] and form_fields(missing)["token"][0]
    too_long = rate(ui_client(app), case, "3", comment="长" * 501)
    assert too_long.status_code == 422 and field_error(too_long, "comment") == "不能超过 500 个字符。"
    assert form_fields(too_long)["level"] == ["3"]
    assert rate(ui_client(app), case, "9").status_code == 422
    assert count(Rating) == 0
    assert rate(ui_client(app), case, "3", comment="长" * 500).status_code == 302


def test_two_ratings_at_once_leave_one(app, office):
    case = registered_case(office)
    case_id = case.id
    barrier, outcomes = threading.Barrier(2), []

    def send(level):
        with app.app_context():
            try:
                target = db.session.get(Case, case_id)
                barrier.wait(timeout=10)
                with transactional():
                    ratings.rate_case(target, level, None)
                outcomes.append("rated")
            except Conflict:
                outcomes.append("conflict")
            except Exception as error:  # noqa: BLE001 - a thread reports every error to the test
                outcomes.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send, args=(level,)) for level in (1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "rated"]
    assert count(Rating) == 1
    level = db.session.scalar(sa.select(Rating.level))
    assert count(FollowUp) == (1 if level == 1 else 0)  # the loser's follow-up was rolled back with it


def test_the_comment_is_shown_escaped_to_those_who_read_the_case(app, office):
    case = registered_case(office)
    assert rate(ui_client(app), case, "2", comment='<script>alert("x")</script>\n第二行').status_code == 302
    assert db.session.scalar(sa.select(Rating.comment)) == '<script>alert("x")</script>\n第二行'
    for username in ("clerk", "supervisor"):
        page = signed_in(app, username).get(f"/cases/{case.id}")
        html = html_of(page)
        assert 'id="case-rating"' in html and "不满意" in text_of(page)
        assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    follow_up = db.session.scalar(sa.select(FollowUp))
    html = html_of(signed_in(app, "supervisor").get(f"/follow-ups/{follow_up.id}"))
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_a_case_without_a_rating_has_no_rating_panel(app, office):
    case = registered_case(office)
    assert 'id="case-rating"' not in html_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))


# ------------------------------------------------------------------------------------------- follow-ups

def test_a_bad_rating_opens_a_follow_up_for_the_townships_supervisors_only(app, office):
    with transactional():
        make_user("supervisor2", ["supervisor"], [office.township])
        elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        make_user("far_supervisor", ["supervisor"], [elsewhere])
    case = registered_case(office)
    assert rate(ui_client(app), case, "1", comment="态度不好").status_code == 302
    follow_up = db.session.scalar(sa.select(FollowUp))
    assert (follow_up.case_id, follow_up.status, follow_up.assignee_id) == (case.id, "open", None)
    assert follow_up.rating.level == 1

    for username in ("supervisor", "supervisor2"):
        client = signed_in(app, username)
        listing = client.get("/follow-ups")
        assert listing.status_code == 200
        assert "差评回访（1）" in text_of(listing)
        assert f'data-follow-up-id="{follow_up.id}"' in html_of(listing) and "态度不好" in text_of(listing)
        assert client.get(f"/follow-ups/{follow_up.id}").status_code == 200
    far = signed_in(app, "far_supervisor")
    assert "差评回访（0）" in text_of(far.get("/follow-ups"))
    assert f'data-follow-up-id="{follow_up.id}"' not in html_of(far.get("/follow-ups"))
    assert far.get(f"/follow-ups/{follow_up.id}").status_code == 404
    assert far.post(f"/follow-ups/{follow_up.id}/take").status_code == 404
    clerk = signed_in(app, "clerk")
    assert clerk.get("/follow-ups").status_code == 403
    assert clerk.get(f"/follow-ups/{follow_up.id}").status_code == 403
    assert "差评回访" not in text_of(clerk.get("/"))


def test_good_and_middling_ratings_open_no_follow_up(app, office):
    for level in ("5", "4", "3"):
        assert rate(ui_client(app), registered_case(office), level).status_code == 302
    assert count(Rating) == 3 and count(FollowUp) == 0


def test_follow_ups_of_need_to_know_cases_only_for_supervisors_who_may_read_them(app, office):
    with transactional():
        make_user("village_supervisor", ["supervisor"], [office.other_village])
    case = make_procedure_case(office)
    advance(case, ["issue"], office)
    case = reload(case)
    assert case.is_closed
    assert rate(ui_client(app), case, "2").status_code == 302
    follow_up = db.session.scalar(sa.select(FollowUp))

    supervisor = signed_in(app, "supervisor")
    assert f'data-follow-up-id="{follow_up.id}"' in html_of(supervisor.get("/follow-ups"))
    assert supervisor.get(f"/follow-ups/{follow_up.id}").status_code == 200
    reads = db.session.execute(sa.select(CaseRead.what, CaseRead.user_id).where(CaseRead.case_id == case.id)
                               .order_by(CaseRead.id)).all()
    assert [(what, user) for what, user in reads] == [("follow_ups", office["supervisor"].id),
                                                       ("follow_up", office["supervisor"].id)]

    other = signed_in(app, "village_supervisor")  # a supervisor, but of another village: may not read it
    assert f'data-follow-up-id="{follow_up.id}"' not in html_of(other.get("/follow-ups"))
    assert other.get(f"/follow-ups/{follow_up.id}").status_code == 404
    assert ratings.open_follow_up_count(office["supervisor"]) == 1
    village_supervisor = db.session.scalar(sa.select(User).where(User.username == "village_supervisor"))
    assert ratings.open_follow_up_count(village_supervisor) == 0


def test_a_follow_up_is_taken_and_closed_with_a_resolution(app, office):
    with transactional():
        make_user("supervisor2", ["supervisor"], [office.township])
    case = registered_case(office)
    rate(ui_client(app), case, "1", comment="等太久")
    follow_up = db.session.scalar(sa.select(FollowUp))
    url = f"/follow-ups/{follow_up.id}"

    boss = signed_in(app, "supervisor")
    taken = boss.post(f"{url}/take", follow_redirects=True)
    assert "您已接手此回访。" in text_of(taken)
    assert reload_follow_up(follow_up).assignee_id == office["supervisor"].id
    second = signed_in(app, "supervisor2")
    assert "该回访已由其他主管接手。" in text_of(second.post(f"{url}/take", follow_redirects=True))
    assert reload_follow_up(follow_up).assignee_id == office["supervisor"].id

    empty = boss.post(f"{url}/close", data={"resolution": "   "})
    assert empty.status_code == 422 and field_error(empty, "resolution") == "此项为必填项。"
    assert reload_follow_up(follow_up).status == "open"

    closed = boss.post(f"{url}/close", data={"resolution": "已电话回访，解释办理时限并致歉。"}, follow_redirects=True)
    assert "回访已办结。" in text_of(closed) and "已电话回访，解释办理时限并致歉。" in text_of(closed)
    done = reload_follow_up(follow_up)
    assert (done.status, done.closed_by_id, done.resolution) == ("done", office["supervisor"].id,
                                                                 "已电话回访，解释办理时限并致歉。")
    assert done.closed_at is not None

    late = second.post(f"{url}/close", data={"resolution": "我也处理了"}, follow_redirects=True)
    assert "该回访已办结。" in text_of(late)
    assert reload_follow_up(follow_up).resolution == "已电话回访，解释办理时限并致歉。"
    assert "差评回访（0）" in text_of(boss.get("/follow-ups"))
    assert f'data-follow-up-id="{follow_up.id}"' in html_of(boss.get("/follow-ups?status=done"))
    case_page = text_of(boss.get(f"/cases/{case.id}"))
    assert "已电话回访，解释办理时限并致歉。" in case_page


def test_closing_needs_a_resolution_in_the_service_too(app, office):
    case = registered_case(office)
    rate(ui_client(app), case, "2")
    follow_up = db.session.scalar(sa.select(FollowUp))
    with pytest.raises(ValidationFailed) as refused:
        with transactional():
            ratings.close_follow_up(follow_up, office["supervisor"], None)
    assert set(refused.value.fields) == {"resolution"}
    with pytest.raises(PermissionDenied):
        with transactional():
            ratings.close_follow_up(follow_up, office["clerk"], "clerks do not close follow-ups")
    assert reload_follow_up(follow_up).status == "open"


def reload_follow_up(follow_up: FollowUp) -> FollowUp:
    db.session.expire_all()
    return db.session.get(FollowUp, follow_up.id)


# ---------------------------------------------------------------------------------------------- figures

def test_rating_figures_count_the_townships_ratings_in_the_period(app, office):
    start = datetime.fromisoformat("2026-09-30T16:00:00+00:00")
    end = datetime.fromisoformat("2026-10-31T16:00:00+00:00")
    inside = start + timedelta(days=3)

    def rated(case, level, at):
        with transactional():
            ratings.rate_case(reload(case), level, None, now=at)

    for level in (5, 5, 4, 2, 1):
        rated(registered_case(office), level, inside)
    rated(registered_case(office), 3, start - timedelta(seconds=1))  # the month before
    rated(registered_case(office), 1, end)  # the month after (end is exclusive)
    outside = make_outside_case(office)  # another township's case, rated in the period: not counted
    for trigger in ("accept", "register"):
        with transactional():
            apply_transition(outside, trigger, office["outsider"], outside.version)
    rated(outside, 5, inside)
    ntk = make_procedure_case(office)
    advance(ntk, ["issue"], office)
    rated(ntk, 1, inside)
    with transactional():  # one of the bad ratings followed up already
        first = db.session.scalar(sa.select(FollowUp).order_by(FollowUp.id))
        ratings.close_follow_up(first, office["supervisor"], "已回访")

    figures = ratings.rating_figures(office.township, start, end)
    assert figures == {"count": 6, "by_level": {"5": 2, "4": 1, "3": 0, "2": 1, "1": 2}, "average": 3.0,
                       "bad": 3, "follow_ups_open": 2, "follow_ups_done": 1}
    # For a page, only cases the viewer may read: the procedure certificate is not the clerk's.
    assert ratings.rating_figures(office.township, start, end, viewer=office["supervisor"])["count"] == 6
    clerk_view = ratings.rating_figures(office.township, start, end, viewer=office["clerk2"])
    assert clerk_view["count"] == 5 and clerk_view["by_level"]["1"] == 1
    assert ratings.rating_figures(office.township, end, end + timedelta(days=31))["count"] == 1
    empty = ratings.rating_figures(office.township, start - timedelta(days=90), start - timedelta(days=60))
    assert empty == {"count": 0, "by_level": {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0}, "average": None,
                     "bad": 0, "follow_ups_open": 0, "follow_ups_done": 0}


def test_the_follow_ups_page_shows_this_months_figures(app, office):
    case = registered_case(office)
    with transactional():
        ratings.rate_case(case, 2, None, now=utcnow())
    page = signed_in(app, "supervisor").get("/follow-ups")
    html = html_of(page)
    assert "本月评价：示例镇" in text_of(page)
    assert '<dd data-figure="count">1</dd>' in html and '<dd data-figure="average">2.00</dd>' in html
    assert '<dd data-figure="follow_ups_open">1</dd>' in html
