// MIMO node pack: character picker widget of "MIMO Character" (recent thumbnails, drop/upload,
// "Swap & run").
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { el, fetchJson, keepEvents } from "./mimo_util.js";

const ACCEPT = "image/png,image/jpeg,image/webp";

export class CharacterPicker {
  /** node: the MimoCharacter node; its "character" combo widget holds the selection. */
  constructor(node) {
    this.node = node;
    this.chosen = null;
    this.grid = el("div.mimo-grid", { title: "Drop a picture here to add a character" });
    this.file = el("input", { type: "file", accept: ACCEPT, style: "display:none",
      onchange: () => this.file.files[0] && this.upload(this.file.files[0]) });
    this.uploadButton = el("button.mimo-btn.mimo-upload", { type: "button", textContent: "Upload…",
      onclick: () => this.file.click() });
    this.runButton = el("button.mimo-btn.mimo-swap-run", { type: "button", textContent: "Swap & run",
      title: "Use the highlighted character and run the graph again", onclick: () => this.swapAndRun() });
    this.status = el("div.mimo-status");
    this.element = el("div.mimo-widget.mimo-character-picker", {}, this.grid,
      el("div.mimo-row", {}, this.uploadButton, this.runButton, this.file), this.status);
    keepEvents(this.element);
    this.bindDrop(this.grid);
  }

  get combo() {
    return this.node.widgets?.find((w) => w.name === "character");
  }

  bindDrop(target) {
    target.addEventListener("dragover", (e) => {
      if (!e.dataTransfer?.types?.includes("Files")) return;
      e.preventDefault();
      e.stopPropagation();
      target.classList.add("dragover");
    });
    target.addEventListener("dragleave", () => target.classList.remove("dragover"));
    target.addEventListener("drop", (e) => {
      target.classList.remove("dragover");
      const file = e.dataTransfer?.files?.[0];
      if (!file) return;
      e.preventDefault();
      e.stopPropagation();
      this.upload(file);
    });
  }

  say(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle("error", isError);
  }

  async refresh() {
    try {
      const { characters } = await fetchJson("/mimo/characters");
      const current = this.chosen ?? this.combo?.value;
      const values = this.combo?.options?.values;
      if (Array.isArray(values)) {
        for (const c of characters) if (!values.includes(c.name)) values.push(c.name);
      }
      this.grid.replaceChildren(...characters.map((c) => el("button.mimo-thumb", {
        type: "button", title: c.name, dataset: { name: c.name }, onclick: () => this.choose(c.name),
      }, el("img", { src: api.apiURL(c.thumb), alt: c.name, loading: "lazy", draggable: false }))));
      if (!characters.length) this.grid.append(el("div.mimo-empty", {}, "Drop or upload a character picture."));
      this.mark(current);
    } catch (err) {
      this.say(String(err.message || err), true);
    }
  }

  mark(name) {
    for (const t of this.grid.querySelectorAll(".mimo-thumb")) t.classList.toggle("selected", t.dataset.name === name);
  }

  choose(name) {
    this.chosen = name;
    this.mark(name);
    this.say(`${name} — "Swap & run" to use it`);
  }

  apply(name) {
    const combo = this.combo;
    if (!combo || !name) return false;
    const values = combo.options?.values;
    if (Array.isArray(values) && !values.includes(name)) values.unshift(name);
    combo.value = name;
    combo.callback?.(name);
    this.node.setDirtyCanvas?.(true, true);
    return true;
  }

  async upload(file) {
    this.say(`uploading ${file.name}…`);
    const body = new FormData();
    body.append("image", file, file.name);
    try {
      const saved = await fetchJson("/mimo/characters/upload", { method: "POST", body });
      this.chosen = saved.name;
      await this.refresh();
      this.say(`added ${saved.name} (${saved.width}×${saved.height}) — "Swap & run" to use it`);
    } catch (err) {
      this.say(`upload failed: ${err.message || err}`, true);
    }
  }

  async swapAndRun() {
    const name = this.chosen ?? this.combo?.value;
    if (!this.apply(name)) return this.say("pick or upload a character first", true);
    this.mark(name);
    this.say(`queued with ${name}`);
    try {
      await app.queuePrompt(0, 1);
    } catch (err) {
      this.say(`could not queue: ${err.message || err}`, true);
    }
  }
}
