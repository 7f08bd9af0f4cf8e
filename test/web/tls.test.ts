/** HTTPS, and client certificates as the other way (beside a token) to serve beyond loopback. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { memfail } from '../agent/child.js';
import { failureAt, minutesAgo, record, serveStore, tempDir } from './fixtures.js';

interface Pem {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed, plus a stranger's. */
function makeCertificates(dir: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...key,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=memfail test CA',
  );
  const signed = (name: string, extra: string[]) => {
    ssl(
      'req',
      '-new',
      ...key,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
      ...extra,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-copy_extensions',
      'copy',
    );
  };
  signed('server', ['-addext', 'subjectAltName=IP:127.0.0.1']);
  signed('client', []);
  ssl(
    'req',
    '-x509',
    ...key,
    '-keyout',
    'stranger.key',
    '-out',
    'stranger.pem',
    '-days',
    '1',
    '-subj',
    '/CN=stranger',
  );
  const pem = (name: string): Pem => ({
    cert: readFileSync(join(dir, `${name}.pem`)),
    key: readFileSync(join(dir, `${name}.key`)),
  });
  return {
    ca: readFileSync(join(dir, 'ca.pem')),
    server: pem('server'),
    client: pem('client'),
    stranger: pem('stranger'),
  };
}

function get(url: string, ca: Buffer, client?: Pem): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, ...(client ?? {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard over TLS', () => {
  const { dir, cleanup } = tempDir('memfail-web-tls-');
  const db = join(dir, 'events.db');
  let certs: ReturnType<typeof makeCertificates>;
  before(() => {
    certs = makeCertificates(dir);
    record(db, [failureAt('vm1', minutesAgo(2))]);
  });
  after(cleanup);

  test('HTTPS on loopback', async () => {
    const served = await serveStore(db, { tls: certs.server });
    try {
      assert.match(served.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal(await get(new URL('/api/hosts', served.url).href, certs.ca), 200);
    } finally {
      await served.close();
    }
  });

  test('with a client CA, any address and no token: only clients it signed get an answer', async () => {
    const served = await serveStore(db, {
      host: '0.0.0.0',
      tls: { ...certs.server, clientCa: certs.ca },
    });
    try {
      const url = served.url.replace('0.0.0.0', '127.0.0.1');
      assert.equal(await get(new URL('/api/hosts', url).href, certs.ca, certs.client), 200);
      assert.equal(await get(url, certs.ca, certs.client), 200);
      await assert.rejects(get(new URL('/api/hosts', url).href, certs.ca));
      await assert.rejects(get(new URL('/api/hosts', url).href, certs.ca, certs.stranger));
      assert.equal(await get(new URL('/api/hosts', url).href, certs.ca, certs.client), 200);
    } finally {
      await served.close();
    }
  });

  test('the TLS flags go together', async () => {
    const half = memfail(['serve', '--db', db, '--tls-cert', join(dir, 'server.pem')]);
    assert.equal(await half.exited, 2);
    assert.match(half.stderr(), /--tls-cert and --tls-key go together/);
    const ca = memfail(['serve', '--db', db, '--tls-client-ca', join(dir, 'ca.pem')]);
    assert.equal(await ca.exited, 2);
    assert.match(ca.stderr(), /--tls-client-ca needs --tls-cert and --tls-key/);
    const missing = memfail([
      'serve',
      '--db',
      db,
      '--tls-cert',
      join(dir, 'nope.pem'),
      '--tls-key',
      join(dir, 'server.key'),
    ]);
    assert.equal(await missing.exited, 2);
    assert.match(missing.stderr(), /cannot read --tls-cert .*nope\.pem/);
  });
});
