"""Pictures of each node group for the README: docs/nodes/<group>.png and, where the output says
more than the graph, docs/nodes/<group>_result.png.

A real, headless ComfyUI server (tests/harness/comfy.py) and the real frontend in Chromium
(tests/harness/browser.py): each group's graph is built in the page, laid out in columns (the
earlier stages it needs collapsed in a row above), queued on the sample clip where it can run with
what ships (MediaPipe, the Anny body model, models/mimo-default), and the canvas is cropped to the graph.
The result strips are the same graphs' outputs fetched from the server. Small inputs (8 frames of
the sample clip at 256 px, as in the browser tests), a few minutes on CPU.

    .venv/bin/python scripts/node_group_pictures.py            # every group
    .venv/bin/python scripts/node_group_pictures.py motion sdc # some groups
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from tests.harness.browser import BrowserSession, Frontend  # noqa: E402
from tests.harness.comfy import ComfyServer  # noqa: E402
from tests.harness.paths import media  # noqa: E402

OUT = REPO / "docs" / "nodes"
MODEL = "mimo-default"
CLIP = "demo.mp4"
CHARACTER = "astronaut.png"
MAX_WIDTH = 1200  # px of a saved picture
MAX_BYTES = 250_000
VIEWPORT = (1920, 1200)
# graph space -> screen: the graph's top-left lands here (clear of the menu bar and side bar)
SCREEN_ORIGIN = (100, 180)
GAP = (60, 24)  # between columns, between nodes of a column


@dataclass
class Node:
    cls: str
    inputs: dict[str, Any]
    col: int  # column of the picture; -1: a collapsed node of an earlier stage, in a row above
    size: tuple[int, int] | None = None
    collapsed: bool = False
    muted: bool = False  # in the picture but not run (needs weights that do not ship)
    hidden: bool = False  # run but not in the picture (an earlier stage no shown node links to)


@dataclass
class Group:
    name: str
    nodes: dict[str, Node]
    run: bool = True
    # extra output nodes for the result strip: id -> API node (added to the same graph, run through the API)
    result_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    result: Callable[[dict[str, list[Image.Image]]], Image.Image] | None = None

    def prompt(self) -> dict[str, Any]:
        """The API prompt that runs: muted nodes left out, with the links from them."""
        prompt = {i: {"class_type": n.cls, "inputs": dict(n.inputs)} for i, n in self.nodes.items() if not n.muted}
        for node in prompt.values():
            for name, value in list(node["inputs"].items()):
                if isinstance(value, list) and value[0] not in prompt:
                    node["inputs"].pop(name)
        return prompt

    def shown(self) -> dict[str, Any]:
        """The API graph of the picture: hidden nodes left out, with the links from them."""
        shown = {i: {"class_type": n.cls, "inputs": dict(n.inputs)} for i, n in self.nodes.items() if not n.hidden}
        for node in shown.values():
            for name, value in list(node["inputs"].items()):
                if isinstance(value, list) and value[0] not in shown:
                    node["inputs"].pop(name)
        return shown


# ---------------------------------------------------------------------------------------- graphs
def preview(source: list, col: int, size=(300, 260)) -> Node:
    return Node("PreviewImage", {"images": source}, col, size)


def previews(sources: list[list]) -> dict[str, dict[str, Any]]:
    return {f"r{k}": {"class_type": "PreviewImage", "inputs": {"images": src}} for k, src in enumerate(sources)}


def pipeline(collapsed: str = "", hidden: str = "", cols: dict[str, int] | None = None) -> dict[str, Node]:
    """The whole chain with the same inputs in every group, so the server reuses what an earlier group
    computed: load (1), track (2), fit the 3D body (3), render the pose (4), split layers (5), inpaint
    the scene (6), the character (9), framed (10), the model (11), identity (12), generate (13).
    ``collapsed`` / ``hidden``: space-separated ids drawn collapsed in the top row / left out of the picture."""
    specs = {
        "1": ("MimoLoadVideo", {"video": CLIP, "max_side": 256, "frame_stride": 2, "max_frames": 8,
                                "start_frame": 120}),
        "2": ("MimoTrackPerson", {"frames": ["1", 0], "select": "largest", "person_index": 0}),
        "3": ("MimoEstimateMotion", {"frames": ["1", 0], "track": ["2", 1], "body_model": "anny",
                                     "iterations": 60, "fit_shape": False, "fps": ["1", 1]}),
        "4": ("MimoRenderPose", {"motion": ["3", 0], "mode": "parts", "width": 0, "height": 0}),
        "5": ("MimoSplitLayers", {"frames": ["1", 0], "person_mask": ["2", 0], "body_silhouette": ["4", 1],
                                  "depth_margin": 0.05}),
        "6": ("MimoInpaintScene", {"frames": ["5", 5], "holes": ["5", 6], "camera": "static", "dilate": 4}),
        "9": ("MimoCharacter", {"character": CHARACTER}),
        # the shipped model is 64 px: the person is generated on a 64-px square crop around them
        "10": ("MimoPrepareReference", {"image": ["9", 0], "width": 64, "height": 64, "margin": 0.1,
                                        "background": "white"}),
        "11": ("MimoLoadPipeline", {"model": MODEL}),
        "12": ("MimoEncodeIdentity", {"pipeline": ["11", 0], "reference": ["10", 0]}),
        "13": ("MimoGenerate", {"pipeline": ["11", 0], "identity": ["12", 0], "pose": ["4", 0], "scene": ["6", 0],
                                "person_mask": ["2", 0], "steps": 20, "cfg": 2.0, "seed": 0, "window": 8,
                                "overlap": 2, "person_crop": True, "crop_size": 64}),
    }
    cols = cols or {}
    collapsed_ids, hidden_ids = set(collapsed.split()), set(hidden.split())
    order = collapsed.split() + [i for i in specs if i not in collapsed_ids]  # the top row in the given order
    return {i: Node(specs[i][0], dict(specs[i][1]), -1 if i in collapsed_ids else cols.get(i, 0),
                    collapsed=i in collapsed_ids, hidden=i in hidden_ids)
            for i in order if i in collapsed_ids | hidden_ids | set(cols)}


def groups() -> list[Group]:
    out: list[Group] = []

    identity = pipeline(cols={"9": 0, "10": 1, "11": 1, "12": 2})
    identity["9"].size = (320, 360)
    identity["10"].inputs.update(width=256, height=384)  # a bigger framing to look at
    identity["14"] = preview(["10", 0], 2, (220, 300))
    out.append(Group("identity", identity))

    video = pipeline(cols={"1": 0})
    video["2"] = preview(["1", 0], 1, (420, 300))
    out.append(Group("video", video))

    person = pipeline(cols={"1": 0, "2": 1})
    person["3"] = preview(["2", 2], 2, (420, 300))
    out.append(Group("person", person, result_outputs=previews([["2", 2]]),
                     result=lambda o: grid([o["r0"][i] for i in (0, 2, 4, 6)], cols=4,
                                           col_labels=["frame 1", "frame 3", "frame 5", "frame 7"])))

    motion = pipeline(collapsed="1 2", cols={"3": 1, "4": 2})
    motion["8"] = Node("MimoSaveMotion", {"motion": ["3", 0], "filename_prefix": "mimo/motion"}, 1)
    motion["20"] = Node("MimoLoadMotion", {"file": ""}, 1, muted=True)
    motion["21"] = preview(["4", 0], 3, (300, 230))
    motion["22"] = Node("MimoRetargetMotion", {"motion": ["3", 0], "gender": 0.5, "age": 0.5, "muscle": 0.8,
                                               "weight": 0.8, "height": 0.3, "proportions": 0.5}, 2)
    motion["23"] = Node("MimoRenderPose", {"motion": ["22", 0], "mode": "normals", "width": 0, "height": 0}, 3)
    out.append(Group("motion", motion, result_outputs=previews([["1", 0], ["4", 0], ["23", 0]]),
                     result=lambda o: grid([o[f"r{k}"][i] for k in range(3) for i in (0, 2, 4, 6)], cols=4,
                                           row_labels=["input", "pose (parts)", "re-targeted (normals)"])))

    layers = pipeline(collapsed="1 2 4", hidden="3", cols={"5": 1, "6": 2})
    layers["20"] = Node("MimoEstimateDepth", {"frames": ["1", 0], "model": "", "batch_size": 4}, 0, muted=True)
    layers["5"].inputs["depth"] = ["20", 0]
    layers["21"] = preview(["5", 1], 2, (300, 230))
    layers["22"] = preview(["6", 0], 3, (300, 230))
    out.append(Group("layers", layers,
                     result_outputs=previews([["1", 0], ["5", 1], ["5", 3], ["5", 5], ["6", 0]]),
                     result=lambda o: grid([o[f"r{k}"][i] for i in (1, 5) for k in range(5)], cols=5,
                                           col_labels=["input", "person", "occlusion", "scene (holes)",
                                                       "inpainted scene"])))

    views = pipeline(collapsed="1 3 4 5", hidden="2")
    views["7"] = Node("MimoLayerPreview", {"frames": ["1", 0], "layers": ["5", 0], "pose": ["4", 0]}, 1, (440, 430))
    views["8"] = Node("MimoMotionPreview", {"motion": ["3", 0], "max_faces": 6000}, 2, (440, 430))
    out.append(Group("preview", views))

    generate = pipeline(collapsed="9 4 6 2", hidden="1 3 5", cols={"10": 0, "11": 0, "12": 1, "13": 2})
    generate["14"] = preview(["13", 0], 3, (300, 260))
    out.append(Group("generate", generate, result_outputs=previews([["4", 0], ["6", 0], ["13", 0]]),
                     result=generate_sheet))

    compose = pipeline(collapsed="1 4 5 13", hidden="2 3 6 9 10 11 12")
    compose["15"] = Node("MimoCompositeLayer", {"frames": ["13", 0], "layer": ["5", 3], "mask": ["5", 4]}, 0)
    compose["16"] = Node("MimoSideBySide", {"video_1": ["1", 0], "video_2": ["5", 1], "video_3": ["4", 0],
                                            "video_4": ["15", 0]}, 1)
    compose["17"] = preview(["16", 0], 2, (420, 200))
    out.append(Group("compose", compose, result_outputs=previews([["16", 0]]),
                     result=lambda o: grid([o["r0"][i] for i in (1, 5)], cols=1,
                                           col_labels=["input | person layer | pose | result"])))

    # need weights that do not ship: shown wired, not run
    backends = pipeline(collapsed="1 5")
    backends["5"].col = 2
    backends["5"].inputs.pop("body_silhouette")
    backends.update({
        "2": Node("MimoTrackPersonSam2", {"frames": ["1", 0], "model": "", "select": "largest", "person_index": 0}, 1),
        "3": Node("MimoEstimateMotionHmr2", {"frames": ["1", 0], "track": ["2", 1], "checkpoint": "",
                                             "smpl_model": "", "batch_size": 8, "box_margin": 1.2,
                                             "fps": ["1", 1]}, 2),
        "6": Node("MimoInpaintSceneProPainter", {"frames": ["5", 5], "holes": ["5", 6], "model": "", "dilate": 4,
                                                 "neighbor_length": 10, "ref_stride": 10, "subvideo_length": 80,
                                                 "raft_iters": 20}, 3),
    })
    out.append(Group("backends", backends, run=False))

    sdc = pipeline(collapsed="1 2", cols={"3": 1})
    sdc["3"].inputs["body_model"] = "SMPL_NEUTRAL.pkl"
    sdc.update({
        "4": Node("MimoRenderSdc", {"motion": ["3", 0], "colour_table": "sdc_info.npy",
                                    "body_model_file": "(from motion)", "table_key": "smpl", "width": 0,
                                    "height": 0}, 2),
        "5": Node("MimoLoadVideo", {"video": "sdc.mp4", "max_side": 0, "frame_stride": 1, "max_frames": 0,
                                    "start_frame": 0}, 1),
        "6": Node("MimoRecoverSdcTable", {"sdc_frames": ["5", 0], "motion": ["3", 0],
                                          "body_model_file": "(from motion)", "filename": "sdc_table_recovered.npy",
                                          "overwrite": False, "min_iou": 0.6}, 2),
    })
    out.append(Group("sdc", sdc, run=False))
    return out


# --------------------------------------------------------------------------------- result images
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def grid(images: list[Image.Image], cols: int, col_labels: list[str] | None = None,
         row_labels: list[str] | None = None, scale: float = 1.0, pad: int = 4, label_width: int = 0) -> Image.Image:
    """Images in rows of ``cols``, with labels above the columns and/or left of the rows."""
    images = [im.convert("RGB") for im in images]
    if scale != 1.0:
        images = [im.resize((round(im.width * scale), round(im.height * scale)), Image.NEAREST) for im in images]
    w, h = images[0].size
    rows = (len(images) + cols - 1) // cols
    font = _font(16)
    top = 26 if col_labels else 0
    left = max(label_width, 10 + max(round(font.getlength(t)) for t in row_labels)) if row_labels else 0
    sheet = Image.new("RGB", (left + cols * (w + pad) + pad, top + rows * (h + pad) + pad), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        sheet.paste(im, (left + pad + c * (w + pad), top + pad + r * (h + pad)))
    for c, text in enumerate(col_labels or []):
        draw.text((left + pad + c * (w + pad) + 2, 5), text, fill=(230, 230, 230), font=font)
    for r, text in enumerate(row_labels or []):
        draw.text((5, top + pad + r * (h + pad) + h // 2 - 8), text, fill=(230, 230, 230), font=font)
    return sheet


def generate_sheet(o: dict[str, list[Image.Image]]) -> Image.Image:
    """Pose, scene and generated frames, then the same frames cut around the person and enlarged."""
    frames = (0, 2, 4, 6)
    pose, generated = [o["r0"][i].convert("RGB") for i in frames], [o["r2"][i].convert("RGB") for i in frames]
    labels = ["pose", "scene", "generated", "pose (around the person)"]
    width = 10 + max(round(_font(16).getlength(t)) for t in labels)
    full = grid([o[f"r{k}"][i] for k in range(3) for i in frames], cols=4, row_labels=labels[:3], label_width=width)
    boxes = [Image.eval(p.convert("L"), lambda v: 255 if v > 8 else 0).getbbox() for p in pose]
    boxes = [b for b in boxes if b]
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    w, h = pose[0].size
    side = min(round(max(x1 - x0, y1 - y0) * 1.2), w, h)
    left = min(max(0, (x0 + x1 - side) // 2), w - side)  # the square kept inside the frame
    top = min(max(0, (y0 + y1 - side) // 2), h - side)
    box = (left, top, left + side, top + side)
    zoom = 0.45 * full.height / side  # two rows of crops about as tall as the frames above
    crops = [im.crop(box).resize((round(side * zoom),) * 2, Image.BICUBIC) for im in pose + generated]
    close = grid(crops, cols=4, row_labels=[labels[3], "generated"], label_width=width)
    sheet = Image.new("RGB", (max(full.width, close.width), full.height + close.height), (32, 32, 32))
    sheet.paste(full, (0, 0))
    sheet.paste(close, (0, full.height))
    return sheet


def save_small(image: Image.Image, path: Path) -> int:
    """PNG at most MAX_WIDTH wide; quantised to a palette when the full-colour file is too big."""
    image = image.convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    for colours in (256, 128, 64):
        if path.stat().st_size <= MAX_BYTES:
            break
        image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
            path, optimize=True)
    return path.stat().st_size


# ------------------------------------------------------------------------------------ the page
PREPARE = """(specs) => {
  for (const s of specs) {
    const node = window.app.graph.getNodeById(Number(s.id));
    node.mode = s.muted ? 2 : 0;
    const [w, h] = s.size || node.computeSize();
    node.setSize([Math.max(w, MIN_NODE_WIDTH), h]);
    if (s.collapsed && !node.collapsed) node.collapse(true);
    for (const w of node.widgets || []) if (w.name === "control_after_generate") w.value = "fixed";
  }
  window.app.canvas.draw(true, true);  // collapsed nodes learn their width when drawn
}""".replace("MIN_NODE_WIDTH", "320")

LAYOUT = """([specs, gap]) => {
  const g = window.app.graph;
  const title = window.LiteGraph.NODE_TITLE_HEIGHT;
  const cols = {};
  for (const s of specs) (cols[s.col] = cols[s.col] || []).push(g.getNodeById(Number(s.id)));
  const width = (n) => n.collapsed ? (n._collapsed_width || 160) : n.size[0];
  const height = (n) => n.collapsed ? title : n.size[1] + title;
  // column -1: the collapsed nodes of earlier stages, in a row above the columns
  let x = 0, top = title;
  for (const n of cols[-1] || []) {
    if (x > 0 && x + width(n) > 1300) { x = 0; top += title + gap[1]; }
    n.pos = [x, top]; x += width(n) + gap[0] / 2;
  }
  if (cols[-1]) top += 2 * title + 2 * gap[1];
  x = 0;
  for (const c of Object.keys(cols).map(Number).filter(c => c >= 0).sort((a, b) => a - b)) {
    let y = top;
    for (const n of cols[c]) { n.pos = [x, y]; y += height(n) + gap[1]; }
    x += Math.max(...cols[c].map(width)) + gap[0];
  }
  window.app.canvas.setDirty(true, true);
}"""

FIT = """([origin, avail]) => {
  const g = window.app.graph;
  const title = window.LiteGraph.NODE_TITLE_HEIGHT;
  const ctx = window.app.canvas.canvas.getContext('2d');
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const n of g.nodes) {
    let w = n.size[0], h = n.size[1] + title;
    if (n.collapsed) { w = n._collapsed_width || 160; h = title; }
    x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1] - title);
    x1 = Math.max(x1, n.pos[0] + w); y1 = Math.max(y1, n.pos[1] - title + h);
  }
  const scale = Math.min(1, avail[0] / (x1 - x0), avail[1] / (y1 - y0));
  const ds = window.app.canvas.ds;
  ds.scale = scale;
  ds.offset[0] = origin[0] / scale - x0;
  ds.offset[1] = origin[1] / scale - y0;
  window.app.canvas.setDirty(true, true);
  const r = window.app.canvas.canvas.getBoundingClientRect();
  return {x: r.left + origin[0], y: r.top + origin[1], width: (x1 - x0) * scale, height: (y1 - y0) * scale};
}"""

# a quiet canvas: no minimap, no source badges, no canvas statistics
SETTINGS = {"Comfy.Minimap.Visible": False, "Comfy.NodeBadge.NodeSourceBadgeMode": "None",
            "Comfy.Graph.CanvasInfo": False}
# and no run button, job list or toasts over the graph's top-right corner
HIDE_OVERLAYS = ".actionbar-container, .actionbar-container + div, .p-toast { visibility: hidden !important; }"


def queue_and_wait(fe: Frontend, prompt: dict[str, Any], timeout_ms: int = 1_800_000) -> None:
    """Queue ``prompt`` from the page (its results reach the nodes of the picture) and wait for the end."""
    fe.record_events()
    before = fe.page.evaluate("() => window.__mimoEvents.length")
    fe.page.evaluate("""async (prompt) => {
        const workflow = JSON.parse(JSON.stringify(window.app.graph.serialize()));
        await window.comfyAPI.api.api.queuePrompt(0, {output: prompt, workflow});
    }""", prompt)
    fe.page.wait_for_function(
        """(before) => window.__mimoEvents.slice(before).some(
               e => e.type === 'execution_success' || e.type === 'execution_error')""",
        arg=before, timeout=timeout_ms,
    )
    errors = fe.page.evaluate(
        "(before) => window.__mimoEvents.slice(before).filter(e => e.type === 'execution_error')", before)
    if errors:
        e = errors[0]
        raise RuntimeError(f"{e.get('node_type')}: {e.get('exception_message')}")


# live sampling previews drawn inside nodes that are not preview nodes are dropped from the picture
DROP_LIVE_PREVIEWS = """(ids) => {
  const g = window.app.graph;
  for (const id of ids) {
    const node = g.getNodeById(Number(id));
    if (!node || !node.imgs) continue;
    delete window.app.nodePreviewImages[id];
    node.imgs = undefined;
    node.widgets = (node.widgets || []).filter(w => w.name !== '$$canvas-image-preview');
    node.setSize([node.size[0], node.computeSize()[1]]);
  }
  window.app.canvas.setDirty(true, true);
}"""


def picture(fe: Frontend, group: Group, tmp: Path) -> Path:
    fe.open()  # a fresh page: no previews left over from the last group
    fe.page.evaluate("(css) => { const s = document.createElement('style'); s.textContent = css; "
                     "document.head.appendChild(s); }", HIDE_OVERLAYS)
    fe.load_api_graph(group.shown(), f"MIMO {group.name}")
    specs = [{"id": i, "col": n.col, "size": list(n.size) if n.size else None, "collapsed": n.collapsed,
              "muted": n.muted} for i, n in group.nodes.items() if not n.hidden]
    fe.page.evaluate(PREPARE, specs)
    fe.page.wait_for_timeout(200)
    fe.page.evaluate(LAYOUT, [specs, list(GAP)])
    if group.run:
        queue_and_wait(fe, group.prompt())
        fe.page.wait_for_timeout(1500)  # preview images and viewers load
        fe.page.evaluate(DROP_LIVE_PREVIEWS, [i for i, n in group.nodes.items() if n.cls == "MimoGenerate"])
        fe.page.evaluate(LAYOUT, [specs, list(GAP)])
    avail = [VIEWPORT[0] - SCREEN_ORIGIN[0] - 40, VIEWPORT[1] - SCREEN_ORIGIN[1] - 60]
    box = fe.page.evaluate(FIT, [list(SCREEN_ORIGIN), avail])
    fe.page.wait_for_timeout(800)
    margin = 28
    clip = {"x": box["x"] - margin, "y": box["y"] - margin,
            "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin}
    shot = tmp / f"{group.name}.png"
    fe.page.screenshot(path=str(shot), clip=clip)
    return shot


def result_images(server: ComfyServer, group: Group) -> dict[str, list[Image.Image]]:
    """The group's graph again through the API (the server reuses the page's run), plus preview nodes."""
    result = server.run({**group.prompt(), **group.result_outputs}, timeout=1800)
    if result.status != "success":
        raise RuntimeError(result.describe())
    return {i: [Image.open(io.BytesIO(server.fetch_output(item))) for item in result.outputs[i]["images"]]
            for i in group.result_outputs}


def prepare_inputs(server: ComfyServer) -> None:
    shutil.copy(media(CLIP), server.input_dir / CLIP)
    characters = server.input_dir / "mimo_characters"
    characters.mkdir(exist_ok=True)
    shutil.copy(media(CHARACTER), characters / CHARACTER)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    every = [g.name for g in groups()]
    parser.add_argument("groups", nargs="*", metavar="group",
                        help=f"groups to draw (default: all of {', '.join(every)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.groups) - set(every))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(every)}")
    chosen = [g for g in groups() if not args.groups or g.name in args.groups]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mimo-pictures-") as tmp_name:
        tmp = Path(tmp_name)
        server = ComfyServer(tmp / "comfy", extra_model_paths={"mimo": ["mimo", str(REPO / "models")]})
        settings = server.user_dir / "default" / "comfy.settings.json"
        settings.write_text(json.dumps({**json.loads(settings.read_text()), **SETTINGS}))
        server.start()
        browser = None
        try:
            prepare_inputs(server)
            browser = BrowserSession()
            fe = browser.new_frontend(server.url)
            fe.page.set_viewport_size({"width": VIEWPORT[0], "height": VIEWPORT[1]})
            for group in chosen:
                started = time.monotonic()
                shot = picture(fe, group, tmp)
                size = save_small(Image.open(shot), OUT / f"{group.name}.png")
                print(f"docs/nodes/{group.name}.png: {size // 1000} kB", flush=True)
                if group.result is not None:
                    sheet = group.result(result_images(server, group))
                    size = save_small(sheet, OUT / f"{group.name}_result.png")
                    print(f"docs/nodes/{group.name}_result.png: {size // 1000} kB", flush=True)
                print(f"  {group.name}: {time.monotonic() - started:.0f} s", flush=True)
            errors = fe.pack_errors()
            if errors:
                print("pack errors in the page:\n" + "\n".join(e.text for e in errors), file=sys.stderr)
                return 1
        finally:
            if browser is not None:
                browser.close()
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
