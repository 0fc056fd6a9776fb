// "mc/ffi" as mcconfig generates it (tools/ffi.js, mc.ffi.d.ts) from the "ffi" section of
// hosts/esp32/manifest.json. A real build uses the generated file; this copy of its shape lets
// the host be type-checked without the SDK. Keep the two in step.
declare module "mc/ffi" {
  export default class FFI {
    constructor();
    esp_restart(): void;
    esp_ota_mark_app_valid_cancel_rollback(): number;
    esp_ota_mark_app_invalid_rollback_and_reboot(): number;
    otaflow_running_state(): number;
    otaflow_running_label(): string;
    otaflow_next_label(): string;
  }
}
