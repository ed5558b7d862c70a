// Layer: doctor (types). Contract: what a check reads the host through
// (DoctorEnv, faked in tests) and what it answers: ok / not ok, one line of
// detail and one of advice.

import type { StatusReport } from '../agent/records/status.js';
import type { Cidr } from '../net/ipv4.js';
import type { Addr, Addr6, Link } from '../kernel/types.js';
import type { EthtoolFeature } from '../native/addon.js';

export interface CheckResult {
  id: string;
  ok: boolean;
  detail: string;
  advice?: string;
  fixed?: boolean;
  /** not run: what it reads (the physical interface) is missing; counts as not ok */
  skipped?: boolean;
}

export const TUNNEL_OFFLOADS = ['tx-udp_tnl-segmentation', 'tx-udp_tnl-csum-segmentation'];

export interface DoctorEnv {
  /**
   * the physical interface to check; undefined: none configured and none the agent would choose (ifaceNote says
   * why)
   */
  iface: string | undefined;
  /** how the interface was found when the configuration names none (doctor/choice.ts) */
  ifaceNote?: string | undefined;
  bridge: string;
  vxlanDevice: string;
  cidr: Cidr;
  vxlanPort: number;
  /** the running agent's status, if one answers */
  status: StatusReport | undefined;
  link(name: string): Promise<Link | undefined>;
  addrs(index: number): Promise<Addr[]>;
  /** IPv6 on an interface: disabled (sysctl), and its addresses */
  ipv6(ifname: string): Promise<{ disabled: boolean; addrs: Addr6[] }>;
  /** every IPv4 route as "a.b.c.d/n" with its device */
  routes(): Promise<{ dst: string; dev: string }[]>;
  /** creates and deletes throwaway bridge and vxlan devices; the error text if it fails */
  probeDevices(physIndex: number): Promise<string | undefined>;
  driver(ifname: string): string | undefined;
  features(ifname: string): EthtoolFeature[] | undefined;
  setFeatures(ifname: string, names: string[], on: boolean): void;
  /** contents of a file, or undefined */
  read(path: string): string | undefined;
  /** runs a command; undefined if it is not installed */
  run(cmd: string, args: string[]): Promise<{ code: number; stdout: string } | undefined>;
  /** installs the drop-ins telling networkd / NetworkManager to leave our devices alone */
  installUnmanaged(): Promise<string[]>;
  /** listens for discovery packets for `ms` (only when no agent runs) */
  listen(ms: number): Promise<{ ours: number; foreign: { name: string; cidr: string | null }[] }>;
  now(): number;
}

export interface DoctorOptions {
  fix: boolean;
  /** switch the tunnel offloads off whatever the driver (same symptom on other NICs) */
  disableTunnelOffloads: boolean;
  listenMs: number;
}

export type Check = (env: DoctorEnv, opt: DoctorOptions) => Promise<CheckResult>;

/** What a check that reads the physical interface answers when there is none. */
export const notChecked = (id: string): CheckResult => ({
  id, ok: false, skipped: true, detail: 'not checked: no interface to check (see the interface check)',
});
