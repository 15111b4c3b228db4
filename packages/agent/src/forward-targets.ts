/**
 * Which TCP targets this device lets `forward/open` connect to (docs/forward.md
 * §Allowed targets): the `forwardAllow` config key, a list of `HOST:PORTS` rules.
 *
 *   localhost:*          a DNS name, any port
 *   127.0.0.1:8080       an IPv4 address, one port
 *   10.0.0.0/8:1-1024    an IPv4 network (CIDR), a port range
 *   [::1]:22             an IPv6 address (always in brackets)
 *   [fd00::/8]:*         an IPv6 network
 *   *:443                any host (use with care: the device becomes a proxy)
 *
 * A target named by an IP address must match an address or network rule. A
 * target named by a DNS name is allowed when a rule names it (then every address
 * it resolves to is fine), or else when every address of it matches an address
 * rule; the device then connects to the addresses it checked, never looking the
 * name up again, so DNS cannot swap in another address in between.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { OutpostError } from '@outpost/protocol';

/** Localhost only: what a device allows when its config says nothing. */
export const DEFAULT_FORWARD_ALLOW: readonly string[] = Object.freeze(['localhost:*', '127.0.0.1:*', '[::1]:*']);
export const MAX_FORWARD_RULES = 256;

type HostMatcher = { kind: 'any' } | { kind: 'name'; name: string } | { kind: 'net'; family: 4 | 6; list: BlockList };

export interface ForwardRule {
  /** The rule as written in the config. */
  readonly text: string;
  readonly host: HostMatcher;
  readonly ports: readonly [number, number];
}

/** A resolved address the device may connect to. */
export interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A DNS name as a rule or target writes it: lowercase, no trailing dot, RFC 1123 labels (plus `_`). */
export function normalizeHostName(host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h.length === 0 || h.length > 253) return undefined;
  return h.split('.').every((l) => LABEL.test(l)) ? h : undefined;
}

/** An IP literal in canonical form; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes the IPv4 address. */
export function normalizeIp(ip: string): CheckedAddress | undefined {
  const family = isIP(ip);
  if (family === 4) return { address: ip, family: 4 };
  if (family !== 6) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1] && isIP(mapped[1]) === 4) return { address: mapped[1], family: 4 };
  return { address: ip.toLowerCase(), family: 6 };
}

function parsePorts(text: string, rule: string): [number, number] {
  if (text === '*') return [1, 65_535];
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const lo = m?.[1] === undefined ? Number.NaN : Number(m[1]);
  const hi = m?.[2] === undefined ? lo : Number(m[2]);
  if (!(lo >= 1 && lo <= 65_535 && hi >= 1 && hi <= 65_535)) {
    throw new Error(`'${rule}': the port must be 1-65535, a range like 8000-8099, or * (got '${text}')`);
  }
  if (lo > hi) throw new Error(`'${rule}': the port range ${lo}-${hi} is backwards`);
  return [lo, hi];
}

function network(address: string, prefix: string | undefined, family: 4 | 6, rule: string): HostMatcher {
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) {
    list.addAddress(address, type);
    return { kind: 'net', family, list };
  }
  const max = family === 4 ? 32 : 128;
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
  if (!(bits >= 0 && bits <= max)) {
    throw new Error(`'${rule}': the prefix length of an IPv${family} network must be 0-${max} (got '/${prefix}')`);
  }
  list.addSubnet(address, bits, type);
  return { kind: 'net', family, list };
}

function parseHost(text: string, rule: string): HostMatcher {
  if (text === '*') return { kind: 'any' };
  if (text.startsWith('[')) {
    const m = /^\[([^\]/]+)(?:\/([^\]]*))?\]$/.exec(text);
    const ip = m?.[1] !== undefined ? normalizeIp(m[1]) : undefined;
    if (!m || ip?.family !== 6) {
      throw new Error(`'${rule}': inside [ ] must be an IPv6 address or network, e.g. [::1] or [fd00::/8]`);
    }
    return network(ip.address, m[2], 6, rule);
  }
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const ip = normalizeIp(addr);
  if (ip?.family === 6) throw new Error(`'${rule}': write an IPv6 address in brackets, e.g. [${addr}]:22`);
  if (ip) return network(ip.address, slash === -1 ? undefined : text.slice(slash + 1), 4, rule);
  if (slash !== -1) throw new Error(`'${rule}': '${addr}' is not an IPv4 address, so it cannot have a /prefix`);
  if (/^\d+(\.\d+)*$/.test(text)) throw new Error(`'${rule}': '${text}' is not a valid IPv4 address`);
  const name = normalizeHostName(text);
  if (!name) throw new Error(`'${rule}': '${text}' is not a host name, an IP address, a network or *`);
  return { kind: 'name', name };
}

/** Parses one `HOST:PORTS` rule; throws an Error whose message names the rule and what is wrong. */
export function parseForwardRule(text: string): ForwardRule {
  const rule = text.trim();
  if (rule.length === 0) throw new Error('an empty rule; write HOST:PORT, e.g. localhost:8080');
  if (rule.length > 300) throw new Error(`'${rule.slice(0, 40)}…': longer than 300 characters`);
  const colon = rule.lastIndexOf(':');
  const closing = rule.lastIndexOf(']');
  if (colon === -1 || colon < closing) {
    throw new Error(`'${rule}': no port; write HOST:PORT, HOST:FROM-TO or HOST:* (e.g. localhost:8080)`);
  }
  const host = parseHost(rule.slice(0, colon), rule);
  return Object.freeze({ text: rule, host, ports: Object.freeze(parsePorts(rule.slice(colon + 1), rule)) });
}

/** Parses the whole list; the error names the rule at fault. */
export function parseForwardRules(texts: readonly string[]): ForwardRule[] {
  if (texts.length > MAX_FORWARD_RULES) throw new Error(`at most ${MAX_FORWARD_RULES} rules (got ${texts.length})`);
  return texts.map((t) => parseForwardRule(t));
}

const portIn = (r: ForwardRule, port: number) => port >= r.ports[0] && port <= r.ports[1];

function addressAllowed(rules: readonly ForwardRule[], a: CheckedAddress, port: number): boolean {
  return rules.some(
    (r) =>
      portIn(r, port) &&
      (r.host.kind === 'any' ||
        (r.host.kind === 'net' &&
          r.host.family === a.family &&
          r.host.list.check(a.address, a.family === 4 ? 'ipv4' : 'ipv6'))),
  );
}

export type Lookup = (name: string) => Promise<CheckedAddress[]>;

/** All addresses of a name, in the order the system resolver gives them (as `ssh -L` tries them). */
export const systemLookup: Lookup = async (name) => {
  const all = await dnsLookup(name, { all: true, verbatim: true });
  return all.flatMap((a) => {
    const n = normalizeIp(a.address);
    return n ? [n] : [];
  });
};

/**
 * The target's addresses to try, in order, when the rules allow it; E_DENIED
 * when they do not, E_NOT_FOUND when the name does not resolve.
 */
export async function checkForwardTarget(
  rules: readonly ForwardRule[],
  host: string,
  port: number,
  lookup: Lookup = systemLookup,
): Promise<CheckedAddress[]> {
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const denied = () =>
    new OutpostError(
      'E_DENIED',
      `forwarding to ${target} is not allowed on this device (forwardAllow: ${rules.map((r) => r.text).join(', ') || 'none'})`,
    );
  const ip = normalizeIp(host.replace(/^\[(.*)\]$/, '$1'));
  if (ip) {
    if (!addressAllowed(rules, ip, port)) throw denied();
    return [ip];
  }
  const name = normalizeHostName(host);
  if (!name) throw new OutpostError('E_BAD_ARGS', `'${host.slice(0, 80)}' is not a host name or an IP address`);
  const byName = rules.some(
    (r) => portIn(r, port) && (r.host.kind === 'any' || (r.host.kind === 'name' && r.host.name === name)),
  );
  // Without a rule that could allow it, the name is not even looked up: a denial says nothing about DNS.
  if (!byName && !rules.some((r) => portIn(r, port) && r.host.kind === 'net')) throw denied();
  let addresses: CheckedAddress[];
  try {
    addresses = await lookup(name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new OutpostError('E_NOT_FOUND', `cannot resolve ${name} on the device (${code})`);
  }
  if (addresses.length === 0) throw new OutpostError('E_NOT_FOUND', `${name} has no address on the device`);
  if (byName) return addresses;
  // Allowed by address only: every address must pass, or a name could smuggle in one that does not.
  if (!addresses.every((a) => addressAllowed(rules, a, port))) throw denied();
  return addresses;
}
