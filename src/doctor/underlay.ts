// Layer: doctor (IPv6 underlay checks, policy only). Contract: `ipv6` checks
// that IPv6 is on for the physical interface and its link-local address
// passed duplicate address detection (what VXLAN over link-local needs);
// `underlay` says which family the cluster uses and why (from the agent).

import { notChecked, type Check } from './types.js';

export const ipv6: Check = async (env) => {
  const setting = env.status?.underlay.setting;
  const iface = env.iface;
  if (iface === undefined) return notChecked('ipv6');
  const l = await env.link(iface);
  if (!l) return { id: 'ipv6', ok: false, detail: `${iface} does not exist`, advice: 'fix the interface first' };
  const six = await env.ipv6(iface);
  if (six.disabled) {
    return setting === 'ipv4'
      ? { id: 'ipv6', ok: true, detail: `IPv6 is disabled on ${iface}; not needed (underlay: ipv4)` }
      : {
        id: 'ipv6', ok: false,
        detail: `IPv6 is disabled on ${iface} (net.ipv6.conf.${iface}.disable_ipv6=1): `
          + 'the cluster carries VXLAN over IPv4 and loses packets while hosts renumber',
        advice: `sysctl -w net.ipv6.conf.${iface}.disable_ipv6=0 and keep it in /etc/sysctl.d/ `
          + '(no IPv6 routing is needed, only the link-local address)',
      };
  }
  const lls = six.addrs.filter((a) => a.linkLocal);
  const failed = lls.filter((a) => a.dadFailed);
  const good = lls.filter((a) => !a.dadFailed);
  if (good.length === 0 && failed.length > 0) {
    return {
      id: 'ipv6', ok: false,
      detail: `${failed[0]!.address} on ${iface} failed duplicate address detection: another host on the LAN has it`,
      advice: 'two NICs with the same MAC (a cloned VM?): give one a new MAC, then ip link set dev IFACE down/up',
    };
  }
  if (good.length === 0) {
    return {
      id: 'ipv6', ok: false, detail: `${iface} has no IPv6 link-local address${l.up ? '' : ' (it is down)'}`,
      advice: `check addr_gen_mode (sysctl net.ipv6.conf.${iface}.addr_gen_mode; `
        + '1 = none needs a manager that adds one)',
    };
  }
  const a = good[0]!;
  return {
    id: 'ipv6', ok: true,
    detail: `IPv6 on ${iface}, link-local ${a.address}`
      + `${a.tentative ? ' (duplicate address detection still running)' : ' (DAD passed)'}`,
  };
};

export const underlay: Check = async (env) => {
  const u = env.status?.underlay;
  if (!u) return { id: 'underlay', ok: true, detail: 'no agent answers: the underlay family was not checked' };
  const name = (f: string): string => (f === 'link-local' ? 'IPv6 link-local' : 'IPv4');
  if (u.device !== null && u.device !== u.family) {
    return {
      id: 'underlay', ok: false,
      detail: `the cluster uses ${name(u.family)} (${u.why}) but the VXLAN device still carries ${name(u.device)}`,
      advice: 'see the agent log for why the device could not be rebuilt',
    };
  }
  const lossless = u.family === 'link-local'
    ? 'renumbering loses no packet'
    : 'renumbering interrupts VXLAN until the new address is announced';
  return { id: 'underlay', ok: true, detail: `VXLAN over ${name(u.family)}: ${u.why} (${lossless})` };
};
