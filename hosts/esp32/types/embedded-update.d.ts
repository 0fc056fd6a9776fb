// ECMA-419 style firmware update (modules/io/update/esp32/update-esp32.{js,c} in the Moddable
// SDK). @moddable/typings 5.6.0 has no typing for it; the SDK's own (typings/embedded/update.d.ts)
// arrived with 8.2. What the implementation does, per method:
//   open   esp_ota_begin on the partition; mode "a" (default) = OTA_WITH_SEQUENTIAL_WRITES, sectors
//          erased lazily, no offsets; mode "w" = esp_ota_begin(partition, byteLength) which erases
//          [0, byteLength rounded up to a sector) at once (the whole partition when byteLength is 0
//          or absent), then writes at any offset. Throws "partition not found", "read-only
//          partition", RangeError "invalid mode" / "invalid byteLength", "begin failed" (also when
//          the running app is still ESP_OTA_IMG_PENDING_VERIFY).
//   write  esp_ota_write (mode "a"; an offset throws "offset not allowed") or
//          esp_ota_write_with_offset (mode "w"; no erase). Throws "write failed", "already complete".
//   complete  esp_ota_end (validates the image) then esp_ota_set_boot_partition; does not restart.
//          Throws "end failed", "can't change boot partition", "already complete".
//   close  esp_ota_abort unless complete; idempotent. After close, write/complete throw.
declare module "embedded:update" {
  import type { Flash } from "embedded:storage/flash";

  export interface UpdateOpenOptions {
    /** A writable embedded:storage/flash instance, normally opened with path "nextota". */
    partition: Flash;
    mode?: "a" | "w";
    byteLength?: number;
  }

  export interface Updater {
    write(bytes: ArrayBuffer | ArrayBufferView): void;
    write(bytes: ArrayBuffer | ArrayBufferView, byteOffset: number): void;
    complete(): void;
    close(): void;
    format: "buffer";
  }

  const Update: {
    open(options: UpdateOpenOptions): Updater;
  };
  export default Update;
}
