"""Render settings of the official MIMO release's "sdc" pose condition.

Read from ``video_decomp/hmr2/utils/renderer.py`` of github.com/menyifang/MIMO
(commit 89c430f; the stored copy read was its ``.ipynb_checkpoints``
``renderer-checkpoint.py`` twin, the file itself was not in the index), method
``Renderer.render_rgba_multiple``, plus the pyrender 0.1.45 defaults it relies
on. The sdc renderer of this pack must reproduce these to match what the
released weights were trained on. Values marked "pyrender default" are not set
by the release itself.

Release facts:

* Per-vertex colours come from ``assets/sdc_info.npy`` (``np.load(...,
  allow_pickle=True).item()["smpl"]``), given to ``trimesh.Trimesh(...,
  vertex_colors=vc_smpl)``; the mesh is ``vertices + cam_t`` then rotated 180
  degrees about x (OpenCV camera space -> OpenGL), camera pose identity.
* ``pyrender.IntrinsicsCamera(fx=f, fy=f, cx=W/2, cy=H/2, zfar=1e12)`` where
  ``f`` is the ``focal_length`` argument (callers pass the HMR 2.0 full-image
  focal ``5000/256*max(W, H)``), otherwise ``EXTRA.FOCAL_LENGTH`` = 5000.
  ``render_res`` is ``[W, H]``.
* Scene ``bg_color=(*scene_bg_color, 0)`` with ``scene_bg_color=(0, 0, 0)`` by
  default, ``ambient_light=(1, 1, 1)``; all light nodes are commented out.
* ``renderer.render(scene, flags=RenderFlags.FLAT)``: the flat shader outputs
  ``clamp(base_color_factor * vertex_colour, 0, 1)`` with no lighting, returned
  as RGB uint8 (no RGBA flag, so no alpha channel). Vertex colours are
  interpolated across each triangle (``from_trimesh`` default ``smooth=True``).
* pyrender default: ``Mesh.from_trimesh`` without a material uses
  ``MetallicRoughnessMaterial(alphaMode="BLEND", baseColorFactor=[0.3, 0.3,
  0.3, 1.0], metallicFactor=0.2, roughnessFactor=0.8)``, and the flat shader
  multiplies by that factor: an sdc pixel is 0.3 x the table colour. (A colour
  table recovered from an official ``sdc.mp4`` already includes this factor.)
* pyrender defaults: back faces are culled (``doubleSided=False``), depth test
  ``GL_LESS``, 4x MSAA resolved by a linear blit (anti-aliased silhouettes and
  colour edges), ``znear=0.05``.
* Projection: OpenCV pinhole ``u = f x / z + W/2`` in corner-origin pixel
  coordinates with pixel centres at +0.5 (the OpenGL rule), i.e. exactly the
  convention of :mod:`mimo_core.raster.camera`.
"""

from __future__ import annotations

# Camera
SDC_CROP_FOCAL_LENGTH = 5000.0  # EXTRA.FOCAL_LENGTH, the crop-model focal (pixels at 256 px)
SDC_CROP_IMAGE_SIZE = 256  # MODEL.IMAGE_SIZE; full-image focal = 5000 / 256 * max(W, H)
SDC_PRINCIPAL_POINT = "centre"  # cx = W / 2, cy = H / 2
SDC_ZNEAR = 0.05  # pyrender default for IntrinsicsCamera
SDC_ZFAR = 1e12  # set by the release

# Scene and shading
SDC_BACKGROUND_RGB = (0.0, 0.0, 0.0)  # scene_bg_color default, alpha 0
SDC_AMBIENT_LIGHT = (1.0, 1.0, 1.0)
SDC_USE_LIGHTS = False  # light nodes commented out in render_rgba_multiple
SDC_FLAT_SHADING = True  # RenderFlags.FLAT: unlit vertex colours
SDC_SMOOTH_VERTEX_COLOURS = True  # colours interpolated over triangles (from_trimesh smooth=True)
SDC_BASE_COLOR_FACTOR = 0.3  # pyrender default material; multiplies the vertex colours
SDC_CULL_BACK_FACES = True  # pyrender default (material not double-sided)
SDC_MSAA_SAMPLES = 4  # pyrender offscreen framebuffer
SDC_OUTPUT_CHANNELS = 3  # RGB uint8, no alpha
SDC_COLOUR_TABLE_KEY = "smpl"  # key in assets/sdc_info.npy
