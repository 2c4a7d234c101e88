/**
 * Applies rtnetlink operations given as JSON (argv[2]: [{op, kind, spec}]) through
 * src/os/rtnetlink.ts, in the network namespace it is started in (`ip netns exec NS node ...`).
 * Prints one line per operation: "ok" or the error.
 */
import { NetlinkRoutes, type RtOp } from '../../src/os/rtnetlink.ts';

type Op = { op: RtOp; kind: 'address' | 'route' | 'rule'; spec: Record<string, unknown> };
const ops = JSON.parse(process.argv[2] ?? '[]') as Op[];
const nl = new NetlinkRoutes();
for (const o of ops) {
  try {
    const spec = o.kind === 'rule' && typeof o.spec['tunnelId'] === 'string' ? { ...o.spec, tunnelId: BigInt(o.spec['tunnelId']) } : o.spec;
    if (o.kind === 'address') nl.address(o.op, spec as never);
    else if (o.kind === 'route') nl.route(o.op, spec as never);
    else nl.rule(o.op, spec as never);
    console.log('ok');
  } catch (e) {
    console.log(`error ${(e as Error).message}`);
  }
}
nl.close();
