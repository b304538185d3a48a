"""Model folders of the pack, registered with ComfyUI's folder_paths.

Each folder lives under ComfyUI's ``models/`` and can be extended through
``extra_model_paths.yaml`` like any native folder. Weights are never downloaded at run
time: a missing file raises an error naming the file and the folders searched.
"""

from __future__ import annotations

import os

import folder_paths

WEIGHT_EXTENSIONS = {".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".npy", ".npz", ".pkl"}

# folder name -> (sub-folder of models/, what goes there)
MODEL_FOLDERS: dict[str, tuple[str, str]] = {
    "mimo": ("mimo", "the pack's own models; official MIMO / Animate Anyone / Champ weight folders"),
    "body_models": ("body_models", "SMPL / SMPL-H model files (SMPL_NEUTRAL.pkl ...), sdc colour tables"),
    "depthanything": ("depthanything", "Depth Anything V2 (transformers folders or official .pth)"),
    "sam2": ("sam2", "SAM 2 / 2.1 checkpoints or transformers folders"),
    "hmr2": ("hmr2", "HMR 2.0 (4D-Humans) checkpoints"),
    "propainter": ("propainter", "ProPainter, recurrent flow completion and RAFT checkpoints"),
}


#: the pack's own ``models/`` folder: holds the shipped default model (``mimo-default``), listed as a 'mimo' model
PACK_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
EXTRA_PATHS: dict[str, list[str]] = {"mimo": [PACK_MODELS_DIR]}


def register_model_folders() -> None:
    """Add the pack's folders to folder_paths, keeping any paths already configured."""
    for name, (subdir, _what) in MODEL_FOLDERS.items():
        default = os.path.join(folder_paths.models_dir, subdir)
        wanted = [default] + [p for p in EXTRA_PATHS.get(name, []) if os.path.isdir(p)]
        if name in folder_paths.folder_names_and_paths:
            paths, exts = folder_paths.folder_names_and_paths[name]
            paths.extend(p for p in wanted if p not in paths)
            merged = set(exts) | WEIGHT_EXTENSIONS | {"folder"}
            folder_paths.folder_names_and_paths[name] = (paths, merged)
        else:
            folder_paths.folder_names_and_paths[name] = (wanted, WEIGHT_EXTENSIONS | {"folder"})


def list_entries(folder: str) -> list[str]:
    """Files and top-level sub-folders (for diffusers/transformers model folders) in ``folder``."""
    entries = set(folder_paths.get_filename_list(folder))
    for root in folder_paths.get_folder_paths(folder):
        if os.path.isdir(root):
            entries.update(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    return sorted(entries)


def resolve(folder: str, name: str) -> str:
    """Full path of ``name`` in ``folder``; raises FileNotFoundError naming where it was looked for."""
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        for root in folder_paths.get_folder_paths(folder):
            candidate = os.path.join(root, name)
            if os.path.isdir(candidate):
                return candidate
        searched = ", ".join(folder_paths.get_folder_paths(folder)) or "(no folder registered)"
        raise FileNotFoundError(
            f"model '{name}' was not found in the '{folder}' model folder (searched: {searched}). "
            f"Put the file there ({MODEL_FOLDERS.get(folder, ('', folder))[1]}) and refresh."
        )
    return path
