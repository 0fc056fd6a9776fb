// "mc/ffi" as mcconfig generates it from hosts/esp32/manifest.json, with the native side played by
// the board: ESP-IDF's OTA state and rollback calls, and esp_restart.
import { call, halt } from "./board";

export default class FFI {
  esp_restart(): void {
    call("esp32.ffi", { name: "esp_restart" });
    halt("restart");
  }

  esp_ota_mark_app_valid_cancel_rollback(): number {
    return call<number>("esp32.ffi", { name: "esp_ota_mark_app_valid_cancel_rollback" });
  }

  /** Marks the image invalid and restarts: on the board it returns only when that is refused. */
  esp_ota_mark_app_invalid_rollback_and_reboot(): number {
    const error = call<number>("esp32.ffi", {
      name: "esp_ota_mark_app_invalid_rollback_and_reboot",
    });
    if (error === 0) {
      halt("restart");
      throw new Error("board halted (restart)");
    }
    return error;
  }

  otaflow_running_state(): number {
    return call<number>("esp32.ffi", { name: "otaflow_running_state" });
  }

  otaflow_running_label(): string {
    return call<string>("esp32.ffi", { name: "otaflow_running_label" });
  }

  otaflow_next_label(): string {
    return call<string>("esp32.ffi", { name: "otaflow_next_label" });
  }
}
