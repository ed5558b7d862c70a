// Benchmark results (bench layer). Contract: the shape of one run's results
// — what run.ts collects, writes to bench/results.json and hands to
// report.ts — in a module of its own, so the runner and the report depend on
// it rather than on each other.

import type { RecoveryResults } from './recovery.js';
import type { MeshRun } from './mesh.js';
import type { NoDhcpMeshRun } from './mesh-nodhcp.js';
import type { FootprintRun } from './footprint.js';
import type { ScaleRun } from './scale.js';
import type { DatapathRun } from './datapath.js';
import type { FloodRun } from './flood.js';
import type { FamilySwitchRun } from './family-switch.js';
import type { StartupRun } from './startup.js';

export interface Results {
  quick: boolean;
  startedAt: string;
  durationS: number;
  machine: { cpu: string; cores: number; kernel: string; node: string; iperf3: string };
  recovery?: RecoveryResults;
  mesh?: MeshRun[];
  meshNoDhcp?: NoDhcpMeshRun;
  footprint?: FootprintRun;
  scale?: ScaleRun;
  datapath?: DatapathRun;
  flood?: FloodRun;
  familySwitch?: FamilySwitchRun;
  startup?: StartupRun;
}
