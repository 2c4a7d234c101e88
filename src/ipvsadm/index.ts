/** ipvsadm 1.31 grammar, renderers and runner (public surface of src/ipvsadm). */
export { parseIpvsadm, DEFAULT_PERSISTENT_TIMEOUT } from './parse.ts';
export { runIpvsadm, parseRulesText, splitRuleLine, CachingResolver } from './run.ts';
export type { RunIo, RunResult } from './run.ts';
export {
  renderList, renderSave, renderConnections, renderTimeouts, renderDaemons, largenum,
  cmpServices, cmpDests, glibcSort, sortServices,
} from './render.ts';
export type { RenderOptions } from './render.ts';
export { usageText, versionText, tryHelpText, ipvsStrerror, commandErrorMessage } from './texts.ts';
export { numericResolver, isFailure } from './types.ts';
export type {
  Invocation, IpvsadmFailure, ParseResult, ListFormat, ListTarget, Resolver, SyncResolver,
} from './types.ts';
