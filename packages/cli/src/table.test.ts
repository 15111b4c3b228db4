/** What people read: aligned tables for devices and tokens, `key  value` blocks. */
import { describe, expect, it } from 'vitest';
import type { Device, EnrollmentToken } from './api-types.js';
import { renderDevices } from './commands/devices.js';
import { renderTokens } from './commands/tokens.js';
import { renderFields, renderTable } from './table.js';

const now = Date.parse('2025-06-01T12:00:00Z');

describe('renderTable', () => {
  it('aligns columns with two spaces and leaves no trailing spaces', () => {
    const out = renderTable(
      ['ID', 'NAME', 'TAGS'],
      [
        ['d-1', 'gateway-north', 'lab'],
        ['d-22', 'pi', ''],
      ],
    );
    expect(out).toBe(['ID    NAME           TAGS', 'd-1   gateway-north  lab', 'd-22  pi'].join('\n').concat('\n'));
  });

  it('keeps a row on one line even if a cell has a newline, and counts accents once', () => {
    const out = renderTable(['A', 'B'], [['é\nx', 'y']]);
    expect(out).toBe('A    B\né x  y\n');
  });

  it('renderFields shows missing values as -', () => {
    expect(
      renderFields([
        ['id', 'd-1'],
        ['hostname', null],
      ]),
    ).toBe('id        d-1\nhostname  -\n');
  });
});

const device = (d: Partial<Device>): Device => ({
  id: 'd-1',
  name: 'gw-1',
  status: 'accepted',
  online: true,
  tags: [],
  hostname: null,
  os: null,
  kernel: null,
  arch: null,
  agentVersion: '0.1.0',
  macs: [],
  ips: [],
  heartbeat: null,
  firstSeen: null,
  lastSeen: null,
  onlineSince: null,
  enrolledAt: '2025-01-01T00:00:00Z',
  metrics: null,
  ...d,
});

describe('devices ls table', () => {
  it('shows status, presence, relative last seen, the first routable IP, agent version and tags', () => {
    const out = renderDevices(
      [
        device({ ips: ['127.0.0.1', 'fe80::1', '192.168.1.20'], tags: ['lab', 'pi'] }),
        device({
          id: 'd-2',
          name: 'pump-station-7',
          status: 'pending',
          online: false,
          lastSeen: '2025-06-01T09:00:00Z',
          agentVersion: null,
        }),
      ],
      now,
    );
    expect(out.split('\n')).toEqual([
      'ID   NAME            STATUS    ONLINE  LAST SEEN  IP            AGENT  TAGS',
      'd-1  gw-1            accepted  yes     now        192.168.1.20  0.1.0  lab, pi',
      'd-2  pump-station-7  pending   no      3h ago     -             -      -',
      '',
    ]);
  });
});

describe('tokens ls table', () => {
  it('shows state, uses against the limit and when it expires, never the secret', () => {
    const token: EnrollmentToken = {
      id: 'et-1',
      name: 'lab',
      tags: ['lab'],
      autoAccept: true,
      maxUses: null,
      uses: 2,
      expiresAt: '2025-06-02T12:00:00Z',
      revokedAt: null,
      createdAt: '2025-06-01T12:00:00Z',
      state: 'active',
    };
    const out = renderTokens([token, { ...token, id: 'et-2', name: '', maxUses: 1, uses: 1, state: 'used-up' }], now);
    expect(out.split('\n')).toEqual([
      'ID    NAME  STATE    USES         EXPIRES  AUTO-ACCEPT  TAGS',
      'et-1  lab   active   2/unlimited  in 1d    yes          lab',
      'et-2  -     used-up  1/1          in 1d    yes          lab',
      '',
    ]);
  });
});
