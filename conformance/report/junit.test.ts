// The JUnit report is well-formed XML: balanced tags, everything escaped; failed
// requirements carry <failure>, undecided ones <error>.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conforming, failing, undecided } from './fixtures.ts';
import { junitReport, xmlAttr, xmlText } from './junit.ts';

interface Element {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: Element[];
  text: string;
}

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function xmlUnescape(s: string): string {
  assert.not.match(s.replace(/&(amp|lt|gt|quot|apos|#\d+);/g, ''), /[&<]/, `unescaped & or < in ${JSON.stringify(s)}`);
  return s.replace(/&(amp|lt|gt|quot|apos|#(\d+));/g, (_, name: string, code?: string) => (code !== undefined ? String.fromCharCode(Number(code)) : ENTITY[name]!));
}

/** A strict little parser for the subset the report uses: throws on anything unbalanced or unescaped. */
function parseXml(xml: string): Element {
  let rest = xml.replace(/^<\?xml [^?]*\?>\n/, '');
  const root: Element = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: Element[] = [root];
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const text = lt === -1 ? rest : rest.slice(0, lt);
    stack[stack.length - 1]!.text += xmlUnescape(text);
    if (lt === -1) break;
    rest = rest.slice(lt);
    const close = /^<\/([\w.-]+)>/.exec(rest);
    if (close) {
      const top = stack.pop()!;
      assert.is(close[1], top.name, `</${close[1]}> closes <${top.name}>`);
      rest = rest.slice(close[0].length);
      continue;
    }
    const open = /^<([\w.-]+)((?:\s+[\w.-]+="[^"<]*")*)\s*(\/?)>/.exec(rest);
    assert.ok(open, `malformed tag at ${JSON.stringify(rest.slice(0, 60))}`);
    const attrs: Record<string, string> = {};
    for (const m of open![2]!.matchAll(/([\w.-]+)="([^"]*)"/g)) attrs[m[1]!] = xmlUnescape(m[2]!);
    const el: Element = { name: open![1]!, attrs, children: [], text: '' };
    stack[stack.length - 1]!.children.push(el);
    if (open![3] !== '/') stack.push(el);
    rest = rest.slice(open![0].length);
  }
  assert.is(stack.length, 1, `unclosed <${stack[stack.length - 1]!.name}>`);
  assert.is(root.children.length, 1);
  return root.children[0]!;
}

const all = (el: Element, name: string): Element[] => [...(el.name === name ? [el] : []), ...el.children.flatMap((c) => all(c, name))];

test('JUnit: testsuites > testsuite per profile > testcase per requirement, balanced and counted', () => {
  const doc = parseXml(junitReport([conforming, failing, undecided]));
  assert.is(doc.name, 'testsuites');
  const suites = doc.children.filter((c) => c.name === 'testsuite');
  assert.equal(
    suites.map((s) => s.attrs.name),
    ['smmu-hw', 'smmu-driver', 'smmu-driver'],
  );
  assert.is(all(suites[0]!, 'testcase').length, 4);
  assert.is(all(suites[0]!, 'failure').length + all(suites[0]!, 'error').length, 0);
  assert.is(suites[1]!.attrs.failures, '2');
  assert.is(suites[2]!.attrs.errors, '2');
  assert.is(doc.attrs.tests, String(all(doc, 'testcase').length));
  assert.is(doc.attrs.failures, '2');
  assert.is(doc.attrs.errors, '2');
});

test('JUnit: a failed requirement carries the violation and the trace, escaped', () => {
  const xml = junitReport([failing]);
  const doc = parseXml(xml);
  const failed = all(doc, 'testcase').filter((t) => all(t, 'failure').length > 0);
  assert.equal(
    failed.map((t) => t.attrs.name!.split(' ')[0]),
    ['[CLEAR-1]', '[NOLOSS-1]'],
  );
  const f = all(failed[0]!, 'failure')[0]!;
  assert.is(f.attrs.type, 'loss');
  assert.is(f.attrs.message, 'LOST DIRTY PAGE [CLEAR-1, NOLOSS-1]: expected dirty [0x0] <page & "quoted">; got dirty []');
  assert.match(f.text, /2\. splitBlock\(0x0\) {2}-> implementation: 0 {2}\| spec: 0 {2}\[SPLIT-1, SPLIT-2\]/);
  assert.match(f.text, /replay: npx dirtyspec run --profile smmu-driver --seed 7 --replay '12:0:0:3:4'/);
  const adapter = all(doc, 'property').find((p) => p.attrs.name === 'adapter')!;
  assert.is(adapter.attrs.value, 'acme <driver> & "co"');
  assert.ok(xml.includes('acme &lt;driver&gt; &amp; &quot;co&quot;'));
});

test('JUnit: undecided requirements carry <error> with the reason and the steps so far', () => {
  const doc = parseXml(junitReport([undecided]));
  const errors = all(doc, 'error');
  assert.is(errors.length, 2);
  assert.is(errors[0]!.attrs.message, 'slow (smmu-driver) unmap did not answer within 2000 ms');
  assert.match(errors[0]!.text, /steps so far \(1\):\n1\. map\(0x200000/);
});

test('JUnit: an undecided run with a replay path carries its shrunk steps and the replay command', () => {
  const doc = parseXml(junitReport([{ ...undecided, replay: { seed: 9, path: '3:1@A' } }]));
  const [error] = all(doc, 'error');
  assert.match(error!.text, /steps \(1, shrunk: the replay command runs them again\):\n1\. map\(0x200000/);
  assert.match(error!.text, /\nreplay: npx dirtyspec run --profile smmu-driver --seed 9 --replay '3:1@A'/);
});

test('JUnit: a verdict no requirement row carries gets a testcase of its own', () => {
  const doc = parseXml(
    junitReport([
      { ...failing, requirements: [] },
      { ...undecided, requirements: [] },
    ]),
  );
  assert.is(all(doc, 'failure').length, 1);
  assert.is(all(doc, 'error').length, 1);
});

test('XML escaping: <&"\' and characters XML cannot hold', () => {
  assert.is(xmlText('a<b & c>d'), 'a&lt;b &amp; c&gt;d');
  assert.is(xmlAttr(`"x" 'y' <z> &\n`), '&quot;x&quot; &apos;y&apos; &lt;z&gt; &amp;&#10;');
  assert.is(xmlText('bell\u0007 nul\u0000'), 'bell\uFFFD nul\uFFFD');
});

test.run();
