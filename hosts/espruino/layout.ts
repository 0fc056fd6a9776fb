// Where things live in Storage, shared by the boot file and the application. An application slot
// holds an ESP-IDF app image (header, app descriptor with version and project, XOR checksum,
// appended SHA-256) whose second segment is the application's JavaScript: the agent verifies it
// as it verifies any firmware image, and the boot file runs that segment.

export const SLOTS = ["otaflow.a", "otaflow.b"];
/** Boot state: which slot is confirmed, which one waits for its trial boot. */
export const BOOT_FILE = "otaflow.boot";
export const SETTINGS_FILE = "otaflow.json";

export interface BootState {
  confirmed: string;
  /** The slot to try on the next boot, once. */
  pending?: string;
  /** The pending slot has been booted once: if it is still pending, it never confirmed itself. */
  tried?: boolean;
}

/** What the boot file ran, as global.OTAFLOW_BOOT. */
export interface BootInfo {
  slot: string;
  state: "valid" | "pending-verify";
}

/** The globals the boot file and the application share. */
export function globals(): { OTAFLOW_BOOT?: BootInfo } {
  return global as unknown as { OTAFLOW_BOOT?: BootInfo };
}

const SEGMENTS_AT = 24;
const SEGMENT_HEADER = 8;

function u32(text: string, at: number): number {
  return (
    (text.charCodeAt(at) |
      (text.charCodeAt(at + 1) << 8) |
      (text.charCodeAt(at + 2) << 16) |
      (text.charCodeAt(at + 3) << 24)) >>>
    0
  );
}

/** Offset and length of the JavaScript segment (the second) of the image in `slot`. */
export function scriptOf(storage: EspruinoStorage, slot: string): { at: number; length: number } {
  const head = storage.read(slot, 0, SEGMENTS_AT + SEGMENT_HEADER);
  if (
    head === undefined ||
    head.length < SEGMENTS_AT + SEGMENT_HEADER ||
    head.charCodeAt(0) !== 0xe9
  )
    throw new Error(slot + " holds no application image");
  const second = SEGMENTS_AT + SEGMENT_HEADER + u32(head, SEGMENTS_AT + 4);
  const header = storage.read(slot, second, SEGMENT_HEADER);
  if (header === undefined || header.length < SEGMENT_HEADER)
    throw new Error(slot + " holds a truncated application image");
  return { at: second + SEGMENT_HEADER, length: u32(header, 4) };
}
