// MIMO node pack: layer viewer widget of "MIMO Layer Preview" (scrub frames, switch views).
import { el, keepEvents, previewUrl } from "./mimo_util.js";

const VIEW_ORDER = ["original", "person", "scene", "occlusion", "pose"];
const PLAY_FPS = 12;

export class LayerViewer {
  constructor() {
    this.entry = null;
    this.view = "original";
    this.frame = 0;
    this.cache = new Map(); // url -> preloaded Image
    this.timer = null;
    this.img = el("img.mimo-layer-image", { alt: "layer preview", draggable: false });
    this.empty = el("div.mimo-empty", {}, "Run the graph to see the layers.");
    this.stage = el("div.mimo-stage", {}, this.empty);
    this.buttons = el("div.mimo-row.mimo-views");
    this.slider = el("input.mimo-frame", { type: "range", min: 0, max: 0, value: 0, step: 1,
      oninput: () => this.show(Number(this.slider.value)) });
    this.play = el("button.mimo-btn.mimo-play", { type: "button", textContent: "▶", title: "Play / pause",
      onclick: () => this.togglePlay() });
    this.label = el("span.mimo-label", {}, "–");
    this.element = el("div.mimo-widget.mimo-layer-viewer", {}, this.stage, this.buttons,
      el("div.mimo-row", {}, this.play, this.slider, this.label));
    keepEvents(this.element);
  }

  /** entry: {subfolder, frames, views: {name: [file, ...]}} from the node's ui output. */
  setEntry(entry) {
    this.stopPlay();
    this.entry = entry;
    const views = VIEW_ORDER.filter((v) => entry.views?.[v]?.length);
    if (!views.includes(this.view)) this.view = views[0] ?? "original";
    this.buttons.replaceChildren(...views.map((v) => el("button.mimo-btn", {
      type: "button", textContent: v, dataset: { view: v }, onclick: () => this.setView(v),
    })));
    this.slider.max = String(Math.max(0, entry.frames - 1));
    this.frame = Math.min(this.frame, entry.frames - 1);
    this.preload();
    this.stage.replaceChildren(this.img);
    this.setView(this.view);
  }

  url(view, frame) {
    return previewUrl(this.entry.subfolder, this.entry.views[view][frame]);
  }

  /** Loads the current view first, then the others, so scrubbing never waits on the network. */
  preload() {
    const order = [this.view, ...Object.keys(this.entry.views).filter((v) => v !== this.view)];
    for (const view of order) {
      this.entry.views[view].forEach((_file, k) => {
        const url = this.url(view, k);
        if (!this.cache.has(url)) {
          const image = new Image();
          image.decoding = "async";
          image.src = url;
          this.cache.set(url, image);
        }
      });
    }
  }

  setView(view) {
    this.view = view;
    for (const b of this.buttons.children) b.classList.toggle("active", b.dataset.view === view);
    this.show(this.frame);
  }

  show(frame) {
    if (!this.entry) return;
    this.frame = Math.max(0, Math.min(frame, this.entry.frames - 1));
    this.slider.value = String(this.frame);
    const url = this.url(this.view, this.frame);
    this.img.src = this.cache.get(url)?.src ?? url;
    this.img.dataset.view = this.view;
    this.img.dataset.frame = String(this.frame);
    this.label.textContent = `${this.frame + 1} / ${this.entry.frames}`;
  }

  togglePlay() {
    if (this.timer) return this.stopPlay();
    if (!this.entry) return;
    this.play.textContent = "⏸";
    this.timer = setInterval(() => this.show((this.frame + 1) % this.entry.frames), 1000 / PLAY_FPS);
  }

  stopPlay() {
    clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = "▶";
  }

  dispose() {
    this.stopPlay();
    this.cache.clear();
  }
}
