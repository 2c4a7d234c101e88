/**
 * A listening Unix stream socket whose accepts the caller paces. Node's net.Server accepts
 * every pending connection in one turn of the event loop (1,000 simultaneous connects held the
 * daemon's loop 300-500 ms on a loaded 2-vCPU machine, and in packet mode that loop forwards);
 * here at most `perTurn` connections are accepted per readable event, the rest wait in the
 * kernel's backlog for the next turn (the descriptor is watched level-triggered).
 *
 * Out of descriptors (EMFILE/ENFILE) a pending client would make the loop spin; as HAProxy and
 * libuv do, one spare descriptor is kept: it is closed, the client accepted, handed to
 * `onExhausted` (which writes its refusal), closed 50 ms later, and the spare reopened; meanwhile
 * nothing is accepted (the others wait in the backlog), so each gets its answer in turn.
 */
import { sys, sysTcp, C, SysError, check, errno, watchReadable, type FdWatch } from './libc.ts';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const EMFILE = 24;
const ENFILE = 23;
const ECONNABORTED = 103;
const SUN_PATH_MAX = 108;
/** Out of descriptors: how long a client answered on the spare descriptor is held before it is closed. */
const EXHAUSTED_HOLD_MS = 50;

export interface UnixListenerOptions {
  readonly backlog: number;
  /** Connections accepted per turn of the event loop. */
  readonly perTurn: number;
  /** A new connection (a non-blocking, close-on-exec descriptor the callee now owns). */
  onConnection(fd: number): void;
  /** A connection accepted on the spare descriptor: write its answer synchronously (the listener closes it). */
  onExhausted(fd: number): void;
  /** accept4 failed otherwise (the listener keeps going). */
  onError(e: Error): void;
}

export interface UnixListener {
  readonly fd: number;
  close(): void;
}

function sockaddrUn(path: string): Buffer {
  const p = Buffer.from(path);
  if (p.length >= SUN_PATH_MAX) throw new Error(`socket path too long (${p.length} bytes, at most ${SUN_PATH_MAX - 1}): ${path}`);
  const b = Buffer.alloc(2 + p.length + 1);
  b.writeUInt16LE(AF_UNIX, 0);
  p.copy(b, 2);
  return b;
}

function openSpare(): number {
  return Number(sys.open('/dev/null', C.O_CLOEXEC | 0));
}

/** Binds and listens on `path` (which must not exist); the caller sets its mode. */
export function listenUnix(path: string, o: UnixListenerOptions): UnixListener {
  const fd = check('socket(AF_UNIX)', sys.socket(AF_UNIX, SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0));
  try {
    const addr = sockaddrUn(path);
    check(`bind(${path})`, sys.bind(fd, addr, addr.length));
    check('listen', sysTcp.listen(fd, o.backlog));
  } catch (e) {
    sys.close(fd);
    throw e;
  }
  let spare = openSpare();
  const flags = C.SOCK_NONBLOCK | C.SOCK_CLOEXEC;
  let watch: FdWatch | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  /** A client answered on the spare descriptor, closed when the pause ends. */
  let held = -1;
  const onReadable = (): void => {
    for (let i = 0; i < o.perTurn; i++) {
      const c = Number(sysTcp.accept4(fd, null, null, flags));
      if (c >= 0) {
        o.onConnection(c);
        continue;
      }
      const e = errno();
      if (e === C.EAGAIN || e === C.EINTR || e === ECONNABORTED) return;
      if (e === EMFILE || e === ENFILE) {
        if (spare >= 0) {
          sys.close(spare);
          spare = -1;
          const c2 = Number(sysTcp.accept4(fd, null, null, flags));
          if (c2 >= 0) {
            // The answer, then our FIN; the descriptor is kept a moment so that the client's
            // request lands in our buffer (not on a closed socket: EPIPE before it reads the line).
            o.onExhausted(c2);
            sysTcp.shutdown(c2, 1 /* SHUT_WR */);
            held = c2;
            pause(EXHAUSTED_HOLD_MS, () => {
              sys.close(c2);
              held = -1;
              spare = openSpare();
            });
            return;
          }
        }
        spare = openSpare();
        // Still no descriptor to spare: stop watching for a while rather than spin on the backlog.
        if (spare < 0) pause(100);
        return;
      }
      o.onError(new SysError(`accept4(${path})`, e, String(sys.strerror(e))));
      return;
    }
  };
  const pause = (ms: number, then?: () => void): void => {
    watch?.close();
    watch = null;
    retry = setTimeout(() => {
      retry = null;
      then?.();
      if (!closed) watch = watchReadable(fd, onReadable);
    }, ms);
  };
  watch = watchReadable(fd, onReadable);
  return {
    fd,
    close(): void {
      closed = true;
      if (retry) clearTimeout(retry);
      watch?.close();
      watch = null;
      sys.close(fd);
      if (spare >= 0) sys.close(spare);
      if (held >= 0) sys.close(held);
      spare = -1;
      held = -1;
    },
  };
}

/** Writes `data` to a descriptor without blocking (a short refusal into an empty socket buffer). */
export function writeNow(fd: number, data: Buffer): void {
  sys.send(fd, data, data.length, C.MSG_DONTWAIT | 0x4000 /* MSG_NOSIGNAL */);
}
