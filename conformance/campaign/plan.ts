// A campaign cut into blocks: a profile's R runs are fixed blocks of BLOCK_RUNS runs
// (the last one shorter), block b seeded from the campaign's seed and b alone. The
// blocks are independent, so they can run in any order, on any thread or machine, and
// give the same results: the unsharded run runs every block; shard i of n runs the
// blocks b with b % n === i - 1; merging the blocks' results (merge.ts) gives the same
// report either way. Block 0's seed is the campaign's seed, so a campaign of at most
// BLOCK_RUNS runs is the single run it always was, and a replay command printed for
// block b (with that block's seed) is a replay of block 0 of a campaign with that seed.
import type { ProfileName } from '../adapters/types.ts';

/** Runs per block. Fixed: changing it changes every campaign's sequences. */
export const BLOCK_RUNS = 100;

/** Which part of a campaign to run: the `index`-th (from 1) of `of` disjoint parts. */
export interface Shard {
  readonly index: number;
  readonly of: number;
}

/** One block of one profile: a runProfile call of its own. */
export interface Unit {
  readonly profile: ProfileName;
  readonly block: number;
  /** The block's runs: BLOCK_RUNS, or fewer in the last block. */
  readonly runs: number;
  readonly seed: number;
  /** The directed tests (smmu-hw) run once per campaign: in block 0. */
  readonly directed: boolean;
}

/** How many blocks a campaign of `runs` runs per profile has. */
export function blockCount(runs: number): number {
  return Math.max(1, Math.ceil(runs / BLOCK_RUNS));
}

/** The runs of block `b` of a campaign of `runs` runs. */
export function blockRuns(runs: number, b: number): number {
  return Math.min(BLOCK_RUNS, runs - b * BLOCK_RUNS);
}

/**
 * The seed of block `b` of the campaign seeded `seed`: `seed` itself for block 0, else
 * a 32-bit mix of the two (murmur3's finaliser over seed and b times the golden ratio),
 * so neighbouring blocks and neighbouring seeds get unrelated sequences.
 */
export function blockSeed(seed: number, b: number): number {
  if (b === 0) return seed;
  let h = (seed ^ Math.imul(b, 0x9e37_79b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The blocks shard `shard` runs, of a campaign with `count` blocks per profile. */
export function shardBlocks(count: number, shard: Shard | undefined): number[] {
  const all = Array.from({ length: count }, (_, b) => b);
  return shard === undefined ? all : all.filter((b) => b % shard.of === shard.index - 1);
}

/** Parses `i/n` as --shard takes it; an error message naming the rule, or the shard. */
export function parseShard(text: string): Shard | string {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (m === null) return `--shard must be i/n (the i-th of n parts, from 1), like 2/3, got ${JSON.stringify(text)}`;
  const index = Number(m[1]);
  const of = Number(m[2]);
  if (!Number.isSafeInteger(of) || of < 1 || of > 10_000) return `--shard ${text}: n must be from 1 to 10000`;
  if (index < 1 || index > of) return `--shard ${text}: i must be from 1 to n (${of})`;
  return { index, of };
}

/** A shard or block that names no block of the campaign: the message says which rule. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
}

/** What to run: the profiles, each with the blocks of the shard (or the one --block). */
export interface Plan {
  readonly seed: number;
  /** Runs per profile of the whole campaign (every shard's together). */
  readonly runs: number;
  readonly blockCount: number;
  readonly shard?: Shard;
  /** The blocks this run runs, the same for every profile, ascending. */
  readonly blocks: readonly number[];
  readonly units: readonly Unit[];
}

/**
 * The plan of a campaign of `runs` runs per profile seeded `seed`: every block, or those
 * of `shard`, or the one `block`. Throws PlanError when the shard or block
 * names no block of the campaign.
 */
export function planCampaign(profiles: readonly ProfileName[], runs: number, seed: number, options: { shard?: Shard; block?: number } = {}): Plan {
  const count = blockCount(runs);
  let blocks: number[];
  if (options.block !== undefined) {
    if (options.block >= count) throw new PlanError(`--block ${options.block}: the campaign has blocks 0 to ${count - 1} (${count} of ${BLOCK_RUNS} runs for --runs ${runs})`);
    blocks = [options.block];
  } else {
    blocks = shardBlocks(count, options.shard);
    if (blocks.length === 0) {
      throw new PlanError(
        `--shard ${options.shard!.index}/${options.shard!.of} runs no block: the campaign has ${count} block${count === 1 ? '' : 's'} of ${BLOCK_RUNS} runs per profile (--runs ${runs}), so at most ${count} shard${count === 1 ? '' : 's'}; raise --runs to at least ${options.shard!.of * BLOCK_RUNS - BLOCK_RUNS + 1} or use fewer shards`,
      );
    }
  }
  const units = profiles.flatMap((profile) => blocks.map((b): Unit => ({ profile, block: b, runs: blockRuns(runs, b), seed: blockSeed(seed, b), directed: b === 0 })));
  return { seed, runs, blockCount: count, ...(options.shard === undefined ? {} : { shard: options.shard }), blocks, units };
}
