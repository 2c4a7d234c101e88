/**
 * ldirectord checktype=connect: a TCP connect within checktimeout; for protocol=udp services a
 * datagram that draws no ICMP error (what a UDP "connect" can tell).
 */
import type { Checker } from '../checker.ts';
import type { LdConnectDef } from '../types.ts';
import { tcpChecker } from './tcp.ts';
import { udpProbe } from './udp.ts';
import { probeAddress, timeoutMs } from './util.ts';

export const connectChecker: Checker<LdConnectDef> = {
  kinds: ['connect'],
  run(def, ctx) {
    if (ctx.target.protocol === 'udp') {
      const { host, port } = probeAddress(def, ctx.target);
      return udpProbe({ host, port, bindto: def.bindto, bindPort: def.bind_port, payload: Buffer.alloc(0), wantReply: false, deadlineMs: timeoutMs(def) }, performance.now());
    }
    return tcpChecker.run({ ...def, type: 'TCP_CHECK', connect_timeout: def.connect_timeout ?? def.checktimeout }, ctx);
  },
};
