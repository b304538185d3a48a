"""The pack's HTTP routes reject anything outside their folders with a clear 4xx (plain HTTP)."""

from __future__ import annotations

import io
import json
import os
import uuid

import pytest
from PIL import Image

from tests.harness.paths import media

pytestmark = pytest.mark.server


def multipart(filename: str, data: bytes, field: str = "image") -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


@pytest.fixture(scope="module")
def characters(comfy):
    folder = comfy.input_dir / "mimo_characters"
    folder.mkdir(exist_ok=True)
    outside = comfy.root / "secret.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(outside)
    link = folder / "escape.png"
    if not link.exists():
        os.symlink(outside, link)
    return folder


@pytest.mark.parametrize("name", [
    "../secret.png", "..%2Fsecret.png", "%2e%2e%2fsecret.png", "%2E%2E/%2E%2E/etc/passwd", "/etc/passwd",
    "sub/dir.png", "..", "", "escape.png",
])
def test_character_thumbnail_rejects_paths_outside_the_folder(comfy, characters, name):
    status, body = comfy.request("GET", f"/mimo/characters/thumb?name={name}")
    assert status == 400, (name, status, body[:200])
    assert "mimo_characters" in error_of(body)


def test_character_list_and_thumbnail(comfy, characters):
    Image.open(media("astronaut.png")).save(characters / "astro_route.png")
    listing = comfy.get_json("/mimo/characters")
    names = [c["name"] for c in listing["characters"]]
    assert "astro_route.png" in names and "escape.png" not in names  # symlinks are not listed
    entry = next(c for c in listing["characters"] if c["name"] == "astro_route.png")
    status, body = comfy.request("GET", entry["thumb"] + "&size=96")
    assert status == 200
    assert Image.open(io.BytesIO(body)).size == (96, 96)
    assert comfy.request("GET", "/mimo/characters/thumb?name=astro_route.png&size=5000")[0] == 400
    assert comfy.request("GET", "/mimo/characters/thumb?name=nope.png")[0] == 404


@pytest.mark.parametrize("path", [
    "/mimo/preview/..%2F..%2Fuser/comfy.settings.json",
    "/mimo/preview/0123456789abcdef/..%2F..%2F..%2Fuser%2Fx.jpg",
    "/mimo/preview/0123456789abcdef/%2e%2e%2fmotion.bin",
    "/mimo/preview/0123456789abcdef/motion.exe",
    "/mimo/preview/..%2e/original_0000.jpg",
    "/mimo/preview/0123456789ABCDEF/motion.bin",
])
def test_preview_files_reject_other_paths(comfy, path):
    status, _ = comfy.request("GET", path)
    assert 400 <= status < 500, (path, status)


def test_preview_file_symlink_cannot_escape(comfy):
    run = comfy.temp_dir / "temp" / "mimo_preview" / "00000000000000aa"  # ComfyUI appends "temp"
    run.mkdir(parents=True, exist_ok=True)
    target = comfy.root / "server.log"
    if not (run / "motion.bin").exists():
        os.symlink(target, run / "motion.bin")
    status, body = comfy.request("GET", "/mimo/preview/00000000000000aa/motion.bin")
    assert status == 403, (status, body[:200])
    assert comfy.request("GET", "/mimo/preview/00000000000000bb/motion.bin")[0] == 404


def test_upload_accepts_real_pictures_only(comfy, characters):
    png = media("astronaut.png").read_bytes()
    status, body = comfy.request("POST", "/mimo/characters/upload", *multipart("../../evil name?.png", png))
    assert status == 200, body
    saved = json.loads(body)
    assert saved["subfolder"] == "mimo_characters" and "/" not in saved["name"] and ".." not in saved["name"]
    assert Image.open(characters / saved["name"]).format == "PNG"

    status, body = comfy.request("POST", "/mimo/characters/upload", *multipart("fake.png", b"not an image at all"))
    assert status == 415 and "not a readable image" in error_of(body)
    head = png[:2000]  # a truncated file does not decode
    assert comfy.request("POST", "/mimo/characters/upload", *multipart("cut.png", head))[0] == 415
    status, body = comfy.request("POST", "/mimo/characters/upload", *multipart("x.png", png, field="file"))
    assert status == 400 and "'image' field" in error_of(body)
    status, body = comfy.request("POST", "/mimo/characters/upload", b"{}", {"Content-Type": "application/json"})
    assert status == 400
    big = b"\x89PNG" + b"\0" * (21 * 1024 * 1024)
    status, body = comfy.request("POST", "/mimo/characters/upload", *multipart("big.png", big))
    assert status == 413 and "MB" in error_of(body)
    assert not (characters / "fake.png").exists() and not (characters / "big.png").exists()


def test_node_help_pages_are_served_where_the_frontend_looks(comfy):
    info = comfy.object_info("MimoLayerPreview")["MimoLayerPreview"]
    pack = info["python_module"].split(".")[1]
    status, body = comfy.request("GET", f"/extensions/{pack}/docs/MimoLayerPreview.md")
    assert status == 200 and body.startswith(b"# MIMO Layer Preview")
    for bad in ("..%2Fpyproject.toml", "%2e%2e%2fREADME.md", "MimoLayerPreview.js", "nope.md"):
        status, _ = comfy.request("GET", f"/extensions/{pack}/docs/{bad}")
        assert 400 <= status < 500, (bad, status)


def test_every_pack_node_has_a_help_page(comfy):
    from tests.harness.paths import REPO

    nodes = [name for name, info in comfy.object_info().items() if info["python_module"].endswith("comfyui-mimo")
             or name.startswith("Mimo")]
    missing = [n for n in nodes if not (REPO / "web" / "docs" / f"{n}.md").is_file()]
    assert not missing, f"nodes without web/docs/<Node>.md: {missing}"
