// The chips the simulator knows, with what ESP-IDF v6.0's bootloader needs of each: the chip id of
// the image header (esp_chip_id_t), the flash-mapped windows (soc.h SOC_IROM/DROM_LOW/HIGH), the
// RAM that segments may be loaded into (SOC_DRAM/IRAM/RTC_*), and the RAM the second-stage
// bootloader itself occupies (its bootloader.memory.ld.in: data, stack and the loader's IRAM), which
// esp_image_format.c's verify_load_addresses refuses to load over.

/** [low, high): a memory range, high exclusive as in soc.h. */
export type Range = [number, number];

export interface Chip {
  /** esptool's name: esp32, esp32s3, ... */
  name: string;
  /** esp_chip_id_t, compared with the image header's chip_id. */
  id: number;
  /** major * 100 + minor, compared with min_chip_rev_full / max_chip_rev_full. */
  revision: number;
  /**
   * ESP_IMAGE_MAX_FLASH_ADDR_SIZE: 16 MiB unless the chip maps flash with 32-bit addresses
   * (SOC_SPI_MEM_SUPPORT_CACHE_32BIT_ADDR_MAP).
   */
  maxPartitionSize: number;
  /** SOC_IROM_LOW/HIGH and SOC_DROM_LOW/HIGH: segments there are mapped through 64 KiB pages. */
  mapped: Range[];
  /** SOC_DRAM, SOC_IRAM and the RTC ranges: where a loaded segment may go. */
  loadable: Range[];
  /** RAM the bootloader runs in while it loads the app (data, stack, loader IRAM). */
  bootloaderRam: Range[];
  /**
   * SOC_MMU_PAGE_SIZE_CONFIGURABLE: verify_segment_header reads segment 0's app descriptor for
   * its mmu_page_size, so the descriptor magic is checked on these chips only.
   */
  checksDescriptorMagic: boolean;
  /** Where the ROM reads the second-stage bootloader (0x1000 on the ESP32 and S2, else 0). */
  bootloaderOffset: number;
  /** CONFIG_BOOTLOADER_APP_SEC_VER_SIZE_EFUSE_FIELD's maximum: bits of the secure_version eFuse. */
  secureVersionBits: number;
  /** Where the image tool puts the segments: DROM and IROM bases, DRAM and IRAM load addresses. */
  layout: { drom: number; irom: number; dram: number; iram: number };
}

const MiB = 0x100000;

export const ESP32: Chip = {
  name: "esp32",
  id: 0x0000,
  revision: 301,
  maxPartitionSize: 16 * MiB,
  mapped: [
    [0x400d0000, 0x40400000],
    [0x3f400000, 0x3f800000],
  ],
  loadable: [
    [0x3ffae000, 0x40000000],
    [0x40080000, 0x400aa000],
    [0x400c0000, 0x400c2000],
    [0x3ff80000, 0x3ff82000],
    [0x50000000, 0x50002000],
  ],
  // The ROM stack below 0x3FFE3F20 with the loader's 32 KiB headroom, and dram_seg 0x3FFF0000.
  bootloaderRam: [
    [0x3ffdc000, 0x3ffe4000],
    [0x3fff0000, 0x3fff6000],
  ],
  secureVersionBits: 32,
  checksDescriptorMagic: false,
  bootloaderOffset: 0x1000,
  layout: { drom: 0x3f400000, irom: 0x400d0000, dram: 0x3ffb0000, iram: 0x40080000 },
};

export const ESP32_S3: Chip = {
  name: "esp32s3",
  id: 0x0009,
  revision: 2,
  maxPartitionSize: 0xffffffff,
  mapped: [
    [0x42000000, 0x44000000],
    [0x3c000000, 0x3e000000],
  ],
  loadable: [
    [0x3fc88000, 0x3fd00000],
    [0x40370000, 0x403e0000],
    [0x600fe000, 0x60100000],
    [0x50000000, 0x50002000],
  ],
  // dram_seg from 0x3FCE2700, then the stack; iram_loader_seg at 0x403CB700.
  bootloaderRam: [
    [0x3fce2700, 0x3fd00000],
    [0x403cb700, 0x403e0000],
  ],
  secureVersionBits: 16,
  checksDescriptorMagic: false,
  bootloaderOffset: 0,
  layout: { drom: 0x3c000000, irom: 0x42000000, dram: 0x3fc90000, iram: 0x40374000 },
};

export const ESP32_C3: Chip = {
  name: "esp32c3",
  id: 0x0005,
  revision: 4,
  maxPartitionSize: 16 * MiB,
  mapped: [
    [0x42000000, 0x42800000],
    [0x3c000000, 0x3c800000],
  ],
  loadable: [
    [0x3fc80000, 0x3fce0000],
    [0x4037c000, 0x403e0000],
    [0x50000000, 0x50002000],
  ],
  bootloaderRam: [
    [0x3fcd5710, 0x3fce0000],
    [0x403ce710, 0x403e0000],
  ],
  secureVersionBits: 16,
  checksDescriptorMagic: false,
  bootloaderOffset: 0,
  layout: { drom: 0x3c000000, irom: 0x42000000, dram: 0x3fc88000, iram: 0x40380000 },
};

export const ESP32_C6: Chip = {
  name: "esp32c6",
  id: 0x000d,
  revision: 1,
  maxPartitionSize: 16 * MiB,
  // IROM and DROM share one window of 256 MMU pages.
  mapped: [[0x42000000, 0x43000000]],
  loadable: [
    [0x40800000, 0x40880000],
    [0x50000000, 0x50004000],
  ],
  bootloaderRam: [[0x4086e610, 0x40880000]],
  secureVersionBits: 16,
  checksDescriptorMagic: true,
  bootloaderOffset: 0,
  layout: { drom: 0x42800000, irom: 0x42000000, dram: 0x40810000, iram: 0x40800000 },
};

export const CHIPS: readonly Chip[] = [ESP32, ESP32_S3, ESP32_C3, ESP32_C6];

export function chipNamed(name: string): Chip {
  const chip = CHIPS.find((known) => known.name === name);
  if (!chip)
    throw new Error(
      `unknown chip "${name}": the simulator knows ${CHIPS.map((c) => c.name).join(", ")}`,
    );
  return chip;
}

export function chipWithId(id: number): Chip | undefined {
  return CHIPS.find((known) => known.id === id);
}

function inside(low: number, high: number, [a, b]: Range): boolean {
  return low >= a && high <= b;
}

function overlaps(low: number, high: number, [a, b]: Range): boolean {
  return low < b && a < high;
}

/**
 * verify_load_addresses for a segment the bootloader loads into RAM: the reason it refuses, or
 * undefined. The whole segment must lie in one RAM range, clear of the bootloader's own RAM.
 */
export function loadAddressProblem(chip: Chip, low: number, high: number): string | undefined {
  if (high === low) return undefined;
  if (!chip.loadable.some((range) => inside(low, high, range))) return "bad load address range";
  if (chip.bootloaderRam.some((range) => overlaps(low, high, range)))
    return "overlaps bootloader RAM";
  return undefined;
}

/** should_map: IROM and DROM are mapped from flash through the MMU, not loaded. */
export function isMapped(chip: Chip, address: number): boolean {
  return chip.mapped.some(([low, high]) => address >= low && address < high);
}
