// Layer: persistence format (pure). Contract: brings a state document of any
// earlier layout revision up to SCHEMA, step by step; each step only adds
// what its revision introduced, so the document stays readable by the
// release before (N−1: it ignores unknown fields). A newer revision than ours
// is used as it is (its additions are optional by the same rule) and said so.

import { SCHEMA, type PersistedState } from './schema.js';

export interface Migrated {
  state: PersistedState;
  /** the revision the file had */
  from: number;
}

/** Steps, by the revision they produce. Append only. */
const STEPS: Record<number, (s: PersistedState) => PersistedState> = {
  // 0.2: peers' link-local addresses, capabilities and L2 adjacency are
  // learnt again from their next announcements; absent `l2` marks "unknown".
  2: (s) => ({ ...s, schema: 2 }),
  // 0.3: nothing to add. Without `interface` the agent uses the configured one,
  // or chooses one at its next start and keeps it. Releases 0.1 and 0.2 read a
  // schema-3 file (zod objects drop unknown keys; the checksum covers the raw
  // text) and write it back without `interface`: after a downgrade and
  // upgrade the interface is chosen again.
  3: (s) => ({ ...s, schema: 3 }),
};

export function migrate(s: PersistedState): Migrated {
  const from = s.schema ?? 1;
  let state = s;
  for (let rev = from + 1; rev <= SCHEMA; rev++) state = STEPS[rev]!(state);
  return { state, from };
}
