"""HTTP routes for the pack's widgets, on ComfyUI's server under ``/mimo/...``.

Every name that comes from a request is checked against a strict pattern and resolved inside
its folder (symlinks included); anything else gets a 4xx with ``{"error": message}``.

* ``GET  /mimo/characters``            recent characters: name, size, thumbnail URL.
* ``GET  /mimo/characters/thumb``      ``?name=<file>&size=<32..512>`` a JPEG thumbnail.
* ``POST /mimo/characters/upload``     multipart field ``image``: a real picture (decoded, at most
  20 MB and 8192 px a side), stored as PNG in ``input/mimo_characters``.
* ``GET  /mimo/preview/{run}/{file}``  a preview file written by the preview nodes.
* ``GET  /extensions/<pack folder>/docs/{file}``  the node help pages, when the pack's folder name
  differs from its project name (the frontend looks for help under the folder name).
"""

from __future__ import annotations

import io
import os
import re
from urllib.parse import quote

import folder_paths
from aiohttp import web
from PIL import Image, ImageOps, UnidentifiedImageError
from server import PromptServer

from .previews import CHARACTER_SUBFOLDER, PREVIEW_SUBFOLDER, character_path, characters_dir, list_characters

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_SIDE = 8192
RECENT_CHARACTERS = 24
_RUN_ID = re.compile(r"^[0-9a-f]{16}$")
_PREVIEW_FILE = re.compile(r"^[a-z]+(_[0-9]{4})?\.(jpg|bin)$")
_DOC_FILE = re.compile(r"^[A-Za-z0-9_]+\.md$")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._ -]+")
_PACK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CONTENT_TYPES = {".jpg": "image/jpeg", ".bin": "application/octet-stream"}

routes = PromptServer.instance.routes


class RequestError(Exception):
    """A client error: HTTP ``status`` and a message for the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _inside(root: str, *parts: str) -> str | None:
    """Real path of ``root/parts`` if it stays inside ``root`` (after symlinks), else None."""
    base = os.path.realpath(root)
    path = os.path.realpath(os.path.join(base, *parts))
    return path if os.path.commonpath((base, path)) == base and path != base else None


# ------------------------------------------------------------------------------- characters
@routes.get("/mimo/characters")
async def get_characters(_request: web.Request) -> web.Response:
    items = []
    for name in list_characters()[:RECENT_CHARACTERS]:
        path = character_path(name)
        items.append({"name": name, "mtime": os.path.getmtime(path),
                      "thumb": f"/mimo/characters/thumb?name={quote(name, safe='')}&v={int(os.path.getmtime(path))}"})
    return web.json_response({"subfolder": CHARACTER_SUBFOLDER, "characters": items})


@routes.get("/mimo/characters/thumb")
async def get_character_thumb(request: web.Request) -> web.Response:
    name = request.query.get("name", "")
    try:
        size = int(request.query.get("size", "160"))
    except ValueError:
        return _error(400, "size must be an integer")
    if not 32 <= size <= 512:
        return _error(400, "size must be between 32 and 512")
    try:
        path = character_path(name)
    except ValueError as e:
        return _error(400, str(e))
    if not os.path.isfile(path):
        return _error(404, f"character {name!r} not found")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size), Image.Resampling.BILINEAR)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=85)
    except (OSError, UnidentifiedImageError):
        return _error(415, f"character {name!r} is not a readable image")
    return web.Response(body=buf.getvalue(), content_type="image/jpeg",
                        headers={"Cache-Control": "max-age=3600"})


def _safe_stem(filename: str) -> str:
    stem = os.path.splitext(os.path.basename(filename.replace("\\", "/")))[0]
    stem = _UNSAFE_NAME_CHARS.sub("_", stem).strip(" .")[:80]
    return stem or "character"


def _decode_upload(data: bytes) -> Image.Image:
    """A fully decoded RGB/RGBA picture, or RequestError(415) with the reason."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ("PNG", "JPEG", "WEBP", "BMP", "GIF"):
                raise RequestError(415, f"unsupported image format {probe.format!r} (use PNG, JPEG or WebP)")
            if max(probe.size) > MAX_UPLOAD_SIDE:
                raise RequestError(413, f"image is {probe.size[0]}x{probe.size[1]}; at most {MAX_UPLOAD_SIDE} px a side")
            probe.verify()
        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img)
            return img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise RequestError(415, f"not a readable image: {e}") from e


async def _read_image_field(request: web.Request) -> tuple[str, bytes]:
    if not request.content_type.startswith("multipart/"):
        raise RequestError(400, "send multipart/form-data with an 'image' field")
    too_big = RequestError(413, f"image is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES + 64 * 1024:
        raise too_big
    reader = await request.multipart()
    async for part in reader:
        if part.name != "image":
            continue
        chunks, total = [], 0
        while chunk := await part.read_chunk(256 * 1024):
            total += len(chunk)
            if total > MAX_UPLOAD_BYTES:
                raise too_big
            chunks.append(chunk)
        return part.filename or "character.png", b"".join(chunks)
    raise RequestError(400, "the form has no 'image' field")


@routes.post("/mimo/characters/upload")
async def upload_character(request: web.Request) -> web.Response:
    try:
        filename, data = await _read_image_field(request)
        img = _decode_upload(data)
    except RequestError as e:
        return _error(e.status, str(e))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    png = buf.getvalue()
    stem, root = _safe_stem(filename), characters_dir()
    name = f"{stem}.png"
    for n in range(1, 1000):
        path = os.path.join(root, name)
        if not os.path.lexists(path):
            break
        with open(path, "rb") as f:
            if f.read() == png:
                os.utime(path)  # same picture: just make it the most recent
                return web.json_response(_upload_answer(name, img))
        name = f"{stem} ({n}).png"
    else:
        return _error(409, f"too many characters named {stem!r}")
    with open(path, "wb") as f:
        f.write(png)
    return web.json_response(_upload_answer(name, img))


def _upload_answer(name: str, img: Image.Image) -> dict:
    return {"name": name, "subfolder": CHARACTER_SUBFOLDER, "type": "input", "width": img.width, "height": img.height}


# ---------------------------------------------------------------------------------- previews
@routes.get("/mimo/preview/{run}/{file}")
async def get_preview_file(request: web.Request) -> web.Response:
    run, file = request.match_info["run"], request.match_info["file"]
    if not _RUN_ID.match(run) or not _PREVIEW_FILE.match(file):
        return _error(400, "invalid preview path: expected /mimo/preview/<16 hex>/<view>_<nnnn>.jpg or motion.bin")
    path = _inside(os.path.join(folder_paths.get_temp_directory(), PREVIEW_SUBFOLDER), run, file)
    if path is None:
        return _error(403, "preview path leaves the preview folder")
    if not os.path.isfile(path):
        return _error(404, f"preview {run}/{file} not found (previews are cleared when ComfyUI restarts)")
    return web.FileResponse(path, headers={"Content-Type": _CONTENT_TYPES[os.path.splitext(file)[1]],
                                           "Cache-Control": "max-age=86400, immutable"})


# ------------------------------------------------------------------------------------- docs
def _project_name() -> str | None:
    try:
        with open(os.path.join(_PACK_ROOT, "pyproject.toml"), encoding="utf-8") as f:
            found = re.search(r'^name\s*=\s*"([^"]+)"', f.read(), re.MULTILINE)
    except OSError:
        return None
    return found.group(1) if found else None


_PACK_FOLDER = os.path.basename(_PACK_ROOT)
_DOCS_DIR = os.path.join(_PACK_ROOT, "web", "docs")

if _PACK_FOLDER != _project_name() and re.fullmatch(r"[A-Za-z0-9_.-]+", _PACK_FOLDER):

    @routes.get(f"/extensions/{_PACK_FOLDER}/docs/{{file}}")
    async def get_node_doc(request: web.Request) -> web.Response:
        file = request.match_info["file"]
        if not _DOC_FILE.match(file):
            return _error(400, "invalid help page name")
        path = _inside(_DOCS_DIR, file)
        if path is None or not os.path.isfile(path):
            return _error(404, f"no help page {file}")
        return web.FileResponse(path, headers={"Content-Type": "text/markdown; charset=utf-8"})
