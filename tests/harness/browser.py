"""The real ComfyUI frontend in Debian's Chromium, driven by Python playwright.

Console messages and page errors are collected; ``pack_errors`` keeps those that come
from the pack's own web files (the frontend logs a few errors of its own that are not ours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
