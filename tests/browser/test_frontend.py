"""The real ComfyUI frontend in Chromium loads the pack's extension without errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_frontend_registers_the_pack_extension_without_errors(frontend, artifacts):
    frontend.open()
    names = frontend.page.evaluate("() => (window.app.extensions || []).map(e => e.name)")
    assert "mimo.video" in names, f"pack extension not registered; extensions: {names}"
    # The pack's node can be created from the node library.
    created = frontend.page.evaluate(
        """() => {
            const node = window.LiteGraph.createNode('MimoCompositeLayer');
            if (!node) return null;
            window.app.graph.add(node);
            node.pos = [200, 200];
            window.app.canvas.setDirty(true, true);
            return {title: node.title, inputs: node.inputs.map(i => i.name)};
        }"""
    )
    assert created == {"title": "MIMO Composite Layer", "inputs": ["frames", "layer", "mask"]}
    frontend.page.wait_for_timeout(500)
    frontend.screenshot(artifacts / "frontend_composite_node.png")
    assert frontend.pack_errors() == [], [e.text for e in frontend.pack_errors()]
