/** The SSE parser against the framing cases a real network produces: split chunks, CRLF, comments. */
import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('SseParser', () => {
  it('parses the frames the server sends', () => {
    const p = new SseParser();
    const events = p.push('event: output\ndata: {"seq":0}\n\nevent: end\ndata: {"id":"c"}\n\n');
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['output', '{"seq":0}'],
      ['end', '{"id":"c"}'],
    ]);
  });

  it('reassembles a frame split across chunks at every possible byte', () => {
    const frame = 'event: output\r\ndata: {"text":"héllo ✓"}\r\n\r\n';
    const all = bytes(frame);
    for (let cut = 1; cut < all.length; cut++) {
      const p = new SseParser();
      const events = [...p.push(all.slice(0, cut)), ...p.push(all.slice(cut))];
      expect(events, `cut at ${cut}`).toEqual([
        { event: 'output', data: '{"text":"héllo ✓"}', id: undefined, retry: undefined },
      ]);
    }
  });

  it('does not count a CRLF split between chunks as two line breaks', () => {
    const p = new SseParser();
    expect(p.push('data: a\r')).toEqual([]);
    expect(p.push('\ndata: b\r')).toEqual([]);
    expect(p.push('\n\r\n').map((e) => e.data)).toEqual(['a\nb']);
  });

  it('joins multi-line data with newlines', () => {
    const p = new SseParser();
    expect(p.push('data: line 1\ndata: line 2\ndata\ndata:line 4\n\n')[0]?.data).toBe('line 1\nline 2\n\nline 4');
  });

  it('ignores comments and keep-alives, and frames with no data', () => {
    const p = new SseParser();
    expect(p.push(': keepalive\n\n:\n\nevent: output\n\nretry: 1000\n\n')).toEqual([]);
    expect(p.push(': ping\ndata: x\n\n').map((e) => [e.event, e.data])).toEqual([['message', 'x']]);
  });

  it('keeps the last event id and the retry hint; ignores unknown fields', () => {
    const p = new SseParser();
    const [e] = p.push('id: 7\nretry: 2500\nfoo: bar\ndata: x\n\n');
    expect(e).toEqual({ event: 'message', data: 'x', id: '7', retry: 2500 });
    expect(p.push('data: y\n\n')[0]?.id).toBe('7');
  });

  it('strips a leading BOM and only one space after the colon', () => {
    const p = new SseParser();
    expect(p.push('\uFEFFdata:  two spaces\n\n')[0]?.data).toBe(' two spaces');
  });

  it('drops an unterminated frame at the end of the stream', () => {
    const p = new SseParser();
    expect(p.push('data: partial\n')).toEqual([]);
    p.end();
    expect(p.push('data: next\n\n').map((e) => e.data)).toEqual(['next']);
  });
});
