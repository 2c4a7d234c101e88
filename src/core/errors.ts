/**
 * One error base with stable codes (as undici's errors.js): every error tsvs throws across a
 * boundary (command line, control API, control socket, daemon client, simulator input, system
 * calls, the kernel fast path) is a TsvsError whose `code` is one of ERROR_CODES, so callers
 * test `e instanceof TsvsError` and switch on `e.code`, never on message text. Texts may
 * improve; codes do not change. docs/ERRORS.md lists every code (a test holds the two equal).
 *
 * Failed health checks, config diagnostics, engine answers (Errno) and packet drops are values,
 * not errors: they have their own codes, listed on the same page.
 */

/** Every code, with the family (subclass) that carries it. */
export const ERROR_CODES = {
  // Control API: the `error.code` of a refused request (docs/CONTROL-API.md).
  EBADREQ: 'ControlError',
  EVERSION: 'ControlError',
  EUNKNOWNOP: 'ControlError',
  ETOOBIG: 'ControlError',
  EBUSY: 'ControlError',
  EMFILE: 'ControlError',
  ERELOAD: 'ControlError',
  EINTERNAL: 'ControlError',
  // A drain request refused (src/daemon/drain.ts): no such service (ESRCH) or real server
  // (ENOENT), one already draining (EEXIST), a bad timeout (EINVAL), no such drain (ENOTFOUND).
  ESRCH: 'ControlError',
  ENOENT: 'ControlError',
  EEXIST: 'ControlError',
  EINVAL: 'ControlError',
  ENOTFOUND: 'ControlError',
  ENOBGP: 'ControlError',
  // The control socket's path, checked when the daemon starts.
  ENOTOURS: 'SocketPathError',
  EINUSE: 'SocketPathError',
  ENOTSOCK: 'SocketPathError',
  EMKDIR: 'SocketPathError',
  // A client (tsvsadm, tsvs status/reload) found no daemon answering on the socket.
  E_DAEMON_UNREACHABLE: 'DaemonUnreachable',
  // Bad input on a command line.
  E_USAGE: 'UsageError',
  // A daemon option (flag or --config KEY = VALUE line) with a bad value or in a bad combination.
  E_OPTION: 'OptionError',
  // The daemon refuses to start: its keepalived/ldirectord file has errors (E_CONFIG), or its
  // rules file or saved state cannot be read or applied (E_RULES).
  E_CONFIG: 'ConfigError',
  E_RULES: 'ConfigError',
  // A rules or trace line `tsvs simulate` cannot replay.
  E_SIM_INPUT: 'SimError',
  // A system call through the libc bindings failed (errno attached).
  E_SYS: 'SysError',
  // The kernel fast path could not be built, loaded or attached.
  E_FAST_PATH: 'FastPathError',
  // The BGP announcer (--bgp bird) cannot start: BIRD missing, refusing its configuration, no router id.
  E_BGP: 'AnnounceError',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class TsvsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Why a drain request was refused. */
export type DrainCode = 'ESRCH' | 'ENOENT' | 'EEXIST' | 'EINVAL' | 'ENOTFOUND';

/** A refused control API request; the server answers with its code (others become EINTERNAL). */
export class ControlError extends TsvsError {
  constructor(code: 'EBADREQ' | 'EVERSION' | 'EUNKNOWNOP' | 'ETOOBIG' | 'EBUSY' | 'EMFILE' | 'ERELOAD' | 'EINTERNAL' | 'ENOBGP' | DrainCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The control socket's path is not safe or not free (the daemon does not start). */
export class SocketPathError extends TsvsError {
  declare readonly code: 'ENOTOURS' | 'EINUSE' | 'ENOTSOCK' | 'EMKDIR';
  constructor(code: 'ENOTOURS' | 'EINUSE' | 'ENOTSOCK' | 'EMKDIR', message: string) {
    super(code, message);
  }
}

/** Nobody answered on the control socket; `errno` says how it failed (ENOENT, ECONNREFUSED, EACCES, ETIMEDOUT, EPROTO...). */
export class DaemonUnreachable extends TsvsError {
  constructor(readonly socketPath: string, readonly errno: string, message: string) {
    super('E_DAEMON_UNREACHABLE', message);
  }
}

/** Bad input on a command line: the command prints the message and exits 2. */
export class UsageError extends TsvsError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/**
 * A daemon option refused: a bad value, an option of the other forwarder, a bad --config line.
 * `key` names the option when one is to blame.
 */
export class OptionError extends TsvsError {
  constructor(readonly key: string | null, message: string) {
    super('E_OPTION', message);
  }
}

/** A configuration or rules file refused as a whole (nothing of it is applied). */
export class ConfigError extends TsvsError {
  constructor(code: 'E_CONFIG' | 'E_RULES', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A rules or trace line `tsvs simulate` cannot replay (lines before it were replayed). */
export class SimError extends TsvsError {
  constructor(readonly file: 'rules' | 'trace', readonly line: number, readonly what: string) {
    super('E_SIM_INPUT', `${file} line ${line}: ${what}`);
  }
}

/** A libc call failed: `call` as written, `errno`, and the system's text for it. */
export class SysError extends TsvsError {
  constructor(readonly call: string, readonly errno: number, strerror: string) {
    super('E_SYS', `${call}: ${strerror} (errno ${errno})`);
  }
}

/** The kernel fast path cannot be built, loaded or attached (auto mode falls back to user space). */
export class FastPathError extends TsvsError {
  constructor(message: string) {
    super('E_FAST_PATH', message);
  }
}

/** `tsvs daemon --bgp bird` cannot announce: BIRD cannot run or refuses its configuration, or no router id can be found. */
export class AnnounceError extends TsvsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BGP', message, options);
  }
}
