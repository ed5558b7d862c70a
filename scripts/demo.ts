// The demo (`npm run demo`): three namespace hosts on one DHCP LAN, each
// running the real agent. Shows status, overlay pings, a renumbering through
// DHCP with the overlay recovering and the overlay IPs unchanged, then tears
// everything down. Needs root; touches nothing outside its namespaces.

import { spawnSync } from 'node:child_process';
import { AGENT_BIN, Lab, sleep, type Host } from '../test/lab/lab.js';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string): void => { process.stdout.write(`\n${bold(`== ${s}`)}\n`); };

function status(lab: Lab, h: Host): void {
  const r = spawnSync(process.execPath, [AGENT_BIN, 'status', '--run-dir', lab.runDir(h)], { encoding: 'utf8' });
  process.stdout.write(`\n$ edge-overlay status   # on ${h.name}\n${r.stdout}${r.stderr}`);
}

async function main(): Promise<void> {
  step('Building a LAN (bridge + dnsmasq DHCP) and 3 hosts with dhclient, in network namespaces');
  const lab = await Lab.create({ hosts: 3, cluster: 'demo' });
  let failed = false;
  const stop = async (): Promise<void> => { await lab.destroy(); };
  process.on('SIGINT', () => { void stop().then(() => process.exit(130)); });
  try {
    for (const h of lab.hosts) process.stdout.write(`  ${h.name}: eth0 ${h.ip} (leased by DHCP)\n`);

    step('Starting edge-overlay agent on every host');
    const t0 = Date.now();
    const st = await lab.startAll();
    process.stdout.write(`  all 3 agents claimed an overlay IP and see each other after ${Date.now() - t0} ms\n`);
    const ip = new Map(lab.hosts.map((h, i) => [h, st[i]!.node.overlayIp!]));
    status(lab, lab.hosts[0]!);

    step('Pinging across the overlay (scbr-100)');
    for (const a of lab.hosts) {
      for (const b of lab.hosts) {
        if (a === b) continue;
        const ok = lab.ping(a, ip.get(b)!, 3, 0.05);
        process.stdout.write(`  ${a.name} -> ${b.name} ${ip.get(b)}: ${ok ? 'ok' : 'FAILED'}\n`);
        failed ||= !ok;
      }
    }

    const [h1, h2] = lab.hosts as [Host, Host];
    step(`Renumbering ${h2.name} through DHCP while ${h1.name} pings its overlay IP every 5 ms`);
    const pinger = lab.pinger(h1, ip.get(h2)!, 0.005);
    await sleep(500);
    const [r] = await lab.renumber([h2]);
    await sleep(1000);
    const { replies, sent } = await pinger.stop();
    const first = replies.find((t) => t > r!.boundAt);
    process.stdout.write(
      `  ${h2.name} physical IP: ${r!.old} -> ${r!.ip} (DHCP server changed its lease, client re-ran)\n`);
    if (first) {
      process.stdout.write(`  overlay traffic flowing again ${(first - r!.boundAt).toFixed(1)} ms `
        + `after the new address appeared (${sent - replies.length} of ${sent} pings lost)\n`);
    } else { process.stdout.write('  overlay traffic did NOT recover\n'); failed = true; }

    const after = await lab.converged();
    const same = after.every((s, i) => s.node.overlayIp === st[i]!.node.overlayIp);
    process.stdout.write(
      `  overlay IPs ${same ? 'unchanged' : 'CHANGED'}: ${after.map((s) => s.node.overlayIp).join(', ')}\n`);
    failed ||= !same;
    status(lab, h1);

    step('Restarting the agent on h1 (the overlay stays up meanwhile)');
    const p2 = lab.pinger(h2, ip.get(h1)!, 0.01);
    await sleep(200);
    await lab.stopAgent(h1);
    lab.startAgent(h1);
    await lab.converged();
    await sleep(300);
    const res = await p2.stop();
    process.stdout.write(
      `  ${res.sent - res.replies.length} of ${res.sent} pings lost during the restart; h1 kept ${ip.get(h1)}\n`);
  } catch (err) {
    failed = true;
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  } finally {
    step('Tearing down (namespaces, processes, files)');
    await stop();
  }
  process.stdout.write(failed ? '\nDemo FAILED.\n' : '\nDemo complete.\n');
  process.exit(failed ? 1 : 0);
}

void main();
