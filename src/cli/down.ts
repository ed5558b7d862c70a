// Layer: main (CLI). Contract: `edge-overlay down` removes the configured VXLAN
// device and bridge, our on-link routes and our nftables table; idempotent.
// It refuses while an agent answers (it would recreate them) unless --force.

import { EdgeError } from '../errors.js';
import { systemClock } from '../clock.js';
import { NetlinkKernel } from '../kernel/netlink/kernel.js';
import { ask } from '../control/client.js';
import type { AgentConfig } from '../agent/config.js';
import { removeTable } from '../firewall/nft.js';

export async function runDown(cfg: AgentConfig, force: boolean): Promise<void> {
  if (!force) {
    let running = false;
    try {
      await ask(cfg.runDir, 'status', 1000);
      running = true;
    } catch {
      running = false;
    }
    if (running) {
      throw new EdgeError('E_LOCKED', `an agent is still running for run dir ${cfg.runDir}; `
        + 'stop it first (systemctl stop edge-overlay) or use --force');
    }
  }
  const k = new NetlinkKernel(systemClock);
  try {
    for (const [name, kind] of [[cfg.vxlanDevice, 'vxlan'], [cfg.bridge, 'bridge']] as const) {
      const link = await k.linkByName(name);
      if (!link) {
        process.stdout.write(`${name}: not present\n`);
        continue;
      }
      if (link.kind !== kind) {
        throw new EdgeError('E_INTERFACE',
          `${name} is a ${link.kind ?? 'plain'} device, not the ${kind} device edge-overlay creates; leaving it alone`);
      }
      await k.deleteLink(link.index);
      process.stdout.write(`${name}: removed\n`);
    }
    for (const r of await k.hostRoutes()) await k.hostRouteDel(r);
    const nft = await removeTable();
    process.stdout.write(`nftables table edge_overlay: ${nft}\n`);
  } finally {
    k.close();
  }
}
