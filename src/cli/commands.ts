// Layer: main (the commands' heavy half). Contract: everything the CLI loads
// only for the command that needs it — the agent, doctor, down, config
// validation, keys — behind this one import. The bundle keeps it apart from
// the start-up path (scripts/bundle.mjs), so `--version` and `status` never
// compile it.

export { keyFs, loadConfig, runAgent } from './agent.js';
export { runDoctor } from './doctor.js';
export { runDown } from './down.js';
export { parseConfigFile } from '../config/config.js';
export { generateKey, loadKeyring } from '../wire/keyfile.js';
export { formatCidr } from '../net/ipv4.js';
