"""The example graphs in API format (the source of workflows/ and of `make demo`).

Node ids are strings; a link is ``[node id, output index]``. The sample inputs are the clip
``demo.mp4`` and the picture ``astronaut.png`` that `make setup` fetches; ``mimo_scene.png`` stands
for any background picture.
"""

from __future__ import annotations

DEFAULT_MODEL = "mimo-default"


def _save_video(images: list, fps: list, prefix: str) -> dict:
    """CreateVideo + SaveVideo nodes (ids ``<prefix id>c`` / ``<prefix id>s`` are chosen by the caller)."""
    return {
        "create": {"class_type": "CreateVideo", "inputs": {"images": images, "fps": fps}},
        "save": {"class_type": "SaveVideo", "inputs": {
            "video": None, "filename_prefix": prefix, "format": "mp4", "codec": "h264"}},
    }


def _add_video_output(graph: dict, create_id: str, save_id: str, images: list, fps: list, prefix: str) -> None:
    parts = _save_video(images, fps, prefix)
    graph[create_id] = parts["create"]
    parts["save"]["inputs"]["video"] = [create_id, 0]
    graph[save_id] = parts["save"]


def _analyse(video: str, max_side: int, frame_stride: int, max_frames: int, start_frame: int = 0,
             first: int = 1, iterations: int = 150) -> dict:
    """Load, track, fit the 3D body, render the pose, split layers, inpaint the scene.

    Ids ``first .. first+5``: 0 video (frames, fps, count), 1 track (mask, track, preview), 2 motion,
    3 pose render (pose, silhouette), 4 layers (layers, person, person_mask, occlusion, occlusion_mask,
    scene, scene_holes), 5 inpainted scene.
    """
    v, t, m, p, s, i = (str(first + k) for k in range(6))
    return {
        v: {"class_type": "MimoLoadVideo", "inputs": {
            "video": video, "max_side": max_side, "frame_stride": frame_stride,
            "max_frames": max_frames, "start_frame": start_frame}},
        t: {"class_type": "MimoTrackPerson", "inputs": {"frames": [v, 0], "select": "largest", "person_index": 0}},
        m: {"class_type": "MimoEstimateMotion", "inputs": {
            "frames": [v, 0], "track": [t, 1], "body_model": "anny", "iterations": iterations,
            "fit_shape": False, "fps": [v, 1]}},
        p: {"class_type": "MimoRenderPose", "inputs": {"motion": [m, 0], "mode": "parts", "width": 0, "height": 0}},
        s: {"class_type": "MimoSplitLayers", "inputs": {
            "frames": [v, 0], "person_mask": [t, 0], "body_silhouette": [p, 1], "depth_margin": 0.05}},
        i: {"class_type": "MimoInpaintScene", "inputs": {
            "frames": [s, 5], "holes": [s, 6], "camera": "static", "dilate": 4}},
    }


def _generate(first: int, reference_image: list, pose: list, scene: list, model: str, steps: int,
              ref_size: tuple[int, int] = (512, 768)) -> dict:
    """Prepare the reference, load the model, encode identity, generate.

    Ids ``first .. first+3``: 0 reference (image, mask), 1 pipeline, 2 identity, 3 generated frames.
    """
    r, lp, e, g = (str(first + k) for k in range(4))
    return {
        r: {"class_type": "MimoPrepareReference", "inputs": {
            "image": reference_image, "width": ref_size[0], "height": ref_size[1], "margin": 0.1,
            "background": "white"}},
        lp: {"class_type": "MimoLoadPipeline", "inputs": {"model": model}},
        e: {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": [lp, 0], "reference": [r, 0]}},
        g: {"class_type": "MimoGenerate", "inputs": {
            "pipeline": [lp, 0], "identity": [e, 0], "pose": pose, "scene": scene,
            "steps": steps, "cfg": 3.5, "seed": 0, "window": 24, "overlap": 4}},
    }


# ------------------------------------------------------------------------------------ workflows
def preprocess_preview(video: str, prefix: str = "mimo/preprocess", max_side: int = 512,
                       frame_stride: int = 2, max_frames: int = 48) -> dict:
    """Load a clip, track the person, fit the 3D body, split layers (occluders found where the
    fitted body is hidden), inpaint the scene; show the layers and the 3D motion in the node
    viewers and save a side-by-side video (input | tracked person | pose condition | clean scene)."""
    graph = _analyse(video, max_side, frame_stride, max_frames)
    # ids: 1 video, 2 track, 3 motion, 4 pose, 5 layers, 6 scene
    graph["7"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["2", 2], "video_3": ["4", 0], "video_4": ["6", 0]}}
    _add_video_output(graph, "8", "9", ["7", 0], ["1", 1], f"{prefix}_side_by_side")
    graph["10"] = {"class_type": "MimoSaveMotion", "inputs": {"motion": ["3", 0], "filename_prefix": f"{prefix}_motion"}}
    graph["11"] = {"class_type": "MimoLayerPreview", "inputs": {"frames": ["1", 0], "layers": ["5", 0], "pose": ["4", 0]}}
    graph["12"] = {"class_type": "MimoMotionPreview", "inputs": {"motion": ["3", 0], "max_faces": 6000}}
    return graph


def character_replacement(video: str, character: str, model: str = DEFAULT_MODEL, prefix: str = "mimo/replace",
                          max_side: int = 512, frame_stride: int = 2, max_frames: int = 48, steps: int = 25,
                          ref_size: tuple[int, int] = (512, 768), generate_scale: float = 1.0) -> dict:
    """Replace the person in a video with the character of a picture: the video is split into
    person / scene / occlusion layers, the scene is inpainted, the character is animated with the
    person's 3D motion over that scene, and the occlusion layer is put back on top. Saves the result
    and a side-by-side video (input | person layer | pose condition | result)."""
    graph = _analyse(video, max_side, frame_stride, max_frames)
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": character}}
    pose, scene, occlusion, occlusion_mask = ["4", 0], ["6", 0], ["5", 3], ["5", 4]
    if generate_scale != 1.0:
        # analyse at a size where people are found, generate at the model's own size
        def scaled(node_id: str, image: list) -> list:
            graph[node_id] = {"class_type": "ImageScaleBy", "inputs": {
                "image": image, "upscale_method": "area", "scale_by": generate_scale}}
            return [node_id, 0]

        pose, scene, occlusion = scaled("50", pose), scaled("51", scene), scaled("52", occlusion)
        graph["53"] = {"class_type": "MaskToImage", "inputs": {"mask": occlusion_mask}}
        graph["55"] = {"class_type": "ImageToMask", "inputs": {"image": scaled("54", ["53", 0]), "channel": "red"}}
        occlusion_mask = ["55", 0]
    silhouette = ["4", 1]
    if generate_scale != 1.0:
        graph["56"] = {"class_type": "MaskToImage", "inputs": {"mask": silhouette}}
        graph["57"] = {"class_type": "ImageToMask", "inputs": {"image": scaled("58", ["56", 0]), "channel": "red"}}
        silhouette = ["57", 0]
    graph.update(_generate(21, ["20", 0], pose, scene, model, steps, ref_size))
    # 21 reference, 22 pipeline, 23 identity, 24 generated
    # keep the generated character inside the (slightly grown) body silhouette, the clean scene elsewhere,
    # as the official release pastes its generated person region back into the frame
    graph["59"] = {"class_type": "GrowMask", "inputs": {"mask": silhouette, "expand": 2, "tapered_corners": True}}
    graph["60"] = {"class_type": "MimoCompositeLayer", "inputs": {"frames": scene, "layer": ["24", 0], "mask": ["59", 0]}}
    graph["25"] = {"class_type": "MimoCompositeLayer", "inputs": {
        "frames": ["60", 0], "layer": occlusion, "mask": occlusion_mask}}
    _add_video_output(graph, "26", "27", ["25", 0], ["1", 1], f"{prefix}_result")
    graph["28"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["5", 1], "video_3": ["4", 0], "video_4": ["25", 0]}}
    _add_video_output(graph, "29", "30", ["28", 0], ["1", 1], f"{prefix}_side_by_side")
    return graph


def animate_in_new_scene(video: str, character: str, scene_image: str, model: str = DEFAULT_MODEL,
                         prefix: str = "mimo/animate", max_side: int = 512, frame_stride: int = 2,
                         max_frames: int = 48, steps: int = 25) -> dict:
    """Animate the character of a picture with the 3D motion taken from a video, in front of a new
    background picture (scaled and cropped to the video's size, held for every frame)."""
    graph = _analyse(video, max_side, frame_stride, max_frames)
    for unused in ("5", "6"):  # no layer split needed: the scene is new
        graph.pop(unused)
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": character}}
    graph["30"] = {"class_type": "LoadImage", "inputs": {"image": scene_image}}
    graph["31"] = {"class_type": "GetImageSize", "inputs": {"image": ["4", 0]}}
    graph["32"] = {"class_type": "ImageScale", "inputs": {
        "image": ["30", 0], "upscale_method": "bilinear", "width": ["31", 0], "height": ["31", 1], "crop": "center"}}
    graph["33"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["32", 0], "amount": ["1", 2]}}
    graph.update(_generate(21, ["20", 0], ["4", 0], ["33", 0], model, steps))
    _add_video_output(graph, "26", "27", ["24", 0], ["1", 1], f"{prefix}_result")
    graph["28"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["4", 0], "video_3": ["24", 0]}}
    _add_video_output(graph, "29", "34", ["28", 0], ["1", 1], f"{prefix}_side_by_side")
    return graph


def scene_swap(motion_video: str, scene_video: str, character: str, model: str = DEFAULT_MODEL,
               prefix: str = "mimo/scene_swap",
               max_side: int = 512, frame_stride: int = 2, max_frames: int = 48, scene_start: int = 0,
               steps: int = 25) -> dict:
    """Put the motion of one video into the scene of another: the 3D motion comes from the first
    video and drives the character of a picture (a portrait of that video's person keeps them); the
    second video's person is removed and its scene inpainted (read for as many frames as the first,
    scaled to its size)."""
    graph = _analyse(motion_video, max_side, frame_stride, max_frames)
    for unused in ("5", "6"):
        graph.pop(unused)
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": character}}
    scene = _analyse(scene_video, max_side, frame_stride, max_frames, start_frame=scene_start, first=40)
    scene["40"]["inputs"]["max_frames"] = ["1", 2]  # as many frames as the motion video
    for unused in ("42", "43"):  # the scene video's person is only cut out, not fitted
        scene.pop(unused)
    scene["44"]["inputs"].pop("body_silhouette")
    graph.update(scene)
    graph["31"] = {"class_type": "GetImageSize", "inputs": {"image": ["4", 0]}}
    graph["32"] = {"class_type": "ImageScale", "inputs": {
        "image": ["45", 0], "upscale_method": "bilinear", "width": ["31", 0], "height": ["31", 1], "crop": "center"}}
    graph.update(_generate(21, ["20", 0], ["4", 0], ["32", 0], model, steps))
    _add_video_output(graph, "26", "27", ["24", 0], ["1", 1], f"{prefix}_result")
    graph["28"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["40", 0], "video_3": ["4", 0], "video_4": ["24", 0]}}
    _add_video_output(graph, "29", "30", ["28", 0], ["1", 1], f"{prefix}_side_by_side")
    return graph


WAN_NOTE = (
    "MIMO layers and pose into ComfyUI's native Wan 2.2 Animate (WanAnimateToVideo): the inpainted "
    "scene is the background video, the visible person mask the character mask, the MIMO pose render "
    "the pose video. Needs the Wan 2.2 Animate models (diffusion_models: wan2.2_animate_14B_bf16, "
    "text_encoders: umt5_xxl_fp8_e4m3fn_scaled, vae: wan_2.1_vae, clip_vision: clip_vision_h). "
    "These cannot be replaced by tiny test models, so the pack's tests only check this graph against "
    "the server's node definitions and do not run it. Wan Animate was trained on skeleton pose "
    "videos; the MIMO body render is a different condition, so expect to compare both."
)


def wan_animate_interop(video: str, character: str, prefix: str = "mimo/wan_animate", max_side: int = 832,
                        frame_stride: int = 1, length: int = 77, width: int = 832, height: int = 480) -> dict:
    """The MIMO preprocessing feeding ComfyUI's native Wan 2.2 Animate (see :data:`WAN_NOTE`)."""
    graph = _analyse(video, max_side, frame_stride, length)
    graph.update({
        "20": {"class_type": "LoadImage", "inputs": {"image": character}},
        "21": {"class_type": "MimoPrepareReference", "inputs": {
            "image": ["20", 0], "width": width, "height": height, "margin": 0.1, "background": "white"}},
        "50": {"class_type": "UNETLoader", "inputs": {
            "unet_name": "wan2.2_animate_14B_bf16.safetensors", "weight_dtype": "default"}},
        "51": {"class_type": "CLIPLoader", "inputs": {
            "clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan", "device": "default"}},
        "52": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
        "53": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "clip_vision_h.safetensors"}},
        "54": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["53", 0], "image": ["21", 0], "crop": "none"}},
        "55": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["51", 0], "text": "a person moving naturally, high quality video"}},
        "56": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["51", 0], "text": "blurry, distorted, low quality, static"}},
        "57": {"class_type": "WanAnimateToVideo", "inputs": {
            "positive": ["55", 0], "negative": ["56", 0], "vae": ["52", 0], "width": width, "height": height,
            "length": length, "batch_size": 1, "clip_vision_output": ["54", 0], "reference_image": ["21", 0],
            "pose_video": ["4", 0], "continue_motion_max_frames": 5, "background_video": ["6", 0],
            "character_mask": ["5", 2], "video_frame_offset": 0}},
        "58": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["50", 0], "shift": 8.0}},
        "59": {"class_type": "KSampler", "inputs": {
            "model": ["58", 0], "seed": 0, "steps": 20, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["57", 0], "negative": ["57", 1], "latent_image": ["57", 2], "denoise": 1.0}},
        "60": {"class_type": "TrimVideoLatent", "inputs": {"samples": ["59", 0], "trim_amount": ["57", 3]}},
        "61": {"class_type": "VAEDecode", "inputs": {"samples": ["60", 0], "vae": ["52", 0]}},
        "62": {"class_type": "ImageFromBatch", "inputs": {"image": ["61", 0], "batch_index": ["57", 4], "length": 4096}},
    })
    _add_video_output(graph, "63", "64", ["62", 0], ["1", 1], f"{prefix}_result")
    return graph


# file name -> (title shown in the template browser, builder with the sample inputs)
WORKFLOWS = {
    "mimo_preprocess_preview": (
        "MIMO: person tracking and layer preview",
        lambda: preprocess_preview("demo.mp4", prefix="mimo/preprocess"),
    ),
    "mimo_character_replacement": (
        "MIMO: replace the person in a video with a character",
        lambda: character_replacement("demo.mp4", "astronaut.png", ref_size=(64, 64), generate_scale=0.125),
    ),
    "mimo_animate_new_scene": (
        "MIMO: animate a character with a video's motion in a new scene",
        lambda: animate_in_new_scene("demo.mp4", "astronaut.png", "mimo_scene.png"),
    ),
    "mimo_scene_swap": (
        "MIMO: the motion of one video in another video's scene",
        lambda: scene_swap("demo.mp4", "demo.mp4", "astronaut.png", scene_start=60),
    ),
    "mimo_wan_animate": (
        "MIMO layers and pose into Wan 2.2 Animate (needs the Wan 2.2 Animate models)",
        lambda: wan_animate_interop("demo.mp4", "astronaut.png"),
    ),
}

# file name -> text of a note shown in the workflow (UI format only)
NOTES = {"mimo_wan_animate": WAN_NOTE}

# workflows checked against the server's node definitions only (their models cannot be made tiny)
VALIDATE_ONLY = {"mimo_wan_animate"}
