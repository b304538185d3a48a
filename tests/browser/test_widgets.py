"""The pack's node widgets in the real frontend: layer viewer, character picker, 3D motion viewer.

Graphs are queued from the page (``app.queuePrompt``) on tiny inputs (6 frames, 256 px).
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.harness.paths import media

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def clip(comfy) -> str:
    target = comfy.input_dir / "mimo_widgets.mp4"
    if not target.exists():
        shutil.copy(media("demo.mp4"), target)
    return target.name


def small_video(name: str) -> dict:
    # the walking woman, side-on, from frame 120
    return {"class_type": "MimoLoadVideo", "inputs": {
        "video": name, "max_side": 256, "frame_stride": 2, "max_frames": 6, "start_frame": 120}}


def canvas_pixels(frontend, selector: str) -> dict:
    return frontend.page.evaluate(
        """(sel) => {
            const c = document.querySelector(sel);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lit = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 300) lit++;
            return {width: c.width, height: c.height, lit, triangles: Number(c.dataset.triangles || 0)};
        }""",
        selector,
    )


def test_layer_viewer_scrubs_frames_and_switches_views(comfy, frontend, clip, artifacts):
    frontend.open()
    frontend.load_api_graph({
        "1": small_video(clip),
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MimoSplitLayers", "inputs": {"frames": ["1", 0], "person_mask": ["2", 0],
                                                          "depth_margin": 0.05}},
        "4": {"class_type": "MimoLayerPreview", "inputs": {"frames": ["1", 0], "layers": ["3", 0], "pose": ["2", 2]}},
    }, "layer viewer")
    frontend.focus_node("4", (420, 420))
    frontend.queue_from_ui()
    (output,) = frontend.wait_executed("4")
    entry = output["mimo_layers"][0]
    assert entry["frames"] == 6 and set(entry["views"]) == {"original", "person", "scene", "occlusion", "pose"}

    page = frontend.page
    img = ".mimo-layer-viewer img.mimo-layer-image"
    page.wait_for_function(f"() => {{ const i = document.querySelector('{img}'); "
                           "return i && i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0; }")
    size = page.evaluate(f"() => {{ const i = document.querySelector('{img}'); return [i.naturalWidth, i.naturalHeight]; }}")
    assert max(size) == 256 and min(size) > 0, size  # 256-px frames are previewed unscaled
    first = page.get_attribute(img, "src")
    assert "/mimo/preview/" in first and "original_0000.jpg" in first

    page.click(".mimo-layer-viewer button[data-view=person]")
    person = page.get_attribute(img, "src")
    assert person != first and "person_0000.jpg" in person
    page.locator(".mimo-layer-viewer input.mimo-frame").fill("4")
    assert "person_0004.jpg" in page.get_attribute(img, "src")
    assert page.text_content(".mimo-layer-viewer .mimo-label") == "5 / 6"
    page.wait_for_function(f"() => document.querySelector('{img}').naturalWidth > 0")
    frontend.node_screenshot("4", artifacts / "widget_layer_viewer.png")
    assert page.locator(".mimo-layer-viewer button[data-view]").count() == 5
    assert frontend.pack_errors() == [], [e.text for e in frontend.pack_errors()]


def _png(colour: tuple[int, int, int], size=(48, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _preview_mean(comfy, output: dict) -> np.ndarray:
    item = output["images"][0]
    return np.asarray(Image.open(io.BytesIO(comfy.fetch_output(item))).convert("RGB"), dtype=np.float32).mean((0, 1))


def test_character_picker_upload_drop_and_swap_and_run(comfy, frontend, artifacts, tmp_path):
    folder = comfy.input_dir / "mimo_characters"
    folder.mkdir(exist_ok=True)
    (folder / "red_block.png").write_bytes(_png((220, 20, 20)))
    frontend.open()
    frontend.load_api_graph({
        "1": {"class_type": "MimoCharacter", "inputs": {"character": "red_block.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }, "character picker")
    frontend.focus_node("1", (340, 340))
    page = frontend.page
    page.wait_for_selector(".mimo-character-picker .mimo-thumb[data-name='red_block.png'] img")
    frontend.queue_from_ui()
    (first,) = frontend.wait_executed("2")
    assert _preview_mean(comfy, first)[0] > 200

    # upload through the picker's file input: the astronaut becomes the highlighted character
    page.set_input_files(".mimo-character-picker input[type=file]", str(media("astronaut.png")))
    thumb = ".mimo-character-picker .mimo-thumb[data-name='astronaut.png']"
    page.wait_for_selector(f"{thumb}.selected img")
    page.wait_for_function(f"() => document.querySelector(\"{thumb} img\").naturalWidth > 0")
    assert (folder / "astronaut.png").is_file()

    # a picture dropped on the picker is uploaded too
    page.evaluate(
        """async () => {
            const c = document.createElement('canvas'); c.width = 40; c.height = 60;
            const g = c.getContext('2d'); g.fillStyle = '#1040e0'; g.fillRect(0, 0, 40, 60);
            const blob = await new Promise(r => c.toBlob(r, 'image/png'));
            const dt = new DataTransfer();
            dt.items.add(new File([blob], 'blue hero.png', {type: 'image/png'}));
            const grid = document.querySelector('.mimo-character-picker .mimo-grid');
            grid.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
            grid.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""")
    page.wait_for_selector(".mimo-character-picker .mimo-thumb[data-name='blue hero.png'].selected")
    assert (folder / "blue hero.png").is_file()

    # pick the astronaut and "Swap & run": the combo changes and the graph runs again with it
    page.click(thumb)
    page.click(".mimo-character-picker .mimo-swap-run")
    frontend.wait_executed("2", count=2)
    value = page.evaluate("() => window.app.graph.getNodeById(1).widgets.find(w => w.name === 'character').value")
    assert value == "astronaut.png"
    second = frontend.executed("2")[-1]
    img = Image.open(io.BytesIO(comfy.fetch_output(second["images"][0])))
    assert img.size == (512, 512)
    assert not np.allclose(_preview_mean(comfy, second), _preview_mean(comfy, first), atol=10)
    frontend.node_screenshot("1", artifacts / "widget_character_picker.png")
    assert frontend.pack_errors() == [], [e.text for e in frontend.pack_errors()]


def test_motion_viewer_draws_orbits_and_scrubs(comfy, frontend, clip, artifacts):
    frontend.open()
    frontend.load_api_graph({
        "1": small_video(clip),
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MimoEstimateMotion", "inputs": {
            "frames": ["1", 0], "track": ["2", 1], "body_model": "anny", "iterations": 20, "fit_shape": False,
            "fps": 15.0}},
        "4": {"class_type": "MimoMotionPreview", "inputs": {"motion": ["3", 0], "max_faces": 4000}},
    }, "motion viewer")
    frontend.focus_node("4", (420, 460))
    frontend.queue_from_ui()
    (output,) = frontend.wait_executed("4")
    entry = output["mimo_motion"][0]
    assert entry["frames"] == 6 and 0 < entry["faces"] <= 4000, entry

    page = frontend.page
    canvas = ".mimo-motion-viewer canvas"
    page.wait_for_function(f"() => Number(document.querySelector('{canvas}')?.dataset.triangles || 0) > 0")
    before = canvas_pixels(frontend, canvas)
    frontend.node_screenshot("4", artifacts / "widget_motion_viewer.png")
    assert before["triangles"] == entry["faces"]
    assert before["width"] > 100 and before["height"] > 100
    assert before["lit"] > 0.01 * before["width"] * before["height"], before  # the body covers part of the view

    # drag to orbit: the drawing changes
    image_before = page.evaluate(f"() => document.querySelector('{canvas}').toDataURL()")
    box = page.locator(canvas).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 10, steps=4)
    page.mouse.up()
    image_after = page.evaluate(f"() => document.querySelector('{canvas}').toDataURL()")
    assert image_after != image_before
    frontend.node_screenshot("4", artifacts / "widget_motion_viewer_orbit.png")

    page.locator(".mimo-motion-viewer input.mimo-frame").fill("5")
    assert page.get_attribute(canvas, "data-frame") == "5"
    assert canvas_pixels(frontend, canvas)["lit"] > 0
    assert frontend.pack_errors() == [], [e.text for e in frontend.pack_errors()]
