/**
 * keepalived's tracked files (trackers/track_file.c), the parts both its users share: the file's
 * text read as a number, and what FILE_CHECK (a real server's checker) makes of it. The VRRP side
 * (ha/vrrp-track.ts) weighs the same number into an instance's priority.
 */

/**
 * A track file's text as keepalived reads it: strtol(buf, NULL, 0) on the first 127 bytes (0 for
 * no digits or an empty or missing file); null when out of the 32-bit range (keepalived then keeps
 * the previous value).
 */
export function parseTrackFileValue(text: string | null): number | null {
  if (text === null) return 0;
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text.slice(0, 127));
  if (!m) return 0;
  const digits = m[2]!;
  const mag = /^0[xX]/.test(digits) ? Number.parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === '0' ? Number.parseInt(digits.slice(1), 8) : digits === '0' ? 0 : Number(digits);
  const v = m[1] === '-' ? -mag : mag;
  return v < -0x80000000 || v > 0x80000000 ? null : v;
}

/** A FILE_CHECK status that takes the real server down (keepalived's IPVS_WEIGHT_FAULT, INT_MIN). */
export const FILE_CHECK_FAULT = -0x80000000;

/**
 * FILE_CHECK's rule (update_track_file_status, process_update_checker_track_file_status): with
 * weight 0 a non-zero value takes the real server down (a zero one with `reverse`); otherwise
 * value x weight (negated by `reverse`), held in the 32-bit range, is added to the real server's
 * weight, and INT_MIN takes it down.
 */
export function fileCheckStatus(value: number, weight: number, reverse: boolean): number {
  if (weight === 0) return (value !== 0) === !reverse ? FILE_CHECK_FAULT : 0;
  return Math.max(FILE_CHECK_FAULT, Math.min(0x7fffffff, value * weight * (reverse ? -1 : 1)));
}
