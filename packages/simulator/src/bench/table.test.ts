import { describe, expect, it } from 'vitest';
import { ratioText } from './table.js';

describe('ratioText', () => {
  it('shows two decimals, and a third where two would read as a missed goal itself', () => {
    expect(ratioText(1.2345)).toBe('1.23×');
    expect(ratioText(2, 1.5)).toBe('2.00×');
    expect(ratioText(1.49, 1.5)).toBe('1.49×');
    expect(ratioText(1.5, 1.5)).toBe('1.50×');
    expect(ratioText(1.5036, 1.5)).toBe('1.504×');
    expect(ratioText(1.5036)).toBe('1.50×');
  });
});
