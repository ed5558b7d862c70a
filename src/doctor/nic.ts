// Layer: doctor (checks of the physical NIC and the bridge, policy only).
// Contract: as checks.ts — the overlay MTU and whether full frames cross, the
// UDP tunnel offloads that break TCP over VXLAN on VMXNET3 (switched off with
// `fix`), and network managers that would manage our bridge (drop-ins
// installed with `fix`).

import { VXLAN_OVERHEAD, VXLAN_OVERHEAD_V6 } from '../dataplane/devices.js';
import { TUNNEL_OFFLOADS, notChecked, type Check } from './types.js';

export const mtu: Check = async (env) => {
  if (env.iface === undefined) return notChecked('mtu');
  const l = await env.link(env.iface);
  if (!l) {
    return { id: 'mtu', ok: false, detail: 'no physical interface', advice: `fix the interface first (${env.iface})` };
  }
  // the agent's family decides the overhead; without an agent, the larger one (link-local, the default where it works)
  const overhead = env.status?.underlay.family === 'ipv4' ? VXLAN_OVERHEAD : VXLAN_OVERHEAD_V6;
  const want = l.mtu - overhead;
  if (want < 1280) {
    return {
      id: 'mtu', ok: false, detail: `${env.iface} MTU ${l.mtu} leaves ${want} for the overlay`,
      advice: 'IPv6 and most CNIs need 1280+: raise the physical MTU',
    };
  }
  const br = await env.link(env.bridge);
  // without an agent the family is unknown: either overhead is right
  if (br && br.mtu !== want && (env.status || br.mtu !== l.mtu - VXLAN_OVERHEAD)) {
    return {
      id: 'mtu', ok: false, detail: `${env.bridge} MTU is ${br.mtu}, want ${want} (physical ${l.mtu} - ${overhead})`,
      advice: 'the running agent corrects it; if it does not, restart it',
    };
  }
  const peer = env.status?.peers.find((p) => p.state === 'alive' && p.underlayIp !== '0.0.0.0');
  if (peer) {
    const r = await env.run('ping', ['-M', 'do', '-s', String(l.mtu - 28), '-c', '1', '-W', '1', peer.underlayIp]);
    // exit 1: no reply (or "message too long"); anything else is ping failing to run — as under the
    // unit's sandbox, which denies the capset() iputils' ping makes — and proves nothing
    if (r && r.code !== 0 && r.code !== 1) {
      return {
        id: 'mtu', ok: true, detail: `overlay MTU ${want} (physical ${l.mtu} - ${overhead}); `
          + `full frames to ${peer.underlayIp} not checked (ping exited ${r.code})`,
      };
    }
    if (r && r.code !== 0) {
      return {
        id: 'mtu', ok: false, detail: `full-size (${l.mtu}) frames to ${peer.underlayIp} do not get through`,
        advice: 'lower the physical MTU to what the path carries, or fix the switch',
      };
    }
  }
  return {
    id: 'mtu', ok: true,
    detail: `overlay MTU ${want} (physical ${l.mtu} - ${overhead})`
      + `${peer ? `; full frames reach ${peer.underlayIp}` : ''}`,
  };
};

export const offloads: Check = async (env, opt) => {
  const name = env.iface;
  if (name === undefined) return notChecked('offloads');
  const driver = env.driver(name);
  const feats = env.features(name);
  if (!feats) return { id: 'offloads', ok: true, detail: `driver ${driver ?? 'unknown'}; offload state not readable` };
  const on = feats.filter((f) => TUNNEL_OFFLOADS.includes(f.name) && f.active);
  const affected = driver === 'vmxnet3' || opt.disableTunnelOffloads;
  if (on.length === 0 || !affected) {
    return {
      id: 'offloads', ok: true,
      detail: `driver ${driver ?? 'unknown'}; ${on.length
        ? `${on.map((f) => f.name).join(', ')} on (fine for this driver)`
        : 'UDP tunnel segmentation offloads off'}`,
    };
  }
  const names = on.map((f) => f.name);
  if (opt.fix || opt.disableTunnelOffloads) {
    try {
      env.setFeatures(name, names, false);
      const still = (env.features(name) ?? []).filter((f) => names.includes(f.name) && f.active);
      if (still.length === 0) {
        return {
          id: 'offloads', ok: true, fixed: true,
          detail: `switched ${names.join(', ')} off on ${name} (driver ${driver})`,
        };
      }
    } catch (err) {
      return {
        id: 'offloads', ok: false, detail: `could not switch ${names.join(', ')} off: ${(err as Error).message}`,
        advice: 'run as root',
      };
    }
  }
  return {
    id: 'offloads', ok: false,
    detail: `${name} uses ${driver} with ${names.join(', ')} on: TCP over VXLAN silently breaks on VMXNET3`,
    advice: 'run edge-overlay doctor --fix, '
      + 'or add the ethtool commands to the initramfs stage (scripts/cloud-init/kairos-stages.yaml)',
  };
};

export const managers: Check = async (env, opt) => {
  const problems: string[] = [];
  const br = await env.link(env.bridge);
  if (br) {
    const state = env.read(`/run/systemd/netif/links/${br.index}`);
    if (state && !/ADMIN_STATE=unmanaged/.test(state)) problems.push(`systemd-networkd manages ${env.bridge}`);
  }
  const nm = await env.run('nmcli', ['-t', '-f', 'DEVICE,STATE', 'device', 'status']);
  if (nm && nm.code === 0) {
    const line = nm.stdout.split('\n').find((l) => l.startsWith(`${env.bridge}:`));
    if (line && !line.endsWith(':unmanaged')) problems.push(`NetworkManager manages ${env.bridge}`);
  }
  if (problems.length === 0) {
    return { id: 'network-managers', ok: true, detail: `no network manager manages ${env.bridge}` };
  }
  if (opt.fix) {
    const done = await env.installUnmanaged();
    return {
      id: 'network-managers', ok: true, fixed: true, detail: `${problems.join('; ')}: installed ${done.join(', ')}`,
    };
  }
  return {
    id: 'network-managers', ok: false, detail: problems.join('; '),
    advice: 'they may flush our addresses (a known way overlays die): '
      + 'run doctor --fix to install the drop-ins (systemd/)',
  };
};
