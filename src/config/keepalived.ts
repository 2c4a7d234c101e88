/** keepalived.conf reader: see ./keepalived/ (one parser per block kind). */
export { parseKeepalived, type KeepalivedOptions } from './keepalived/index.ts';
export type { VrrpScriptConfig, VrrpSyncGroupConfig } from './desired.ts';
export type { CommonCheckOpts } from '../health/types.ts';
