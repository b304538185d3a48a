"""mimo_core and trainer import without ComfyUI on the path."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.harness.paths import REPO

SCRIPT = r"""
import importlib, json, pkgutil, sys
sys.path[:] = [p for p in sys.path if '.comfyui' not in p]
sys.path.insert(0, REPO)
for forbidden in ("comfy", "folder_paths", "server", "comfy_api"):
    try:
        importlib.import_module(forbidden)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{forbidden} is importable: the check would prove nothing")
imported = []
for pkg_name in ("mimo_core", "trainer"):
    pkg = importlib.import_module(pkg_name)
    imported.append(pkg_name)
    for mod in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
        importlib.import_module(mod.name)
        imported.append(mod.name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("comfy", "folder_paths", "server", "comfy_api"))
print(json.dumps({"imported": imported, "leaked": leaked}))
"""


def test_mimo_core_and_trainer_import_without_comfyui():
    proc = subprocess.run(
        [sys.executable, "-I", "-c", SCRIPT.replace("REPO", repr(str(REPO)))],
        capture_output=True, text=True, timeout=600, cwd="/",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "mimo_core" in report["imported"] and "trainer" in report["imported"]
    assert report["leaked"] == []
