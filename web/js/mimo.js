// MIMO node pack: frontend extension entry point.
import { app } from "../../../scripts/app.js";

const EXTENSION_NAME = "mimo.video";

app.registerExtension({
  name: EXTENSION_NAME,
  async setup() {
    console.debug(`[MIMO] extension ${EXTENSION_NAME} ready`);
  },
});
