"""Every example workflow loads in the real frontend with all its nodes known and no errors; the
node help panel shows the pack's help pages."""

from __future__ import annotations

import json

import pytest

from tests.harness.paths import REPO

pytestmark = pytest.mark.browser

WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))

LOAD = """async (wf) => {
    await window.app.loadGraphData(wf, true, true, 'check');
    await new Promise(r => setTimeout(r, 300));
    const types = window.LiteGraph.registered_node_types;
    const nodes = window.app.graph.nodes;
    const dialogs = [...document.querySelectorAll('.p-dialog')].map(d => d.innerText);
    return {
        count: nodes.length,
        unknown: nodes.filter(n => !types[n.type] || n.has_errors).map(n => n.type),
        missingDialogs: dialogs.filter(t => /missing/i.test(t)),
        // the frontend validates a loaded workflow against its schema and shows an alert when it fails
        invalid: /Invalid workflow against/i.test(document.body.innerText),
    };
}"""


def test_example_workflows_load_without_missing_nodes(frontend, artifacts):
    assert WORKFLOWS, "no workflows/*.json"
    frontend.open()
    for path in WORKFLOWS:
        workflow = json.loads(path.read_text())
        result = frontend.page.evaluate(LOAD, workflow)
        assert result["count"] == len(workflow["nodes"]), (path.name, result)
        assert result["unknown"] == [], (path.name, result)
        assert result["missingDialogs"] == [], (path.name, result)
        assert not result["invalid"], f"{path.name} fails the frontend's workflow schema"
        frontend.screenshot(artifacts / f"workflow_{path.stem}.png")
    assert frontend.pack_errors() == [], [e.text for e in frontend.pack_errors()]


def test_node_help_panel_shows_the_pack_help_page(frontend, artifacts):
    frontend.open()
    frontend.load_api_graph({"1": {"class_type": "MimoMotionPreview", "inputs": {"max_faces": 6000}}}, "help")
    frontend.focus_node("1")
    page = frontend.page
    page.evaluate("() => { const n = window.app.graph.getNodeById(1); window.app.canvas.selectNode(n); "
                  "window.app.canvas.setDirty(true, true); }")
    page.locator("[data-testid=info-button]").first.dispatch_event("click", timeout=15_000)
    page.get_by_text("Drag in the view to orbit").first.wait_for(timeout=15_000)
    frontend.screenshot(artifacts / "node_help_panel.png")
    assert frontend.pack_errors() == [], [e.text for e in frontend.pack_errors()]
