/** keepalived TCP_CHECK: the server is up when a TCP connection completes within connect_timeout. */
import type { Checker } from '../checker.ts';
import type { TcpCheckDef } from '../types.ts';
import { TcpSession, fail, ok, probeAddress, timeoutMs } from './util.ts';

export const tcpChecker: Checker<TcpCheckDef> = {
  kinds: ['TCP_CHECK'],
  async run(def, ctx) {
    const t0 = performance.now();
    const { host, port } = probeAddress(def, ctx.target);
    const s = new TcpSession({ host, port, bindto: def.bindto, bindPort: def.bind_port, deadlineMs: timeoutMs(def) });
    const connected = await s.connect();
    const f = s.failure;
    s.close();
    if (!connected) return fail(t0, f?.code ?? 'closed', f?.detail);
    return ok(t0);
  },
};
