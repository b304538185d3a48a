// MIMO node pack: frontend extension entry point. Adds the pack's widgets to its preview nodes
// and feeds them the nodes' outputs ("executed" events).
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { CharacterPicker } from "./mimo_character_picker.js";
import { LayerViewer } from "./mimo_layer_viewer.js";
import { MotionViewer } from "./mimo_motion_viewer.js";
import { ensureStyles } from "./mimo_util.js";

const EXTENSION_NAME = "mimo.video";

// node type -> how its widget is built and which ui output key feeds it
const WIDGETS = {
  MimoLayerPreview: { key: "mimo_layers", size: [380, 400], minHeight: 260, make: () => new LayerViewer() },
  MimoMotionPreview: { key: "mimo_motion", size: [380, 440], minHeight: 280, make: () => new MotionViewer() },
  MimoCharacter: { key: null, size: [320, 330], minHeight: 200, make: (node) => new CharacterPicker(node) },
};

function attachWidget(node, spec) {
  const widget = spec.make(node);
  node.addDOMWidget("mimo_viewer", "mimo_viewer", widget.element, {
    serialize: false,
    hideOnZoom: false,
    getMinHeight: () => spec.minHeight,
  });
  node.mimoWidget = widget;
  node.setSize([Math.max(node.size[0], spec.size[0]), Math.max(node.size[1], spec.size[1])]);
  const onRemoved = node.onRemoved;
  node.onRemoved = function (...args) {
    widget.dispose?.();
    return onRemoved?.apply(this, args);
  };
  if (widget instanceof CharacterPicker) {
    widget.refresh();
    // Files dropped anywhere on the node go to the picker.
    node.onDragOver = (e) => Boolean(e?.dataTransfer?.types?.includes("Files"));
    node.onDragDrop = (e) => {
      const file = e?.dataTransfer?.files?.[0];
      if (!file || !file.type.startsWith("image/")) return false;
      widget.upload(file);
      return true;
    };
  }
}

function findNode(id) {
  const graph = app.graph;
  if (!graph || id == null) return null;
  return graph.getNodeById(id) ?? graph.getNodeById(Number(String(id).split(":").pop()));
}

function onExecuted(event) {
  const { node: id, display_node: displayId, output } = event.detail ?? {};
  const node = findNode(displayId ?? id);
  const spec = node && WIDGETS[node.comfyClass];
  const entries = spec?.key && output?.[spec.key];
  if (!entries?.length || !node.mimoWidget) return;
  node.mimoWidget.setEntry(entries[entries.length - 1]);
}

app.registerExtension({
  name: EXTENSION_NAME,
  async setup() {
    ensureStyles();
    api.addEventListener("executed", onExecuted);
    console.debug(`[MIMO] extension ${EXTENSION_NAME} ready`);
  },
  async nodeCreated(node) {
    const spec = WIDGETS[node.comfyClass];
    if (spec) attachWidget(node, spec);
  },
});
