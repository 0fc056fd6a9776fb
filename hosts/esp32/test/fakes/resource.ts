// Moddable's Resource: files built into the app (here, handed over by the Node side).
import { bytesOf } from "./hex";
import { call } from "./board";

export default class Resource {
  constructor(name: string) {
    const bytes = bytesOf(call<string>("esp32.resource", { name }));
    return bytes.buffer as unknown as Resource;
  }

  static exists(name: string): boolean {
    return call<boolean>("esp32.resource.exists", { name });
  }
}
