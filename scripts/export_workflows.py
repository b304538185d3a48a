"""Writes workflows/*.json (UI format) and workflows/api/*.json (API format) from
scripts/workflow_specs.py, using the real frontend so the UI files are exactly what the
frontend itself saves (node sizes, links, widget values)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.workflow_specs import NOTES, WORKFLOWS  # noqa: E402
from tests.harness.browser import BrowserSession  # noqa: E402
from tests.harness.comfy import ComfyServer  # noqa: E402

LOAD_AND_SERIALIZE = """async ([api, name, note]) => {
  await window.app.loadApiJson(api, name);
  window.app.graph.arrange ? window.app.graph.arrange() : null;
  if (note) {
    const node = window.LiteGraph.createNode("Note");
    node.widgets[0].value = note;
    node.pos = [0, -260];
    node.size = [520, 220];
    window.app.graph.add(node);
  }
  // JSON.stringify drops undefined fields; passed as an object they would arrive as null and the
  // frontend's workflow schema would reject them on load
  return JSON.stringify(window.app.graph.serialize());
}"""


def main() -> int:
    out_ui = REPO / "workflows"
    out_api = out_ui / "api"
    out_api.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mimo-export-") as tmp:
        server = ComfyServer(Path(tmp))
        server.start()
        browser = BrowserSession()
        try:
            fe = browser.new_frontend(server.url)
            fe.open()
            for name, (title, build) in WORKFLOWS.items():
                api = build()
                (out_api / f"{name}.json").write_text(json.dumps(api, indent=2) + "\n")
                ui = json.loads(fe.page.evaluate(LOAD_AND_SERIALIZE, [api, title, NOTES.get(name, "")]))
                ui.setdefault("extra", {})["mimo"] = {"title": title}
                (out_ui / f"{name}.json").write_text(json.dumps(ui, indent=2) + "\n")
                print(f"wrote workflows/{name}.json ({len(ui['nodes'])} nodes)")
        finally:
            browser.close()
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
