"""The real ComfyUI frontend in Debian's Chromium, driven by Python playwright.

Console messages and page errors are collected; ``pack_errors`` keeps those that come
from the pack's own web files (the frontend logs a few errors of its own that are not ours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from .paths import CHROMIUM

PACK_WEB_PREFIX = "/extensions/mimo-video/"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@dataclass
class ConsoleEntry:
    kind: str
    text: str
    url: str
    stack: str = ""

    def from_pack(self) -> bool:
        return PACK_WEB_PREFIX in self.url or PACK_WEB_PREFIX in self.stack or "[MIMO]" in self.text


@dataclass
class Frontend:
    page: Page
    base_url: str
    console: list[ConsoleEntry] = field(default_factory=list)

    def errors(self) -> list[ConsoleEntry]:
        return [c for c in self.console if c.kind in ("error", "pageerror")]

    def pack_errors(self) -> list[ConsoleEntry]:
        return [c for c in self.errors() if c.from_pack()]

    def open(self, timeout_ms: int = 120_000) -> None:
        """Load the app and wait until the graph canvas and the extension list are ready."""
        self.page.goto(self.base_url + "/", wait_until="domcontentloaded", timeout=timeout_ms)
        self.page.wait_for_function(
            "() => window.app && window.app.graph && window.app.extensionManager !== undefined",
            timeout=timeout_ms,
        )
        # A fresh user directory opens the template browser over the canvas.
        self.page.keyboard.press("Escape")

    # -- graphs and runs ---------------------------------------------------------------
    def record_events(self) -> None:
        """Keep the server's execution events in ``window.__mimoEvents`` (for :meth:`wait_executed`)."""
        self.page.evaluate(
            """() => {
                if (window.__mimoEvents) return;
                window.__mimoEvents = [];
                const api = window.comfyAPI.api.api;
                for (const type of ["executed", "execution_error", "execution_success"]) {
                    api.addEventListener(type, (e) => window.__mimoEvents.push({type, ...e.detail}));
                }
            }"""
        )

    def load_api_graph(self, prompt: dict[str, Any], name: str = "test") -> None:
        """Replace the graph with an API-format prompt (node ids are kept)."""
        self.page.evaluate("async ([p, n]) => { await window.app.loadApiJson(p, n); }", [prompt, name])

    def queue_from_ui(self) -> None:
        """Queue the current graph as the Queue button does."""
        self.record_events()
        self.page.evaluate("async () => { await window.app.queuePrompt(0, 1); }")

    def executed(self, node_id: str) -> list[dict[str, Any]]:
        """Outputs of every ``executed`` event of ``node_id`` seen so far."""
        return self.page.evaluate(
            "(id) => (window.__mimoEvents || []).filter(e => e.type === 'executed' && String(e.node) === id)"
            ".map(e => e.output)",
            str(node_id),
        )

    def wait_executed(self, node_id: str, count: int = 1, timeout_ms: int = 240_000) -> list[dict[str, Any]]:
        """Wait until ``node_id`` has executed ``count`` times; fails early on an execution error."""
        self.page.wait_for_function(
            """([id, count]) => {
                const ev = window.__mimoEvents || [];
                if (ev.some(e => e.type === 'execution_error')) return true;
                return ev.filter(e => e.type === 'executed' && String(e.node) === id).length >= count;
            }""",
            arg=[str(node_id), count], timeout=timeout_ms,
        )
        errors = self.page.evaluate("() => window.__mimoEvents.filter(e => e.type === 'execution_error')")
        assert not errors, f"execution error: {errors[0].get('exception_message')} in {errors[0].get('node_type')}"
        return self.executed(node_id)

    def focus_node(self, node_id: str, size: tuple[int, int] | None = None) -> None:
        """Scale 1 and pan so the node sits near the top-left of the canvas (DOM widgets off-screen are hidden)."""
        self.page.evaluate(
            """([id, size]) => {
                const node = window.app.graph.getNodeById(Number(id));
                if (size) node.setSize(size);
                const ds = window.app.canvas.ds;
                ds.scale = 1;
                ds.offset[0] = 60 - node.pos[0];
                ds.offset[1] = 150 - node.pos[1];
                window.app.canvas.setDirty(true, true);
            }""",
            [str(node_id), list(size) if size else None],
        )
        self.page.wait_for_timeout(300)

    def node_screenshot(self, node_id: str, path: Path, margin: int = 12) -> Path:
        """Screenshot of one node (title bar and widgets) as drawn on the canvas."""
        box = self.page.evaluate(
            """(id) => {
                const node = window.app.graph.getNodeById(Number(id));
                const ds = window.app.canvas.ds;
                const r = window.app.canvas.canvas.getBoundingClientRect();
                const title = window.LiteGraph.NODE_TITLE_HEIGHT;
                return {x: r.left + (node.pos[0] + ds.offset[0]) * ds.scale,
                        y: r.top + (node.pos[1] - title + ds.offset[1]) * ds.scale,
                        width: node.size[0] * ds.scale, height: (node.size[1] + title) * ds.scale};
            }""",
            str(node_id),
        )
        clip = {"x": max(0, box["x"] - margin), "y": max(0, box["y"] - margin),
                "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), clip=clip)
        return path

    def element_screenshot(self, selector: str, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.locator(selector).first.screenshot(path=str(path))
        return path

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path


class BrowserSession:
    def __init__(self) -> None:
        self._pw = sync_playwright().start()
        self.browser: Browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

    def new_frontend(self, base_url: str) -> Frontend:
        context = self.browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        fe = Frontend(page=page, base_url=base_url)

        def on_console(msg):
            loc = msg.location or {}
            fe.console.append(ConsoleEntry(msg.type, msg.text, loc.get("url", "")))

        def on_pageerror(err):
            fe.console.append(ConsoleEntry("pageerror", str(err), "", getattr(err, "stack", "") or ""))

        page.on("console", on_console)
        page.on("pageerror", on_pageerror)
        return fe

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()
