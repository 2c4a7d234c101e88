/**
 * Protocol state machines of the engine (spec §3.2-§3.3): the kernel's TCP state tables
 * (INPUT, OUTPUT, INPUT-ONLY), state names, default timeouts and which states are "active".
 * Pure data + tiny helpers; the engine keeps the per-connection state as a small integer.
 */

/** TCP state numbers as the kernel numbers them (IP_VS_TCP_S_*). */
export const TCP_S = {
  NONE: 0,
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT: 4,
  TIME_WAIT: 5,
  CLOSE: 6,
  CLOSE_WAIT: 7,
  LAST_ACK: 8,
  LISTEN: 9,
  SYNACK: 10,
} as const;

export const TCP_STATE_NAMES: readonly string[] = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT',
  'LAST_ACK', 'LISTEN', 'SYNACK',
];

/** Default TCP timeouts in seconds, indexed by state. ESTABLISHED and FIN_WAIT are settable (--set). */
export const TCP_DEFAULT_TIMEOUTS: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];

/** SYN_SENT, SYN_RECV, ESTABLISHED, SYNACK count in ActiveConn; every other state in InActConn. */
export const TCP_ACTIVE: readonly boolean[] = [false, true, true, true, false, false, false, false, false, false, true];

export const UDP_DEFAULT_TIMEOUT = 300;
/** A brand-new entry's timeout before its first state transition. */
export const NEW_CONN_TIMEOUT = 3;
/** Re-arm period of an entry that still controls others (templates). */
export const CONTROL_REARM = 60;

/** TCP flag bits as in the TCP header: the one definition (engine, codecs, forwarders, simulator). */
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

// Columns: NO ES SS SR FW TW CL CW LA LI SA (current state).
const NO = 0, ES = 1, SS = 2, SR = 3, FW = 4, TW = 5, CL = 6, CW = 7, LA = 8, LI = 9;

/** Rows: syn, fin, ack, rst. Table offsets: INPUT 0, OUTPUT 4, INPUT-ONLY 8 (as the kernel). */
const TABLE: readonly (readonly number[])[] = [
  // INPUT
  /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
  // OUTPUT
  /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
  /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  // INPUT-ONLY
  /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];
void NO;

/**
 * The kernel's tcp_states_dos, used while secure_tcp is on (sysctl secure_tcp 2, or 3): a
 * client's SYN with no reply yet leads to SYNACK only once the real server answered (OUTPUT syn
 * from SR), an ACK in SYN_RECV keeps it there (a flood's forged handshake ACK does not make an
 * entry ESTABLISHED, with its 900 s timeout), a FIN or ACK in SYNACK stays there, and an
 * INPUT-ONLY (direct routing, tunnel) SYN leads to SYNACK.
 */
const SA = 10;
const DOS_TABLE: readonly (readonly number[])[] = [
  // INPUT
  /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
  /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
  /* ack */ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
  // OUTPUT
  /* syn */ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
  /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  // INPUT-ONLY
  /* syn */ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
  /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/** Flat next-state tables: index = (tableOffset + flagClass) * 11 + state; the DoS table after the normal one. */
const FLAT = new Uint8Array(2 * 12 * 11);
for (let r = 0; r < 12; r++) {
  for (let s = 0; s < 11; s++) {
    FLAT[r * 11 + s] = TABLE[r]![s]!;
    FLAT[132 + r * 11 + s] = DOS_TABLE[r]![s]!;
  }
}

export const TCP_DIR = { INPUT: 0, OUTPUT: 4, INPUT_ONLY: 8 } as const;

/** Kernel tcp_state_idx: rst 3, syn 0, fin 1, ack 2, none -1 (priority in that order). */
export function tcpFlagClass(flags: number): number {
  if (flags & TCP_FLAG.RST) return 3;
  if (flags & TCP_FLAG.SYN) return 0;
  if (flags & TCP_FLAG.FIN) return 1;
  if (flags & TCP_FLAG.ACK) return 2;
  return -1;
}

/**
 * Next TCP state. A packet without any of SYN/FIN/ACK/RST moves to CLOSE (kernel default).
 * `secure`: the secure_tcp table (tcp_states_dos).
 */
export function tcpNextState(dirOffset: number, flags: number, state: number, secure = false): number {
  const c = tcpFlagClass(flags);
  if (c < 0) return CL;
  return FLAT[(secure ? 132 : 0) + (dirOffset + c) * 11 + state]!;
}

/** Protocol codes kept per connection (one byte). */
export const PROTO = { IP: 0, TCP: 1, UDP: 2, SCTP: 3 } as const;
export const PROTO_NAMES: readonly string[] = ['IP', 'TCP', 'UDP', 'SCTP'];
