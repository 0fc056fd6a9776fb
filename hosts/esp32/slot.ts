// The update slot of the default build: embedded:update. A build with OTAFLOW_SLOT=ota maps this
// module's specifier to slot-ota.ts instead (manifest_slot_ota.json).
export { openRunning, openSlot, readRunning } from "./slot-update";
