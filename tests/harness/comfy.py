"""A real ComfyUI server for tests: start, queue API-format prompts, follow them on the
websocket, fetch outputs, stop.

The server runs headless on CPU on 127.0.0.1 and a free port, with temporary input,
output, user and temp folders and an extra-model-paths file pointing at test model
folders. Nothing here mocks ComfyUI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

from .paths import COMFY_DIR, REPO

PACK_DIR_NAME = "comfyui-mimo"
# Model folders the test server reads under ``models_dir`` (the pack's own and the standard ones it uses).
PACK_MODEL_FOLDERS = ("mimo", "body_models", "depthanything", "sam2", "hmr2", "propainter", "vae", "clip_vision")
# Lines ComfyUI logs when a custom node pack fails to import or register.
_IMPORT_FAILURE = re.compile(
    r"(Cannot import .*comfyui-mimo|Error while calling comfy_entrypoint in .*comfyui-mimo|"
    r"comfy_entrypoint in .*comfyui-mimo .*skipping|\(IMPORT FAILED\).*comfyui-mimo)"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PromptResult:
    prompt_id: str
    status: str  # "success" | "error" | "interrupted"
    outputs: dict[str, Any]
    progress: list[dict[str, Any]] = field(default_factory=list)
    executed_nodes: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """A readable summary of how the prompt ended (for assertion messages)."""
        if self.error is None:
            return f"prompt {self.prompt_id}: {self.status}"
        e = self.error
        trace = "".join(e.get("traceback", []))[-3000:]
        return (f"prompt {self.prompt_id} failed in node {e.get('node_id')} ({e.get('node_type')}): "
                f"{e.get('exception_type')}: {e.get('exception_message')}\n{trace}")


class ComfyServer:
    """A ComfyUI process owned by the test session."""

    def __init__(self, root: Path, extra_model_paths: dict[str, list[str]] | None = None,
                 output_dir: Path | None = None):
        self.root = root
        self.input_dir = root / "input"
        self.output_dir = output_dir or root / "output"
        self.user_dir = root / "user"
        self.temp_dir = root / "temp"
        self.models_dir = root / "models"
        self.log_path = root / "server.log"
        for d in (self.input_dir, self.output_dir, self.user_dir, self.temp_dir, self.models_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.extra_model_paths = extra_model_paths or {}
        # A settled user profile: no first-run template browser over the canvas.
        settings = self.user_dir / "default" / "comfy.settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Validation.Workflows": True}))
        self.port = free_port()
        self.client_id = uuid.uuid4().hex
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------
    def _write_extra_model_paths(self) -> Path:
        # base_path alone adds nothing: every folder is listed, relative to it.
        folders = {name: [name] for name in PACK_MODEL_FOLDERS}
        folders.update(self.extra_model_paths)
        lines = ["mimo_tests:", f"    base_path: {self.models_dir}"]
        for folder, paths in sorted(folders.items()):
            lines.append(f"    {folder}: |")
            lines.extend(f"        {p}" for p in paths)
        path = self.root / "extra_model_paths.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 240.0) -> None:
        if not (COMFY_DIR / "main.py").is_file():
            raise RuntimeError(f"ComfyUI is not installed at {COMFY_DIR}: run `make setup` first")
        link = COMFY_DIR / "custom_nodes" / PACK_DIR_NAME
        if not link.exists():
            raise RuntimeError(f"the pack is not linked into {link}: run `make setup` first")
        cmd = [
            sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--disable-auto-launch", "--disable-api-nodes", "--preview-method", "auto",
            "--input-directory", str(self.input_dir), "--output-directory", str(self.output_dir),
            "--user-directory", str(self.user_dir), "--temp-directory", str(self.temp_dir),
            "--extra-model-paths-config", str(self._write_extra_model_paths()),
            "--database-url", "sqlite:///:memory:",
        ]
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env.setdefault("MIMO_REPO", str(REPO))
        self._log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=COMFY_DIR, stdout=self._log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/object_info/MimoCompositeLayer", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        else:
            self.stop()
            raise RuntimeError(f"ComfyUI did not answer /object_info within {timeout:.0f}s:\n{self.log_tail()}")
        failures = self.pack_import_failures()
        if failures:
            log = self.log_tail()
            self.stop()
            raise RuntimeError("the MIMO pack failed to load in ComfyUI:\n" + "\n".join(failures) + "\n" + log)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self._log_file.close()
        self.proc = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def pack_import_failures(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if _IMPORT_FAILURE.search(line)]

    # -- HTTP ------------------------------------------------------------------------
    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return r.read()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Any HTTP request; returns (status, body) without raising on 4xx/5xx."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        status, body = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        try:
            return status, json.loads(body)
        except json.JSONDecodeError:
            return status, body.decode(errors="replace")

    def object_info(self, node: str | None = None) -> dict[str, Any]:
        return self.get_json("/object_info" + (f"/{node}" if node else ""))

    # -- prompts ---------------------------------------------------------------------
    def queue(self, prompt: dict[str, Any]) -> str:
        """Queue an API-format prompt; raises with ComfyUI's validation errors if rejected."""
        status, body = self.post_json("/prompt", {"prompt": prompt, "client_id": self.client_id})
        if status != 200:
            raise PromptRejected(status, body)
        return body["prompt_id"]

    def run(self, prompt: dict[str, Any], timeout: float = 600.0) -> PromptResult:
        """Queue ``prompt`` and follow it on the websocket until it finishes."""
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws?clientId={self.client_id}", timeout=timeout)
        try:
            prompt_id = self.queue(prompt)
            return self._follow(ws, prompt_id, timeout)
        finally:
            ws.close()

    def _follow(self, ws: websocket.WebSocket, prompt_id: str, timeout: float) -> PromptResult:
        result = PromptResult(prompt_id=prompt_id, status="running", outputs={})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ws.settimeout(max(1.0, deadline - time.monotonic()))
            raw = ws.recv()
            if isinstance(raw, bytes):  # binary frames: latent previews
                result.messages.append({"type": "binary_preview", "size": len(raw)})
                continue
            msg = json.loads(raw)
            result.messages.append(msg)
            data = msg.get("data", {})
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            kind = msg.get("type")
            if kind == "progress":
                result.progress.append(data)
            elif kind == "executing" and data.get("node") is not None:
                result.executed_nodes.append(data["node"])
            elif kind == "execution_error":
                result.status, result.error = "error", data
                break
            elif kind == "execution_interrupted":
                result.status = "interrupted"
                break
            elif kind == "execution_success":
                result.status = "success"
                break
        else:
            raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f}s:\n{self.log_tail()}")
        # execution_success is sent just before the queue writes the history entry: wait for it.
        history: dict[str, Any] = {}
        settle = time.monotonic() + 30
        while time.monotonic() < settle:
            history = self.get_json(f"/history/{prompt_id}").get(prompt_id, {})
            if history.get("status", {}).get("completed") is not None or history.get("outputs"):
                break
            time.sleep(0.1)
        result.outputs = history.get("outputs", {})
        return result

    def fetch_output(self, item: dict[str, str]) -> bytes:
        """Bytes of one output file entry ({filename, subfolder, type}) via /view."""
        query = urllib.parse.urlencode(
            {"filename": item["filename"], "subfolder": item.get("subfolder", ""), "type": item.get("type", "output")}
        )
        return self.get_bytes("/view?" + query)

    def interrupt(self) -> None:
        self.request("POST", "/interrupt")


class PromptRejected(RuntimeError):
    def __init__(self, status: int, body: Any):
        super().__init__(f"ComfyUI rejected the prompt (HTTP {status}): {json.dumps(body, indent=1)[:4000]}")
        self.status = status
        self.body = body
