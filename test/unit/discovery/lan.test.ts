// Unit: the real Transport's combination of a UDP and a raw L2 channel (discovery/lan.ts), with fake channels.
import { describe, expect, it } from 'vitest';
import { LanTransport } from '../../../src/discovery/lan.js';
import type { ChannelHealth, Endpoint } from '../../../src/discovery/transport.js';
import type { DatagramHandler, UdpLink } from '../../../src/discovery/udp.js';
import type { FrameHandler, RawLink } from '../../../src/discovery/raw.js';

const health = (over: Partial<ChannelHealth> = {}): ChannelHealth =>
  ({ state: 'up', error: null, lastReceivedAt: null, received: 0, sendErrors: 0, ...over });

class FakeUdp implements UdpLink {
  ready = false;
  handler: DatagramHandler | undefined;
  readonly sources: (string | undefined)[] = [];
  readonly broadcasts: string[] = [];
  readonly unicasts: { packet: string; to: Endpoint }[] = [];
  closed = false;
  /** close() has been called but has not finished */
  closing = false;
  report = health({ received: 3 });
  onPacket(handler: DatagramHandler): void { this.handler = handler; }
  setSource(address: string | undefined): void { this.sources.push(address); }
  broadcast(packet: Buffer): void { this.broadcasts.push(packet.toString()); }
  unicast(packet: Buffer, to: Endpoint): void { this.unicasts.push({ packet: packet.toString(), to }); }
  health(): ChannelHealth { return this.report; }
  async close(): Promise<void> {
    this.closing = true;
    await Promise.resolve();
    this.closed = true;
  }
}

class FakeRaw implements RawLink {
  ready = false;
  handler: FrameHandler | undefined;
  readonly links: (number | undefined)[] = [];
  readonly broadcasts: string[] = [];
  closed = false;
  report = health({ received: 5, sendErrors: 1 });
  onFrame(handler: FrameHandler): void { this.handler = handler; }
  setLink(index: number | undefined): void { this.links.push(index); }
  broadcast(packet: Buffer): void { this.broadcasts.push(packet.toString()); }
  health(): ChannelHealth { return this.report; }
  close(): void { this.closed = true; }
}

interface Rig {
  t: LanTransport;
  udp: FakeUdp;
  raw: FakeRaw;
  got: { packet: string; from: Endpoint }[];
}

function rig(withRaw = true): Rig {
  const udp = new FakeUdp();
  const raw = new FakeRaw();
  const t = new LanTransport(udp, withRaw ? raw : undefined);
  const got: { packet: string; from: Endpoint }[] = [];
  t.onPacket((packet, from) => got.push({ packet: packet.toString(), from }));
  return { t, udp, raw, got };
}

describe('LanTransport', () => {
  it('sends a broadcast on both channels, a unicast on UDP only', () => {
    const { t, udp, raw } = rig();
    t.broadcast(Buffer.from('hello'));
    expect(udp.broadcasts).toEqual(['hello']);
    expect(raw.broadcasts).toEqual(['hello']);
    t.unicast(Buffer.from('one'), { address: '192.0.2.7', port: 9477 });
    expect(udp.unicasts).toEqual([{ packet: 'one', to: { address: '192.0.2.7', port: 9477 } }]);
    expect(raw.broadcasts).toEqual(['hello']);
  });

  it('hands packets from both channels to one handler, raw frames as from "l2:<mac>"', () => {
    const { udp, raw, got } = rig();
    udp.handler!(Buffer.from('u'), { address: '10.0.0.7', port: 40000 });
    raw.handler!(Buffer.from('r'), '02:aa:bb:cc:dd:ee');
    expect(got).toEqual([
      { packet: 'u', from: { address: '10.0.0.7', port: 40000 } },
      { packet: 'r', from: { address: 'l2:02:aa:bb:cc:dd:ee', port: 0 } },
    ]);
  });

  it('gives the source address to UDP and the link to raw L2', () => {
    const { t, udp, raw } = rig();
    t.setSource('10.0.0.5');
    t.setSource(undefined);
    t.setLink(3);
    t.setLink(undefined);
    expect(udp.sources).toEqual(['10.0.0.5', undefined]);
    expect(raw.links).toEqual([3, undefined]);
  });

  it('can broadcast when either channel is ready', () => {
    const { t, udp, raw } = rig();
    expect(t.canBroadcast()).toBe(false);
    raw.ready = true;
    expect(t.canBroadcast()).toBe(true);
    raw.ready = false;
    udp.ready = true;
    expect(t.canBroadcast()).toBe(true);
  });

  it('reports both channels\' health', () => {
    const { t, udp, raw } = rig();
    raw.report = health({ state: 'down', error: 'ENETDOWN' });
    expect(t.health()).toEqual({ udp: udp.report, raw: raw.report });
  });

  it('closes both channels, and waits for UDP', async () => {
    const { t, udp, raw } = rig();
    const closing = t.close();
    expect(raw.closed).toBe(true);
    expect(udp.closing).toBe(true);
    expect(udp.closed).toBe(false);
    await closing;
    expect(udp.closed).toBe(true);
  });
});

describe('LanTransport without raw L2', () => {
  it('sends on UDP only, and can broadcast only when UDP is ready', async () => {
    const { t, udp, got } = rig(false);
    expect(t.canBroadcast()).toBe(false);
    udp.ready = true;
    expect(t.canBroadcast()).toBe(true);
    t.broadcast(Buffer.from('b'));
    expect(udp.broadcasts).toEqual(['b']);
    t.setLink(3); // nothing to point
    udp.handler!(Buffer.from('u'), { address: '10.0.0.7', port: 40000 });
    expect(got).toEqual([{ packet: 'u', from: { address: '10.0.0.7', port: 40000 } }]);
    await t.close();
    expect(udp.closed).toBe(true);
  });

  it('reports raw L2 as off', () => {
    const { t, udp } = rig(false);
    expect(t.health()).toEqual({
      udp: udp.report,
      raw: { state: 'off', error: 'raw L2 discovery is disabled', lastReceivedAt: null, received: 0, sendErrors: 0 },
    });
  });
});
