/**
 * Types of the ipvsadm 1.31 layer: what a command line parses into, failures with their exact
 * stderr text and exit code, list formats, and the injected name resolver.
 */
import type { Af, IpvsCommand, Protocol, ServiceKey } from '../core/types.ts';

/** What `-L` shows; mirrors ipvsadm's FMT_* flags. */
export interface ListFormat {
  readonly numeric: boolean;
  readonly stats: boolean;
  readonly rate: boolean;
  readonly thresholds: boolean;
  readonly persistentConn: boolean;
  readonly nosort: boolean;
  readonly exact: boolean;
  readonly tunInfo: boolean;
}

export type ListTarget =
  | { readonly what: 'all' }
  | { readonly what: 'service'; readonly key: ServiceKey }
  | { readonly what: 'connections' }
  | { readonly what: 'timeout' }
  | { readonly what: 'daemon' };

/** A successfully parsed ipvsadm command line. */
export type Invocation =
  | { readonly kind: 'apply'; readonly command: IpvsCommand }
  | { readonly kind: 'list'; readonly target: ListTarget; readonly format: ListFormat }
  | { readonly kind: 'save'; readonly numeric: boolean }
  | { readonly kind: 'restore' }
  /** `text` is exactly what ipvsadm prints to stdout (exit 0). */
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version'; readonly text: string };

/**
 * A command line ipvsadm rejects. `stderr` is byte for byte what ipvsadm writes, `message` the same
 * without the final newline. `exits` is false only for popt errors after the first option: ipvsadm
 * then returns -1 from process_options instead of exiting, which matters inside `-R` (processing
 * continues with the next line).
 */
export interface IpvsadmFailure {
  readonly kind: 'failure';
  readonly message: string;
  readonly stderr: string;
  readonly code: number;
  readonly exits: boolean;
}

export type ParseResult = Invocation | IpvsadmFailure;

export function isFailure(r: ParseResult): r is IpvsadmFailure {
  return r.kind === 'failure';
}

type Awaitable<T> = T | Promise<T>;

/**
 * Name resolution, injected. ipvsadm uses gethostbyaddr/getservbyport for listings (without -n) and
 * gethostbyname (IPv4 only)/getservbyname for arguments such as `-t www.example:http`.
 */
export interface Resolver {
  /** Reverse lookup: host name for an address, or null. */
  addrToHost(af: Af, addr: string): Awaitable<string | null>;
  /** /etc/services name for (port, proto), or null. */
  portToService(port: number, proto: Protocol): Awaitable<string | null>;
  /** Forward lookup, IPv4 only (gethostbyname AF_INET): dotted quad or null. */
  hostToAddr(name: string): Awaitable<string | null>;
  /** /etc/services port for (name or alias, proto), or null. */
  serviceToPort(name: string, proto: Protocol): Awaitable<number | null>;
}

/** The synchronous form the pure parser and renderers use (runIpvsadm pre-resolves into one). */
export interface SyncResolver {
  addrToHost(af: Af, addr: string): string | null;
  portToService(port: number, proto: Protocol): string | null;
  hostToAddr(name: string): string | null;
  serviceToPort(name: string, proto: Protocol): number | null;
}

/** Knows no names at all (what `-n` and a resolver-less setup behave like). */
export const numericResolver: SyncResolver = {
  addrToHost: () => null,
  portToService: () => null,
  hostToAddr: () => null,
  serviceToPort: () => null,
};
