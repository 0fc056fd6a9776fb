/*
 * What the ESP-IDF OTA API knows about the running image and the slots, for the FFI bindings
 * declared in ../manifest.json ("ffi" section). Moddable wraps none of these (the SDK calls
 * neither esp_ota_get_state_partition nor the mark-valid/invalid functions), and FFI cannot return
 * an esp_partition_t*, so these helpers return plain values.
 */
#include <stdint.h>
#include "esp_ota_ops.h"
#include "esp_partition.h"

/* esp_ota_img_states_t of the running image (0 NEW, 1 PENDING_VERIFY, 2 VALID, 3 INVALID,
   4 ABORTED, -1 UNDEFINED), or -2 when otadata has no entry for it (factory app, or a board
   flashed over serial and never updated). */
int32_t otaflow_running_state(void)
{
	esp_ota_img_states_t state;
	if (ESP_OK != esp_ota_get_state_partition(esp_ota_get_running_partition(), &state))
		return -2;
	return (ESP_OTA_IMG_UNDEFINED == state) ? -1 : (int32_t)state;
}

/* Label of the partition the running image was booted from, e.g. "ota_0". The partition table
   entries live as long as the program, so the string is static. */
const char *otaflow_running_label(void)
{
	const esp_partition_t *running = esp_ota_get_running_partition();
	return running ? running->label : "";
}

/* Label of the slot esp_ota_get_next_update_partition gives, "" when there is none. */
const char *otaflow_next_label(void)
{
	const esp_partition_t *next = esp_ota_get_next_update_partition(NULL);
	return next ? next->label : "";
}
