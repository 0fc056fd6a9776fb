// The legacy ESP32 OTA module (build/devices/esp32/modules/ota/ota.{js,c}): no typing exists for
// it, neither in @moddable/typings nor in the SDK. The manifest maps this file to the "ota"
// specifier so that mcconfig's TypeScript pass finds it too.
//   constructor  esp_ota_begin(esp_ota_get_next_update_partition(NULL), OTA_WITH_SEQUENTIAL_WRITES):
//                options are ignored; sectors are erased as the writes reach them. Throws
//                "no update parition" [sic] or "begin failed".
//   write        esp_ota_write, append only: there is no offset, so a write can never resume at a
//                position written by an earlier OTA instance. Throws "write failed".
//   cancel       esp_ota_end and forget; idempotent. write and complete throw afterwards.
//   complete     esp_ota_end (validates the image) then esp_ota_set_boot_partition; does not
//                restart. Throws "bad state", "end failed", "can't change boot partition".
declare module "ota" {
  export default class OTA {
    constructor(options?: { byteLength?: number });
    write(data: ArrayBuffer | Uint8Array): void;
    cancel(): void;
    complete(): void;
  }
}
