// Layer: doctor (the real host, built only by main). Contract: implements
// DoctorEnv with the netlink kernel, the native ethtool calls, the files
// systemd-networkd keeps under /run, `ip`/`nft`/`nmcli`/`ping` when they
// are installed, and a short UDP listen on the discovery port.

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { constants as osConstants } from 'node:os';
import { formatCidr } from '../net/ipv4.js';
import type { Kernel } from '../kernel/types.js';
import { ethtoolDriver, ethtoolFeatures, ethtoolSetFeatures } from '../native/addon.js';
import { decode } from '../wire/codec.js';
import type { Keyring } from '../wire/keyfile.js';
import type { AgentConfig } from '../agent/config.js';
import type { StatusReport } from '../agent/records/status.js';
import type { DoctorEnv } from './checks.js';

const PROBE_BRIDGE = 'eo-doctor-br';
const PROBE_VXLAN = 'eo-doctor-vx';

export const NETWORKD_DROPIN = '/etc/systemd/network/10-edge-overlay-unmanaged.network';
export const NM_DROPIN = '/etc/NetworkManager/conf.d/edge-overlay-unmanaged.conf';

export function networkdDropin(bridge: string, vxlan: string): string {
  return '# edge-overlay: systemd-networkd must leave the overlay devices alone\n'
    + `[Match]\nName=${bridge} ${vxlan}\n\n[Link]\nUnmanaged=yes\n`;
}

export function nmDropin(bridge: string, vxlan: string): string {
  return '# edge-overlay: NetworkManager must leave the overlay devices alone\n'
    + `[keyfile]\nunmanaged-devices=interface-name:${bridge};interface-name:${vxlan}\n`;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string } | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000 }, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') resolve(undefined);
      // as a shell says it
      else if (err?.signal) resolve({ code: 128 + (osConstants.signals[err.signal as NodeJS.Signals] ?? 0), stdout });
      else resolve({ code: err ? Number((err as { code?: number }).code) || 1 : 0, stdout });
    });
  });
}

/** `choice`: the interface to check and how it was found (doctor/choice.ts); default: the configured one. */
export function realDoctorEnv(
  cfg: AgentConfig, kernel: Kernel, keys: Keyring | undefined, status: StatusReport | undefined,
  choice: { iface: string | undefined; note?: string | undefined } = { iface: cfg.interface || undefined },
): DoctorEnv {
  let heard: Promise<{ ours: number; foreign: { name: string; cidr: string | null }[] }> | undefined;
  return {
    iface: choice.iface, ifaceNote: choice.note, bridge: cfg.bridge, vxlanDevice: cfg.vxlanDevice, cidr: cfg.cidr,
    vxlanPort: cfg.vxlanPort, status,
    link: (name) => kernel.linkByName(name),
    addrs: (index) => kernel.addrs(index),
    async ipv6(ifname) {
      const disabled = await kernel.ipv6Disabled(ifname).catch(() => true);
      const l = disabled ? undefined : await kernel.linkByName(ifname);
      return { disabled, addrs: l ? await kernel.addrs6(l.index) : [] };
    },
    async routes() {
      const r = await run('ip', ['-4', '-j', 'route', 'show', 'table', 'all']);
      if (!r || r.code !== 0) return [];
      return (JSON.parse(r.stdout) as { dst: string; dev?: string; type?: string }[])
        .filter((x) => x.dst !== 'default' && x.type !== 'broadcast')
        .map((x) => ({ dst: x.dst.includes('/') ? x.dst : `${x.dst}/32`, dev: x.dev ?? '' }));
    },
    async probeDevices(physIndex) {
      try {
        await kernel.createBridge(PROBE_BRIDGE, 1500, '02:00:5e:00:53:01');
        await kernel.createVxlan(PROBE_VXLAN, { vni: 16777215, port: 4789, link: physIndex, mtu: 1280 });
        return undefined;
      } catch (err) {
        return (err as Error).message;
      } finally {
        for (const n of [PROBE_VXLAN, PROBE_BRIDGE]) {
          const l = await kernel.linkByName(n).catch(() => undefined);
          if (l) await kernel.deleteLink(l.index).catch(() => undefined);
        }
      }
    },
    driver(ifname) {
      try { return ethtoolDriver(ifname); } catch { return undefined; }
    },
    features(ifname) {
      try { return ethtoolFeatures(ifname); } catch { return undefined; }
    },
    setFeatures: (ifname, names, on) => ethtoolSetFeatures(ifname, names, on),
    read(path) {
      try { return readFileSync(path, 'utf8'); } catch { return undefined; }
    },
    run,
    async installUnmanaged() {
      const done: string[] = [];
      for (const [path, text] of [
        [NETWORKD_DROPIN, networkdDropin(cfg.bridge, cfg.vxlanDevice)],
        [NM_DROPIN, nmDropin(cfg.bridge, cfg.vxlanDevice)],
      ] as const) {
        mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true });
        writeFileSync(path, text);
        done.push(path);
      }
      await run('networkctl', ['reload']);
      await run('nmcli', ['general', 'reload', 'conf']);
      return done;
    },
    listen(ms) {
      heard ??= new Promise((resolve) => {
        const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
        const result = { ours: 0, foreign: [] as { name: string; cidr: string | null }[] };
        sock.on('message', (pkt) => {
          const r = decode(pkt, cfg.cluster, keys ?? []);
          if (r.ok) result.ours++;
          else if (r.reason === 'bad-auth' && !keys) result.ours++; // our cluster's name, key unknown to us
          else if (r.reason === 'other-cluster' && r.cluster && !result.foreign.some((f) => f.name === r.cluster)) {
            result.foreign.push({ name: r.cluster, cidr: r.cidr ? formatCidr(r.cidr) : null });
          }
        });
        sock.on('error', () => resolve(result));
        sock.bind(cfg.discoveryPort, () => setTimeout(() => { sock.close(); resolve(result); }, ms));
      });
      return heard;
    },
    now: () => Date.now(),
  };
}
