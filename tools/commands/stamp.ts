/** A timestamp for readable logs: the UTC time of day, to the millisecond ("02:51:07.123"). */
export function stamp(): string {
  return new Date().toISOString().slice(11, 23);
}
