import { describe, expect, it } from 'vitest';
import { InvalidObjectError } from './errors.js';
import {
  formatRequirement,
  formatSelector,
  labelsMatch,
  LabelSelectorError,
  parseLabelSelector,
  parseLabelSelectorFor,
  requirementsMatch,
  requirementsOf,
  selectorMatches,
  serviceSelects,
} from './label-selector.js';

const F = 'spec.nodeSelector';

describe('parseLabelSelector + selectorMatches', () => {
  it.each([
    ['missing selector matches all', undefined, {}, true],
    ['empty selector matches all', {}, { a: 'b' }, true],
    ['matchLabels equal', { matchLabels: { 'podlb.io/bgp': 'true' } }, { 'podlb.io/bgp': 'true' }, true],
    ['matchLabels different value', { matchLabels: { 'podlb.io/bgp': 'true' } }, { 'podlb.io/bgp': 'false' }, false],
    ['matchLabels missing label', { matchLabels: { rack: 'r12' } }, {}, false],
    ['matchLabels ANDed', { matchLabels: { a: '1', b: '2' } }, { a: '1' }, false],
    ['empty value matches empty label', { matchLabels: { a: '' } }, { a: '' }, true],
    ['In', { matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1', 'r2'] }] }, { rack: 'r2' }, true],
    ['In without label', { matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1'] }] }, {}, false],
    ['NotIn other value', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1'] }] }, { rack: 'r2' }, true],
    ['NotIn missing label matches', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1'] }] }, {}, true],
    ['NotIn listed value', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1'] }] }, { rack: 'r1' }, false],
    ['Exists', { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, { gpu: '' }, true],
    ['Exists missing', { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, {}, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist', values: [] }] }, {}, true],
    ['DoesNotExist present', { matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, { gpu: 'x' }, false],
    ['labels and expressions ANDed', { matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] }, { a: '1', b: '' }, true],
    ['prototype keys are not labels', { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}, false],
  ])('%s', (_n, sel, labels, want) => {
    expect(selectorMatches(parseLabelSelector(sel, F), labels as Record<string, string>)).toBe(want);
  });

  it.each([
    ['not an object', 'rack=r12', F],
    ['a list', [], F],
    ['unknown field', { matchLabel: { a: 'b' } }, `${F}.matchLabel`],
    ['matchLabels not a map', { matchLabels: ['a'] }, `${F}.matchLabels`],
    ['bad key', { matchLabels: { 'a b': 'c' } }, `${F}.matchLabels["a b"]`],
    ['key with newline', { matchLabels: { 'a\n': 'c' } }, `${F}.matchLabels["a\\n"]`],
    ['bad prefix', { matchLabels: { 'Foo_/a': 'c' } }, `${F}.matchLabels["Foo_/a"]`],
    ['empty key', { matchLabels: { '': 'c' } }, `${F}.matchLabels[""]`],
    ['long key name', { matchLabels: { ['a'.repeat(64)]: 'c' } }, `${F}.matchLabels["${'a'.repeat(64)}"]`],
    ['bad value (quote)', { matchLabels: { a: 'x"y' } }, `${F}.matchLabels[a]`],
    ['value not a string', { matchLabels: { a: 1 } }, `${F}.matchLabels[a]`],
    ['long value', { matchLabels: { a: 'v'.repeat(64) } }, `${F}.matchLabels[a]`],
    ['expressions not a list', { matchExpressions: {} }, `${F}.matchExpressions`],
    ['expression not an object', { matchExpressions: ['a'] }, `${F}.matchExpressions[0]`],
    ['bad operator', { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, `${F}.matchExpressions[0].operator`],
    ['In without values', { matchExpressions: [{ key: 'a', operator: 'In' }] }, `${F}.matchExpressions[0].values`],
    ['In empty values', { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, `${F}.matchExpressions[0].values`],
    ['Exists with values', { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, `${F}.matchExpressions[0].values`],
    ['bad value in list', { matchExpressions: [{ key: 'a', operator: 'In', values: ['ok', '{x}'] }] }, `${F}.matchExpressions[0].values[1]`],
    ['missing key', { matchExpressions: [{ operator: 'Exists' }] }, `${F}.matchExpressions[0].key`],
  ])('rejects %s naming the field', (_n, sel, field) => {
    let err: unknown;
    try {
      parseLabelSelector(sel, F);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LabelSelectorError);
    expect((err as LabelSelectorError).field).toBe(field);
  });

  it('is deterministic and formats like kubectl', () => {
    const a = parseLabelSelector({ matchLabels: { b: '1', a: '2' }, matchExpressions: [{ key: 'c', operator: 'In', values: ['y', 'x', 'x'] }] }, F);
    expect(formatSelector(a)).toBe('a=2,b=1,c in (x,y)');
    expect(formatSelector(parseLabelSelector({}, F))).toBe('<everything>');
  });

  it('wraps errors with the object', () => {
    expect(() => parseLabelSelectorFor('BGPPeer', 'tor', { matchLabels: { a: '"' } }, F)).toThrow(InvalidObjectError);
    expect(() => parseLabelSelectorFor('BGPPeer', 'tor', { matchLabels: { a: '"' } }, F)).toThrow(
      /BGPPeer tor: spec.nodeSelector.matchLabels\[a\]: invalid label value/,
    );
  });
});

describe('the other forms share the matching', () => {
  const labels = { app: 'web', tier: 'fe', n: '7' };
  it.each([
    ['matchLabels + In', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }] }, true],
    ['NotIn', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['fe'] }] }, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    ['an unknown operator adds no requirement', { matchExpressions: [{ key: 'tier', operator: 'Gt', values: ['1'] }] }, true],
    ['{} matches everything', {}, true],
  ])('requirementsOf: %s', (_, sel, want) => {
    expect(requirementsMatch(requirementsOf(sel), labels)).toBe(want);
  });

  it.each([
    [{ key: 'n', operator: 'Gt', value: 6 } as const, true],
    [{ key: 'n', operator: 'Gt', value: 7 } as const, false],
    [{ key: 'n', operator: 'Lt', value: 8 } as const, true],
    [{ key: 'app', operator: 'Lt', value: 8 } as const, false],
    [{ key: 'missing', operator: 'Gt', value: -1 } as const, false],
  ])('numeric requirement %j', (r, want) => {
    expect(requirementsMatch([r], labels)).toBe(want);
  });

  it('writes numeric requirements in the string form', () => {
    expect(formatRequirement({ key: 'n', operator: 'Gt', value: 6 })).toBe('n>6');
    expect(formatRequirement({ key: 'n', operator: 'Lt', value: 8 })).toBe('n<8');
  });

  it.each([
    [{ app: 'web' }, true, true],
    [{ app: 'web', tier: 'be' }, false, false],
    [{}, true, false],
  ])('plain map %j: labelsMatch %s, serviceSelects %s', (sel, all, service) => {
    expect(labelsMatch(sel, labels)).toBe(all);
    expect(serviceSelects(sel, labels)).toBe(service);
  });

  it('a missing label set is empty', () => {
    expect(serviceSelects({ app: 'web' }, undefined)).toBe(false);
    expect(labelsMatch({}, undefined)).toBe(true);
  });
});
