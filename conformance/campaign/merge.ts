// Merging the results of a profile's blocks (plan.ts) into one ProfileResult: the same
// whether the blocks ran in one process, on worker threads, or in shards merged later
// from their JSON reports, since each step below is associative and commutative.
//   - runs (and of them the directed ones), commands, seconds: summed (seconds is the blocks' time added up, not wall time);
//   - transition coverage: a transition is covered if any block took it (the missing
//     lists intersect);
//   - a requirement fails if any block failed it, else is undecided if a block could not
//     decide it, else passes if any block reached it; not reached if no block reached it;
//   - verdict: does not conform if any block failed (the counterexample and replay of the
//     failing block with the lowest index), else undecided if any block was (the reason,
//     and the replay when it has one, of the lowest such block), else conforms.
import { mergeForbidden } from '../../model/run-context.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import { compareRequirementIds } from '../report/common.ts';

/** Merged results of some blocks of one profile, with where the failure came from. */
export interface Part {
  readonly result: ProfileResult;
  /** The blocks behind `result`, ascending. */
  readonly blocks: readonly number[];
  /** The block of `result.counterexample` when it does not conform. */
  readonly failedBlock?: number;
  /** The block of `result.undecided` when it is undecided. */
  readonly undecidedBlock?: number;
}

/** One block's result as a Part. */
export function blockPart(block: number, result: ProfileResult): Part {
  return {
    result,
    blocks: [block],
    ...(result.verdict === 'does-not-conform' ? { failedBlock: block } : {}),
    ...(result.verdict === 'undecided' ? { undecidedBlock: block } : {}),
  };
}

type Req = ProfileResult['requirements'][number];
const RANK: Record<Req['verdict'], number> = { pass: 0, undecided: 1, fail: 2 };

/** The lowest-numbered of the parts that have `key`. */
function lowest(parts: readonly Part[], key: 'failedBlock' | 'undecidedBlock'): Part | undefined {
  let best: Part | undefined;
  for (const p of parts) if (p[key] !== undefined && (best === undefined || p[key]! < best[key]!)) best = p;
  return best;
}

/** The parts' contract results as one: refusals and excused pages summed, the hazards of the block that ran them (the first). */
function mergedContract(parts: readonly Part[]): Pick<ProfileResult, 'contract'> {
  const cs = parts.map((p) => p.result.contract).filter((c) => c !== undefined);
  const first = cs[0];
  if (first === undefined) return {};
  const refused = new Map<string, { errno: number; sequences: number }>();
  const excused: Record<string, number> = {};
  for (const c of cs) {
    for (const r of c.refused) refused.set(r.config, { errno: r.errno, sequences: (refused.get(r.config)?.sequences ?? 0) + r.sequences });
    for (const [rule, n] of Object.entries(c.excused)) excused[rule] = (excused[rule] ?? 0) + n;
  }
  return {
    contract: {
      ...first,
      refused: [...refused].map(([config, r]) => ({ config, ...r })).sort((a, b) => a.config.localeCompare(b.config)),
      excused: Object.fromEntries(Object.entries(excused).sort(([a], [b]) => a.localeCompare(b))),
      hazards: cs.find((c) => c.hazards.length > 0)?.hazards ?? [],
    },
  };
}

/**
 * Merges parts of one profile's campaign. `seed` is the campaign's seed (a block's result
 * carries the block's own). Throws when the parts are of different profiles or share a block.
 */
export function mergeParts(parts: readonly Part[], seed: number): Part {
  if (parts.length === 0) throw new Error('mergeParts: nothing to merge');
  const first = parts[0]!.result;
  const blocks = parts.flatMap((p) => p.blocks).sort((a, b) => a - b);
  for (const p of parts) if (p.result.name !== first.name) throw new Error(`mergeParts: profile ${p.result.name} merged with ${first.name}`);
  for (let i = 1; i < blocks.length; i++) if (blocks[i] === blocks[i - 1]) throw new Error(`mergeParts: block ${blocks[i]} of ${first.name} twice`);

  const coverage: ProfileResult['transitionCoverage'] = {};
  for (const p of parts) {
    for (const [machine, c] of Object.entries(p.result.transitionCoverage)) {
      const prev = coverage[machine];
      const missing = prev === undefined ? [...c.missing] : prev.missing.filter((k) => c.missing.includes(k));
      const forbidden = mergeForbidden(prev?.forbidden, c.forbidden);
      coverage[machine] = { covered: c.total - missing.length, total: c.total, missing, ...(forbidden === undefined ? {} : { forbidden }) };
    }
  }

  const verdicts = new Map<string, Req['verdict']>();
  for (const p of parts) {
    for (const q of p.result.requirements) {
      const prev = verdicts.get(q.id);
      if (prev === undefined || RANK[q.verdict] > RANK[prev]) verdicts.set(q.id, q.verdict);
    }
  }
  const requirements = [...verdicts].map(([id, verdict]) => ({ id, verdict })).sort((a, b) => compareRequirementIds(a.id, b.id));
  // Not reached: by no block. A result without the list reached every requirement (an undecided one lists them all).
  const unreached = parts
    .map((p) => p.result.unreached ?? [])
    .reduce((acc, u) => acc.filter((id) => u.includes(id)))
    .filter((id) => !verdicts.has(id))
    .sort(compareRequirementIds);

  const failed = lowest(parts, 'failedBlock');
  const undecided = failed === undefined ? lowest(parts, 'undecidedBlock') : undefined;
  const sum = (k: 'runs' | 'commands' | 'seconds') => parts.reduce((a, p) => a + p.result[k], 0);
  const directedRuns = parts.reduce((a, p) => a + (p.result.directedRuns ?? 0), 0);
  const result: ProfileResult = {
    name: first.name,
    adapter: first.adapter,
    verdict: failed !== undefined ? 'does-not-conform' : undecided !== undefined ? 'undecided' : 'conforms',
    runs: sum('runs'),
    ...(directedRuns > 0 ? { directedRuns } : {}),
    commands: sum('commands'),
    seconds: Math.round(sum('seconds') * 100) / 100,
    seed,
    transitionCoverage: coverage,
    requirements,
    unreached,
    ...(failed?.result.counterexample === undefined ? {} : { counterexample: failed.result.counterexample }),
    ...(failed?.result.shrinkStopped === undefined ? {} : { shrinkStopped: failed.result.shrinkStopped }),
    // The replay of the failure, or of the undecided block (an undecided run replays when its shrunk sequence does).
    ...((failed ?? undecided)?.result.replay === undefined ? {} : { replay: (failed ?? undecided)!.result.replay! }),
    ...(undecided?.result.undecided === undefined ? {} : { undecided: undecided.result.undecided }),
    ...mergedContract(parts),
  };
  return {
    result,
    blocks,
    ...(failed === undefined ? {} : { failedBlock: failed.failedBlock! }),
    ...(undecided === undefined ? {} : { undecidedBlock: undecided.undecidedBlock! }),
  };
}
