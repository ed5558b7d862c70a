// Unit: agent/membership/relay.ts: who is introduced to whom across segments, only on first contact, bounded memory.
import { describe, expect, it } from 'vitest';
import { Relay } from '../../../src/agent/membership/relay.js';
import type { Outgoing } from '../../../src/agent/actions.js';
import { PeerTable } from '../../../src/peers/table.js';
import { parseIpv4 } from '../../../src/net/ipv4.js';
import type { AnnounceMsg } from '../../../src/wire/codec.js';
import { announceMsg, LAN } from '../../fakes/agent.js';

const ip = (s: string): number => parseIpv4(s)!;
const id = (n: number): string => n.toString(16).padStart(32, '0');

let seq = 0;
const msg = (nodeId: string, underlay: string): AnnounceMsg =>
  announceMsg({ nodeId, seq: ++seq, underlayIp: underlay === '' ? 0 : ip(underlay) });
const packetOf = (m: AnnounceMsg): Buffer => Buffer.from(`${m.nodeId}#${m.seq}`);

/** Membership's order: the peer table records the announcement, then the relay hears of it. */
function hear(peers: PeerTable, relay: Relay, nodeId: string, underlay: string): { out: Outgoing[]; packet: Buffer } {
  const m = msg(nodeId, underlay);
  const isNew = peers.observe(m, 0, 0).kind === 'new';
  const packet = packetOf(m);
  return { out: relay.onAnnounce(m, packet, isNew, LAN), packet };
}

const L1 = id(1);
const L2 = id(2);
const R1 = id(11);
const R2 = id(12);
const NEW = id(99);

describe('relay', () => {
  it('introduces a newcomer beyond the LAN: rebroadcast here, and sent the LAN peers\' latest announcements', () => {
    const peers = new PeerTable(20_000);
    const relay = new Relay(peers);
    hear(peers, relay, L1, '10.0.0.11');
    const l1Latest = hear(peers, relay, L1, '10.0.0.12').packet; // L1 moved: its newest announcement counts
    const l2 = hear(peers, relay, L2, '10.0.0.13').packet;
    hear(peers, relay, R1, '10.9.0.1');
    const { out, packet } = hear(peers, relay, NEW, '10.8.0.5');
    expect(out[0]).toEqual({ kind: 'relay', packet }); // broadcast on our LAN
    expect(out.slice(1)).toEqual(expect.arrayContaining([
      { kind: 'relay', packet: l1Latest, to: ip('10.8.0.5') },
      { kind: 'relay', packet: l2, to: ip('10.8.0.5') },
    ]));
    expect(out).toHaveLength(3); // nothing about R1, beyond the LAN itself
  });

  it('introduces a newcomer on the LAN to every peer beyond it, not to the LAN', () => {
    const peers = new PeerTable(20_000);
    const relay = new Relay(peers);
    hear(peers, relay, L1, '10.0.0.11');
    hear(peers, relay, R1, '10.9.0.1');
    hear(peers, relay, R2, '172.16.0.2');
    const { out, packet } = hear(peers, relay, NEW, '10.0.0.50');
    expect(out).toEqual(expect.arrayContaining([
      { kind: 'relay', packet, to: ip('10.9.0.1') },
      { kind: 'relay', packet, to: ip('172.16.0.2') },
    ]));
    expect(out).toHaveLength(2);
  });

  it('relays only on first contact', () => {
    const peers = new PeerTable(20_000);
    const relay = new Relay(peers);
    hear(peers, relay, L1, '10.0.0.11');
    expect(hear(peers, relay, R1, '10.9.0.1').out).toHaveLength(2);
    expect(hear(peers, relay, R1, '10.9.0.1').out).toEqual([]);
    expect(hear(peers, relay, R1, '10.9.0.2').out).toEqual([]); // even when it moved
  });

  it('introduces nobody without an IPv4 address, and sends nothing to peers without one', () => {
    const peers = new PeerTable(20_000);
    const relay = new Relay(peers);
    hear(peers, relay, R1, '');
    expect(hear(peers, relay, NEW, '').out).toEqual([]);
    expect(hear(peers, relay, L1, '10.0.0.11').out).toEqual([]); // R1 has no address to send to
  });

  it('sends a LAN peer\'s announcement only once it has one (not for peers known from the state file)', () => {
    const peers = new PeerTable(20_000);
    const relay = new Relay(peers);
    const loaded = new PeerTable(20_000);
    loaded.observe(msg(L1, '10.0.0.11'), 0, 0);
    peers.load(loaded.toPersisted());
    const { out, packet } = hear(peers, relay, NEW, '10.8.0.5');
    expect(out).toEqual([{ kind: 'relay', packet }]);
  });

  it('forgets a forgotten peer\'s announcement', () => {
    const peers = new PeerTable(20_000);
    const relay = new Relay(peers);
    hear(peers, relay, L1, '10.0.0.11');
    relay.forget(L1);
    const { out } = hear(peers, relay, NEW, '10.8.0.5');
    expect(out).toHaveLength(1); // the broadcast; L1's announcement is no longer there to send
  });

  it('remembers the latest announcement of at most 4096 nodes, the least recently heard going first', () => {
    const peers = new PeerTable(20_000);
    const relay = new Relay(peers);
    hear(peers, relay, L1, '10.0.0.11');
    hear(peers, relay, L2, '10.0.0.12');
    for (let i = 0; i < 4095; i++) {
      if (i === 2000) hear(peers, relay, L2, '10.0.0.12'); // heard again: L2 stays
      const m = msg(id(1000 + i), '10.7.0.1');
      relay.onAnnounce(m, packetOf(m), false, LAN); // others, heard (not new): only remembered
    }
    const { out } = hear(peers, relay, NEW, '10.8.0.5');
    const introduced: string[] = [];
    for (const o of out) {
      if (o.kind === 'relay' && o.to === ip('10.8.0.5')) introduced.push(o.packet.toString().split('#')[0]!);
    }
    expect(introduced).toEqual([L2]); // L1's announcement went first
  });
});
