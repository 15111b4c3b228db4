/**
 * Byte-stream frames (docs/protocol.md §Byte streams, §Frames): the 8-byte header
 * `type u8 | offset u48 BE | flags u8` and its payload, encoded and decoded without
 * trusting the peer. Uint8Array only, so browsers can use it.
 */
import { type ErrorBody, type ErrorCode, isErrorCode, OutpostError } from './errors.js';

/** Frame kinds; the first header byte. 0 is never a valid type. */
export const FrameType = { DATA: 1, ACK: 2, CONTROL: 3, FIN: 4, RESET: 5 } as const;
/** Bits of an ACK frame's flags byte. */
export const AckFlag = {
  /** The sender of this ACK has received the peer's FIN (the peer's direction is complete). */
  FIN: 0x01,
  /** A gap was seen: the peer should resend everything it has not seen acknowledged. */
  NACK: 0x02,
} as const;

export const FRAME_HEADER_BYTES = 8;
/** Largest DATA payload in one frame. */
export const MAX_FRAME_DATA = 64 * 1024;
/** Largest CONTROL payload (UTF-8 JSON); a control record always fits in the smallest window. */
export const MAX_CONTROL_BYTES = 16 * 1024;
/** Largest RESET payload (UTF-8 JSON `{code, message}`). */
export const MAX_RESET_BYTES = 4096;
/** The receive window an endpoint advertises unless told otherwise. */
export const DEFAULT_WINDOW = 256 * 1024;
export const MIN_WINDOW = MAX_CONTROL_BYTES;
export const MAX_WINDOW = 16 * 1024 * 1024;
/** Offsets are unsigned 48-bit integers. */
export const MAX_OFFSET = 2 ** 48 - 1;

export type Frame =
  /** Bytes `[offset, offset + data.length)` of this direction's sequence. */
  | { type: 'data'; offset: number; data: Uint8Array }
  /** A JSON control message occupying `[offset, offset + payload.length)` of the sequence. */
  | { type: 'control'; offset: number; payload: Uint8Array }
  /** Everything before `offset` was received and consumed; the peer may send up to `offset + window`. */
  | { type: 'ack'; offset: number; window: number; fin: boolean; nack: boolean }
  /** This direction ends at `offset` (half-close). */
  | { type: 'fin'; offset: number }
  /** Abort both directions. */
  | { type: 'reset'; error: ErrorBody };

const bad = (message: string): OutpostError => new OutpostError('E_BAD_ARGS', message);
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function header(type: number, offset: number, flags: number, payloadBytes: number): Uint8Array {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_OFFSET) throw new RangeError('offset out of range');
  const out = new Uint8Array(FRAME_HEADER_BYTES + payloadBytes);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  view.setUint16(1, Math.floor(offset / 2 ** 32));
  view.setUint32(3, offset % 2 ** 32);
  view.setUint8(7, flags);
  return out;
}

/** Encodes one frame into the bytes of one MQTT payload or WebSocket message. */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case 'data':
    case 'control': {
      const payload = frame.type === 'data' ? frame.data : frame.payload;
      const out = header(frame.type === 'data' ? FrameType.DATA : FrameType.CONTROL, frame.offset, 0, payload.length);
      out.set(payload, FRAME_HEADER_BYTES);
      return out;
    }
    case 'ack': {
      const flags = (frame.fin ? AckFlag.FIN : 0) | (frame.nack ? AckFlag.NACK : 0);
      const out = header(FrameType.ACK, frame.offset, flags, 4);
      new DataView(out.buffer).setUint32(FRAME_HEADER_BYTES, frame.window);
      return out;
    }
    case 'fin':
      return header(FrameType.FIN, frame.offset, 0, 0);
    case 'reset': {
      const body = utf8.encode(
        JSON.stringify({ code: frame.error.code, message: frame.error.message.slice(0, MAX_RESET_BYTES / 2) }),
      );
      const out = header(FrameType.RESET, 0, 0, body.length);
      out.set(body, FRAME_HEADER_BYTES);
      return out;
    }
  }
}

/** Decodes one frame; throws E_BAD_ARGS for anything malformed (never trusts the peer). */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < FRAME_HEADER_BYTES) throw bad('stream frame shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint8(0);
  const offset = view.getUint16(1) * 2 ** 32 + view.getUint32(3);
  const flags = view.getUint8(7);
  const payload = bytes.subarray(FRAME_HEADER_BYTES);
  switch (type) {
    case FrameType.DATA:
      if (flags !== 0) throw bad('DATA frame with flags');
      if (payload.length === 0 || payload.length > MAX_FRAME_DATA) throw bad('DATA frame payload size out of range');
      if (offset + payload.length > MAX_OFFSET) throw bad('DATA frame past the largest offset');
      return { type: 'data', offset, data: payload };
    case FrameType.CONTROL:
      if (flags !== 0) throw bad('CONTROL frame with flags');
      if (payload.length < 2 || payload.length > MAX_CONTROL_BYTES)
        throw bad('CONTROL frame payload size out of range');
      if (offset + payload.length > MAX_OFFSET) throw bad('CONTROL frame past the largest offset');
      return { type: 'control', offset, payload };
    case FrameType.ACK: {
      if ((flags & ~(AckFlag.FIN | AckFlag.NACK)) !== 0) throw bad('ACK frame with unknown flags');
      if (payload.length !== 4) throw bad('ACK frame payload must be 4 bytes');
      const window = view.getUint32(FRAME_HEADER_BYTES);
      if (window > MAX_WINDOW) throw bad('ACK window too large');
      return {
        type: 'ack',
        offset,
        window,
        fin: (flags & AckFlag.FIN) !== 0,
        nack: (flags & AckFlag.NACK) !== 0,
      };
    }
    case FrameType.FIN:
      if (flags !== 0 || payload.length !== 0) throw bad('FIN frame with flags or payload');
      return { type: 'fin', offset };
    case FrameType.RESET: {
      if (flags !== 0 || offset !== 0) throw bad('RESET frame with flags or offset');
      if (payload.length > MAX_RESET_BYTES) throw bad('RESET frame payload too large');
      let code: ErrorCode = 'E_INTERNAL';
      let message = 'stream reset by peer';
      try {
        const body = JSON.parse(fromUtf8.decode(payload)) as { code?: unknown; message?: unknown };
        if (isErrorCode(body.code)) code = body.code;
        if (typeof body.message === 'string') message = body.message.slice(0, 1024);
      } catch {
        // A RESET is honoured even when its reason is unreadable.
      }
      return { type: 'reset', error: { code, message } };
    }
    default:
      throw bad(`unknown stream frame type ${type}`);
  }
}

/** Parses a CONTROL payload: a UTF-8 JSON object (its schema is the stream kind's business). */
export function parseControl(payload: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8.decode(payload));
  } catch {
    throw bad('CONTROL frame is not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('CONTROL frame is not an object');
  return value as Record<string, unknown>;
}
