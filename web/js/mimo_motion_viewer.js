// MIMO node pack: 3D motion viewer widget of "MIMO Motion Preview" (orbit, zoom, scrub, play).
import { MeshRenderer, parseMeshClip } from "./mimo_mesh.js";
import { el, keepEvents, previewUrl } from "./mimo_util.js";

export class MotionViewer {
  constructor() {
    this.renderer = null;
    this.frame = 0;
    this.timer = null;
    this.drag = null;
    this.canvas = el("canvas.mimo-motion-canvas");
    this.empty = el("div.mimo-empty", {}, "Run the graph to see the 3D motion.");
    this.stage = el("div.mimo-stage", {}, this.empty);
    this.slider = el("input.mimo-frame", { type: "range", min: 0, max: 0, value: 0, step: 1,
      oninput: () => this.show(Number(this.slider.value)) });
    this.play = el("button.mimo-btn.mimo-play", { type: "button", textContent: "▶", title: "Play / pause",
      onclick: () => this.togglePlay() });
    this.reset = el("button.mimo-btn", { type: "button", textContent: "⟲", title: "Camera view",
      onclick: () => { this.renderer?.resetView(); this.redraw(); } });
    this.label = el("span.mimo-label", {}, "–");
    this.status = el("div.mimo-status");
    this.element = el("div.mimo-widget.mimo-motion-viewer", {}, this.stage,
      el("div.mimo-row", {}, this.play, this.reset, this.slider, this.label), this.status);
    keepEvents(this.element);
    this.bindOrbit();
    new ResizeObserver(() => this.redraw()).observe(this.stage);
  }

  bindOrbit() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => {
      this.drag = { x: e.clientX, y: e.clientY };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      if (!this.drag || !this.renderer) return;
      this.renderer.yaw += (e.clientX - this.drag.x) * 0.01;
      this.renderer.pitch = Math.max(-1.5, Math.min(1.5, this.renderer.pitch + (e.clientY - this.drag.y) * 0.01));
      this.drag = { x: e.clientX, y: e.clientY };
      this.redraw();
    });
    const end = () => { this.drag = null; };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      if (!this.renderer) return;
      this.renderer.zoom = Math.max(0.2, Math.min(8, this.renderer.zoom * Math.exp(-e.deltaY * 0.001)));
      this.redraw();
    }, { passive: false });
  }

  /** entry: {subfolder, filename, frames, vertices, faces} from the node's ui output. */
  async setEntry(entry) {
    this.stopPlay();
    this.status.classList.remove("error");
    this.status.textContent = "loading motion…";
    try {
      const res = await fetch(previewUrl(entry.subfolder, entry.filename));
      if (!res.ok) throw new Error(`motion preview: HTTP ${res.status}`);
      const clip = parseMeshClip(await res.arrayBuffer());
      const old = this.renderer;
      this.renderer = new MeshRenderer(this.canvas, clip);
      if (old) Object.assign(this.renderer, { yaw: old.yaw, pitch: old.pitch, zoom: old.zoom });
      this.slider.max = String(clip.frames - 1);
      this.frame = Math.min(this.frame, clip.frames - 1);
      this.stage.replaceChildren(this.canvas);
      this.status.textContent = `${clip.frames} frames · ${clip.vertices} vertices · ${clip.faces.length / 3} triangles`;
      this.show(this.frame);
    } catch (err) {
      this.status.classList.add("error");
      this.status.textContent = String(err.message || err);
      console.error("[MIMO] motion viewer:", err);
    }
  }

  show(frame) {
    if (!this.renderer) return;
    const count = this.renderer.clip.frames;
    this.frame = Math.max(0, Math.min(frame, count - 1));
    this.slider.value = String(this.frame);
    this.label.textContent = `${this.frame + 1} / ${count}`;
    this.redraw();
  }

  redraw() {
    if (!this.renderer || !this.canvas.isConnected || this.canvas.clientWidth === 0) return;
    this.canvas.dataset.triangles = String(this.renderer.draw(this.frame));
    this.canvas.dataset.frame = String(this.frame);
  }

  togglePlay() {
    if (this.timer) return this.stopPlay();
    if (!this.renderer) return;
    const fps = Math.max(1, Math.min(30, this.renderer.clip.fps || 12));
    this.play.textContent = "⏸";
    this.timer = setInterval(() => this.show((this.frame + 1) % this.renderer.clip.frames), 1000 / fps);
  }

  stopPlay() {
    clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = "▶";
  }

  dispose() {
    this.stopPlay();
  }
}
