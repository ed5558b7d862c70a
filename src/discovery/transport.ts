// Layer: discovery seam. Contract: moves opaque packets on the underlay LAN.
// broadcast() leaves through the physical interface only; packets from any
// sender reach onPacket(); nothing here parses or trusts a packet. main
// builds the real one (discovery/lan.ts: a UDP and a raw L2 channel); tests
// use an in-memory LAN.

export interface Endpoint {
  /** IPv4 address or host name; "l2:<mac>" for a frame received by raw L2 (reply by broadcast) */
  address: string;
  port: number;
}

export const isL2 = (e: Endpoint): boolean => e.address.startsWith('l2:');

/** How one discovery channel is doing (status, metrics, doctor). */
export interface ChannelHealth {
  /** up: open and working; down: wanted but not working (`error` says why); off: not used on this host */
  state: 'up' | 'down' | 'off';
  error: string | null;
  /** wall-clock ms of the last packet received; null: none since the agent started */
  lastReceivedAt: number | null;
  received: number;
  sendErrors: number;
}

export interface TransportHealth {
  udp: ChannelHealth;
  raw: ChannelHealth;
}

export interface Transport {
  /** Limited broadcast (255.255.255.255) out of the physical interface. */
  broadcast(packet: Buffer): void;
  unicast(packet: Buffer, to: Endpoint): void;
  /**
   * The physical interface's current IPv4 address: broadcasts are sent from
   * it (which pins them to that interface). undefined while it has none;
   * sends are then dropped and counted.
   */
  setSource(address: string | undefined): void;
  /**
   * The physical interface's index (undefined while it is missing): raw L2
   * discovery frames go out of it and are received from it.
   */
  setLink(index: number | undefined): void;
  /** Can a broadcast leave right now (an IPv4 source, or raw L2 on a link)? */
  canBroadcast(): boolean;
  /** Each packet is a buffer of its own, never reused by the transport: the handler may keep it. */
  onPacket(handler: (packet: Buffer, from: Endpoint) => void): void;
  /** Each channel's state, last packet and errors. */
  health(): TransportHealth;
  close(): Promise<void>;
}
