// Layer: shared. Contract: every error the agent or CLI reports carries a stable
// `code` an operator or a script can match on; `message` is the one line a
// person reads. Kernel errors also carry errno/syscall/op for the log.

import { constants as osConstants } from 'node:os';

export type ErrorCode =
  | 'E_CONFIG' // invalid flag or config value
  | 'E_KEYFILE' // cluster key file missing, empty, short or too open
  | 'E_STATE' // state file unreadable or inconsistent
  | 'E_CIDR_MISMATCH' // configured CIDR differs from the persisted one
  | 'E_LOCKED' // another agent holds the state directory
  | 'E_INTERFACE' // physical interface missing or unusable
  | 'E_KERNEL' // a netlink request failed
  | 'E_KERNEL_SOCKET' // the netlink socket failed or timed out
  | 'E_EXHAUSTED' // no free address left in the overlay CIDR
  | 'E_CONFLICT' // a pinned overlay address is held by another host
  | 'E_CIDR_OVERLAP' // another cluster on the LAN uses an overlapping overlay CIDR
  | 'E_DUPLICATE_NODE_ID' // another host uses our node id
  | 'E_FORGOTTEN' // an operator released this host's address
  | 'E_FILTER' // the VXLAN ingress filter (nftables) could not be installed or updated
  | 'E_PACKET' // a discovery packet is too large to send, or malformed
  | 'E_PORT' // the discovery port is in use
  | 'E_NO_AGENT' // CLI: no agent answers on the run dir socket
  | 'E_CONTROL' // CLI: the agent answered something unexpected
  | 'E_NATIVE' // the native addon is missing or failed
  | 'E_INTERNAL'; // a bug: a value the agent built itself is invalid

export class EdgeError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EdgeError';
    this.code = code;
    this.details = details;
  }
}

/** A failed kernel operation: errno is positive (EEXIST = 17), op names what we asked. */
export class KernelError extends EdgeError {
  readonly errno: number;
  readonly syscall: string;
  readonly op: string;
  readonly errname: string;
  constructor(op: string, errno: number, errname: string, syscall = 'netlink') {
    super('E_KERNEL', `${op}: ${errname}`, { op, errno, errname, syscall });
    this.name = 'KernelError';
    this.errno = errno;
    this.errname = errname;
    this.syscall = syscall;
    this.op = op;
  }
}

let errnoNames: Map<number, string> | undefined;

/** "ENOENT" for 2; `errno N` for a number the platform does not name. */
export function errnoName(errno: number): string {
  if (!errnoNames) {
    errnoNames = new Map();
    // the first name wins where two share a number (EAGAIN before EWOULDBLOCK)
    for (const [name, n] of Object.entries(osConstants.errno)) if (!errnoNames.has(n)) errnoNames.set(n, name);
  }
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

export function isKernelErrno(err: unknown, ...names: string[]): boolean {
  return err instanceof KernelError && names.includes(err.errname);
}

/** The single line shown to a person; details go to the log. */
export function userMessage(err: unknown): string {
  if (err instanceof EdgeError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
