import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AddressError,
  formatAddress,
  parseAddress,
  tcpAddress,
  unixAddress,
} from '../../src/qmp/index.js';

describe('QMP addresses', () => {
  test('unix:, tcp: (names, IPv4, bracketed IPv6) and bare paths', () => {
    assert.deepEqual(parseAddress('unix:/run/vm1.qmp'), { kind: 'unix', path: '/run/vm1.qmp' });
    assert.deepEqual(parseAddress('/run/vm1.qmp'), { kind: 'unix', path: '/run/vm1.qmp' });
    assert.deepEqual(parseAddress('vm1.qmp'), { kind: 'unix', path: 'vm1.qmp' });
    assert.deepEqual(parseAddress('./a:b'), { kind: 'unix', path: './a:b' });
    assert.deepEqual(parseAddress('tcp:localhost:4444'), {
      kind: 'tcp',
      host: 'localhost',
      port: 4444,
    });
    assert.deepEqual(parseAddress('tcp:127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseAddress('tcp:[::1]:4444'), { kind: 'tcp', host: '::1', port: 4444 });
  });

  test('formatAddress round-trips', () => {
    for (const text of [
      'unix:/run/vm1.qmp',
      'tcp:localhost:4444',
      'tcp:[::1]:4444',
      'tcp:[fe80::1]:1',
    ]) {
      assert.equal(formatAddress(parseAddress(text)), text);
    }
    assert.equal(formatAddress(parseAddress('/x.sock')), 'unix:/x.sock');
    assert.equal(formatAddress(tcpAddress('::1', 5)), 'tcp:[::1]:5');
    assert.equal(formatAddress(unixAddress('/y')), 'unix:/y');
  });

  const bad: [string, AddressError['code']][] = [
    ['', 'empty'],
    ['unix:', 'empty-path'],
    [`unix:/${'x'.repeat(120)}`, 'path-too-long'],
    ['tcp:localhost', 'missing-port'],
    ['tcp:[::1]', 'missing-port'],
    ['tcp:[::1:4444', 'bad-host'],
    ['tcp:::1:4444', 'bad-host'],
    ['tcp::4444', 'bad-host'],
    ['tcp:host:http', 'bad-port'],
    ['tcp:host:65536', 'bad-port'],
    ['tcp:host:', 'bad-port'],
    ['http://host:80', 'unknown-scheme'],
    ['vsock:3:4444', 'unknown-scheme'],
  ];
  for (const [text, code] of bad) {
    test(`'${text.length > 30 ? `${text.slice(0, 30)}...` : text}' is refused with ${code}`, () => {
      assert.throws(
        () => parseAddress(text),
        (e: unknown) =>
          e instanceof AddressError && e.code === code && e.message.includes('invalid QMP address'),
      );
    });
  }

  test('tcpAddress checks its port', () => {
    assert.throws(() => tcpAddress('h', 70000), { code: 'bad-port' });
    assert.throws(() => tcpAddress('h', 1.5), { code: 'bad-port' });
  });
});
