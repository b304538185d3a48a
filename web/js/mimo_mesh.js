// MIMO node pack: the mesh clip format written by "MIMO Motion Preview" and a canvas-2D renderer
// (painter's algorithm: triangles sorted back to front, flat shading; the view follows the body). No extension here.

const MAGIC = "MIMOMSH1";
const HEADER_BYTES = 24;

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** ArrayBuffer -> {frames, vertices, faces: Uint32Array [F*3], positions: Float32Array [T*V*3], fps}. */
export function parseMeshClip(buffer) {
  if (buffer.byteLength < HEADER_BYTES) throw new Error("motion preview file is truncated");
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 8));
  if (magic !== MAGIC) throw new Error("not a MIMO motion preview file");
  const view = new DataView(buffer);
  const frames = view.getUint32(8, true);
  const vertices = view.getUint32(12, true);
  const faceCount = view.getUint32(16, true);
  const fps = view.getFloat32(20, true);
  const facesBytes = faceCount * 12;
  const expected = HEADER_BYTES + facesBytes + frames * vertices * 6;
  if (buffer.byteLength !== expected) throw new Error(`motion preview file has ${buffer.byteLength} bytes, expected ${expected}`);
  const faces = new Uint32Array(buffer.slice(HEADER_BYTES, HEADER_BYTES + facesBytes));
  const halves = new Uint16Array(buffer, HEADER_BYTES + facesBytes, frames * vertices * 3);
  const positions = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) positions[i] = halfToFloat(halves[i]);
  return { frames, vertices, faces, positions, fps };
}

/** Per-frame centres [T*3] and the largest per-frame half extent (the view follows the body). */
function frameBounds(clip) {
  const { frames, vertices, positions } = clip;
  const centres = new Float32Array(frames * 3);
  let radius = 1e-6;
  for (let t = 0; t < frames; t++) {
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    for (let i = t * vertices * 3; i < (t + 1) * vertices * 3; i += 3) {
      for (let k = 0; k < 3; k++) {
        const v = positions[i + k];
        if (v < lo[k]) lo[k] = v;
        if (v > hi[k]) hi[k] = v;
      }
    }
    for (let k = 0; k < 3; k++) {
      centres[3 * t + k] = (lo[k] + hi[k]) / 2;
      radius = Math.max(radius, (hi[k] - lo[k]) / 2);
    }
  }
  return { centres, radius };
}

export class MeshRenderer {
  constructor(canvas, clip) {
    this.canvas = canvas;
    this.clip = clip;
    this.yaw = 0;
    this.pitch = 0;
    this.zoom = 1;
    const { centres, radius } = frameBounds(clip);
    this.centres = centres;
    this.radius = radius;
    this.screen = new Float32Array(clip.vertices * 3);
    this.depth = new Float32Array(clip.faces.length / 3);
    this.shade = new Float32Array(clip.faces.length / 3);
    this.order = new Uint32Array(clip.faces.length / 3);
  }

  resetView() {
    this.yaw = 0;
    this.pitch = 0;
    this.zoom = 1;
  }

  /** Draws frame ``t``; returns the number of triangles drawn. */
  draw(t) {
    const { canvas, clip } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#15181d";
    ctx.fillRect(0, 0, w, h);
    // Camera frame (x right, y down, z forward) -> view (x right, y up, z towards the viewer), then orbit.
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    const scale = (0.45 * Math.min(w, h) * this.zoom) / this.radius;
    const ox = this.centres[3 * t], oy = this.centres[3 * t + 1], oz = this.centres[3 * t + 2];
    const base = t * clip.vertices * 3;
    const p = clip.positions, s = this.screen;
    for (let i = 0; i < clip.vertices; i++) {
      const x = p[base + 3 * i] - ox, y = -(p[base + 3 * i + 1] - oy), z = -(p[base + 3 * i + 2] - oz);
      const x1 = cy * x + sy * z, z1 = -sy * x + cy * z;
      const y2 = cp * y - sp * z1, z2 = sp * y + cp * z1;
      s[3 * i] = w / 2 + scale * x1;
      s[3 * i + 1] = h / 2 - scale * y2;
      s[3 * i + 2] = z2;
    }
    const f = clip.faces, n = this.depth.length;
    for (let k = 0; k < n; k++) {
      const a = 3 * f[3 * k], b = 3 * f[3 * k + 1], c = 3 * f[3 * k + 2];
      this.depth[k] = s[a + 2] + s[b + 2] + s[c + 2];
      // screen-space normal: (b - a) x (c - a), screen y points down
      const ux = s[b] - s[a], uy = s[a + 1] - s[b + 1], uz = (s[b + 2] - s[a + 2]) * scale;
      const vx = s[c] - s[a], vy = s[a + 1] - s[c + 1], vz = (s[c + 2] - s[a + 2]) * scale;
      const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
      const len = Math.hypot(nx, ny, nz) || 1;
      // light from the upper left, in front; two-sided
      this.shade[k] = 0.15 + 0.85 * Math.abs((-0.35 * nx + 0.55 * ny + 0.76 * nz) / len);
      this.order[k] = k;
    }
    this.order.sort((i, j) => this.depth[i] - this.depth[j]);
    ctx.lineJoin = "round";
    ctx.lineWidth = 0.6;
    for (let o = 0; o < n; o++) {
      const k = this.order[o];
      const a = 3 * f[3 * k], b = 3 * f[3 * k + 1], c = 3 * f[3 * k + 2];
      const l = this.shade[k];
      const colour = `rgb(${(120 + 110 * l) | 0},${(135 + 105 * l) | 0},${(160 + 95 * l) | 0})`;
      ctx.fillStyle = colour;
      ctx.strokeStyle = colour;
      ctx.beginPath();
      ctx.moveTo(s[a], s[a + 1]);
      ctx.lineTo(s[b], s[b + 1]);
      ctx.lineTo(s[c], s[c + 1]);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    return n;
  }
}
