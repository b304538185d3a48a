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
              ref_size: tuple[int, int] = (512, 768), crop_size: int | None = None, person_mask: list | None = None,
              occlusion: list | None = None, occlusion_mask: list | None = None) -> dict:
    """Prepare the reference, load the model, encode identity, generate.

    With ``crop_size`` every context window is generated on a square crop around the person (from
    ``person_mask``) at ``crop_size`` pixels and pasted back over the scene at the video's own size.
    ``occlusion`` / ``occlusion_mask``: the occluders (seen by 12-channel models, pasted on top).
    Ids ``first .. first+3``: 0 reference (image, mask), 1 pipeline, 2 identity, 3 generated frames.
    """
    r, lp, e, g = (str(first + k) for k in range(4))
    generate = {"pipeline": [lp, 0], "identity": [e, 0], "pose": pose, "scene": scene,
                "steps": steps, "cfg": 3.5, "seed": 0, "window": 24, "overlap": 4}
    if occlusion is not None:
        generate.update(occlusion=occlusion, occlusion_mask=occlusion_mask)
    if crop_size is not None:
        generate.update(person_crop=True, crop_size=crop_size)
        if person_mask is not None:
            generate["person_mask"] = person_mask
    return {
        r: {"class_type": "MimoPrepareReference", "inputs": {
            "image": reference_image, "width": ref_size[0], "height": ref_size[1], "margin": 0.1,
            "background": "white"}},
        lp: {"class_type": "MimoLoadPipeline", "inputs": {"model": model}},
        e: {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": [lp, 0], "reference": [r, 0]}},
        g: {"class_type": "MimoGenerate", "inputs": generate},
    }


def _paste_near_person(graph: dict, grow_id: str, paste_id: str, generated: list, scene: list,
                       silhouette: list, grow: int) -> list:
    """The generated frames inside the body silhouette grown by ``grow`` pixels, the scene elsewhere
    (so the background keeps the scene's own pixels and the character stays where the body is)."""
    graph[grow_id] = {"class_type": "GrowMask", "inputs": {"mask": silhouette, "expand": grow, "tapered_corners": True}}
    graph[paste_id] = {"class_type": "MimoCompositeLayer", "inputs": {
        "frames": scene, "layer": generated, "mask": [grow_id, 0]}}
    return [paste_id, 0]


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
                          ref_size: tuple[int, int] = (512, 768), crop_size: int = 768, paste_grow: int = 5) -> dict:
    """Replace the person in a video with the character of a picture: the video is split into
    person / scene / occlusion layers, the scene is inpainted, the character is animated with the
    person's 3D motion over that scene, and the occlusion layer is put back on top. Saves the result
    and a side-by-side video (input | person layer | pose condition | result).

    Generation runs on a square crop around the tracked person per context window, at ``crop_size``
    pixels (the model's own resolution), and is pasted back at the video's size; the generated
    character is kept inside the body silhouette grown by ``paste_grow`` pixels, the clean scene
    everywhere else, occluders on top."""
    graph = _analyse(video, max_side, frame_stride, max_frames)
    # ids: 1 video, 2 track, 3 motion, 4 pose, 5 layers, 6 scene
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": character}}
    pose, scene, occlusion, occlusion_mask = ["4", 0], ["6", 0], ["5", 3], ["5", 4]
    graph.update(_generate(21, ["20", 0], pose, scene, model, steps, ref_size, crop_size=crop_size,
                           person_mask=["2", 0], occlusion=occlusion, occlusion_mask=occlusion_mask))
    # 21 reference, 22 pipeline, 23 identity, 24 generated
    pasted = _paste_near_person(graph, "59", "60", ["24", 0], scene, ["4", 1], paste_grow)
    graph["25"] = {"class_type": "MimoCompositeLayer", "inputs": {
        "frames": pasted, "layer": occlusion, "mask": occlusion_mask}}
    _add_video_output(graph, "26", "27", ["25", 0], ["1", 1], f"{prefix}_result")
    graph["28"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["5", 1], "video_3": ["4", 0], "video_4": ["25", 0]}}
    _add_video_output(graph, "29", "30", ["28", 0], ["1", 1], f"{prefix}_side_by_side")
    return graph


def animate_in_new_scene(video: str, character: str, scene_image: str, model: str = DEFAULT_MODEL,
                         prefix: str = "mimo/animate", max_side: int = 512, frame_stride: int = 2,
                         max_frames: int = 48, steps: int = 25, ref_size: tuple[int, int] = (512, 768),
                         crop_size: int = 768, paste_grow: int = 5) -> dict:
    """Animate the character of a picture with the 3D motion taken from a video, in front of a new
    background picture (scaled and cropped to the video's size, held for every frame). Generation
    runs on a crop around the person at ``crop_size`` pixels; the character is pasted inside the body
    silhouette grown by ``paste_grow`` pixels, the background picture everywhere else."""
    graph = _analyse(video, max_side, frame_stride, max_frames)
    for unused in ("5", "6"):  # no layer split needed: the scene is new
        graph.pop(unused)
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": character}}
    graph["30"] = {"class_type": "LoadImage", "inputs": {"image": scene_image}}
    graph["31"] = {"class_type": "GetImageSize", "inputs": {"image": ["4", 0]}}
    graph["32"] = {"class_type": "ImageScale", "inputs": {
        "image": ["30", 0], "upscale_method": "bilinear", "width": ["31", 0], "height": ["31", 1], "crop": "center"}}
    graph["33"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["32", 0], "amount": ["1", 2]}}
    graph.update(_generate(21, ["20", 0], ["4", 0], ["33", 0], model, steps, ref_size, crop_size=crop_size,
                           person_mask=["2", 0]))
    result = _paste_near_person(graph, "35", "36", ["24", 0], ["33", 0], ["4", 1], paste_grow)
    _add_video_output(graph, "26", "27", result, ["1", 1], f"{prefix}_result")
    graph["28"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["4", 0], "video_3": result}}
    _add_video_output(graph, "29", "34", ["28", 0], ["1", 1], f"{prefix}_side_by_side")
    return graph


def scene_swap(motion_video: str, scene_video: str, character: str, model: str = DEFAULT_MODEL,
               prefix: str = "mimo/scene_swap",
               max_side: int = 512, frame_stride: int = 2, max_frames: int = 48, scene_start: int = 0,
               steps: int = 25, ref_size: tuple[int, int] = (512, 768), crop_size: int = 768,
               paste_grow: int = 5) -> dict:
    """Put the motion of one video into the scene of another: the 3D motion comes from the first
    video and drives the character of a picture (a portrait of that video's person keeps them); the
    second video's person is removed and its scene inpainted (read for as many frames as the first,
    scaled to its size). Generation runs on a crop around the person at ``crop_size`` pixels; the
    character is pasted inside the body silhouette grown by ``paste_grow`` pixels."""
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
    graph.update(_generate(21, ["20", 0], ["4", 0], ["32", 0], model, steps, ref_size, crop_size=crop_size,
                           person_mask=["2", 0]))
    result = _paste_near_person(graph, "35", "36", ["24", 0], ["32", 0], ["4", 1], paste_grow)
    _add_video_output(graph, "26", "27", result, ["1", 1], f"{prefix}_result")
    graph["28"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["40", 0], "video_3": ["4", 0], "video_4": result}}
    _add_video_output(graph, "29", "30", ["28", 0], ["1", 1], f"{prefix}_side_by_side")
    return graph


# the official release's files, under the names they are published with
OFFICIAL_MODEL = "mimo_official"
HMR2_CHECKPOINT = "epoch=35-step=1000000.ckpt"
SMPL_FILE = "SMPL_NEUTRAL.pkl"
SMPLH_FILE = "SMPLH_NEUTRAL.pkl"
SDC_TABLE = "sdc_info.npy"
PROPAINTER = "ProPainter.pth"


def official_sdc(video: str, character: str, model: str = OFFICIAL_MODEL, prefix: str = "mimo/official",
                 max_side: int = 768, frame_stride: int = 2, max_frames: int = 48, steps: int = 25,
                 ref_size: tuple[int, int] = (512, 768), crop_size: int = 768,
                 hmr2_checkpoint: str = HMR2_CHECKPOINT, smpl_file: str = SMPL_FILE, smplh_file: str = SMPLH_FILE,
                 colour_table: str = SDC_TABLE, propainter: str = PROPAINTER) -> dict:
    """Character replacement with the released MIMO weights (8-channel UNet: noisy latents + scene),
    conditioned the way they were trained: the person is tracked, their SMPL body estimated per frame
    with HMR 2.0, drawn as the sdc condition on the SMPL-H mesh (colour table from the release's
    ``sdc_info.npy``, fingers from MediaPipe, hands left out where none is found), the scene inpainted
    with ProPainter, each context window generated on a square crop around the person at ``crop_size``
    pixels and pasted back with a feathered edge, occluders on top. Saves the result and a side-by-side
    video (input | sdc condition | inpainted scene | result).

    Ids: 1 video, 2 track, 3 motion, 4 sdc (sdc, silhouette), 5 layers, 6 scene, 20 character,
    21 reference, 22 pipeline, 23 identity, 24 generated, 25 occluders on top."""
    graph = {
        "1": {"class_type": "MimoLoadVideo", "inputs": {
            "video": video, "max_side": max_side, "frame_stride": frame_stride,
            "max_frames": max_frames, "start_frame": 0}},
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MimoEstimateMotionHmr2", "inputs": {
            "frames": ["1", 0], "track": ["2", 1], "checkpoint": hmr2_checkpoint, "smpl_model": smpl_file,
            "batch_size": 8, "box_margin": 1.2, "fps": ["1", 1]}},
        "4": {"class_type": "MimoRenderSdc", "inputs": {
            "motion": ["3", 0], "colour_table": colour_table, "body_model_file": smplh_file, "table_key": "smpl",
            "width": 0, "height": 0, "frames": ["1", 0], "hands": "mediapipe",
            "missing_hands": "hide (as the release)"}},
        "5": {"class_type": "MimoSplitLayers", "inputs": {
            "frames": ["1", 0], "person_mask": ["2", 0], "body_silhouette": ["4", 1], "depth_margin": 0.05}},
        "6": {"class_type": "MimoInpaintSceneProPainter", "inputs": {
            "frames": ["5", 5], "holes": ["5", 6], "model": propainter, "dilate": 4, "neighbor_length": 10,
            "ref_stride": 10, "subvideo_length": 80, "raft_iters": 20}},
        "20": {"class_type": "LoadImage", "inputs": {"image": character}},
    }
    graph.update(_generate(21, ["20", 0], ["4", 0], ["6", 0], model, steps, ref_size, crop_size=crop_size,
                           person_mask=["2", 0]))
    graph["25"] = {"class_type": "MimoCompositeLayer", "inputs": {
        "frames": ["24", 0], "layer": ["5", 3], "mask": ["5", 4]}}
    _add_video_output(graph, "26", "27", ["25", 0], ["1", 1], f"{prefix}_result")
    graph["28"] = {"class_type": "MimoSideBySide", "inputs": {
        "video_1": ["1", 0], "video_2": ["4", 0], "video_3": ["6", 0], "video_4": ["25", 0]}}
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


# the shipped default model generates at 64 x 64 pixels: crops and reference at its size
DEFAULT_MODEL_SIZE = 64
CROP_NOTE = (
    "MIMO Generate works on a square crop around the person per context window (person_crop), at "
    "crop_size pixels, and pastes it back at the video's size. crop_size and the reference size are "
    "set for the shipped mimo-default model (64 pixels); for a full-size MIMO model set crop_size to "
    "768 and MIMO Prepare Reference to 512 x 768."
)
OFFICIAL_NOTE = (
    "The released MIMO weights (models/mimo/mimo_official: denoising_unet.pth, reference_unet.pth, "
    "pose_guider.pth, motion_module.pth with sd-vae-ft-mse, image_encoder and the SD1.5 unet/config.json "
    "beside them) on the condition they were trained on: the SMPL body from HMR 2.0 "
    "(models/hmr2/epoch=35-step=1000000.ckpt, models/body_models/SMPL_NEUTRAL.pkl) drawn as the sdc "
    "render on the SMPL-H mesh (models/body_models/SMPLH_NEUTRAL.pkl) with the release's colour table "
    "(models/body_models/sdc_info.npy, or one made by MIMO Recover SDC Table), fingers from MediaPipe; "
    "the scene inpainted with ProPainter (models/propainter). Generation on 768-pixel person crops, as "
    "released. The pack's tests run this graph with tiny random weights in these formats."
)

# file name -> (title shown in the template browser, builder with the sample inputs)
def reference_a_pose(character: str, model: str = DEFAULT_MODEL, prefix: str = "mimo/a_pose",
                     size: tuple[int, int] = (512, 768), steps: int = 25, body_model: str = "anny",
                     fill: float = 0.85) -> dict:
    """Redraw the character of a picture in MIMO's canonical A-pose with the model's own denoiser:
    the picture is cut out and encoded, the A-pose body is rendered as the model's pose condition,
    one frame is generated from both, on white at the reference's size (to encode with MIMO Encode
    Identity for MIMO Generate). Saves it and a side-by-side picture (picture | A-pose condition |
    redrawn).

    Ids: 1 picture, 2 reference, 3 pipeline, 4 identity, 5 A-pose motion, 6 its render, 7 redrawn,
    8 side by side."""
    width, height = size
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": character}},
        "2": {"class_type": "MimoPrepareReference", "inputs": {
            "image": ["1", 0], "width": width, "height": height, "margin": 0.1, "background": "white"}},
        "3": {"class_type": "MimoLoadPipeline", "inputs": {"model": model}},
        "4": {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": ["3", 0], "reference": ["2", 0]}},
        "5": {"class_type": "MimoAPoseMotion", "inputs": {
            "body_model": body_model, "width": width, "height": height, "arm_angle": 45.0, "fill": fill}},
        "6": {"class_type": "MimoRenderPose", "inputs": {"motion": ["5", 0], "mode": "parts", "width": 0, "height": 0}},
        "7": {"class_type": "MimoReposeReference", "inputs": {
            "pipeline": ["3", 0], "identity": ["4", 0], "pose": ["6", 0], "background": "white", "steps": steps,
            "cfg": 3.5, "seed": 0}},
        "8": {"class_type": "MimoSideBySide", "inputs": {"video_1": ["2", 0], "video_2": ["6", 0], "video_3": ["7", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": f"{prefix}_side_by_side"}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": f"{prefix}_reference"}},
    }


WORKFLOWS = {
    "mimo_preprocess_preview": (
        "MIMO: person tracking and layer preview",
        lambda: preprocess_preview("demo.mp4", prefix="mimo/preprocess"),
    ),
    "mimo_character_replacement": (
        "MIMO: replace the person in a video with a character",
        lambda: character_replacement("demo.mp4", "astronaut.png", ref_size=(DEFAULT_MODEL_SIZE,) * 2,
                                      crop_size=DEFAULT_MODEL_SIZE),
    ),
    "mimo_animate_new_scene": (
        "MIMO: animate a character with a video's motion in a new scene",
        lambda: animate_in_new_scene("demo.mp4", "astronaut.png", "mimo_scene.png",
                                     ref_size=(DEFAULT_MODEL_SIZE,) * 2, crop_size=DEFAULT_MODEL_SIZE),
    ),
    "mimo_scene_swap": (
        "MIMO: the motion of one video in another video's scene",
        lambda: scene_swap("demo.mp4", "demo.mp4", "astronaut.png", scene_start=60,
                           ref_size=(DEFAULT_MODEL_SIZE,) * 2, crop_size=DEFAULT_MODEL_SIZE),
    ),
    "mimo_reference_a_pose": (
        "MIMO: redraw a character picture in the canonical A-pose",
        lambda: reference_a_pose("astronaut.png", size=(DEFAULT_MODEL_SIZE,) * 2, fill=0.9),
    ),
    "mimo_official_sdc": (
        "MIMO: the released MIMO weights on the sdc condition (needs the official weights)",
        lambda: official_sdc("demo.mp4", "astronaut.png"),
    ),
    "mimo_wan_animate": (
        "MIMO layers and pose into Wan 2.2 Animate (needs the Wan 2.2 Animate models)",
        lambda: wan_animate_interop("demo.mp4", "astronaut.png"),
    ),
}

A_POSE_NOTE = (
    "The MIMO paper encodes the character from a canonical A-pose picture; the pack's models were trained "
    "on such pictures. This graph redraws a picture of the character in another pose in the A-pose with "
    "the model itself. It is meant for the full MIMO weights (use MIMO Render SDC Condition on an SMPL "
    "A-pose for them): the small mimo-default draws the pose but keeps little of the character "
    "(bench/bench_repose.py). Connect the redrawn reference to MIMO Encode Identity in a generation graph."
)

# file name -> text of a note shown in the workflow (UI format only)
NOTES = {
    "mimo_reference_a_pose": A_POSE_NOTE,
    "mimo_wan_animate": WAN_NOTE,
    "mimo_official_sdc": OFFICIAL_NOTE,
    "mimo_character_replacement": CROP_NOTE,
    "mimo_animate_new_scene": CROP_NOTE,
    "mimo_scene_swap": CROP_NOTE,
}

# workflows checked against the server's node definitions only (their models cannot be made tiny)
VALIDATE_ONLY = {"mimo_wan_animate"}

# workflows run end to end by a test of their own (they need tiny weights in other formats than the
# pack's): file name -> the test
OWN_RUN_TEST = {"mimo_official_sdc": "tests/server/test_official_workflow.py"}
