// MIMO node pack: small DOM and server helpers shared by the widgets (no extension here).
import { api } from "../../../scripts/api.js";

const STYLE_ID = "mimo-widgets-css";

/** Adds the pack's stylesheet once. */
export function ensureStyles() {
  if (document.getElementById(STYLE_ID)) return;
  const link = document.createElement("link");
  link.id = STYLE_ID;
  link.rel = "stylesheet";
  link.href = new URL("../mimo.css", import.meta.url).href;
  document.head.appendChild(link);
}

/** el("div.mimo-row", {title: "x"}, child, "text") -> HTMLElement */
export function el(tag, props = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const node = document.createElement(name);
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child != null) node.append(child);
  }
  return node;
}

/** URL of a preview file written by the pack's preview nodes (subfolder "mimo_preview/<run>"). */
export function previewUrl(subfolder, file) {
  const run = String(subfolder).split("/").pop();
  return api.apiURL(`/mimo/preview/${encodeURIComponent(run)}/${encodeURIComponent(file)}`);
}

/** JSON from a pack route; throws an Error with the server's message on failure. */
export async function fetchJson(route, init) {
  const res = await api.fetchApi(route, init);
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new Error(body?.error || `${route}: HTTP ${res.status}`);
  return body;
}

/** Keeps pointer and wheel events inside a widget so the canvas does not pan or zoom. */
export function keepEvents(element, types = ["pointerdown", "wheel", "contextmenu"]) {
  for (const type of types) element.addEventListener(type, (e) => e.stopPropagation());
}
