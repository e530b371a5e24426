// The HTML report in a real browser: the report of a killed mutant, opened from a file://
// URL in Debian's chromium, headless, driven by playwright-core (never a browser it
// downloads). The violating step and the highlighted path must be visible, nothing may be
// fetched, and a screenshot is saved for a person to look at (reports/ is not committed).
// Without /usr/bin/chromium this test fails: CI installs it (.ci/run).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_COMMANDS, DEFAULT_TIMEOUT_MS } from '../cli/run.ts';
import { runProfile } from '../engine/run-profile.ts';
import { findMutant } from '../mutants/index.ts';
import { htmlMutantsReport } from './html.ts';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** A kill whose violating step takes transitions in two machines: a write through an IOTLB entry cached writable-clean. */
const MUTANT = 'cached-clean-write-no-update';
/** A fixed seed that kills it within 200 runs, shrinking included, in about a tenth of a second. */
const SEED = 21;
const RUNS = 300;
const OUT = fileURLToPath(new URL('../../reports/browser/', import.meta.url));

test("a killed mutant's report in headless Chromium: the violating step and the highlighted path are visible, nothing is fetched", async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: this test needs Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run installs it)`);
  const mutant = findMutant(MUTANT)!;
  const result = await runProfile(mutant.adapter, { runs: RUNS, seed: SEED, timeoutMs: DEFAULT_TIMEOUT_MS, maxCommands: DEFAULT_MAX_COMMANDS });
  assert.is(result.verdict, 'does-not-conform', 'the mutant is killed');
  const steps = result.counterexample!.steps.length;
  const html = await htmlMutantsReport([{ name: mutant.name, bugClass: mutant.bugClass, profile: mutant.profile, description: mutant.description, killed: true, result }], {
    runs: RUNS,
    summary: 'killed 1 of 1 mutants',
    seedsByName: false,
  });
  mkdirSync(OUT, { recursive: true });
  const file = `${OUT}killed-mutant.html`;
  const shot = `${OUT}killed-mutant.png`;
  writeFileSync(file, html);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    // The violating step: one row, the last of the counterexample, marked and visible.
    const violating = page.locator('section.mutant tr.step.violating[data-violating="true"]');
    assert.is(await violating.count(), 1);
    assert.ok(await violating.isVisible(), 'the violating row is visible');
    assert.is(await violating.getAttribute('data-step'), String(steps));
    assert.match((await violating.innerText()).replace(/\s+/g, ' '), /violation.*dmaWrite/);
    assert.ok(await violating.locator('.mark').isVisible(), 'its mark is visible');

    // The highlighted path: taken arrows in both machines the failing write goes through, drawn in colour.
    const taken = page.locator('figure.machine svg g.edge.taken');
    const n = await taken.count();
    assert.ok(n > 0, 'highlighted arrows');
    for (let i = 0; i < n; i++) assert.ok(await taken.nth(i).isVisible(), `taken arrow ${i} is visible`);
    const stroke = await taken
      .first()
      .locator('path')
      .evaluate((p) => (globalThis as unknown as { getComputedStyle(e: unknown): { stroke: string } }).getComputedStyle(p).stroke);
    assert.ok(stroke === 'rgb(9, 105, 218)' || stroke === 'rgb(207, 34, 46)', `a highlight colour, got ${stroke}`);
    for (const machine of ['leafDescriptor', 'iotlbEntry']) {
      const bad = page.locator(`figure.machine[data-machine="${machine}"] svg g.edge.violating`);
      assert.ok((await bad.count()) >= 1, `${machine}: the violating step's arrow`);
      assert.ok(await bad.first().isVisible(), `${machine}: the violating arrow is visible`);
      assert.ok(await page.locator(`figure.machine[data-machine="${machine}"] svg g.node.violating`).first().isVisible(), `${machine}: the violating step's target state`);
      const box = await bad.first().boundingBox();
      assert.ok(box !== null && box.width > 0 && box.height > 0, `${machine}: the arrow has a size on screen`);
    }
    // Hovering the violating row outlines its arrows (the inline script runs under the CSP).
    await violating.hover();
    assert.ok((await page.locator(`g.edge.step-${steps}.hover`).count()) >= 2, "hover outlines the step's arrows");
    await page.mouse.move(0, 0);

    assert.equal(requests, [pathToFileURL(file).href], 'the page fetched nothing but itself');
    assert.equal(problems, [], 'no console errors (a CSP violation would be one)');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`  screenshot of the killed mutant's report: ${shot}`);
  } finally {
    await browser.close();
  }
});

/** A kill whose counterexample no spec machine models (iova-bitmap): the table alone, no diagram. */
const PLAIN_MUTANT = 'iova-bitmap-drops-past-window';
const PLAIN_SEED = 3;

test('counterexample tables are readable from 1000 px to 1920 px: full width when no diagram applies, no header or requirement ID overflowing its cell', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing`);
  const entries = [];
  for (const [name, seed] of [
    [PLAIN_MUTANT, PLAIN_SEED],
    [MUTANT, SEED],
  ] as const) {
    const mutant = findMutant(name)!;
    const result = await runProfile(mutant.adapter, { runs: RUNS, seed, timeoutMs: DEFAULT_TIMEOUT_MS, maxCommands: DEFAULT_MAX_COMMANDS });
    assert.is(result.verdict, 'does-not-conform', `${name} is killed`);
    entries.push({ name: mutant.name, bugClass: mutant.bugClass, profile: mutant.profile, description: mutant.description, killed: true, result });
  }
  const html = await htmlMutantsReport(entries, { runs: RUNS, summary: 'killed 2 of 2 mutants', seedsByName: false });
  mkdirSync(OUT, { recursive: true });
  const file = `${OUT}widths.html`;
  writeFileSync(file, html);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    // 1299 and 1300: either side of the width where the diagrams move beside the table.
    for (const width of [1000, 1299, 1300, 1400, 1920]) {
      const page = await browser.newPage({ viewport: { width, height: 1000 } });
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      // Without a diagram the table takes the section's whole width, not half of it.
      const plain = page.locator(`section.mutant[data-mutant="${PLAIN_MUTANT}"]`);
      const inner = await plain.evaluate((e) => {
        const el = e as unknown as { clientWidth: number; ownerDocument: { defaultView: { getComputedStyle(x: unknown): { paddingLeft: string; paddingRight: string } } } };
        const cs = el.ownerDocument.defaultView.getComputedStyle(e);
        return el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      });
      const tableBox = await plain.locator('table.trace').boundingBox();
      assert.ok(tableBox !== null && tableBox.width >= 0.95 * inner, `${width} px: the table without a diagram is ${tableBox?.width} px of ${inner}`);
      // Every header and every requirement ID fits its cell, in both layouts.
      const overflowing = await page.evaluate(() => {
        const doc = (
          globalThis as unknown as {
            document: {
              querySelectorAll(s: string): ArrayLike<{
                scrollWidth: number;
                clientWidth: number;
                textContent: string;
                getBoundingClientRect(): { left: number; right: number };
                closest(s: string): { getBoundingClientRect(): { left: number; right: number } } | null;
              }>;
            };
          }
        ).document;
        const bad: string[] = [];
        for (const th of Array.from(doc.querySelectorAll('table.trace th'))) if (th.scrollWidth > th.clientWidth + 1) bad.push(`header "${th.textContent}" ${th.scrollWidth} > ${th.clientWidth}`);
        for (const id of Array.from(doc.querySelectorAll('table.trace td.req .id'))) {
          const r = id.getBoundingClientRect();
          const cell = id.closest('td')!.getBoundingClientRect();
          if (r.right > cell.right + 1 || r.left < cell.left - 1) bad.push(`ID ${id.textContent} ${r.left}-${r.right} outside its cell ${cell.left}-${cell.right}`);
        }
        return bad;
      });
      assert.equal(overflowing, [], `${width} px`);
      await page.screenshot({ path: `${OUT}widths-${width}.png`, fullPage: true });
      await page.close();
    }
  } finally {
    await browser.close();
  }
});

test.run();
