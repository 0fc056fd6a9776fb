// ECMA-419 flash partitions (modules/io/flash/esp32/flash-esp32.{js,c}); not in @moddable/typings
// 5.6.0. Besides data partition labels, "running" (esp_ota_get_running_partition) and "nextota"
// (esp_ota_get_next_update_partition) name the app slots. eraseBlock takes block numbers (end
// exclusive), read and write byte offsets. Unlike the SDK's typing, status() on ESP32 returns only
// size, blockLength and blocks.
declare module "embedded:storage/flash" {
  export interface FlashOpenOptions {
    path: string;
    /** "r+" (read and write) unless "r" is given. */
    mode?: "r" | "r+";
  }

  export interface FlashStatus {
    size: number;
    blockLength: number;
    blocks: number;
    writeAlign?: number;
    eraseValue?: number;
  }

  export interface Flash {
    close(): void;
    eraseBlock(start: number, end?: number): void;
    read(byteLength: number, byteOffset: number): ArrayBuffer;
    read(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): number;
    write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void;
    status(): FlashStatus;
    format: "buffer";
  }

  const FlashStorage: {
    open(options: FlashOpenOptions): Flash;
  };
  export default FlashStorage;
}
