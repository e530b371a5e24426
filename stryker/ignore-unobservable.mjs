// A Stryker ignorer (option `ignorers: ['unobservable']`): code of impl/ whose changes no
// profile can observe by design, reported by Stryker as Ignored with the reason and left
// out of the score (issue 11 allows it, with the reason):
// - message text: the arguments of `new ...Error(...)` (an adapter call that throws is
//   undecided, whatever the message), the message argument of `fail(errno, message)` and
//   `refuse(errno, message)` (the kit compares the errno, never the text), the value of a
//   `message:` property, and the `hex` formatter that only builds such text. Conditions
//   that decide whether to fail are mutated as usual; only the text is left out.
// - statistics: `this.stats.x++` and `this.windowMoves++`, counters that only the unit
//   tests and the benchmarks read.
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const MESSAGE_CALLS = new Set(['fail', 'refuse']);
const MESSAGE_HELPERS = new Set(['hex']);
const STAT_FIELDS = new Set(['windowMoves']);

function calleeName(callee) {
  if (callee.type === 'Identifier') return callee.name;
  if (callee.type === 'MemberExpression' && !callee.computed && callee.property.type === 'Identifier') return callee.property.name;
  return undefined;
}

/** `this.stats.x` (any object named stats) or a statistics field. */
function isStatistic(target) {
  if (target.type !== 'MemberExpression' || target.computed) return false;
  if (STAT_FIELDS.has(target.property.name)) return true;
  const o = target.object;
  return o.type === 'MemberExpression' && !o.computed && o.property.name === 'stats';
}

export const unobservable = {
  shouldIgnore(path) {
    const { node, parent } = path;
    if (parent === undefined || parent === null) return undefined;
    if (parent.type === 'NewExpression' && parent.arguments.includes(node) && /Error$/.test(calleeName(parent.callee) ?? '')) {
      return 'message text: a thrown error is undecided whatever it says';
    }
    if (parent.type === 'CallExpression' && MESSAGE_CALLS.has(calleeName(parent.callee) ?? '') && parent.arguments.indexOf(node) >= 1) {
      return 'message text: the kit compares the errno, not the message';
    }
    if (parent.type === 'ObjectProperty' && parent.value === node && !parent.computed && parent.key.type === 'Identifier' && parent.key.name === 'message') {
      return 'message text: the kit compares the errno, not the message';
    }
    if (node.type === 'VariableDeclarator' && node.id.type === 'Identifier' && MESSAGE_HELPERS.has(node.id.name)) {
      return 'message text: a formatter used only in messages';
    }
    if (node.type === 'ExpressionStatement') {
      const e = node.expression;
      const target = e.type === 'UpdateExpression' ? e.argument : e.type === 'AssignmentExpression' ? e.left : undefined;
      if (target !== undefined && isStatistic(target)) return 'statistics: a counter only the unit tests and the benchmarks read';
    }
    return undefined;
  },
};

export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, 'unobservable', unobservable)];
