// Layer: configuration (constants). Contract: the defaults every command
// needs, with no dependencies, so the CLI can print help and find the agent
// without loading the validator (config.ts re-exports them).

import type { LogLevel } from '../log.js';
import type { UnderlaySetting } from '../policy/family.js';

export const DEFAULT_CONFIG_FILE = '/etc/edge-overlay/config.yaml';

export const DEFAULTS = {
  cluster: 'edge',
  overlayCidr: '100.64.192.0/24',
  clusterKeyFile: '/etc/edge-overlay/cluster.key',
  stateDir: '/var/lib/edge-overlay',
  runDir: '/run/edge-overlay',
  vni: 100,
  bridge: 'scbr-100',
  vxlanPort: 4789,
  discoveryPort: 9477,
  logLevel: 'info' as LogLevel,
  filter: 'on' as 'on' | 'off',
  underlay: 'auto' as UnderlaySetting,
};
