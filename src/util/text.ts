// Layer: shared. Contract: text that came from the network is made safe to
// show on a terminal: control characters (C0, DEL, C1) and the Unicode
// bidirectional overrides are written as \xNN / \u{NNNN} escapes, so a made-up
// cluster name cannot move the cursor, recolour or reorder what is printed.

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu;

export function printable(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const n = c.codePointAt(0)!;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}
