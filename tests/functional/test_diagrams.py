"""Workflow diagrams: the committed SVGs are what scripts/diagrams makes of the definitions now, they show
every state and step, and the case page marks the case's current state and the path it took."""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import pytest

from caseflow.extensions import transactional
from caseflow.services import diagrams
from caseflow.services.audit import reads_of
from caseflow.services.cases import apply_transition
from caseflow.services.diagrams import (
    DIAGRAM_DIR, LOCALES, diagram_filename, registered_workflows, state_node_id, step_edge_id,
)
from caseflow.workflows import latest
from tests.factories import advance, make_case, make_procedure_case, reload
from tests.functional.ui_support import html_of, signed_in, text_of

SVG = "{http://www.w3.org/2000/svg}"
REQUIRED = os.environ.get("CASEFLOW_GRAPHVIZ_REQUIRED") == "1"  # set by .ci/run: CI must not skip


def _groups(svg_text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg_text[svg_text.index("<svg"):])
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id")}


def _classes(element: ET.Element) -> set[str]:
    return set((element.get("class") or "").split())


def _text(element: ET.Element) -> str:
    """The label as drawn, its lines joined (the generator breaks long labels)."""
    return "".join(t.text or "" for t in element.iter(f"{SVG}text"))


def _squeezed(text: str) -> str:
    """Without spaces: where a long label was broken into lines does not matter."""
    return text.replace(" ", "")


def _committed(workflow, locale) -> str:
    return (DIAGRAM_DIR / diagram_filename(workflow, locale)).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------- committed files

def test_committed_diagrams_are_what_scripts_diagrams_makes_now():
    """Change a workflow without running scripts/diagrams and this fails. Graphviz measures text with its
    own metrics here (not the machine's fonts), so the layout depends on its version alone."""
    if not diagrams.dot_available():
        if REQUIRED:
            pytest.fail("Graphviz `dot` is missing (apt-get install graphviz)")
        pytest.skip("Graphviz `dot` is not installed")
    if REQUIRED:
        import graphviz  # noqa: F401  (the test extra; CI must have it)
    else:
        pytest.importorskip("graphviz")
    generated = diagrams.generated_diagrams()
    expected = {diagram_filename(wf, locale) for wf in registered_workflows() for locale in LOCALES}
    assert set(generated) == expected
    sample = next(iter(generated.values()))
    made_with = re.search(r"laid out by Graphviz (\S+)\.", sample).group(1)
    committed = {name: (DIAGRAM_DIR / name).read_text(encoding="utf-8") if (DIAGRAM_DIR / name).exists() else None
                 for name in expected}
    missing = sorted(name for name, text in committed.items() if text is None)
    assert not missing, f"run scripts/diagrams: missing {missing}"
    committed_with = {re.search(r"laid out by Graphviz (\S+)\.", text).group(1) for text in committed.values()}
    if committed_with != {made_with} and not REQUIRED:
        pytest.skip(f"committed with Graphviz {committed_with}, this machine has {made_with}: layouts differ")
    stale = sorted(name for name in expected if committed[name] != generated[name])
    assert not stale, f"run scripts/diagrams and commit the result: out of date {stale}"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("workflow", registered_workflows(), ids=lambda wf: f"{wf.name}-v{wf.version}")
def test_every_state_and_step_is_in_the_diagram(workflow, locale):
    groups = _groups(_committed(workflow, locale))
    nodes = {ident for ident, g in groups.items() if "node" in _classes(g)}
    edges = {ident for ident, g in groups.items() if "edge" in _classes(g)}
    assert nodes == {state_node_id(member.name) for member in workflow.states}
    assert edges == {step_edge_id(step.trigger, source, step.dest)
                     for step in workflow.steps for source in step.sources}
    for member in workflow.states:
        node = groups[state_node_id(member.name)]
        assert _squeezed(_text(node)) == _squeezed(member.value.get(locale))
        assert ("closed" in _classes(node)) == (member.name in workflow.closed)
        assert ("paused" in _classes(node)) == (member.name in workflow.clock_stopped)
    for step in workflow.steps:
        for source in step.sources:
            edge = groups[step_edge_id(step.trigger, source, step.dest)]
            assert _squeezed(_text(edge)) == _squeezed(step.label.get(locale))
            assert {"step", f"trigger-{step.trigger}", f"from-{source}", f"to-{step.dest}"} <= _classes(edge)
            assert ("danger" in _classes(edge)) == step.danger


def test_diagrams_carry_nothing_the_content_security_policy_would_block():
    for workflow in registered_workflows():
        for locale in LOCALES:
            text = _committed(workflow, locale)
            assert "<!DOCTYPE" not in text and "<script" not in text and "<style" not in text
            assert " style=" not in text and "href" not in text  # nothing inline to style, nothing to fetch


def test_a_diagram_with_a_document_type_is_refused(tmp_path, monkeypatch):
    """The run-time reader expands no entities: a file with a DTD is not ours."""
    workflow = latest("birth_registration")
    (tmp_path / diagram_filename(workflow, "zh")).write_text(
        '<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>')
    monkeypatch.setattr(diagrams, "DIAGRAM_DIR", tmp_path)
    diagrams._committed_svg.cache_clear()
    try:
        with pytest.raises(ValueError):
            diagrams.diagram_markup(workflow, "zh")
    finally:
        diagrams._committed_svg.cache_clear()


# ------------------------------------------------------------------------------------------- case page

def _page_svg(response) -> dict[str, ET.Element]:
    html = html_of(response)
    match = re.search(r'<figure class="workflow-diagram">(<svg.*?</svg>)</figure>', html, re.S)
    assert match, "no diagram on the page"
    return _groups(match.group(1))


def test_case_page_marks_the_current_state_and_the_path_taken(app, office):
    case = make_case(office)
    advance(case, ["request_supplement", "resubmit", "accept", "verify"], office)
    page = signed_in(app, "clerk").get(f"/cases/{case.id}")
    assert page.status_code == 200
    groups = _page_svg(page)
    current = [ident for ident, g in groups.items() if "is-current" in _classes(g)]
    assert current == [state_node_id("verifying")]
    visited = {ident for ident, g in groups.items() if "is-visited" in _classes(g)}
    assert visited == {state_node_id(s) for s in ("submitted", "needs_supplement", "accepted", "verifying")}
    path = {ident for ident, g in groups.items() if "is-path" in _classes(g)}
    assert path == {step_edge_id("request_supplement", "submitted", "needs_supplement"),
                    step_edge_id("resubmit", "needs_supplement", "submitted"),
                    step_edge_id("accept", "submitted", "accepted"),
                    step_edge_id("verify", "accepted", "verifying")}
    # Steps not taken are drawn but not marked; the page links the workflow's own page.
    assert step_edge_id("register", "accepted", "registered") in groups
    assert step_edge_id("register", "accepted", "registered") not in path
    html = html_of(page)
    assert 'href="/workflows/birth_registration/v1"' in html
    assert 'aria-label="工作流程“生育登记”示意图；案件当前处于“核查中”"' in html
    assert "style=" not in html and "<script" not in html  # the CSP allows neither
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_diagram_speaks_the_page_language(app, office):
    case = make_case(office)
    client = signed_in(app, "clerk")
    assert "受理" in _text(_page_svg(client.get(f"/cases/{case.id}"))[step_edge_id("accept", "submitted", "accepted")])
    client.post("/lang/en", data={"next": "/"})
    english = client.get(f"/cases/{case.id}")
    groups = _page_svg(english)
    assert _text(groups[state_node_id("submitted")]) == "Submitted"
    assert "is-current" in _classes(groups[state_node_id("submitted")])


def test_a_closed_case_shows_where_it_ended(app, office):
    case = make_case(office)
    advance(case, ["accept", "register"], office)
    groups = _page_svg(signed_in(app, "auditor").get(f"/cases/{case.id}"))
    assert "is-current" in _classes(groups[state_node_id("registered")])
    assert "is-path" in _classes(groups[step_edge_id("register", "accepted", "registered")])


def test_a_need_to_know_diagram_only_for_those_who_may_read_the_case(app, office):
    case = make_procedure_case(office, by="clerk")
    with transactional():
        apply_transition(case, "request_supplement", office["clerk"], case.version, data={"missing_items": "身份证复印件"})
    case = reload(case)
    for username in ("clerk2", "village1", "admin", "outsider"):
        page = signed_in(app, username).get(f"/cases/{case.id}")
        assert page.status_code in (403, 404)
        assert "workflow-svg" not in html_of(page)
    page = signed_in(app, "supervisor").get(f"/cases/{case.id}")
    groups = _page_svg(page)
    assert "is-current" in _classes(groups[state_node_id("needs_supplement")])
    # The supervisor's read, diagram and all, is logged like every read of such a case.
    assert [(r.user.username, r.what) for r in reads_of(case)][0] == ("supervisor", "case")

# --------------------------------------------------------------------------------------- workflow page

def test_workflow_page_shows_diagram_legend_steps_and_deadlines(app, office):
    client = signed_in(app, "village1")
    page = client.get("/workflows/birth_registration")
    assert page.status_code == 200
    groups = _page_svg(page)
    workflow = latest("birth_registration")
    assert {state_node_id(m.name) for m in workflow.states} <= set(groups)
    assert not any("is-current" in _classes(g) or "is-path" in _classes(g) for g in groups.values())
    text = text_of(page)
    assert "已提交" in text and "核查中" in text
    assert "5 个工作日" in text and "行政许可法 第32条" in text  # the submitted state's legal limit and basis
    assert "已撤回" in text and "申请人撤回" in text
    assert "停止计时" in text or "暂停" in text  # the legend explains the dashed states
    assert client.get("/workflows/").status_code == 200
    assert "生育登记" in text_of(client.get("/workflows/"))


def test_workflow_page_for_versions_and_unknown_names(app, office):
    client = signed_in(app, "clerk")
    assert client.get("/workflows/birth_registration/v1").status_code == 200
    assert client.get("/workflows/birth_registration/v99").status_code == 404
    assert client.get("/workflows/no_such_workflow").status_code == 404
    anonymous = app.test_client().get("/workflows/birth_registration")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_workflow_page_for_a_need_to_know_workflow_shows_no_case(app, office):
    make_procedure_case(office, by="clerk", name="李芳芳")
    page = signed_in(app, "village1").get("/workflows/procedure_certificate")
    assert page.status_code == 200
    assert "李芳芳" not in text_of(page)
    assert "当日" in text_of(page)  # its same-day deadline
