// mc/config: the app's settings, which the Node side of the test gives the board.
import { call } from "./board";

const config = call<Record<string, unknown>>("esp32.config");
export default config;
