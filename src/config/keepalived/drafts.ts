/**
 * Shapes the block parsers build before keepalived's completion, apart from the parsers so that
 * context.ts can name them without importing a parser (no import circle).
 */
import type { NotifyKeyword, SourcePos, VrrpAddress, VrrpTrack } from '../desired.ts';
import type { Tok } from '../kalex.ts';
import type { RouteSpec, RuleSpec } from '../../os/rtnl-codec.ts';

export type Notify = Partial<Record<NotifyKeyword, string>>;

export interface RouteLine {
  /** The line as written. */
  readonly text: string;
  readonly at: Tok;
  readonly dev?: string;
  /** The route (routes blocks) or rule (rules blocks) keepalived would set. */
  readonly route?: RouteSpec;
  readonly rule?: RuleSpec;
  /** Words keepalived reads and tsvs does not set: the caller says so at the line. */
  readonly notSet: readonly Tok[];
}

/** A vrrp_instance as read, before keepalived's completion (vrrp_complete_instance). */
export interface InstanceDraft {
  name: string;
  at: SourcePos;
  /** null: not given (keepalived derives it from the priority). */
  wantState: 'MASTER' | 'BACKUP' | null;
  interface?: string;
  interfaceTok?: Tok;
  vrid: number;
  /** 0: not given (keepalived derives it from the state). */
  basePriority: number;
  advertInt: number | null;
  /** 0: not given. */
  version: 0 | 2 | 3;
  family: 4 | 6 | null;
  nopreempt: boolean;
  preemptDelay: number;
  authType: 'PASS' | 'AH' | null;
  authPass: string;
  strictMode: boolean | null;
  unicastConfigured: boolean;
  saddrFromConfig: boolean;
  vip: VrrpAddress[];
  evip: VrrpAddress[];
  vroutes: RouteLine[];
  vrules: RouteLine[];
  unicastSrc?: string;
  mcastSrc?: string;
  /** mcast_dst_ip, where it was written (a unicast instance ignores it, saying so there). */
  mcastDst?: { addr: string; at: Tok };
  unicastPeer: string[];
  /** unicast_peer ADDR min_ttl N max_ttl M (keepalived: 0 and 255), checked with check_unicast_src. */
  unicastPeerTtl?: Record<string, { min: number; max: number }>;
  checkUnicastSrc?: boolean;
  trackInterface: (VrrpTrack & { at: Tok })[];
  trackScript: (VrrpTrack & { at: Tok })[];
  trackFile: { name: string; weight: number; reverse: boolean; at: Tok }[];
  notify: Notify;
  notifyUsers: Notify;
  garpMasterDelay?: number;
  /** undefined: not written (global_defs smtp_alert_vrrp / smtp_alert decide). */
  smtpAlert?: boolean;
  useVmac: boolean;
  /** use_vmac NAME / MAC (keepalived: 5 octets take the VRID as the sixth); vmac_xmit_base. */
  vmacName?: string;
  vmacMac?: number[];
  vmacXmitBase?: boolean;
  accept?: boolean;
  lvsSyncDaemonInterface?: string;
  dontTrackPrimary?: boolean;
}
