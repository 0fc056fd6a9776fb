// Byte ranges of files through Moddable's File module (the slots and otadata of the Linux target).
import { Directory, File } from "file";

export function ensureDirectory(path: string): void {
  // Directory.create throws when the directory exists.
  try {
    Directory.create(path);
  } catch {
    // present already
  }
}

export function exists(path: string): boolean {
  return File.exists(path);
}

export function fileLength(path: string): number {
  if (!File.exists(path)) return 0;
  const file = new File(path);
  try {
    return file.length;
  } finally {
    file.close();
  }
}

/** Bytes at [offset, offset + length); fewer when the file is shorter. */
export function readBytes(path: string, offset: number, length: number): Uint8Array {
  if (!File.exists(path)) return new Uint8Array(0);
  const file = new File(path);
  try {
    const available = Math.max(0, Math.min(length, file.length - offset));
    if (available === 0) return new Uint8Array(0);
    file.position = offset;
    return new Uint8Array(file.read(ArrayBuffer, available));
  } finally {
    file.close();
  }
}

/** Writes at `offset`, creating the file when it does not exist. */
export function writeBytes(path: string, offset: number, data: Uint8Array): void {
  const file = new File(path, true);
  try {
    file.position = offset;
    file.write(data.slice().buffer as ArrayBuffer);
  } finally {
    file.close();
  }
}

export function readText(path: string): string | undefined {
  if (!File.exists(path)) return undefined;
  const file = new File(path);
  try {
    return file.read(String);
  } finally {
    file.close();
  }
}

/** Replaces the file's content atomically: written to a temporary file renamed over the old one. */
export function writeText(path: string, text: string): void {
  const temporary = path + ".new";
  if (File.exists(temporary)) File.delete(temporary);
  const file = new File(temporary, true);
  try {
    file.write(text);
  } finally {
    file.close();
  }
  // rename(2) with an absolute destination (the Linux File module passes it through).
  File.rename(temporary, path);
}
