// Test double: an in-memory kernel with the rtnetlink behaviour the agent
// relies on — EEXIST/ENOENT/ENODEV, ENOTSUP when REPLACE targets the
// all-zeros FDB entry, REPLACE repointing a unicast entry's first
// destination, primary/secondary addresses with promote_secondaries, MTU
// limits of a VXLAN device (− 50, − 70 over IPv6), a bridge's MTU following
// its ports, routes and neighbours dropped with their device or source
// address, a NIC's IPv6 link-local address (EUI-64, DAD, disable_ipv6), IPv6
// VXLAN devices and FDB entries with `via`, lo, and default routes that go
// with their device or its last IPv4 address — and an op log in `bridge`/`ip`
// words. test/integration/kernel-contract.test.ts holds it to the real
// kernel's answers. Not modelled: the link-local addresses the kernel also
// gives bridges and VXLAN devices when they come up.
//
// This file is its public face (tests import FakeKernel from here); the parts,
// each building on the one before: kernel-state.ts (tables, request plumbing,
// failNext, events, what goes with what), kernel-links.ts (devices),
// kernel-addrs.ts (addresses and host routes), kernel-fdb.ts (FDB and
// neighbours); IPv6 addresses and ND entries are kernel-ipv6.ts (`kernel.ipv6`).

import type { Kernel } from '../../src/kernel/types.js';
import { FakeFdb } from './kernel-fdb.js';

export class FakeKernel extends FakeFdb implements Kernel {}
