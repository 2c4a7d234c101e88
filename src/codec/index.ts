/** Packet codecs and the pure forwarding step. See each module's header for details. */
export * from './checksum.ts';
export * from './ethernet.ts';
export * from './ip.ts';
export * from './frame.ts';
export * from './icmp.ts';
export * from './ipip.ts';
export * from './gue.ts';
export * from './gre.ts';
export * from './counters.ts';
export * from './forward.ts';
export * from './build.ts';
export * from './offload.ts';
