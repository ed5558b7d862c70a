// Crash target for faults.test.ts: started ahead of time, it waits for a
// line on stdin (so the test can kill one writer and set the next loose at
// once), loads the state through the real store (which also clears temp
// files an earlier victim left), prints "ready", then saves new versions as
// fast as it can — each a few dozen KB, so a SIGKILL lands mid-write —
// printing each version's seqFloor once save() returned.
//   node state-writer.mjs STATE_DIR
import { once } from 'node:events';
import { StateStore, nodeStateFs } from '../../../dist/src/state/store.js';

await once(process.stdin, 'data');
const store = new StateStore(process.argv[2], nodeStateFs);
const loaded = store.load();
const hex = (i, n) => i.toString(16).padStart(n, '0');
let st = loaded?.state ?? {
  version: 1, nodeId: 'c'.repeat(32), cluster: 'crash', cidr: '100.64.192.0/24', overlayIp: '100.64.192.77',
  claimedAt: 1, heldMs: 0, seqFloor: 0,
  peers: Array.from({ length: 200 }, (_, i) => ({
    id: hex(i, 32), overlayIp: `100.64.192.${2 + (i % 250)}`, underlayIp: `10.1.${i >> 8}.${i & 255}`,
    mac: `02:00:00:00:${hex(i >> 8, 2)}:${hex(i & 255, 2)}`,
    claimedAt: 1, lastSeq: 1, lastSeenAt: 1, heldMs: 1,
  })),
};
process.stdout.write(`ready ${loaded?.fallback ? 'fallback' : 'clean'} ${st.seqFloor}\n`);
for (;;) {
  st = { ...st, seqFloor: st.seqFloor + 1, heldMs: st.heldMs + 1,
    peers: st.peers.map((p) => ({ ...p, lastSeq: p.lastSeq + 1 })) };
  store.save(st);
  process.stdout.write(`${st.seqFloor}\n`);
}
