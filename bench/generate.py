"""A realistic caseflow database of N cases for the benchmarks (issue 6), on SQLite or PostgreSQL.

    python -m bench.generate --database-url URL --cases N [--open-share F] [--seed S] [--users U]

runs the real migrations on an empty database, refuses (exit 2) one that already holds cases, generates,
and prints a summary. In Python (inside an app context, on an empty migrated database)::

    from bench.generate import generate
    summary = generate(app, cases=300, open_share=0.2, seed=1, users=1000)

Accounts
--------
Every account but the system one has the password ``bench-password`` (BENCH_PASSWORD; one hash computed
once with the app's CASEFLOW_PASSWORD_HASH method and reused). Usernames are predictable:

- ``admin``; ``@system`` (the scheduler's account, as ``services.users.system_user`` creates it);
- per township t (1–4): ``t1-supervisor-01`` …, ``t1-clerk-001`` … (``--users`` of them over the four
  townships, about one supervisor per five clerks), ``t1-village-01`` … ``t1-village-08`` (one village
  officer per village), ``t1-auditor``. Emails ``<username>@caseflow.example``; nine in ten speak zh,
  one in ten en.

What the cases look like
------------------------
Four townships of eight villages each. Cases of all four workflows (WORKFLOW_SHARE), opened over about
five years before now: a closed case is given a closing time uniformly over the last five years and its
steps are laid out before it; an open case is placed so that its current state shows a chosen deadline
light (LIGHT_WEIGHTS; states that stop the clock or have no deadline show none). Every state of every
workflow occurs (the first cases of each kind go once through every state, the rest follow
OPEN_STATES / CLOSED_STATES). A case's history is the path from the workflow's initial state to its state
(the shortest one over the workflow's steps, or one of a few declared variants such as a supplement
request first), each step with the data its form records, the actor whose role may take it, the times the
scheduler would have taken its own steps (end of a public notice, payment periods, annual reconfirmation,
scheduled exits, retention purges), and a hash chain computed with ``services.audit.event_hash``.
Derived fields are computed as ``apply_transition`` computes them: deadlines from the deadline policy in
force (``DeadlinePolicy.rule`` and the office calendar, computed once per workflow, state and local day),
clock stops, ``late_steps``, ``closed_at``/``outcome``, receipt numbers and PINs (numbered in the order the
app would have issued them; ``number_sequence`` ends at the last one), assignees (the accepting clerk; a
subsidy case is taken by a clerk before its public notice; some pre-acceptance cases assigned from the
pool; a procedure certificate by whoever entered it). Side tables: subsidy enrolments, public notices
(one per village and day), a payment batch per scheme and township for the latest period with its
payments; fee accounts with instalments and payments; ratings (and follow-ups of bad ones) on about one in
seven closed cases that have a receipt.

Run against ``now``, the data is what a scheduler that ran every job on time would have left: no notice
has ended unnoticed, no payment period passed unmarked, no exit date passed, this year's reconfirmations are
open, procedure details past retention are purged, late charges are brought up to today, and
``case_deadline`` (filled by the database's triggers as the cases go in) remembers the light the deadline
scan last reminded about, the red ones counted in their villages' reminders, so a scan right after
generation has nothing new to say. No Reminder rows are written.

How faithful: ``tests/bench/test_generate.py`` replays generated histories through the real services
(``open_case``, ``apply_transition``, ``assign_case``, ``record_payment``, the retention purge) at the recorded
times and by the recorded actors, and gets the same case fields, the same audit trail (hashes aside: a
replayed case has another id) and the same fee accounts and enrolments; and it runs the scheduler's jobs,
which find nothing to do. Simplifications: persons are drawn independently (an applicant's other cases are
of the same workflow); dwell times in states without a deadline are uniform ranges (DWELL_DAYS); steps are
late with probability LATE_SHARE, never by the accident of a holiday; no attachments, comments, reads of
need-to-know cases, leave, saved filters, reports, reminders or outbox rows.

Numbers: with the default mix, about 3.6 events per case (a birth registration has 3, a procedure
certificate 2–3, a subsidy or fee case 7–10; WORKFLOW_SHARE sets the average); about 88 % of closed cases
finished every step on time; open cases about 34 % green, 19 % yellow, 20 % red, 27 % without a running
deadline. 100k cases take about half a minute, 1M cases a few minutes (most of it computing the events and
their hashes).
"""
from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa

from bench.common import parser as bench_parser
from bench.deadline_scan import remember_lights

BENCH_PASSWORD = "bench-password"
PASSWORD = BENCH_PASSWORD  # the name the benchmarks import
EMAIL_DOMAIN = "caseflow.example"
DEFAULT_USERS = 1000
BATCH_CASES = 5000

# ------------------------------------------------------------------------------------------- the office

TOWNSHIPS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("城关镇", "Chengguan Town", (
        ("东关村", "Dongguan Village"), ("西关村", "Xiguan Village"), ("南街社区", "Nanjie Community"),
        ("北街社区", "Beijie Community"), ("新华村", "Xinhua Village"), ("和平村", "Heping Village"),
        ("光明村", "Guangming Village"), ("红星村", "Hongxing Village"))),
    ("青山镇", "Qingshan Town", (
        ("青山村", "Qingshan Village"), ("石桥村", "Shiqiao Village"), ("大王庄", "Dawangzhuang"),
        ("李家村", "Lijia Village"), ("张家湾", "Zhangjiawan"), ("松林村", "Songlin Village"),
        ("白沙村", "Baisha Village"), ("龙泉村", "Longquan Village"))),
    ("河西乡", "Hexi Township", (
        ("河西村", "Hexi Village"), ("河东村", "Hedong Village"), ("柳树村", "Liushu Village"),
        ("杨家庄", "Yangjiazhuang"), ("王家坝", "Wangjiaba"), ("桃园村", "Taoyuan Village"),
        ("花园村", "Huayuan Village"), ("新民村", "Xinmin Village"))),
    ("柳溪镇", "Liuxi Town", (
        ("柳溪村", "Liuxi Village"), ("竹林村", "Zhulin Village"), ("清水村", "Qingshui Village"),
        ("高峰村", "Gaofeng Village"), ("前进村", "Qianjin Village"), ("永安村", "Yong'an Village"),
        ("长乐村", "Changle Village"), ("福田村", "Futian Village"))),
)
COUNTY_CODE = "330122"

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
            "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
FEMALE_GIVEN = ("芳", "敏", "静", "丽", "艳", "娟", "秀英", "桂英", "玉兰", "丹", "霞", "婷", "雪", "慧", "红", "琳",
                "颖", "倩", "佳怡", "欣怡", "梦瑶", "雨涵", "思琪", "晓燕", "春梅", "海燕", "美玲", "丽娟", "淑珍", "玉梅")
MALE_GIVEN = ("伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "建华", "国强", "志强", "建国", "浩", "宇",
              "鹏", "飞", "斌", "刚", "辉", "建军", "俊杰", "子豪", "浩然", "文博", "志明", "永强", "海涛", "春生")
# County codes valid for every birth year used (python-stdnum checks the code against the birth year).
REGION_CODES = ("330122", "330122", "330122", "330127", "330127", "110101", "310104")
MOBILE_PREFIXES = ("138", "139", "137", "135", "136", "150", "151", "152", "158", "159", "186", "187", "188")

# ------------------------------------------------------------------------------------------ the mix

# Birth registrations dominate. A subsidy or fee case has two to three times the events of the others (a
# birth registration has 3, a procedure certificate 2–3), so these shares also set the events per case:
# about 3.6 with these.
WORKFLOW_SHARE = {"birth_registration": 0.63, "procedure_certificate": 0.25, "subsidy": 0.08, "fee_case": 0.04}
OPEN_STATES: dict[str, dict[str, float]] = {
    "birth_registration": {"submitted": 35, "needs_supplement": 15, "accepted": 30, "verifying": 20},
    "procedure_certificate": {"submitted": 65, "needs_supplement": 35},
    "subsidy": {"applied": 10, "returned": 4, "village_reviewed": 5, "public_notice": 4, "objection_check": 1.5,
                "notice_ended": 3, "township_reviewed": 4, "county_approved": 3, "active": 55, "reconfirming": 2,
                "suspended": 3, "exit_scheduled": 3},
    "fee_case": {"opened": 8, "investigating": 12, "reviewed": 6, "notice_served": 8, "hearing_scheduled": 3,
                 "heard": 3, "decided": 5, "served": 2, "payment_due": 10, "instalments": 8, "postponed": 4,
                 "overdue": 8, "under_appeal": 5, "demand_served": 4, "court_applied": 5, "suspended": 2,
                 "enforced": 1.5, "terminated": 1},
}
CLOSED_STATES: dict[str, dict[str, float]] = {
    "birth_registration": {"registered": 85, "refused": 2, "withdrawn": 9, "voided": 4},
    "procedure_certificate": {"issued": 88, "refused": 3, "withdrawn": 9},
    "subsidy": {"ended": 40, "rejected": 22, "withdrawn": 38},
    "fee_case": {"paid": 62, "no_penalty": 10, "transferred": 6, "revoked": 4, "closed": 18},
}
# The light an open case in a state with a running deadline is placed to show.
LIGHT_WEIGHTS = {"green": 0.6, "yellow": 0.2, "red": 0.2}
SCHEMES = {"jiangfu": 0.45, "tefu_disabled": 0.1, "tefu_died": 0.1, "childcare": 0.35}
CHILDCARE_FROM = date(2025, 3, 1)  # earliest enrolment of a 育儿补贴 (the scheme applies from 2025-01-01)
RATED_SHARE = 0.15
LATE_SHARE = 0.05  # steps taken after their legal deadline

# Paths other than the shortest one: (weight, triggers from the initial state).
VARIANTS: dict[tuple[str, str], tuple[tuple[float, tuple[str, ...]], ...]] = {
    ("birth_registration", "submitted"): ((85, ()), (15, ("request_supplement", "resubmit"))),
    ("birth_registration", "accepted"): ((88, ("accept",)), (12, ("request_supplement", "resubmit", "accept"))),
    ("birth_registration", "registered"): (
        (70, ("accept", "register")), (12, ("request_supplement", "resubmit", "accept", "register")),
        (18, ("accept", "verify", "register"))),
    ("birth_registration", "withdrawn"): ((70, ("withdraw",)), (30, ("accept", "withdraw"))),
    ("procedure_certificate", "issued"): ((90, ("issue",)), (10, ("request_supplement", "resubmit", "issue"))),
    ("procedure_certificate", "refused"): ((60, ("refuse",)), (40, ("request_supplement", "resubmit", "refuse"))),
    ("procedure_certificate", "withdrawn"): ((70, ("withdraw",)), (30, ("request_supplement", "withdraw"))),
    ("subsidy", "rejected"): (
        (70, ("village_review", "start_notice", "end_notice", "township_review", "reject")),
        (30, ("village_review", "start_notice", "object", "reject"))),
    ("subsidy", "withdrawn"): ((60, ("withdraw",)), (40, ("village_review", "withdraw"))),
    ("fee_case", "decided"): (
        (70, ("investigate", "review", "serve_notice", "decide")),
        (30, ("investigate", "review", "serve_notice", "schedule_hearing", "record_hearing", "decide"))),
    ("fee_case", "under_appeal"): (
        (30, ("investigate", "review", "serve_notice", "decide", "serve_decision", "appeal")),
        (70, ("investigate", "review", "serve_notice", "decide", "serve_decision", "start_payment", "appeal"))),
    ("fee_case", "revoked"): (
        (100, ("investigate", "review", "serve_notice", "decide", "serve_decision", "start_payment", "appeal",
               "appeal_revoked")),),
    ("fee_case", "instalments"): (
        (100, ("investigate", "review", "serve_notice", "decide", "serve_decision", "start_payment",
               "grant_instalments")),),
}
# Time spent in states without a legal deadline before leaving them: uniform (low, high) days.
DWELL_DAYS: dict[tuple[str, str], tuple[float, float]] = {
    ("birth_registration", "needs_supplement"): (1, 20),
    ("procedure_certificate", "needs_supplement"): (0.05, 3),
    ("subsidy", "returned"): (2, 30),
    ("subsidy", "public_notice"): (0.5, 6),
    ("subsidy", "objection_check"): (3, 25),
    ("subsidy", "active"): (30, 900),
    ("subsidy", "suspended"): (10, 200),
    ("fee_case", "investigating"): (5, 40),
    ("fee_case", "reviewed"): (1, 10),
    ("fee_case", "heard"): (1, 15),
    ("fee_case", "under_appeal"): (20, 90),
    ("fee_case", "court_applied"): (20, 150),
    ("fee_case", "suspended"): (10, 120),
    ("fee_case", "enforced"): (3, 30),
    ("fee_case", "instalments"): (10, 300),
    ("fee_case", "postponed"): (5, 60),
    ("fee_case", "overdue"): (5, 170),
}
# What a case becomes when its drawn state cannot be laid out (counted as "fallbacks" in the summary).
FALLBACK = {"birth_registration": ("submitted", "withdrawn"), "procedure_certificate": ("submitted", "withdrawn"),
            "subsidy": ("applied", "withdrawn"), "fee_case": ("opened", "transferred")}
# Steps the scheduler takes (as the system account), at the time its job would have run.
SYSTEM_TRIGGERS = frozenset({"end_notice", "open_reconfirmation", "end_enrolment", "start_payment", "mark_overdue"})

# ------------------------------------------------------------------------------------------ the clock

OFFSET = 8 * 3600  # Asia/Shanghai, no daylight saving
DAY = 86400
EPOCH = date(1970, 1, 1)


def local_day(ts: int) -> int:
    """Days since 1970-01-01 of the local (office) date of the UTC epoch second ``ts``."""
    return (ts + OFFSET) // DAY


def day_ts(day: int, seconds: float = 0) -> int:
    """The UTC epoch second of local ``day`` at ``seconds`` after local midnight."""
    return int(day * DAY - OFFSET + seconds)


def day_date(day: int) -> date:
    return EPOCH + timedelta(days=day)


def date_day(value: date) -> int:
    return (value - EPOCH).days


def aware(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def office_seconds(u: float) -> float:
    """A time of the office day (08:30–17:30 local) for a uniform ``u``."""
    return 8.5 * 3600 + u * 9 * 3600


def add_months(day: date, months: int) -> date:
    from caseflow.workflows.fee_case import add_months as months_later

    return months_later(day, months)


class Clock:
    """The office calendar and deadline policy as the app has them (``load_policy``), with every answer
    the generator needs computed once per workflow, state and local day."""

    def __init__(self, now_ts: int):
        from caseflow.services.deadlines import LightBounds, load_policy

        self.now = now_ts
        self.today = local_day(now_ts)
        self.policy = load_policy()
        self.calendar = self.policy.calendar
        self.bounds = LightBounds.at(aware(now_ts), self.calendar)
        self._rules: dict[tuple[str, str, int], tuple[int, int | None, bool] | None] = {}
        self._working: dict[int, bool] = {}
        self._light_days: dict[tuple[str, str], dict[str, list[int]]] = {}

    def working(self, day: int) -> bool:
        known = self._working.get(day)
        if known is None:
            known = self._working[day] = self.calendar.is_working_day(day_date(day))
        return known

    def deadlines(self, wf, state: str, entered_ts: int) -> tuple[int, int | None, bool] | None:
        """(due, target, provisional) as ``refresh_deadlines`` sets them for a case entering ``state`` at
        ``entered_ts``; None when the state stops the clock, closes the case or has no rule."""
        if state in wf.clock_stopped or state in wf.closed:
            return None
        rule = self.policy.rule(wf, state)
        if rule is None:
            return None
        if rule.limit.unit == "hours" or (rule.target and rule.target.unit == "hours"):
            return self._compute(rule, aware(entered_ts))
        key = (wf.name, state, local_day(entered_ts))
        if key not in self._rules:
            self._rules[key] = self._compute(rule, aware(day_ts(key[2], 12 * 3600)))
        return self._rules[key]

    def _compute(self, rule, start: datetime) -> tuple[int, int | None, bool]:
        limit = rule.limit.after(start, self.calendar)
        target = rule.target.after(start, self.calendar) if rule.target else None
        return (int(limit.at.timestamp()), int(target.at.timestamp()) if target else None,
                limit.provisional or bool(target and target.provisional))

    def light(self, due_ts: int | None) -> str:
        return self.bounds.light(aware(due_ts) if due_ts is not None else None) or "none"

    def light_days(self, wf, state: str) -> dict[str, list[int]]:
        """Local days (within the last 90) on which a case entering ``state`` would show each light now.
        Red only for deadlines missed within the last 60 days: cases overdue for longer are rare."""
        key = (wf.name, state)
        if key not in self._light_days:
            found: dict[str, list[int]] = {"green": [], "yellow": [], "red": []}
            for day in range(self.today - 90, self.today + 1):
                due = self.deadlines(wf, state, day_ts(day, 12 * 3600))
                if due is None:
                    continue
                light = self.light(due[0])
                if light == "red" and due[0] < self.now - 60 * DAY:
                    continue
                found[light].append(day)
            self._light_days[key] = found
        return self._light_days[key]

    def notice_end(self, start_ts: int) -> int:
        """When a public notice started at ``start_ts`` ends (``subsidies.new_notice``)."""
        from caseflow.workflows import subsidy

        rule = self.policy.rule(subsidy.WORKFLOW, "public_notice")
        key = ("@notice", "", local_day(start_ts))
        if key not in self._rules:
            self._rules[key] = (int(rule.limit.after(aware(start_ts), self.calendar).at.timestamp()), None, False)
        return self._rules[key][0]

    def payment_due_on(self, served_day: int) -> int:
        """The local day the decision's payment falls due (``fees._on_step`` for serve_decision)."""
        key = ("@pay", "", served_day)
        if key not in self._rules:
            start = datetime.combine(day_date(served_day), datetime.min.time(), tzinfo=timezone.utc)
            at = self.calendar.add_calendar_days(start, 15).at - timedelta(microseconds=1)
            self._rules[key] = (local_day(int(at.timestamp())), None, False)
        return self._rules[key][0]

    def working_days_end(self, day: int, count: int) -> int:
        """``add_working_days`` from the start of local ``day`` (as the fee hooks count from a date)."""
        key = ("@wd", str(count), day)
        if key not in self._rules:
            start = datetime.combine(day_date(day), datetime.min.time(), tzinfo=timezone.utc)
            self._rules[key] = (int(self.calendar.add_working_days(start, count).at.timestamp()), None, False)
        return self._rules[key][0]


# ------------------------------------------------------------------------------------------ the paths

@dataclass(slots=True)
class Move:
    """One event of a case's history: a workflow step, or an event that leaves the state as it is
    (``kind`` "assign", "record_payment", "payment", "purge")."""

    kind: str
    trigger: str
    src: str | None
    dst: str
    step: Any = None
    u: float = 0.0
    u2: float = 0.0
    late: bool = False


def shortest_paths(wf) -> dict[str, tuple[str, ...]]:
    """The shortest sequence of triggers from the initial state to every reachable state (breadth first,
    steps in the order the workflow declares them)."""
    paths: dict[str, tuple[str, ...]] = {wf.initial: ()}
    queue = [wf.initial]
    while queue:
        state = queue.pop(0)
        for step in wf.steps_from(state):
            if step.dest not in paths:
                paths[step.dest] = paths[state] + (step.trigger,)
                queue.append(step.dest)
    return paths


def _check_variants() -> None:
    """A variant naming a step the workflow lacks is a bug: fail at import."""
    from caseflow.workflows import latest

    for (name, state), variants in VARIANTS.items():
        wf = latest(name)
        for _weight, triggers in variants:
            at = wf.initial
            for trigger in triggers:
                step = wf.step_for(trigger, at)
                if step is None:
                    raise ValueError(f"bench.generate: {name} has no {trigger} from {at}")
                at = step.dest
            if at != state:
                raise ValueError(f"bench.generate: variant {triggers} of {name} ends in {at}, not {state}")


# ----------------------------------------------------------------------------------------- the plan

@dataclass(slots=True)
class Plan:
    """One case as planned: everything but the ids, receipt number and notice ids."""

    index: int
    wf: Any
    state: str
    is_open: bool
    village: int
    township: int
    handler: int
    supervisor: int
    officer: int
    opener: int = 0
    person: int = -1
    moves: list = field(default_factory=list)
    times: list = field(default_factory=list)
    actors: list = field(default_factory=list)
    seed: int = 0  # of the form data, drawn when the case is written
    data: dict = field(default_factory=dict)
    assignee: int | None = None
    issue_at: int | None = None  # when the receipt number was issued
    pin: str | None = None
    scheme: str | None = None
    child_born: int | None = None
    notice_start: int | None = None  # time of the (last) start_notice step: the notice is the village's of that day
    objection: tuple | None = None
    enrolment: dict | None = None
    fee: dict | None = None
    rating: tuple | None = None
    payment: tuple | None = None
    fallback: bool = False


class Planner:
    """Plans cases one by one from one random stream (deterministic for a seed and a ``now``)."""

    def __init__(self, rng: random.Random, clock: Clock, people: "People", staff: "Staff"):
        from caseflow.workflows import latest

        self.rng, self.clock, self.people, self.staff = rng, clock, people, staff
        self.workflows = {name: latest(name) for name in WORKFLOW_SHARE}
        self.paths = {name: shortest_paths(wf) for name, wf in self.workflows.items()}
        self.window_start = clock.now - int(5 * 365.25 * DAY)
        self.village_weights = [rng.uniform(0.5, 1.5) for _ in range(staff.village_count)]
        self.coverage: dict[bool, list[tuple[str, str]]] = {
            True: [(wf, s) for wf, states in OPEN_STATES.items() for s in states],
            False: [(wf, s) for wf, states in CLOSED_STATES.items() for s in states],
        }
        self.fallbacks = 0
        self._moves_seen: dict[tuple, Move] = {}

    # ------------------------------------------------------------------------------------- choices

    def choose(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def plan(self, index: int, is_open: bool) -> Plan:
        rng = self.rng
        if self.coverage[is_open]:
            name, state = self.coverage[is_open].pop(0)
        else:
            name = self.choose(WORKFLOW_SHARE)
            state = self.choose((OPEN_STATES if is_open else CLOSED_STATES)[name])
        village = rng.choices(range(self.staff.village_count), self.village_weights)[0]
        township = village // self.staff.villages_per_township
        plan = Plan(index, self.workflows[name], state, is_open, village, township,
                    handler=rng.choice(self.staff.clerks[township]),
                    supervisor=rng.choice(self.staff.supervisors[township]),
                    officer=self.staff.officers[village])
        if name == "subsidy":
            plan.scheme = self.choose(SCHEMES)
        for _attempt in range(40):
            try:
                if self._lay_out(plan) and self._valid(plan):
                    break
            except RuntimeError:
                continue
        else:  # rare: a state whose constraints the draws kept missing; keeps generation total
            self.fallbacks += 1
            plan.state, plan.fallback = FALLBACK[name][0 if is_open else 1], True
            if plan.scheme == "childcare":
                plan.scheme = "jiangfu"
            if not (self._lay_out(plan) and self._valid(plan)):
                raise RuntimeError(f"cannot plan a {name} case in {plan.state}")
        self._finish(plan)
        return plan

    # ------------------------------------------------------------------------------------- timeline

    def _triggers(self, plan: Plan) -> tuple[str, ...]:
        variants = VARIANTS.get((plan.wf.name, plan.state))
        if variants:
            return self.rng.choices([v for _w, v in variants], [w for w, _v in variants])[0]
        if plan.wf.name == "subsidy" and plan.state in ("active", "reconfirming", "suspended", "exit_scheduled",
                                                         "ended"):
            return self.paths["subsidy"]["active"]
        if plan.wf.name == "fee_case" and plan.state == "postponed":
            return self.paths["fee_case"]["payment_due"] + ("grant_postponement",)
        return self.paths[plan.wf.name][plan.state]

    def _moves(self, wf, triggers: Iterable[str]) -> list[Move]:
        rng = self.rng
        moves = [Move("step", "submit", None, wf.initial, None, rng.random(), rng.random())]
        at = wf.initial
        for trigger in triggers:
            step = wf.step_for(trigger, at)
            moves.append(Move("step", trigger, at, step.dest, step, rng.random(), rng.random(),
                              rng.random() < LATE_SHARE))
            at = step.dest
        return moves

    def _dwell(self, wf, move: Move) -> float:
        """Seconds spent in ``move.src`` before ``move``: within the legal limit, except for a few."""
        return self._dwell_in(wf, move.src, move.u, move.late)

    def _dwell_in(self, wf, state: str, u: float, late: bool) -> float:
        if wf.name == "fee_case" and state == "served":  # the 00:20 job moves it on the next night
            return (0.02 + u * 0.4) * DAY
        rule = self.clock.policy.rule(wf, state) if state not in wf.clock_stopped else None
        if rule is not None and state not in wf.closed:
            if rule.limit.unit == "same_calendar_day":
                days = 1 + u * 2 if late else 0.02 + u * 0.2
            else:
                span = rule.limit.amount * (1.45 if rule.limit.unit == "working_days" else 1.0)
                days = span * (1.05 + u * 0.8) + 1 if late else max(0.02, span * (0.05 + 0.85 * u))
            return days * DAY
        low, high = DWELL_DAYS.get((wf.name, state), (1, 10))
        return (low + u * (high - low)) * DAY

    def _anchor(self, plan: Plan, moves: list[Move], times: list[int], k: int) -> int | None:
        """The time of a step fixed by an earlier one (a scheduler job, a date a form set), or None."""
        move, clock = moves[k], self.clock
        trigger = move.trigger
        if trigger == "end_notice":  # the hourly job at :05 after the notice's end (local midnight)
            return clock.notice_end(times[_last(moves, k, ("start_notice", "repost"))]) + 300
        if trigger == "start_payment":  # the daily job at 00:20 after service
            served = times[_last(moves, k, ("serve_decision",))]
            day = local_day(served)
            return day_ts(day if (served + OFFSET) % DAY < 1200 else day + 1, 1200)
        if trigger == "mark_overdue":  # the daily job at 00:20 the day after the payment fell due
            served = times[_last(moves, k, ("serve_decision",))]
            return day_ts(clock.payment_due_on(local_day(served)) + 1, 1200)
        if trigger == "record_hearing":  # on the hearing day, 8–14 days after scheduling
            return day_ts(local_day(times[k - 1]) + 8 + int(move.u * 7), office_seconds(move.u2))
        if trigger == "serve_demand":  # once the 6 months for an appeal have run out
            served = day_date(local_day(times[_last(moves, k, ("serve_decision",))]))
            day = max(date_day(add_months(served, 6)) + 1 + int(move.u * 20), local_day(times[k - 1]) + 1)
            return day_ts(day, office_seconds(move.u2))
        if trigger == "apply_to_court":  # 10 working days after the demand, within 3 months of the remedies
            served = day_date(local_day(times[_last(moves, k, ("serve_decision",))]))
            allowed = clock.working_days_end(local_day(times[k - 1]), 10)
            last = day_ts(date_day(add_months(add_months(served, 6), 3)), 17 * 3600)
            return allowed + int(8.5 * 3600) + int(move.u * max(0, min(15 * DAY, last - allowed - 9 * 3600)))
        return None

    def _forward(self, plan: Plan, moves: list[Move], times: list[int], start: int) -> None:
        for k in range(start, len(moves)):
            anchored = self._anchor(plan, moves, times, k)
            times.append(anchored if anchored is not None else times[k - 1] + int(self._dwell(plan.wf, moves[k])))

    def _place(self, plan: Plan, moves: list[Move], free: int, desired: int) -> list[int]:
        """Times for ``moves`` with move ``free`` at ``desired``: the ones before it laid out backwards by
        their dwell times (and anchors), the ones after it forwards."""
        start = desired - sum(int(self._dwell(plan.wf, m)) for m in moves[1:free + 1])
        for _try in range(30):
            times = [start]
            if free == 0:
                times = [desired]
                break
            self._forward(plan, moves[:free], times, 1)
            if times[-1] + 60 < desired:
                times.append(desired)
                break
            start -= times[-1] - desired + DAY
        else:
            raise RuntimeError("could not lay out a case history")
        self._forward(plan, moves, times, free + 1)
        return times

    def _entry_day(self, plan: Plan, state: str, days: dict[str, list[int]] | None = None) -> int:
        """A local day to enter an open ``state`` on, so that it shows a chosen light."""
        days = days or self.clock.light_days(plan.wf, state)
        lights = [light for light in LIGHT_WEIGHTS if days[light]]
        if not lights:
            return self.clock.today
        light = self.rng.choices(lights, [LIGHT_WEIGHTS[light] for light in lights])[0]
        return self.rng.choice(days[light])

    def _time_on(self, day: int) -> int:
        """A time on local ``day``: office hours, or before now when the day is today."""
        if day >= self.clock.today:
            begin = day_ts(self.clock.today)
            return begin + int(self.rng.random() * max(60, self.clock.now - 120 - begin))
        return day_ts(day, office_seconds(self.rng.random()))

    def _lay_out(self, plan: Plan) -> bool:
        wf, rng, clock = plan.wf, self.rng, self.clock
        plan.enrolment = plan.fee = None
        moves = self._moves(wf, self._triggers(plan))
        segment = wf.name == "subsidy" and plan.state in ("active", "reconfirming", "suspended",
                                                           "exit_scheduled", "ended")
        if segment:
            return self._lay_out_enrolment(plan, moves)
        anchored = [self._anchor_kind(m) for m in moves]
        free = max(k for k in range(len(moves)) if not anchored[k])
        if not plan.is_open:
            desired = rng.randint(self._window_start(plan), clock.now - 3600)
        else:
            desired = self._open_time(plan, moves, free)
            if desired is None:
                return False
        times = self._place(plan, moves, free, desired)
        if plan.state == "instalments":
            moves, times = self._instalments(plan, moves, times)
            if moves is None:
                return False
        plan.moves, plan.times = moves, times
        return True

    def _window_start(self, plan: Plan) -> int:
        """The earliest closing time of a closed case (育儿补贴 exists since 2025 only)."""
        if plan.scheme == "childcare":
            return max(self.window_start, day_ts(date_day(date(2025, 1, 20))))
        return self.window_start

    @staticmethod
    def _anchor_kind(move: Move) -> bool:
        return move.trigger in ("end_notice", "start_payment", "mark_overdue", "record_hearing", "serve_demand",
                                "apply_to_court")

    def _open_time(self, plan: Plan, moves: list[Move], free: int) -> int | None:
        """When the free move of an open case happens, so that its state is current now."""
        wf, rng, clock, state = plan.wf, self.rng, self.clock, plan.state
        today = clock.today
        if free == len(moves) - 1:
            if state == "public_notice":  # a notice that has not ended yet
                days = [d for d in range(today - 8, today + 1) if clock.notice_end(day_ts(d, 9 * 3600)) > clock.now + 3600]
                return self._time_on(rng.choice(days)) if days else None
            if wf.name == "fee_case" and state == "served":  # the 00:20 job starts the payment period
                return self._time_on(today)
            if wf.name == "fee_case" and state == "postponed":
                return self._time_on(today - rng.randint(1, 40))
            if clock.deadlines(wf, state, clock.now) is not None:
                return self._time_on(self._entry_day(plan, state))
            low, high = DWELL_DAYS.get((wf.name, state), (1, 10))
            return clock.now - 600 - int(rng.random() * high * DAY)
        # The last move is the scheduler's (or fixed by a date): place the free one before it.
        if state == "notice_ended":
            return self._time_on(self._entry_day(plan, state) - 8)
        served_window = {"payment_due": (1, 14), "overdue": (20, 180), "demand_served": (188, 215),
                         "court_applied": (240, 600), "instalments": None}.get(state)
        if served_window:
            return self._time_on(today - rng.randint(*served_window))
        if state == "heard":  # scheduled so that the hearing (8–14 days later) has been held
            return self._time_on(today - rng.randint(16, 45))
        return self._time_on(today - rng.randint(1, 30))

    def _instalments(self, plan: Plan, moves: list[Move], times: list[int]):
        """An instalment plan with its first few instalments paid on time (so the daily job has nothing to
        mark overdue): re-lays the grant so that the next instalment is still to come."""
        rng, clock = self.rng, self.clock
        count = rng.randint(2, 12)
        paid = rng.randint(0, count - 1)
        first_due = date_day(add_months(day_date(clock.today), -paid)) + rng.randint(1, 27)
        grant_day = first_due - rng.randint(10, 30)
        if grant_day > clock.today:
            grant_day = clock.today
        times = self._place(plan, moves, len(moves) - 1, self._time_on(grant_day))
        dues = [date_day(add_months(day_date(first_due), i)) for i in range(count)]
        moves = list(moves)
        for i in range(paid):
            pay_day = max(dues[i] - rng.randint(0, 3), local_day(times[-1]) + 1)
            if pay_day > clock.today or day_ts(pay_day, 9 * 3600) > clock.now:
                return None, None
            moves.append(Move("record_payment", "record_payment", "instalments", "instalments", None,
                              rng.random(), rng.random()))
            times.append(day_ts(pay_day, office_seconds(rng.random())))
        plan.fee = {"instalment_dues": dues, "first_due": first_due, "count": count, "paid": paid}
        return moves, times

    def _lay_out_enrolment(self, plan: Plan, moves: list[Move]) -> bool:
        """A subsidy case past its enrolment: the review path, then a year-by-year loop of annual
        reconfirmations (opened by the scheduler on 1 January) and the end of the story."""
        rng, clock, state = self.rng, self.clock, plan.state
        from caseflow.services.subsidies import exit_date

        today = clock.today
        this_year = day_date(today).year
        earliest = date_day(CHILDCARE_FROM) if plan.scheme == "childcare" else today - int(4.5 * 365)
        frequency = "annual" if plan.scheme == "jiangfu" else "quarterly"
        exit_at = None
        if state == "active":
            enrol_day = rng.randint(earliest, today - 15)
        elif state in ("reconfirming", "suspended"):
            latest_day = date_day(date(this_year - 1, 12, 1))
            if latest_day <= earliest:
                return False
            enrol_day = rng.randint(earliest, latest_day)
        elif state == "exit_scheduled":
            enrol_day = rng.randint(earliest, today - 60)
        else:  # ended: scheduled some time ago, ended on its exit date
            begin = self._window_start(plan) + (120 * DAY if plan.scheme == "childcare" else 0)
            if begin >= clock.now - 3 * DAY:
                return False
            exit_at = rng.randint(begin, clock.now - 3 * DAY)
            longest = min(4 * 365, local_day(exit_at) - (earliest if plan.scheme == "childcare"
                                                          else local_day(self.window_start) - 60))
            if longest < 90:
                return False
            enrol_day = local_day(exit_at) - rng.randint(90, longest)
        if enrol_day >= today:
            return False
        enrolled = self._time_on(enrol_day)
        times = self._place(plan, moves, len(moves) - 1, enrolled)
        enrol_date = day_date(enrol_day)
        starts_on = date(enrol_date.year + (enrol_date.month == 12), enrol_date.month % 12 + 1, 1)
        reconfirmed = starts_on.year
        moves = list(moves)
        wf = plan.wf
        stop = exit_at if exit_at is not None else clock.now - 600

        def step(trigger: str, at: int, late: bool = False) -> None:
            src = moves[-1].dst
            found = wf.step_for(trigger, src)
            moves.append(Move("step", trigger, src, found.dest, found, rng.random(), rng.random(), late))
            times.append(at)

        suspend_year = rng.randint(reconfirmed + 1, this_year) if state == "suspended" and reconfirmed < this_year \
            else None
        if state == "suspended" and suspend_year is None:
            return False
        for year in range(reconfirmed + 1, this_year + 1):
            opened = day_ts(date_day(date(year, 1, 1)), 3 * 3600)
            if opened >= stop or opened <= times[-1]:
                break
            step("open_reconfirmation", opened)
            reconfirmed = year
            if state == "reconfirming" and year == this_year:
                break
            late = rng.random() < LATE_SHARE
            decided = opened + int(self._dwell_in(wf, "reconfirming", rng.random(), late))
            if state == "suspended" and year == suspend_year:
                step("suspend", min(decided, stop - 60), late)
                break
            if decided >= stop:
                if state == "active" or state == "exit_scheduled":
                    decided = opened + int((stop - opened) * rng.uniform(0.2, 0.9))
                else:  # ended: the exit was scheduled during the round
                    break
            step("reconfirm", decided, late)
        if state == "reconfirming" and moves[-1].trigger != "open_reconfirmation":
            return False
        if state == "suspended" and moves[-1].trigger != "suspend":
            return False
        if state in ("exit_scheduled", "ended"):
            if state == "exit_scheduled":
                exit_at = clock.now - int(rng.uniform(0.5, 40) * DAY)
            if exit_at <= times[-1] + 3600:
                exit_at = times[-1] + int((min(stop, clock.now - 600) - times[-1]) * rng.uniform(0.2, 0.9))
                if exit_at <= times[-1]:
                    return False
            ground = rng.choice(("death", "hukou_moved", "other")) if plan.scheme != "childcare" \
                else rng.choice(("hukou_moved", "other"))
            enrolment = SimpleNamespace(scheme=SimpleNamespace(frequency=frequency), child_birth_date=None,
                                        ends_on=None, starts_on=starts_on)
            ends_on = exit_date(enrolment, ground, day_date(local_day(exit_at)))
            if state == "exit_scheduled" and date_day(ends_on) <= today:
                ground = "death"
                ends_on = exit_date(enrolment, ground, day_date(local_day(exit_at)))
            step("schedule_exit", exit_at)
            plan.enrolment = {"ground": ground, "ends_on": ends_on}
            if state == "ended":
                ended = day_ts(date_day(ends_on), 3 * 3600 + 600)
                if ended > clock.now - 60 or ended <= exit_at:
                    return False
                step("end_enrolment", ended)
            elif date_day(ends_on) <= today:
                return False
        else:
            plan.enrolment = {}
        plan.enrolment |= {"starts_on": starts_on, "reconfirmed_year": reconfirmed}
        plan.moves, plan.times = moves, times
        return moves[-1].dst == state

    def _valid(self, plan: Plan) -> bool:
        """The history is possible and is a fixed point of the scheduler's jobs as of now."""
        times, clock, wf = plan.times, self.clock, plan.wf
        if any(b <= a for a, b in zip(times, times[1:])) or times[-1] > clock.now - 30:
            return False
        if plan.moves[-1].dst != plan.state:
            return False
        state = plan.state
        entered = times[0]
        for k, move in enumerate(plan.moves):
            if k and move.kind == "step":
                # Within the legal limit unless drawn late: a holiday must not make a step late by accident.
                if not (move.late or self._anchor_kind(move) or move.trigger in SYSTEM_TRIGGERS):
                    deadline = clock.deadlines(wf, move.src, entered)
                    if deadline is not None and times[k] > deadline[0]:
                        return False
                entered = times[k]
            # Nothing happens to a case after the scheduler would have moved it on.
            if move.src == "public_notice" and move.trigger != "end_notice":
                started = times[_last(plan.moves, k, ("start_notice", "repost"))]
                if times[k] >= clock.notice_end(started):
                    return False
            if wf.name == "fee_case" and move.src == "served" and move.trigger != "start_payment":
                if times[k] >= day_ts(local_day(times[k - 1]) + 1, 1200):
                    return False
        if wf.name == "subsidy" and state == "public_notice":
            return clock.notice_end(times[-1]) > clock.now + 3600
        if wf.name == "fee_case":
            served = _find(plan.moves, "serve_decision")
            if state == "served":
                return day_ts(local_day(times[-1]) + 1, 1200) > clock.now + 600
            if state == "payment_due":
                due = clock.payment_due_on(local_day(times[served]))
                return due >= clock.today and day_ts(due + 1, 1200) > clock.now + 600
            if state in ("paid", "under_appeal", "instalments", "postponed", "revoked") and served is not None:
                # paid, appealed or given time before the payment period ran out
                due = clock.payment_due_on(local_day(times[served]))
                leaving = next((times[k] for k, m in enumerate(plan.moves)
                                if m.trigger in ("settle", "appeal", "grant_instalments", "grant_postponement")), None)
                if leaving is not None and local_day(leaving) > due:
                    return False
            if state == "heard" or state == "hearing_scheduled":
                return True
        if wf.name == "subsidy" and plan.scheme == "childcare":
            if local_day(times[0]) < date_day(date(2025, 1, 1)):
                return False
        return True

    # ------------------------------------------------------------------------------ who, what, when

    def _finish(self, plan: Plan) -> None:
        """Actors, form data, office hours, side effects and the derived case fields."""
        rng, wf = self.rng, plan.wf
        self._office_hours(plan)
        plan.opener = {"birth_registration": plan.officer if rng.random() < 0.6 else plan.handler,
                       "procedure_certificate": plan.handler, "subsidy": plan.officer,
                       "fee_case": plan.handler}[wf.name]
        if wf.name == "procedure_certificate":
            plan.assignee = plan.handler
        self._insert_assignments(plan)
        self.people.applicant_for(plan, rng)
        plan.actors = []
        for k, move in enumerate(plan.moves):
            actor = self._actor(plan, move, k)
            plan.actors.append(actor)
            if move.kind == "step" and k > 0:
                if move.step.issues_receipt and plan.assignee is None and actor in self.staff.handlers:
                    plan.assignee = actor
                if (move.step.issues_receipt or move.step.issues_number) and plan.issue_at is None:
                    plan.issue_at = plan.times[k]
        if wf.name == "procedure_certificate":
            plan.issue_at = plan.times[0]
        if plan.issue_at is not None:
            plan.pin = f"{rng.randrange(10**6):06d}"
        self._trailing(plan)
        if not plan.is_open and plan.pin is not None and rng.random() < RATED_SHARE:
            self._rate(plan)
        # The form data is drawn when the case is written, from this seed: a million plans stay small.
        plan.seed = rng.getrandbits(63)
        plan.moves = [self._shared(move) for move in plan.moves]

    def _shared(self, move: Move) -> Move:
        """One Move object per kind of event: a laid-out case needs no more than that."""
        key = (move.kind, move.trigger, move.src, move.dst, id(move.step))
        found = self._moves_seen.get(key)
        if found is None:
            found = self._moves_seen[key] = Move(move.kind, move.trigger, move.src, move.dst, move.step)
        return found

    def _office_hours(self, plan: Plan) -> None:
        """Steps people take happen in office hours on their day; the scheduler's keep their job times."""
        times = list(plan.times)
        mapped = []
        for move, ts in zip(plan.moves, times):
            day, seconds = local_day(ts), (ts + OFFSET) % DAY
            if move.trigger in SYSTEM_TRIGGERS or day >= self.clock.today or 8.5 * 3600 <= seconds <= 17.5 * 3600:
                mapped.append(ts)
            else:
                mapped.append(day_ts(day, office_seconds(seconds / DAY)))
        if all(b > a for a, b in zip(mapped, mapped[1:])):
            plan.times = mapped

    def _insert_assignments(self, plan: Plan) -> None:
        """A clerk takes a subsidy case before its public notice; some cases waiting in the pool are
        assigned by a supervisor (or taken) after they arrived."""
        rng, moves, times = self.rng, plan.moves, plan.times
        notice = _find(moves, "start_notice")
        if notice is not None:
            gap = min(int(rng.uniform(300, 3600)), (times[notice] - times[notice - 1]) // 2)
            moves.insert(notice, Move("assign", "assign", moves[notice - 1].dst, moves[notice - 1].dst))
            times.insert(notice, times[notice] - max(gap, 1))
            plan.assignee = plan.handler
        pool = plan.is_open and ((plan.wf.name == "birth_registration" and plan.state in ("submitted", "needs_supplement"))
                                 or (plan.wf.name == "fee_case" and plan.state == "opened"))
        if pool and rng.random() < 0.45 and self.clock.now - 120 > times[-1] + 60:
            at = times[-1] + int(min(2 * DAY, self.clock.now - 120 - times[-1]) * rng.uniform(0.05, 1))
            moves.append(Move("assign", "assign", plan.state, plan.state))
            times.append(at)
            plan.assignee = plan.handler

    def _actor(self, plan: Plan, move: Move, k: int) -> int:
        staff = self.staff
        if k == 0:
            return plan.opener
        if move.kind == "assign":
            return plan.handler if plan.wf.name == "subsidy" or self.rng.random() < 0.5 else plan.supervisor
        if move.kind == "record_payment":
            return plan.handler
        roles = move.step.roles
        if move.trigger in SYSTEM_TRIGGERS:
            return staff.system
        if plan.wf.name == "subsidy" and "village_officer" in roles and plan.assignee is None:
            return plan.officer
        if plan.wf.name == "birth_registration" and move.trigger in ("resubmit", "withdraw") \
                and plan.opener == plan.officer and plan.assignee is None:
            return plan.officer
        if "clerk" in roles:
            return plan.handler
        if "supervisor" in roles:
            return plan.supervisor
        return plan.officer

    def _trailing(self, plan: Plan) -> None:
        """Events after the last step: the payment recorded with a settlement, the retention purge."""
        wf, clock = plan.wf, self.clock
        settle = _find(plan.moves, "settle")
        if settle is not None:
            plan.moves.insert(settle, Move("record_payment", "record_payment", plan.moves[settle].src,
                                           plan.moves[settle].src))
            plan.times.insert(settle, plan.times[settle])
            plan.actors.insert(settle, plan.handler)
        if wf.name == "procedure_certificate" and not plan.is_open:
            from flask import current_app

            retention = current_app.config["CASEFLOW_PROCEDURE_RETENTION_DAYS"] * DAY
            cutoff = plan.times[-1] + retention
            day = local_day(cutoff)
            purge = day_ts(day, 2.5 * 3600)
            if purge <= cutoff:
                purge = day_ts(day + 1, 2.5 * 3600)
            if purge <= clock.now - 60:
                plan.moves.append(Move("purge", "purge", plan.state, plan.state))
                plan.times.append(purge)
                plan.actors.append(self.staff.system)

    def _rate(self, plan: Plan) -> None:
        rng, clock = self.rng, self.clock
        closed = plan.times[_last_transition(plan.moves)]
        at = closed + int(rng.uniform(0.05, 15) * DAY)
        if at > clock.now - 60:
            return
        level = rng.choices((5, 4, 3, 2, 1), (60, 24, 8, 5, 3))[0]
        comment = rng.choice((None, None, "办事效率高，态度好", "流程清楚", "等待时间有点长", "材料要求讲得很明白")) \
            if level >= 3 else rng.choice(("来回跑了好几次", "电话一直打不通", None))
        follow_up = None
        if level <= 2:
            done = at + int(rng.uniform(1, 20) * DAY)
            follow_up = (plan.supervisor, done if done < clock.now - 60 else None)
        plan.rating = (level, comment, at, follow_up)


def _find(moves: Sequence[Move], trigger: str) -> int | None:
    return next((k for k, m in enumerate(moves) if m.trigger == trigger), None)


def _last(moves: Sequence[Move], before: int, triggers: tuple[str, ...]) -> int:
    return max(k for k in range(before) if moves[k].trigger in triggers)


def _last_transition(moves: Sequence[Move]) -> int:
    return max(k for k, m in enumerate(moves) if m.kind == "step")


# ----------------------------------------------------------------------------------------- form data

MISSING = ("户口簿复印件；结婚证复印件", "居民身份证复印件", "户口簿原件及复印件", "出生医学证明复印件", "委托书原件")
SUPPLIED = ("已补交户口簿、结婚证复印件", "已补交居民身份证复印件", "已补交所列全部材料")
INSTITUTIONS = ("桐庐县第一人民医院", "桐庐县妇幼保健院", "杭州市妇产科医院", "淳安县第一人民医院")
FEE_AMOUNTS = {"subsidy_recovery": (96000, 3600000), "sex_determination_fine": (2000000, 3000000)}


def application_data(plan: Plan, rng: random.Random, staff: "Staff", people: "People") -> dict[str, Any]:
    """What the workflow's application form records (clean values, as ``clean_fields`` returns them)."""
    wf, village = plan.wf.name, staff.village_names[plan.village]
    opened = day_date(local_day(plan.times[0]))
    address = f"{staff.township_names[plan.township]}{village}{rng.randint(1, 12)}组{rng.randint(1, 99)}号"
    channel = "on_site" if plan.opener != plan.officer and rng.random() < 0.7 else rng.choice(("on_site", "online"))
    if wf == "birth_registration":
        married = rng.random() < 0.92
        data = {"applicant_relation": people.relation[plan.person] if plan.person in people.relation else "mother",
                "marital_status": "married" if married else rng.choice(("unmarried", "other"))}
        if married:
            data["marriage_date"] = (opened - timedelta(days=rng.randint(200, 4000))).isoformat()
        data |= {"hukou_address": address, "existing_children": rng.choices((0, 1, 2, 3), (45, 38, 14, 3))[0],
                 "channel": channel}
        if rng.random() < 0.7:
            data["other_parent_name"] = rng.choice(SURNAMES) + rng.choice(MALE_GIVEN)
        return data
    if wf == "procedure_certificate":
        return {"gestation_weeks": rng.randint(14, 27), "institution": rng.choice(INSTITUTIONS),
                "declaration": "confirmed"}
    if wf == "subsidy":
        data = {"scheme": plan.scheme, "hukou_address": address, "channel": channel}
        if plan.scheme == "childcare":
            data |= {"child_name": rng.choice(SURNAMES) + rng.choice(FEMALE_GIVEN + MALE_GIVEN),
                     "child_birth_date": day_date(plan.child_born).isoformat()}
        return data
    fee_type = "sex_determination_fine" if rng.random() < 0.25 else "subsidy_recovery"
    provider = fee_type == "sex_determination_fine"
    data = {"fee_type": fee_type,
            "violation_date": (opened - timedelta(days=rng.randint(10, 300))).isoformat(),
            "harm_to_life_or_health": "yes" if provider and rng.random() < 0.3 else "no",
            "party_role": "provider_responsible" if provider else "person",
            "case_source": "群众举报：某诊所为孕妇进行非医学需要的胎儿性别鉴定。" if provider
            else rng.choice(("年度资格复核发现不符合条件期间仍领取补贴。", "年审发现重复领取育儿补贴。"))}
    if provider:
        data["provider_name"] = rng.choice(("某某诊所", "某某医疗美容门诊部", "某某健康咨询中心"))
    return data


class StepContext:
    """The clean data and reason of each step of one case, derived from its times and earlier steps."""

    def __init__(self, plan: Plan, clock: Clock, rng: random.Random, staff: "Staff"):
        self.plan, self.clock, self.rng, self.staff = plan, clock, rng, staff
        self.memo: dict[str, Any] = {}
        if plan.wf.name == "fee_case":
            low, high = FEE_AMOUNTS[plan.data["fee_type"]]
            proposed = rng.randint(low // 100, high // 100) * 100
            self.memo |= {"proposed": proposed, "decided": proposed if rng.random() < 0.7
                          else max(100, proposed * rng.randint(60, 99) // 10000 * 100),
                          "investigators": rng.sample(range(1, 40), 2)}

    def day(self, k: int) -> date:
        return day_date(local_day(self.plan.times[k]))

    def payload(self, k: int) -> tuple[dict[str, Any] | None, str | None]:
        plan = self.plan
        if k == 0:
            return None, None
        move = plan.moves[k]
        step = move.step
        values: dict[str, Any] = {}
        for spec in step.fields:
            value = self.value(spec, k)
            if value is not None:
                values[spec.name] = value
        reason = None
        if step.reason_required:
            reason = REASONS.get((plan.wf.name, move.trigger)) or REASONS.get(move.trigger) or "依申请人申请办理"
            if callable(reason):
                reason = reason(self, k)
        return values, reason

    def value(self, spec, k: int) -> Any:
        name, rng, memo = spec.name, self.rng, self.memo
        day = self.day(k)
        today = day.isoformat()
        generator = FIELD_VALUES.get(name)
        if generator is not None:
            return generator(self, k, day)
        if not spec.required and rng.random() < 0.5:
            return None
        if spec.kind == "date":
            return today
        if spec.kind == "choice":
            return spec.choices[0][0]
        if spec.kind == "integer":
            return spec.min_value if spec.min_value is not None else 1
        if spec.kind == "money":
            return memo.get("decided", 10000)
        return "已核实" if spec.kind == "text" else "经核查，情况属实。"


def _investigator(ctx: StepContext, which: int) -> tuple[str, str]:
    number = ctx.memo["investigators"][which]
    return f"执法员{number:02d}", f"ZF{COUNTY_CODE}{ctx.plan.township + 1:02d}{number:03d}"


def _hearing_day(ctx: StepContext, k: int) -> date:
    later = _find(ctx.plan.moves, "record_hearing")
    if later is not None:
        return ctx.day(later)
    return ctx.day(k) + timedelta(days=ctx.rng.randint(8, 14))


def _request_day(ctx: StepContext, k: int, day: date) -> str:
    noticed = ctx.day(_find(ctx.plan.moves, "serve_notice"))
    return min(noticed + timedelta(days=ctx.rng.randint(1, 3)), day).isoformat()


def _instalment_count(ctx: StepContext, k: int, day: date) -> int:
    return ctx.plan.fee["count"]


def _first_instalment(ctx: StepContext, k: int, day: date) -> str:
    return day_date(ctx.plan.fee["first_due"]).isoformat()


def _postponed_until(ctx: StepContext, k: int, day: date) -> str:
    until = max(day + timedelta(days=10), day_date(ctx.clock.today) + timedelta(days=ctx.rng.randint(5, 60)))
    ctx.memo["postponed_until"] = until
    return until.isoformat()


def _notice_id(ctx: StepContext, k: int, day: date) -> object:
    ctx.plan.notice_start = ctx.plan.times[k]
    return NOTICE_ID


def _objection(ctx: StepContext, k: int, day: date) -> str:
    text = ctx.rng.choice(("申请人家庭实际有两个子女，与申报不符。", "申请人户籍已迁出本村。", "申请人年龄与公示不符。"))
    ctx.plan.objection = (ctx.memo.get("objector"), text, ctx.plan.times[k])
    return text


def _objector(ctx: StepContext, k: int, day: date) -> str | None:
    ctx.memo["objector"] = None if ctx.rng.random() < 0.6 else ctx.rng.choice(SURNAMES) + ctx.rng.choice(MALE_GIVEN)
    return ctx.memo["objector"]


def _enrolment_start(ctx: StepContext, k: int, day: date) -> str:
    return ctx.plan.enrolment["starts_on"].isoformat()


def _bank_account(ctx: StepContext, k: int, day: date) -> str:
    account = f"6228{ctx.rng.randrange(10**14, 10**15)}"
    ctx.plan.enrolment["bank_account"] = account
    return account


def _year(ctx: StepContext, k: int, day: date) -> int:
    return day.year


def _refusal_ground(ctx: StepContext, k: int, day: date) -> str:
    asked = _find(ctx.plan.moves, "request_supplement")
    return "incomplete_application" if asked is not None and asked < k else "identity_mismatch"


NOTICE_ID = object()  # replaced by the notice's id when the case is written

FIELD_VALUES: dict[str, Callable[[StepContext, int, date], Any]] = {
    "missing_items": lambda c, k, d: c.rng.choice(MISSING),
    "supplied_items": lambda c, k, d: c.rng.choice(SUPPLIED),
    "discrepancy": lambda c, k, d: "户籍信息与申报不一致",
    "other_registry": lambda c, k, d: c.rng.choice(("淳安县公安局户籍科", "建德市公安局户籍科", "富阳区公安分局户籍科")),
    "verification_result": lambda c, k, d: "经核查，户籍信息无误",
    "legal_basis": lambda c, k, d: "《中华人民共和国人口与计划生育法》及《浙江省人口与计划生育条例》",
    "void_ground": lambda c, k, d: c.rng.choice(("applicant_request", "error_correction")),
    "refusal_ground": _refusal_ground,
    "village_opinion": lambda c, k, d: "经入户核实，符合申报条件",
    "notice_id": _notice_id,
    "objector": _objector,
    "objection": _objection,
    "home_visit_note": lambda c, k, d: "已入户核查，情况属实" if c.rng.random() < 0.6 else None,
    "county_decision_ref": lambda c, k, d: f"桐卫健〔{d.year}〕{c.rng.randint(1, 300)}号",
    "enrolment_start": _enrolment_start,
    "bank_name": lambda c, k, d: c.plan.enrolment.setdefault("bank_name", c.rng.choice(
        ("桐庐农村商业银行", "中国农业银行桐庐支行", "中国邮政储蓄银行桐庐支行"))),
    "bank_account": _bank_account,
    "year": _year,
    "reconfirmation_note": lambda c, k, d: "经年审，仍符合条件" if c.rng.random() < 0.5 else None,
    "exit_ground": lambda c, k, d: c.plan.enrolment["ground"],
    "investigator_1": lambda c, k, d: _investigator(c, 0)[0],
    "investigator_1_cert": lambda c, k, d: _investigator(c, 0)[1],
    "investigator_2": lambda c, k, d: _investigator(c, 1)[0],
    "investigator_2_cert": lambda c, k, d: _investigator(c, 1)[1],
    "findings": lambda c, k, d: "经调查，事实清楚，证据确凿。",
    "major_case": lambda c, k, d: c.memo.setdefault("major", "yes" if c.rng.random() < 0.15 else "no"),
    "legal_review": lambda c, k, d: "passed" if c.memo.get("major") == "yes" else "not_required",
    "legal_reviewer": lambda c, k, d: "法制审核员赵某" if c.memo.get("major") == "yes" else None,
    "proposed_amount": lambda c, k, d: c.memo["proposed"],
    "notice_reasons": lambda c, k, d: "违反相关规定，应予处理。",
    "notice_basis": lambda c, k, d: "《中华人民共和国行政处罚法》及相关规定",
    "notice_service_method": lambda c, k, d: c.rng.choice(("in_person", "in_person", "post", "left")),
    "notice_served_on": lambda c, k, d: d.isoformat(),
    "notice_proof": lambda c, k, d: f"送达回证 {d.isoformat()}-{c.rng.randint(1, 999):03d}",
    "hearing_requested_on": _request_day,
    "hearing_notice_date": lambda c, k, d: d.isoformat(),
    "hearing_date": lambda c, k, d: _hearing_day(c, k).isoformat(),
    "hearing_place": lambda c, k, d: "镇政府二楼会议室",
    "hearing_chair": lambda c, k, d: "听证主持人钱某",
    "hearing_held_on": lambda c, k, d: d.isoformat(),
    "hearing_record": lambda c, k, d: "当事人陈述、申辩，承认基本事实",
    "decided_amount": lambda c, k, d: c.memo["decided"],
    "decision_facts": lambda c, k, d: "经调查，事实清楚，证据确凿。",
    "decision_basis": lambda c, k, d: "《中华人民共和国行政处罚法》及相关规定",
    "statement_summary": lambda c, k, d: "当事人的陈述、申辩已听取，部分采纳" if c.rng.random() < 0.4 else None,
    "payment_place": lambda c, k, d: "镇财政所（农商银行代收）",
    "transferred_to": lambda c, k, d: c.rng.choice(("县公安局", "县卫生健康局", "县市场监督管理局")),
    "decision_service_method": lambda c, k, d: c.memo.setdefault("decision_method", c.rng.choice(
        ("in_person", "in_person", "post", "electronic"))),
    "electronic_consent": lambda c, k, d: "yes" if c.memo.get("decision_method") == "electronic" else "no",
    "decision_served_on": lambda c, k, d: d.isoformat(),
    "decision_proof": lambda c, k, d: f"送达回证 {d.isoformat()}-{c.rng.randint(1, 999):03d}",
    "instalment_applied_on": lambda c, k, d: (d - timedelta(days=c.rng.randint(0, 3))).isoformat(),
    "instalment_count": _instalment_count,
    "first_instalment_due": _first_instalment,
    "postponement_applied_on": lambda c, k, d: (d - timedelta(days=c.rng.randint(0, 3))).isoformat(),
    "postponed_until": _postponed_until,
    "appeal_kind": lambda c, k, d: c.rng.choice(("reconsideration", "reconsideration", "litigation")),
    "appeal_filed_on": lambda c, k, d: (d - timedelta(days=c.rng.randint(0, 3))).isoformat(),
    "appeal_body": lambda c, k, d: "桐庐县人民政府",
    "appeal_decided_on": lambda c, k, d: d.isoformat(),
    "demand_service_method": lambda c, k, d: "in_person",
    "demand_served_on": lambda c, k, d: d.isoformat(),
    "demand_proof": lambda c, k, d: f"送达回证 {d.isoformat()}-{c.rng.randint(1, 999):03d}",
    "court_applied_on": lambda c, k, d: d.isoformat(),
    "court_reference": lambda c, k, d: f"({d.year})浙0122执{c.rng.randint(1, 999)}号" if c.rng.random() < 0.7 else None,
}

REASONS: dict[Any, Any] = {
    "withdraw": "申请人本人书面申请撤回",
    ("birth_registration", "refuse"): "经核查，申请人提交的户籍信息与户籍地记录不符，且未能补充证明。",
    ("birth_registration", "void"): "登记信息录入错误，依申请人申请更正",
    ("procedure_certificate", "refuse"): lambda c, k: (
        "经一次性告知后，申请人仍未提供所列材料。" if _refusal_ground(c, k, None) == "incomplete_application"
        else "申请人所持居民身份证与本人不符。"),
    ("subsidy", "reject"): "经核查，申请人不符合该项目的申报条件",
    "suspend": "年审未能按期提供材料，暂停发放",
    "schedule_exit": lambda c, k: {"death": "本人已于近日去世", "hukou_moved": "户籍已迁出本县",
                                   "other": "经核查不再符合享受条件",
                                   "child_turned_three": "孩子已满三周岁"}[c.plan.enrolment["ground"]],
    "no_penalty": "违法行为轻微并及时改正，没有造成危害后果，依法不予处罚",
    "transfer": "涉嫌犯罪，依法移送司法机关",
    "court_suspended": "法院裁定中止执行",
    "court_terminated": "法院裁定终结执行",
}


# ----------------------------------------------------------------------------------------- people

class People:
    """Applicants: one per case for most cases, some applying again (in the same workflow)."""

    def __init__(self, count: int, rng: random.Random):
        self.count = count
        self.rows: list[tuple[str, str, str]] = []
        self.taken: set[int] = set()
        self.relation: dict[int, str] = {}
        self.pools: dict[tuple[str, int], list[int]] = defaultdict(list)
        self.rng = rng
        self.today = 0  # the local day of now, set by generate

    def applicant_for(self, plan: Plan, rng: random.Random) -> None:
        wf = plan.wf.name
        relation = None
        if wf == "birth_registration":
            relation = rng.choices(("mother", "father", "agent"), (62, 33, 5))[0]
            female = relation == "mother" or (relation == "agent" and rng.random() < 0.5)
        elif wf == "procedure_certificate":
            female = True
        else:
            female = rng.random() < 0.5
        if wf == "subsidy" and plan.scheme == "childcare" and not self._child(plan, rng):
            plan.scheme = "tefu_disabled"  # paid quarterly too, so the planned dates still hold
        pool = self.pools[(wf, female)]
        if len(self.rows) >= self.count and pool:
            plan.person = rng.choice(pool)
            return
        born_years = {"birth_registration": (1982, 2004), "procedure_certificate": (1982, 2006),
                      "fee_case": (1960, 2000)}.get(wf)
        if wf == "subsidy":
            born_years = {"jiangfu": (1940, 1965), "tefu_disabled": (1950, 1976), "tefu_died": (1950, 1976),
                          "childcare": (1985, 2004)}[plan.scheme]
        plan.person = len(self.rows)
        self.rows.append(self._person(female, born_years, rng))
        pool.append(plan.person)
        if relation:
            self.relation[plan.person] = relation

    def _child(self, plan: Plan, rng: random.Random) -> bool:
        """A child under three when applying, and still when the enrolment is current or ends; False when
        the case's dates allow no such child."""
        opened = local_day(plan.times[0])
        later = date_day(plan.enrolment["ends_on"]) if plan.enrolment and plan.enrolment.get("ends_on") else 0
        horizon = max(later, local_day(plan.times[-1]) + 30, opened + 30)
        if plan.is_open:
            horizon = max(horizon, self.today + 30)
        low, high = horizon - 3 * 365 + 2, opened - 20
        if low > high:
            return False
        plan.child_born = rng.randint(low, high)
        return True

    def _person(self, female: bool, years: tuple[int, int], rng: random.Random) -> tuple[str, str, str]:
        from stdnum.cn import ric

        while True:
            born = date(rng.randint(*years), 1, 1) + timedelta(days=rng.randint(0, 364))
            region = rng.choice(REGION_CODES)
            serial = rng.randrange(0, 500) * 2 + (0 if female else 1)
            key = (int(region) * 100000 + date_day(born)) * 1000 + serial
            if key not in self.taken:
                self.taken.add(key)
                break
        body = f"{region}{born:%Y%m%d}{serial:03d}"
        resident_id = body + ric.calc_check_digit(body + "0")
        name = rng.choice(SURNAMES) + rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)
        phone = f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
        return resident_id, name, phone


# ------------------------------------------------------------------------------------------ staff

class Staff:
    """Jurisdictions and accounts, with the ids they are written under."""

    def __init__(self, users: int, rng: random.Random):
        self.township_names = [name for name, _en, _v in TOWNSHIPS]
        self.villages_per_township = len(TOWNSHIPS[0][2])
        self.village_names = [v for _n, _e, villages in TOWNSHIPS for v, _ve in villages]
        self.village_count = len(self.village_names)
        self.jurisdictions: list[tuple] = []
        next_id = 1
        self.township_ids, self.village_ids = [], []
        for t, (name, name_en, villages) in enumerate(TOWNSHIPS):
            code = f"{COUNTY_CODE}{t + 1:03d}"
            self.jurisdictions.append((next_id, code, name, name_en, "township", None))
            self.township_ids.append(next_id)
            township_id, next_id = next_id, next_id + 1
            for v, (village, village_en) in enumerate(villages):
                self.jurisdictions.append((next_id, f"{code}{v + 1:03d}", village, village_en, "village", township_id))
                self.village_ids.append(next_id)
                next_id += 1
        self.accounts: list[dict[str, Any]] = []  # id, username, display_name, locale, roles, places
        self.admin = self._account("admin", "管理员", ["admin"], self.township_ids, rng)
        self.system = self._account("@system", "系统", ["system"], [], rng, system=True)
        count = len(TOWNSHIPS)
        self.clerks: list[list[int]] = []
        self.supervisors: list[list[int]] = []
        self.officers: list[int] = []
        self.auditors: list[int] = []
        for t in range(count):
            staff = users // count + (1 if t < users % count else 0)
            supervisors = max(1, round(staff / 6))
            clerks = max(1, staff - supervisors)
            width_s, width_c = max(2, len(str(supervisors))), max(3, len(str(clerks)))
            place = [self.township_ids[t]]
            self.supervisors.append([self._account(f"t{t + 1}-supervisor-{i + 1:0{width_s}d}", None, ["supervisor"],
                                                   place, rng) for i in range(supervisors)])
            self.clerks.append([self._account(f"t{t + 1}-clerk-{i + 1:0{width_c}d}", None, ["clerk"], place, rng)
                                for i in range(clerks)])
            for v in range(self.villages_per_township):
                village = t * self.villages_per_township + v
                self.officers.append(self._account(f"t{t + 1}-village-{v + 1:02d}",
                                                   f"{self.village_names[village]}专干", ["village_officer"],
                                                   [self.village_ids[village]], rng))
            self.auditors.append(self._account(f"t{t + 1}-auditor", None, ["auditor"], place, rng))
        self.handlers = frozenset(i for group in self.clerks + self.supervisors for i in group)
        self.usernames = {a["id"]: a["username"] for a in self.accounts}

    def _account(self, username: str, display: str | None, roles: list[str], places: list[int],
                 rng: random.Random, system: bool = False) -> int:
        account_id = len(self.accounts) + 1
        name = display or rng.choice(SURNAMES) + rng.choice(FEMALE_GIVEN + MALE_GIVEN)
        self.accounts.append({"id": account_id, "username": username, "display_name": name,
                              "locale": "zh" if system or rng.random() < 0.9 else "en", "roles": roles,
                              "places": places, "system": system})
        return account_id


# ---------------------------------------------------------------------------------------- writing

class Writer:
    """Bulk inserts of rows given as tuples: executemany on SQLite, COPY on PostgreSQL. Values are put in
    the form SQLAlchemy itself stores (naive UTC datetimes, JSON text)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self.rows = Counter()

    def ts(self, value: int | None):
        if value is None:
            return None
        moment = datetime(1970, 1, 1) + timedelta(seconds=value)
        return moment.isoformat(sep=" ", timespec="microseconds") if self.dialect == "sqlite" else moment

    def day(self, value: date | None):
        if value is None:
            return None
        return value.isoformat() if self.dialect == "sqlite" else value

    def flag(self, value: bool):
        return int(value) if self.dialect == "sqlite" else value

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value)

    def write(self, connection: sa.Connection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        self.rows[table] += len(rows)
        names = ", ".join(f'"{c}"' for c in columns)
        if self.dialect == "postgresql":
            raw = connection.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            connection.exec_driver_sql(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)

    def begin(self):
        """A connection for loading: no waiting for the disk at each commit (the generator can simply be run
        again); the app's own connections keep their durable settings."""
        connection = self.engine.connect()
        if self.dialect == "sqlite":
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            connection.exec_driver_sql("PRAGMA cache_size=-262144")
        else:
            connection.exec_driver_sql("SET synchronous_commit = off")
        connection.commit()
        return connection


CASE_COLUMNS = ("id", "number", "pin", "workflow", "workflow_version", "state", "version", "jurisdiction_id",
                "applicant_id", "assignee_id", "created_by_id", "opened_at", "state_entered_at", "target_at",
                "due_at", "deadline_provisional", "paused_since", "paused_seconds", "closed_at", "outcome", "data",
                "purged_at", "late_steps")
EVENT_COLUMNS = ("id", "case_id", "seq", "at", "actor_id", "trigger", "from_state", "to_state", "reason", "data",
                 "prev_hash", "hash")


class _Event:
    """What ``audit.event_hash`` reads of an event."""

    __slots__ = ("case_id", "seq", "at", "actor_id", "trigger", "from_state", "to_state", "reason", "data",
                 "prev_hash")


@dataclass
class Ids:
    """Next id of each table written case by case."""

    event: int = 1
    enrolment: int = 1
    entry: int = 1
    fee_payment: int = 1
    rating: int = 1
    follow_up: int = 1
    payment: int = 1
    attempt: int = 1


class Emitter:
    """Turns plans into rows: the case, its hash-chained events and the workflow's side tables."""

    def __init__(self, writer: Writer, clock: Clock, staff: Staff, schemes: dict[str, dict], fee_types: dict[str, int],
                 notices: dict[tuple[int, int], tuple[int, int]], batches: dict[tuple[str, int], dict],
                 people: "People"):
        from caseflow.services.audit import GENESIS, event_hash
        from caseflow.services.cases import WITHHELD

        self.writer, self.clock, self.staff, self.people = writer, clock, staff, people
        self.schemes, self.fee_types, self.notices, self.batches = schemes, fee_types, notices, batches
        self.event_hash, self.genesis, self.withheld = event_hash, GENESIS, WITHHELD
        from caseflow.workflows.subsidy import REVIEW_STATES

        self.ids = Ids()
        self.review_states = REVIEW_STATES
        self.lights: Counter = Counter()
        self.states: Counter = Counter()
        self.late_cases = 0

    def emit(self, plan: Plan, case_id: int, number: str | None, out: dict[str, list]) -> None:
        wf, clock, w = plan.wf, self.clock, self.writer
        sensitive = wf.sensitive_fields
        rng = random.Random(plan.seed)
        plan.data = application_data(plan, rng, self.staff, self.people)
        context = StepContext(plan, clock, rng, self.staff)
        payloads = [context.payload(k) if move.kind == "step" and k > 0 else (None, None)
                    for k, move in enumerate(plan.moves)]
        data = dict(plan.data)
        state, entered = wf.initial, plan.times[0]
        deadline = clock.deadlines(wf, state, entered)
        late, paused, paused_since, closed = 0, 0, None, None
        # The optimistic-lock version as the services leave it: each flush that writes the case row counts.
        # A procedure certificate is written twice on opening (its receipt is issued by the on_open hook
        # after the insert), a purge twice (its data, then purged_at).
        version = 2 if plan.issue_at == plan.times[0] else 1
        prev_hash, seq = self.genesis, 0
        purged = None
        fee = self._fee_start(plan) if wf.name == "fee_case" else None
        childcare = wf.name == "subsidy" and plan.scheme == "childcare"
        trail: list[tuple[str, int]] = []  # (state entered or kept, at) of the events so far
        events = out["case_event"]
        event_moves = list(zip(plan.moves, plan.times, plan.actors, payloads))
        if plan.payment is not None:  # the subsidy payment's event, in its place in time
            at = plan.payment[3]
            position = next((i for i, item in enumerate(event_moves) if item[1] > at), len(event_moves))
            event_moves.insert(position, (Move("payment", "payment_" + plan.payment[4], None, ""), at,
                                          plan.handler, (None, None)))
        for index, (move, at, actor, (clean, reason)) in enumerate(event_moves):
            event_data: dict[str, Any]
            from_state, to_state = state, state
            if index == 0:
                trigger, from_state = "submit", None
                event_data = {k: (self.withheld if k in sensitive else v) for k, v in data.items()}
            elif move.kind == "step":
                trigger = move.trigger
                clean = dict(clean)
                if clean.get("notice_id") is NOTICE_ID:
                    clean["notice_id"] = self.notices[(plan.village, local_day(at))][0]
                if deadline is not None and at > deadline[0]:
                    late += 1
                if paused_since is not None:
                    paused += at - paused_since
                    paused_since = None
                to_state = state = move.dst
                if state in wf.clock_stopped:
                    paused_since = at
                closed = at if state in wf.closed else None
                entered = at
                deadline = clock.deadlines(wf, state, at)
                if childcare and state in self.review_states:
                    deadline = self._childcare_total(deadline, trail, at)
                if clean:
                    data = data | clean
                step = move.step
                event_data = {k: (self.withheld if k in sensitive else v) for k, v in clean.items()}
                if step.issues_receipt or (step.issues_number and plan.issue_at == at):
                    event_data["number"] = number
                event_data |= self._hook_extra(plan, move, at, clean, fee, data)
                if trigger == "appeal":
                    data = data | {"appeal_from": from_state}
                version += 1
            elif move.kind == "assign":
                trigger = "assign"
                event_data = {"from": None, "to": self.staff.usernames[plan.assignee]}
                version += 1
            elif move.kind == "record_payment":
                trigger = "record_payment"
                event_data = self._payment_event(plan, at, fee)
                version += 1
            elif move.kind == "purge":
                trigger = "purge"
                removed = sorted(name for name in data if name in sensitive)
                data = {k: v for k, v in data.items() if k not in sensitive}
                event_data = {"removed_fields": removed, "comments": 0, "attachments": 0}
                purged = at
                version += 2
            else:  # a subsidy payment's outcome
                trigger = move.trigger
                event_data = {"period": plan.payment[0], "amount_fen": plan.payment[1]}
            trail.append((to_state, at))
            seq += 1
            event = _Event()
            event.case_id, event.seq, event.at, event.actor_id = case_id, seq, aware(at), actor
            event.trigger, event.from_state, event.to_state = trigger, from_state, to_state
            event.reason, event.data, event.prev_hash = reason, event_data, prev_hash
            digest = self.event_hash(event)
            events.append((self.ids.event, case_id, seq, w.ts(at), actor, trigger, from_state, to_state, reason,
                           w.json(event_data), prev_hash, digest))
            self.ids.event += 1
            prev_hash = digest
        due = deadline[0] if deadline is not None and closed is None else None
        target = deadline[1] if deadline is not None and closed is None else None
        provisional = bool(deadline[2]) if deadline is not None and closed is None else False
        light = clock.light(due)
        if plan.is_open:
            self.lights[light] += 1
        self.states[(wf.name, state)] += 1
        self.late_cases += late > 0
        out["case"].append((
            case_id, number, plan.pin, wf.name, wf.version, state, version, self.staff.village_ids[plan.village],
            plan.person + 1, plan.assignee, plan.opener, w.ts(plan.times[0]), w.ts(entered), w.ts(target),
            w.ts(due), w.flag(provisional), w.ts(paused_since), paused, w.ts(closed),
            state if closed is not None else None, w.json(data), w.ts(purged), late))
        if wf.name == "subsidy":
            self._enrolment(plan, case_id, data, out)
        if fee is not None:
            self._fee_rows(plan, case_id, state, fee, out)
        if plan.rating is not None:
            self._rating(plan, case_id, out)

    def _childcare_total(self, deadline, trail: list[tuple[str, int]], at: int):
        """育儿补贴: the legal deadline pulled in to what is left of 30 working days in review states
        (``subsidies._apply_childcare_total``, which the subsidy hook applies after each step)."""
        from caseflow.workflows.subsidy import CHILDCARE_TOTAL_WORKING_DAYS

        calendar, used = self.clock.calendar, 0
        for (state, start), (_next, end) in zip(trail, trail[1:] + [("", at)]):
            if state in self.review_states:
                used += calendar.working_days_between(aware(start), aware(end))
        overall = int(calendar.add_working_days(aware(at), max(CHILDCARE_TOTAL_WORKING_DAYS - used, 0)).at.timestamp())
        if deadline is None or overall < deadline[0]:
            return (overall,) + tuple(deadline[1:]) if deadline else (overall, None, False)
        return deadline

    # ------------------------------------------------------------------------------- hook extras

    def _hook_extra(self, plan: Plan, move: Move, at: int, clean: dict, fee: dict | None, data: dict) -> dict:
        trigger = move.trigger
        if plan.wf.name == "subsidy":
            if trigger in ("start_notice", "repost"):
                notice_id, ends = self.notices[(plan.village, local_day(at))]
                return {"notice_id": notice_id, "notice_ends": aware(ends).isoformat()}
            if trigger == "schedule_exit":
                return {"ends_on": plan.enrolment["ends_on"].isoformat()}
            return {}
        if fee is None:
            return {}
        if trigger == "serve_notice":
            fee["notified"] = clean["proposed_amount"]
        elif trigger == "decide":
            fee["decided"] = clean["decided_amount"]
        elif trigger == "serve_decision":
            fee["due_on"] = self.clock.payment_due_on(local_day(at))
            return {"payment_due_on": day_date(fee["due_on"]).isoformat()}
        elif trigger == "grant_instalments":
            count, first = clean["instalment_count"], date.fromisoformat(clean["first_instalment_due"])
            base, extra = divmod(fee["decided"] - fee["paid"], count)
            fee["instalments"] = [(i + 1, add_months(first, i), base + (1 if i < extra else 0)) for i in range(count)
                                  if base + (1 if i < extra else 0) > 0]
            fee["due_on"] = date_day(fee["instalments"][-1][1])
            return {"instalments": [[due.isoformat(), amount] for _s, due, amount in fee["instalments"]]}
        elif trigger == "grant_postponement":
            fee["instalments"] = []
            fee["due_on"] = date_day(date.fromisoformat(clean["postponed_until"]))
        return {}

    # ---------------------------------------------------------------------------------------- fees

    def _fee_start(self, plan: Plan) -> dict:
        return {"notified": None, "decided": None, "due_on": None, "paid": 0, "instalments": [], "payments": []}

    def _payment_event(self, plan: Plan, at: int, fee: dict) -> dict:
        """A payment recorded: the whole amount before the period ran out, or the next instalment."""
        if fee["instalments"]:
            _seq, _due, amount = fee["instalments"][len(fee["payments"])]
        else:
            amount = fee["decided"] - fee["paid"]
        paid_on = day_date(local_day(at))
        ref = f"NS{paid_on:%Y%m%d}{plan.index % 100000:05d}{len(fee['payments']) + 1}"
        fee["payments"].append((paid_on, amount, ref, at))
        fee["paid"] += amount
        return {"amount_fen": amount, "paid_on": paid_on.isoformat(), "receipt_ref": ref, "principal_fen": amount,
                "late_charge_fen": 0}

    def _fee_rows(self, plan: Plan, case_id: int, state: str, fee: dict, out: dict[str, list]) -> None:
        from caseflow.services.fees import ACCRUING, LATE_CHARGE_PERCENT_PER_DAY

        w, clock = self.writer, self.clock
        last_step = plan.times[_last_transition(plan.moves)]
        decided = fee["decided"]
        charge, as_of = 0, None
        if decided:
            accruing = state in ACCRUING or state == "served"
            as_of = clock.today if accruing else local_day(last_step)
            if state not in ("revoked", "paid") and fee["due_on"] is not None and not fee["instalments"] \
                    and state != "under_appeal":
                days = max(0, as_of - fee["due_on"])
                charge = min(decided, (decided - fee["paid"]) * LATE_CHARGE_PERCENT_PER_DAY * days // 100)
        out["fee_account"].append((case_id, self.fee_types[plan.data["fee_type"]], fee["notified"], decided,
                                   fee["paid"], charge, 0, w.day(day_date(as_of)) if as_of is not None else None,
                                   w.day(day_date(fee["due_on"])) if fee["due_on"] is not None else None, state))
        for paid_on, amount, ref, at in fee["payments"]:
            out["fee_payment"].append((self.ids.fee_payment, case_id, w.day(paid_on), amount, amount, 0, ref,
                                       plan.handler, w.ts(at)))
            self.ids.fee_payment += 1
        for seq, due, amount in fee["instalments"]:
            out["fee_instalment"].append((case_id, seq, w.day(due), amount))

    # ------------------------------------------------------------------------------------ subsidies

    def _enrolment(self, plan: Plan, case_id: int, data: dict, out: dict[str, list]) -> None:
        w = self.writer
        enrolment = plan.enrolment or {}
        enrolled = _find(plan.moves, "enrol") is not None
        childcare = plan.scheme == "childcare"
        born = day_date(plan.child_born) if childcare else None
        ends_on = enrolment.get("ends_on")
        if childcare and enrolled:
            third = date(born.year + 3, born.month, born.day) if not (born.month == 2 and born.day == 29) \
                else date(born.year + 3, 3, 1)
            ends_on = min(ends_on, third) if ends_on else third
        notice_id = self.notices[(plan.village, local_day(plan.notice_start))][0] if plan.notice_start else None
        enrolment_id = self.ids.enrolment
        self.ids.enrolment += 1
        out["subsidy_enrolment"].append((
            enrolment_id, case_id, self.schemes[plan.scheme]["id"], data.get("child_name") if childcare else None,
            w.day(born), w.day(enrolment.get("starts_on")) if enrolled else None, w.day(ends_on) if enrolled else None,
            enrolment.get("reconfirmed_year") if enrolled else None, enrolment.get("bank_name") if enrolled else None,
            enrolment.get("bank_account") if enrolled else None, notice_id))
        if plan.notice_start:
            objector, objection, objected = plan.objection or (None, None, None)
            out["public_notice_entry"].append((self.ids.entry, notice_id, case_id, objector, objection,
                                               w.ts(objected)))
            self.ids.entry += 1
        if plan.payment is not None:
            period, amount, months, marked, outcome, batch_key = plan.payment
            batch = self.batches[batch_key]
            payment_id, attempt_id = self.ids.payment, self.ids.attempt
            self.ids.payment += 1
            self.ids.attempt += 1
            out["payment"].append((payment_id, batch["id"], enrolment_id, months, amount, outcome, 2))
            out["payment_attempt"].append((
                attempt_id, payment_id, 1, f"BZ{batch['id']:05d}-{payment_id:07d}-1", enrolment.get("bank_name"),
                enrolment.get("bank_account") or "", outcome, "账号已销户" if outcome == "failed" else None, None,
                w.ts(batch["created_at"]), w.ts(marked), plan.handler))

    def _rating(self, plan: Plan, case_id: int, out: dict[str, list]) -> None:
        w = self.writer
        level, comment, at, follow_up = plan.rating
        rating_id = self.ids.rating
        self.ids.rating += 1
        out["rating"].append((rating_id, case_id, level, comment, w.ts(at)))
        if follow_up is not None:
            supervisor, done = follow_up
            out["follow_up"].append((self.ids.follow_up, rating_id, case_id, supervisor if done else None,
                                     "done" if done else "open", "已电话回访申请人，说明办理情况并致歉" if done else None,
                                     w.ts(at), w.ts(done), supervisor if done else None))
            self.ids.follow_up += 1


SIDE_COLUMNS = {
    "subsidy_enrolment": ("id", "case_id", "scheme_id", "child_name", "child_birth_date", "starts_on", "ends_on",
                          "reconfirmed_year", "bank_name", "bank_account", "notice_id"),
    "public_notice_entry": ("id", "notice_id", "case_id", "objector", "objection", "objected_at"),
    "fee_account": ("case_id", "fee_type_id", "notified_fen", "decided_fen", "paid_principal_fen", "late_charge_fen",
                    "late_charge_paid_fen", "late_charge_as_of", "payment_due_on", "last_state"),
    "fee_payment": ("id", "case_id", "paid_on", "amount_fen", "principal_fen", "late_charge_fen", "receipt_ref",
                    "recorded_by_id", "recorded_at"),
    "fee_instalment": ("case_id", "seq", "due_on", "amount_fen"),
    "rating": ("id", "case_id", "level", "comment", "created_at"),
    "follow_up": ("id", "rating_id", "case_id", "assignee_id", "status", "resolution", "created_at", "closed_at",
                  "closed_by_id"),
    "payment": ("id", "batch_id", "enrolment_id", "months", "amount_fen", "status", "version"),
    "payment_attempt": ("id", "payment_id", "seq", "reference", "bank_name", "bank_account", "status",
                        "failure_reason", "retry_of_id", "created_at", "marked_at", "marked_by_id"),
}
WRITE_ORDER = ("case", "case_event", "subsidy_enrolment", "public_notice_entry", "fee_account", "fee_payment",
               "fee_instalment", "rating", "follow_up", "payment", "payment_attempt")


# ------------------------------------------------------------------------------------- generation

class DatabaseNotEmpty(RuntimeError):
    pass


def generate(app, cases: int, open_share: float = 0.2, seed: int = 1, users: int = DEFAULT_USERS, *,
             now: datetime | None = None, analyze: bool = True, progress: Callable[[str], None] | None = None
             ) -> dict[str, Any]:
    """Fill the empty, migrated database of ``app`` (call inside its app context) with ``cases`` cases of
    which ``open_share`` are open, ``users`` clerks and supervisors and everything they imply; commits in
    batches and returns a summary (counts by workflow, state and light, rows per table, seconds)."""
    from caseflow.calendar import utcnow
    from caseflow.extensions import db

    started = time.perf_counter()
    say = progress or (lambda message: None)
    if not 0 <= open_share <= 1:
        raise ValueError("open_share must be between 0 and 1")
    engine = db.engine
    with engine.connect() as connection:
        existing = {name: connection.scalar(sa.text(f'SELECT count(*) FROM "{name}"'))
                    for name in ("case", "user", "jurisdiction", "person")}
        schemes = {row.code: {"id": row.id, "annual_fen": row.annual_fen, "frequency": row.frequency}
                   for row in connection.execute(sa.text("SELECT id, code, annual_fen, frequency FROM subsidy_scheme"))}
        fee_types = {row.code: row.id for row in connection.execute(sa.text("SELECT id, code FROM fee_type"))}
    if any(existing.values()):
        raise DatabaseNotEmpty(f"the database already holds {existing['case']} cases, {existing['user']} users, "
                               f"{existing['jurisdiction']} jurisdictions and {existing['person']} persons; "
                               "bench.generate needs an empty, migrated database")
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = (now or utcnow()).replace(microsecond=0)
    rng, clock, staff, people, planner, plans = plan_cases(cases, open_share, seed, users, now, say)
    now_ts, open_count = clock.now, sum(plan.is_open for plan in plans)
    planned = time.perf_counter()

    numbers = _receipt_numbers(plans)
    notices, notice_starts = _notices(plans, clock)
    batches = _payment_batches(plans, clock, staff, schemes, rng)

    writer = Writer(engine)
    password_hash = _bench_password_hash(app)
    with writer.begin() as connection, connection.begin():
        _write_reference(writer, connection, staff, people, password_hash, now_ts, notices, notice_starts, batches,
                         numbers)
    say(f"planned in {planned - started:.0f} s; writing")
    emitter = Emitter(writer, clock, staff, schemes, fee_types, notices, batches, people)
    for first in range(0, len(plans), BATCH_CASES):
        out: dict[str, list] = {name: [] for name in WRITE_ORDER}
        for offset, plan in enumerate(plans[first:first + BATCH_CASES]):
            case_id = first + offset + 1
            emitter.emit(plan, case_id, numbers["by_plan"].get(plan.index), out)
            plans[first + offset] = None  # written: let it go
        with writer.begin() as connection, connection.begin():
            writer.write(connection, "case", CASE_COLUMNS, out.pop("case"))
            writer.write(connection, "case_event", EVENT_COLUMNS, out.pop("case_event"))
            for name, rows in out.items():
                writer.write(connection, name, SIDE_COLUMNS[name], rows)
        if (first // BATCH_CASES + 1) % 20 == 0:
            say(f"wrote {first + BATCH_CASES} cases ({time.perf_counter() - started:.0f} s)")
    with writer.begin() as connection, connection.begin():
        # As the deadline scan would have left it: yellow and red cases reminded about, red ones counted.
        connection.execute(remember_lights(clock.bounds))
    written = time.perf_counter()
    _finish_database(engine, analyze)
    finished = time.perf_counter()

    by_workflow: Counter = Counter()
    for (name, _state), count in emitter.states.items():
        by_workflow[name] += count
    by_state: dict[str, dict[str, int]] = defaultdict(dict)
    for (name, state), count in sorted(emitter.states.items()):
        by_state[name][state] = count
    return {
        "cases": cases, "open": open_count, "closed": cases - open_count,
        "events": writer.rows["case_event"], "events_per_case": round(writer.rows["case_event"] / max(cases, 1), 2),
        "users": writer.rows["user"], "handlers": len(staff.handlers), "townships": len(staff.township_ids),
        "villages": len(staff.village_ids), "persons": writer.rows["person"],
        "workflows": dict(sorted(by_workflow.items())), "states": dict(by_state),
        "lights": {light: emitter.lights.get(light, 0) for light in ("green", "yellow", "red", "none")},
        "cases_with_late_steps": emitter.late_cases, "fallbacks": planner.fallbacks,
        "rows": dict(sorted(writer.rows.items())), "now": now.isoformat(), "seed": seed,
        "seconds": round(finished - started, 1),
        "seconds_by_phase": {"plan": round(planned - started, 1), "write": round(written - planned, 1),
                             "analyze": round(finished - written, 1)},
    }


def plan_cases(cases: int, open_share: float, seed: int, users: int, now: datetime,
               say: Callable[[str], None] = lambda message: None):
    """Every case planned (in an app context: the deadline policy is read from the database), sorted in the
    order they were opened, which is the order of their ids. The same arguments give the same plans."""
    started = time.perf_counter()
    rng = random.Random(seed)
    _check_variants()
    clock = Clock(int(now.timestamp()))
    staff = Staff(users, rng)
    people = People(max(1, int(cases * 0.85)), rng)
    people.today = clock.today
    planner = Planner(rng, clock, people, staff)
    open_count = round(cases * open_share)
    open_flags = [True] * open_count + [False] * (cases - open_count)
    rng.shuffle(open_flags)
    plans = []
    for index, is_open in enumerate(open_flags):
        plans.append(planner.plan(index, is_open))
        if (index + 1) % 100000 == 0:
            say(f"planned {index + 1} cases ({time.perf_counter() - started:.0f} s)")
    plans.sort(key=lambda p: (p.times[0], p.index))
    return rng, clock, staff, people, planner, plans


def _bench_password_hash(app) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(BENCH_PASSWORD, method=app.config["CASEFLOW_PASSWORD_HASH"])


def _receipt_numbers(plans: list[Plan]) -> dict[str, Any]:
    """Receipt numbers in the order they were issued within each prefix and year, as ``issue_receipt``
    would have handed them out; and the counter each key ends at."""
    issued: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for plan in plans:
        if plan.issue_at is not None:
            key = f"{plan.wf.receipt_prefix}{day_date(local_day(plan.issue_at)).year}"
            issued[key].append((plan.issue_at, plan.index))
    by_plan: dict[int, str] = {}
    last: dict[str, int] = {}
    for key in sorted(issued):
        for seq, (_at, index) in enumerate(sorted(issued[key]), start=1):
            by_plan[index] = f"{key}{seq:06d}"
        last[key] = len(issued[key])
    return {"by_plan": by_plan, "last": last}


def _notices(plans: list[Plan], clock: Clock) -> tuple[dict[tuple[int, int], tuple[int, int]], dict]:
    """One public notice per village and day on which cases were put on notice: (id, ends_at) by
    (village, local day); its start is the first case's, its end as ``new_notice`` computes it."""
    first: dict[tuple[int, int], tuple[int, int]] = {}
    for plan in plans:
        for move, at, actor in zip(plan.moves, plan.times, plan.actors):
            if move.trigger in ("start_notice", "repost"):
                key = (plan.village, local_day(at))
                if key not in first or at < first[key][0]:
                    first[key] = (at, actor)
    notices: dict[tuple[int, int], tuple[int, int]] = {}
    for notice_id, key in enumerate(sorted(first, key=lambda k: (first[k][0], k)), start=1):
        notices[key] = (notice_id, clock.notice_end(first[key][0]))
    return notices, first


def _payment_batches(plans: list[Plan], clock: Clock, staff: Staff, schemes: dict[str, dict],
                     rng: random.Random) -> dict[tuple[str, int], dict]:
    """A batch per scheme and township for the latest period (this year for annual schemes, the last full
    quarter for quarterly ones), with a payment for every enrolment eligible in it, marked paid (a few
    failed) some days after the batch was made — as ``create_payment_batch`` and ``mark_payment`` would."""
    from caseflow.services.subsidy_payments import amount_for, eligible_months, period_bounds

    today = day_date(clock.today)
    periods = {}
    for code, scheme in schemes.items():
        if scheme["frequency"] == "annual":
            period = str(today.year)
            created = day_ts(date_day(date(today.year, 1, 20)), 10 * 3600)
        else:
            quarter = (today.month - 1) // 3  # the one before the current quarter
            year, quarter = (today.year, quarter) if quarter else (today.year - 1, 4)
            period = f"{year}Q{quarter}"
            start, end = period_bounds("quarterly", period)
            created = day_ts(date_day(end) + 9, 10 * 3600)
        if created < clock.now - 15 * DAY:
            periods[code] = (period, period_bounds(scheme["frequency"], period), created)
    batches: dict[tuple[str, int], dict] = {}
    for plan in plans:
        if plan.wf.name != "subsidy" or plan.scheme not in periods:
            continue
        enrol = _find(plan.moves, "enrol")
        period, (start, end), created = periods[plan.scheme]
        if enrol is None or plan.times[enrol] >= created:
            continue
        starts_on, ends_on = plan.enrolment["starts_on"], plan.enrolment.get("ends_on")
        if plan.scheme == "childcare":
            born = day_date(plan.child_born)
            third = date(born.year + 3, born.month, born.day) if (born.month, born.day) != (2, 29) \
                else date(born.year + 3, 3, 1)
            ends_on = min(ends_on, third) if ends_on else third
        suspended = next((day_date(local_day(at)) for m, at in zip(plan.moves, plan.times)
                          if m.trigger == "suspend" and at < created), None)
        months = eligible_months(starts_on, ends_on, start, end, ((suspended, None),) if suspended else ())
        if months == 0:
            continue
        key = (plan.scheme, plan.township)
        if key not in batches:
            batches[key] = {"id": len(batches) + 1, "scheme": plan.scheme, "township": plan.township,
                            "period": period, "start": start, "end": end, "created_at": created,
                            "created_by": staff.supervisors[plan.township][0]}
        marked = created + int(rng.uniform(2, 12) * DAY)
        if marked >= clock.now - 60:
            marked = created + (clock.now - created) // 2
        outcome = "failed" if rng.random() < 0.02 else "paid"
        plan.payment = (period, amount_for(schemes[plan.scheme]["annual_fen"], months), months, marked, outcome, key)
    return batches


def _write_reference(writer: Writer, connection, staff: Staff, people: People, password_hash: str, now_ts: int,
                     notices, starts, batches, numbers) -> None:
    """Jurisdictions, accounts, applicants, notices, payment batches and receipt counters."""
    w = writer
    writer.write(connection, "jurisdiction", ("id", "code", "name", "name_en", "kind", "parent_id"),
                 staff.jurisdictions)
    created = now_ts - int(5.2 * 365 * DAY)
    writer.write(connection, "user", ("id", "username", "display_name", "email", "password_hash", "locale", "active",
                                      "is_demo", "daily_digest", "created_at"),
                 [(a["id"], a["username"], a["display_name"],
                   None if a["system"] else f"{a['username']}@{EMAIL_DOMAIN}", "!" if a["system"] else password_hash,
                   a["locale"], w.flag(True), w.flag(False), w.flag(not a["system"]), w.ts(created))
                  for a in staff.accounts])
    writer.write(connection, "user_role", ("user_id", "role"),
                 [(a["id"], role) for a in staff.accounts for role in a["roles"]])
    writer.write(connection, "user_jurisdiction", ("user_id", "jurisdiction_id"),
                 [(a["id"], place) for a in staff.accounts for place in a["places"]])
    for first in range(0, len(people.rows), 50000):
        writer.write(connection, "person", ("id", "resident_id", "name", "phone"),
                     [(first + i + 1, *row) for i, row in enumerate(people.rows[first:first + 50000])])
    writer.write(connection, "public_notice", ("id", "jurisdiction_id", "starts_at", "ends_at", "replaces_id",
                                               "created_by_id", "created_at"),
                 [(notice_id, staff.village_ids[key[0]], w.ts(starts[key][0]), w.ts(ends), None, starts[key][1],
                   w.ts(starts[key][0])) for key, (notice_id, ends) in notices.items()])
    writer.write(connection, "payment_batch", ("id", "scheme_id", "township_id", "period", "period_start",
                                               "period_end", "created_by_id", "created_at"),
                 [(b["id"], _scheme_id(connection, b["scheme"]), staff.township_ids[b["township"]], b["period"],
                   w.day(b["start"]), w.day(b["end"]), b["created_by"], w.ts(b["created_at"]))
                  for b in batches.values()])
    writer.write(connection, "number_sequence", ("key", "last"), sorted(numbers["last"].items()))


def _scheme_id(connection, code: str) -> int:
    return connection.scalar(sa.text("SELECT id FROM subsidy_scheme WHERE code = :code"), {"code": code})


def _finish_database(engine: sa.Engine, analyze: bool) -> None:
    """Sequences past the ids given explicitly (PostgreSQL), statistics for the planner, WAL folded in."""
    from caseflow.extensions import db

    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in db.metadata.sorted_tables:
                column = table.c.get("id")
                if column is not None and column.primary_key and column.autoincrement in (True, "auto"):
                    connection.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table.name}\"), false)")
        if analyze:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM (ANALYZE)")
    else:
        with engine.connect() as connection:
            if analyze:
                connection.exec_driver_sql("ANALYZE")
                connection.exec_driver_sql("PRAGMA optimize")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.commit()


# ------------------------------------------------------------------------------------------- command

def database_size(engine: sa.Engine) -> int:
    """Bytes on disk: ``pg_database_size`` or the SQLite file (with its WAL)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            return int(connection.scalar(sa.text("SELECT pg_database_size(current_database())")))
    from pathlib import Path

    path = Path(engine.url.database)
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def migration_head(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT version_num FROM alembic_version"))


def main(argv: list[str] | None = None) -> int:
    arguments = bench_parser("Generate a realistic caseflow database for the benchmarks.")
    arguments.add_argument("--cases", type=int, required=True, help="how many cases (e.g. 100000, 1000000)")
    arguments.add_argument("--open-share", type=float, default=0.2, help="share of open cases (default 0.2)")
    arguments.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    arguments.add_argument("--users", type=int, default=DEFAULT_USERS,
                           help="clerks and supervisors over the four townships (default %(default)s)")
    arguments.add_argument("--now", type=datetime.fromisoformat,
                           help="the moment the data ends at (ISO, with offset; default: now): with --seed, the "
                                "same database again")
    options = arguments.parse_args(argv)
    from flask_migrate import upgrade

    from bench.common import make_app
    from caseflow.extensions import db

    app = make_app(options.database_url)
    with app.app_context():
        upgrade()
        try:
            summary = generate(app, options.cases, options.open_share, options.seed, options.users, now=options.now,
                               progress=lambda message: print(message, file=sys.stderr, flush=True))
        except DatabaseNotEmpty as exc:
            print(f"bench.generate: {exc}", file=sys.stderr)
            return 2
        summary["migration_head"] = migration_head(db.engine)
        summary["database_bytes"] = database_size(db.engine)
        summary["database_url"] = options.database_url
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
