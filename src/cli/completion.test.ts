import { describe, expect, it } from 'vitest';
import { DIRECTIVE_DEFAULT, DIRECTIVE_NO_FILES, complete, renderCompletion } from './completion.js';
import { KUBECTL_GLOBAL_FLAGS, KUBECTL_PODLB } from './kubectl/commands.js';

const c = (words: string[], cur: string) => complete(KUBECTL_PODLB, words, cur, KUBECTL_GLOBAL_FLAGS);

describe('complete', () => {
  it('offers commands, not hidden ones', () => {
    expect(c([], '')).toEqual({
      candidates: ['status', 'pools', 'approve', 'reject', 'explain', 'version', 'completion', 'help'],
      directive: DIRECTIVE_NO_FILES,
    });
    expect(c([], 'p').candidates).toEqual(['pools']);
  });
  it("offers the command's flags and the global ones, after global flags with values", () => {
    const r = c(['--context', 'pools', 'pools'], '--o');
    expect(r.candidates).toEqual(['--output']);
    expect(c(['approve'], '--').candidates).toContain('--reason');
    expect(c(['pools'], '--').candidates).not.toContain('--reason');
  });
  it("offers a flag's choices, with and without =", () => {
    expect(c(['pools', '-o'], '')).toEqual({ candidates: ['json', 'yaml', 'wide'], directive: DIRECTIVE_NO_FILES });
    expect(c(['pools'], '--output=y').candidates).toEqual(['--output=yaml']);
    // As bash passes `--output=y`: '=' is a word of its own.
    expect(c(['pools', '--output', '='], 'y').candidates).toEqual(['yaml']);
  });
  it('lets the shell complete file names for file flags only', () => {
    expect(c(['pools', '--kubeconfig'], '').directive).toBe(DIRECTIVE_DEFAULT);
    expect(c(['pools', '--context'], '').directive).toBe(DIRECTIVE_NO_FILES);
  });
  it("renders cobra's protocol", () => {
    expect(renderCompletion({ candidates: ['a', 'b'], directive: 4 })).toBe('a\nb\n:4\n');
  });
});
