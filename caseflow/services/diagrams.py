"""Workflow diagrams: every state and step of a workflow, drawn by Graphviz, with a case's path over it.

Two halves. At build time ``write_diagrams`` (run by ``scripts/diagrams``) lays each registered workflow
version out with Graphviz ``dot``, driven by the ``graphviz`` Python package, once per UI language, and the
SVG files are committed under ``caseflow/static/diagrams/``. At run time nothing needs Graphviz:
``diagram_markup`` reads the committed SVG, marks the current state and the path a case took with CSS
classes (styled from caseflow.css: the CSP forbids inline styles and scripts), and returns it for inlining.

Every element is named after the definition, so the page can find it: a state's node has the id
``state-<state>``; a step's edge (one per source state) has the id ``step-<trigger>-<source>-<dest>`` and the
classes ``step trigger-<trigger> from-<source> to-<dest>``.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from markupsafe import Markup

from caseflow.paths import PACKAGE_DIR
from caseflow.workflows import UnknownWorkflow, all_workflows
from caseflow.workflows import get as get_workflow
from caseflow.workflows.definition import SYSTEM, Workflow

if TYPE_CHECKING:
    from caseflow.models import Case

DIAGRAM_DIR = PACKAGE_DIR / "static" / "diagrams"
LOCALES = ("zh", "en")
SVG_NS = "http://www.w3.org/2000/svg"


def _parsed(svg: str) -> ET.Element:
    """The SVG with plain tag names: serialised again with ``_serialized``, it keeps SVG as the default
    namespace instead of ElementTree's "ns0:" prefixes (which a browser does not read as SVG in HTML)."""
    root = ET.fromstring(svg)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def _serialized(root: ET.Element) -> str:
    root.set("xmlns", SVG_NS)
    return ET.tostring(root, encoding="unicode")


def state_node_id(state: str) -> str:
    return f"state-{state}"


def step_edge_id(trigger: str, source: str, dest: str) -> str:
    return f"step-{trigger}-{source}-{dest}"


def diagram_filename(workflow: Workflow, locale: str) -> str:
    return f"{workflow.name}-v{workflow.version}.{_locale(locale)}.svg"


def _locale(locale: str) -> str:
    return "en" if str(locale).startswith("en") else "zh"


def registered_workflows() -> list[Workflow]:
    """Every registered version of every workflow: open cases keep the version they were opened with."""
    found = []
    for current in all_workflows():
        for version in range(1, current.version + 1):
            with contextlib.suppress(UnknownWorkflow):
                found.append(get_workflow(current.name, version))
    return found


# ------------------------------------------------------------------------------------------ run time

class DiagramMissing(LookupError):
    """No committed SVG for a workflow version: run scripts/diagrams."""


@lru_cache(maxsize=64)
def _committed_svg(filename: str) -> str:
    path = DIAGRAM_DIR / filename
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiagramMissing(filename) from None
    # Our own generated files; still, a document type declaration could define entities, and nothing we
    # generate has one, so refuse rather than expand anything.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError(f"{filename}: unexpected document type declaration")
    return text


def diagram_markup(workflow: Workflow, locale: str, case: Case | None = None, title: str = "") -> Markup:
    """The committed diagram of ``workflow`` as inline SVG, labelled in ``locale``.

    With a ``case``: its current state gets the class ``is-current``, and the states it has been in and the
    steps it took (from its audit events) get ``is-visited`` / ``is-path``. ``title`` becomes the SVG's
    accessible name.
    """
    root = _parsed(_committed_svg(diagram_filename(workflow, locale)))
    root.set("class", "workflow-svg")
    root.set("role", "img")
    root.set("focusable", "false")
    if title:
        root.set("aria-label", title)
    # One user unit per CSS pixel (Graphviz sizes it in points): text at its set size, a large workflow
    # scrolls inside its panel on screen and is scaled to the page in print (caseflow.css).
    _x, _y, width, height = (float(n) for n in root.get("viewBox", "0 0 0 0").split())
    root.set("width", str(math.ceil(width)))
    root.set("height", str(math.ceil(height)))
    if case is not None:
        visited, taken = case_path(case)
        by_id = {element.get("id"): element for element in root.iter("g") if element.get("id")}
        for state in visited:
            _add_class(by_id.get(state_node_id(state)), "is-visited")
        for trigger, source, dest in taken:
            _add_class(by_id.get(step_edge_id(trigger, source, dest)), "is-path")
        _add_class(by_id.get(state_node_id(case.state)), "is-current")
    return Markup(_serialized(root))


def case_path(case: Case) -> tuple[set[str], set[tuple[str, str, str]]]:
    """The states ``case`` has been in and the (trigger, source, dest) steps it took, from its audit trail.
    Events that did not move the case (assignment, files, payments) add nothing."""
    visited: set[str] = {case.state}
    taken: set[tuple[str, str, str]] = set()
    for event in case.events:
        visited.add(event.to_state)
        if event.from_state is not None and event.from_state != event.to_state:
            visited.add(event.from_state)
            taken.add((event.trigger, event.from_state, event.to_state))
    return visited, taken


def _add_class(element: ET.Element | None, name: str) -> None:
    if element is not None:
        element.set("class", f"{element.get('class', '')} {name}".strip())


# ---------------------------------------------------------------------------------------- build time

def _wrap(text: str, locale: str) -> str:
    """Short lines keep the graph compact. Chinese has no spaces: a long label breaks after its comma."""
    if locale == "zh":
        head, comma, tail = text.partition("，")
        return f"{head}{comma}\\n{tail}" if comma and tail and len(text) > 8 else text
    return "\\n".join(textwrap.wrap(text, 20, break_on_hyphens=False)) or text


def diagram_source(workflow: Workflow, locale: str):
    """The workflow as a ``graphviz.Digraph``: states in definition order, one edge per (step, source)."""
    import graphviz  # build-time only (the test extra); the web app serves the committed SVG

    locale = _locale(locale)
    graph = graphviz.Digraph(
        name=f"{workflow.name}_v{workflow.version}",
        graph_attr={"id": f"workflow-{workflow.name}", "rankdir": "TB", "bgcolor": "transparent",
                    "nodesep": "0.35", "ranksep": "0.45", "fontname": "Helvetica"},
        node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica", "fontsize": "12",
                   "margin": "0.12,0.06"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10", "arrowsize": "0.7"},
    )
    for member in workflow.states:
        state = member.name
        kinds = (["initial"] if state == workflow.initial else []) + \
                (["closed"] if state in workflow.closed else []) + \
                (["paused"] if state in workflow.clock_stopped else [])
        attrs = {"id": state_node_id(state), "class": " ".join(["state", *kinds])}
        if state in workflow.closed:
            attrs["peripheries"] = "2"
        if state in workflow.clock_stopped:
            attrs["style"] = "rounded,dashed"
        if state == workflow.initial:
            attrs["penwidth"] = "2"
        graph.node(state, label=_wrap(workflow.state_label(state).get(locale), locale), **attrs)
    for step in workflow.steps:
        kinds = (["danger"] if step.danger else []) + (["by-system"] if step.roles == {SYSTEM} else [])
        for source in step.sources:
            attrs = {"id": step_edge_id(step.trigger, source, step.dest),
                     "class": " ".join(["step", f"trigger-{step.trigger}", f"from-{source}", f"to-{step.dest}",
                                        *kinds])}
            if step.danger:
                attrs["style"] = "dashed"
            elif step.roles == {SYSTEM}:
                attrs["style"] = "dotted"
            graph.edge(source, step.dest, label=_wrap(step.label.get(locale), locale), **attrs)
    return graph


@contextlib.contextmanager
def _font_independent_dot() -> Iterator[str]:
    """Run ``dot`` without its text-layout plugins (pango, gd): text is then measured with Graphviz's own
    built-in font metrics, so the layout depends on the Graphviz version alone and not on which fonts a
    machine happens to have installed (a CJK font changes every width). Yields the Graphviz version."""
    probe = subprocess.run(["dot", "-v", "-Tsvg"], input="digraph{}", capture_output=True, text=True,
                           check=True)
    version = re.search(r"graphviz version (\S+)", probe.stderr)
    config = re.search(r"The plugin configuration file:\s*\n\s*(\S+)", probe.stderr)
    if not (version and config):
        raise RuntimeError(f"cannot read the Graphviz set-up from `dot -v`:\n{probe.stderr}")
    config_path = Path(config.group(1))
    keep = [(match.group(0), match.group(1))
            for match in re.finditer(r"(?ms)^(\S+) \S+ \{.*?^\}", config_path.read_text())
            if re.match(r"libgvplugin_(core|dot_layout)\b", Path(match.group(1)).name)]
    if len(keep) != 2:
        raise RuntimeError(f"{config_path}: core and dot_layout plugins not found")
    previous = os.environ.get("GVBINDIR")
    with tempfile.TemporaryDirectory(prefix="caseflow-gv-") as plugins:
        for _block, library in keep:
            target = Path(library) if Path(library).is_absolute() else config_path.parent / library
            os.symlink(target, Path(plugins) / Path(library).name)
        # Same file name as the system's (Debian calls it config6a), listing the two plugins only.
        (Path(plugins) / config_path.name).write_text(
            "\n".join(block.replace(library, Path(library).name, 1) for block, library in keep) + "\n")
        os.environ["GVBINDIR"] = plugins
        try:
            yield version.group(1)
        finally:
            if previous is None:
                os.environ.pop("GVBINDIR", None)
            else:
                os.environ["GVBINDIR"] = previous


def dot_available() -> bool:
    return shutil.which("dot") is not None


def render_diagram(workflow: Workflow, locale: str, graphviz_version: str) -> str:
    """The SVG to commit for ``workflow`` in ``locale`` (call inside ``_font_independent_dot``)."""
    locale = _locale(locale)
    svg = diagram_source(workflow, locale).pipe(format="svg", encoding="utf-8")
    # From the <svg> element on: no XML declaration and no DTD (the run-time reader refuses one).
    root = _parsed(svg[svg.index("<svg"):])
    # Tooltips in words rather than Graphviz's node names ("submitted->accepted").
    steps = {step_edge_id(s.trigger, source, s.dest): s for s in workflow.steps for source in s.sources}
    for group in root.iter("g"):
        title, ident = group.find("title"), group.get("id", "")
        if title is None:
            continue
        if ident.startswith("state-"):
            title.text = workflow.state_label(ident.removeprefix("state-")).get(locale)
        elif ident in steps:
            step = steps[ident]
            source = ident.removeprefix(f"step-{step.trigger}-").removesuffix(f"-{step.dest}")
            title.text = (f"{workflow.state_label(source).get(locale)} → "
                          f"{workflow.state_label(step.dest).get(locale)}: {step.label.get(locale)}")
        else:
            title.text = workflow.title.get(locale)
    header = (f"<!-- {workflow.name} version {workflow.version} ({locale}), laid out by Graphviz "
              f"{graphviz_version}. Generated by scripts/diagrams from caseflow/workflows/: do not edit. -->\n")
    return header + _serialized(root) + "\n"


def generated_diagrams(workflows: Iterable[Workflow] | None = None) -> dict[str, str]:
    """File name → SVG text for every registered workflow version and UI language."""
    with _font_independent_dot() as version:
        return {diagram_filename(workflow, locale): render_diagram(workflow, locale, version)
                for workflow in (workflows if workflows is not None else registered_workflows())
                for locale in LOCALES}


def write_diagrams(directory: Path = DIAGRAM_DIR) -> list[Path]:
    """Regenerate the committed SVGs; returns the files written. Stale files of unregistered versions
    are left alone (an old case may still need one)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, svg in generated_diagrams().items():
        path = directory / filename
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    _committed_svg.cache_clear()
    return written
