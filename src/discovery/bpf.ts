// Layer: discovery (pure). Contract: the classic BPF program a raw discovery
// socket hands the kernel (SO_ATTACH_FILTER through the addon): frames whose
// Ethernet source is on the drop list are dropped before they are queued, so
// a flooding MAC costs us nothing and crowds no one out; every other frame is
// kept whole. Built fresh for each list (at most MAX_DROPPED_SOURCES MACs).

/** the longest drop list (a program of 4 instructions a MAC; jumps reach 255 ahead) */
export const MAX_DROPPED_SOURCES = 32;

const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_LD_H_ABS = 0x28; // BPF_LD | BPF_H | BPF_ABS
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K = 0x06; // BPF_RET | BPF_K
/** SKF_LL_OFF: the link-layer header, which a SOCK_DGRAM packet socket's filter sees only at negative offsets */
const LINK = -0x200000;
const SOURCE_MAC = 6;
const KEEP = 0xffffffff;

/** One `struct sock_filter` (host byte order, as the kernel reads it). */
function insn(code: number, jt: number, jf: number, k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b.writeUInt8(jt, 2);
  b.writeUInt8(jf, 3);
  b.writeUInt32LE(k >>> 0, 4);
  return b;
}

/** The program that drops frames from `macs` ("aa:bb:cc:dd:ee:ff"); empty: none (keep everything). */
export function dropSources(macs: readonly string[]): Buffer {
  if (macs.length > MAX_DROPPED_SOURCES) throw new RangeError(`at most ${MAX_DROPPED_SOURCES} sources`);
  if (macs.length === 0) return Buffer.alloc(0);
  const n = macs.length;
  const code: Buffer[] = [];
  macs.forEach((mac, i) => {
    const b = mac.split(':').map((x) => Number.parseInt(x, 16));
    if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255))) throw new RangeError(`not a MAC: ${mac}`);
    const hi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    const lo = (b[4]! << 8) | b[5]!;
    // block i starts at 4i; the drop instruction is at 4n + 1
    code.push(
      insn(BPF_LD_W_ABS, 0, 0, LINK + SOURCE_MAC),
      insn(BPF_JEQ_K, 0, 2, hi), // not it: the next block
      insn(BPF_LD_H_ABS, 0, 0, LINK + SOURCE_MAC + 4),
      insn(BPF_JEQ_K, 4 * (n - i) - 3, 0, lo),
    );
  });
  code.push(insn(BPF_RET_K, 0, 0, KEEP), insn(BPF_RET_K, 0, 0, 0));
  return Buffer.concat(code);
}
