import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHmp, toMonitorOutput } from '../../src/hypervisor/hmp.js';

const TRY = 'Try "help mce" for more information\n';

describe('parseHmp: mce', () => {
  test('reads the six arguments, hex, octal and decimal', () => {
    assert.deepEqual(parseHmp('mce 0 1 0xbd80000000000134 5 0x1234000 012'), {
      ok: true,
      command: {
        kind: 'mce',
        broadcast: false,
        cpu: 0,
        bank: 1,
        status: 0xbd80000000000134n,
        mcgStatus: 5n,
        addr: 0x1234000n,
        misc: 10n,
      },
    });
  });

  test('-b broadcasts; expressions are evaluated with 64-bit wrap', () => {
    const r = parseHmp('  mce -b 1 (2+7) 0x8000000000000000|0x134 ~0 -1 (1<0)');
    // '<' is no operator: "(1" then "<" stops the expression.
    assert.equal(r.ok, false);
    const ok = parseHmp('mce -b 1 (2+7) 0x8000000000000000|0x134 ~0 (-1) 7*3/2%4');
    assert.deepEqual(ok, {
      ok: true,
      command: {
        kind: 'mce',
        broadcast: true,
        cpu: 1,
        bank: 9,
        status: 0x8000000000000134n,
        mcgStatus: 0xffffffffffffffffn,
        addr: 0xffffffffffffffffn,
        misc: 2n,
      },
    });
  });

  test('a space does not end an expression before an operator: "2 -1" is 1', () => {
    const r = parseHmp('mce 0 2 -1 0x8000000000000000 0 0 0');
    assert.ok(r.ok && r.command.kind === 'mce');
    if (r.ok && r.command.kind === 'mce') {
      assert.equal(r.command.bank, 1);
      assert.equal(r.command.status, 0x8000000000000000n);
    }
  });

  // Texts observed from QEMU 7.2's human-monitor-command (before CRLF conversion).
  const errors: [string, string][] = [
    ['mce', `unexpected end of expression\n${TRY}`],
    ['mce 0 1 2 3 4', `unexpected end of expression\n${TRY}`],
    ['mce x 1 2 3 4 5', `invalid char 'x' in expression\n${TRY}`],
    ['mce 0 1 zz 0 0 0', `invalid char 'z' in expression\n${TRY}`],
    ['mce 0 1 0x8000000000000000 0 0 0 7', `mce: extraneous characters at the end of line\n${TRY}`],
    ['mce -1 1 0x8000000000000000 0 0 0', `mce: unsupported option -1\n${TRY}`],
    ['mce 0 1 0x1ffffffffffffffff 0 0 0', `number too large\n${TRY}`],
    ['mce 0 0x100000000 1 0 0 0', `'mce' has failed: integer is for 32-bit values\n${TRY}`],
    ['mce 0 -1 0x8000000000000000 0 0 0', `'mce' has failed: integer is for 32-bit values\n${TRY}`],
    ['mce 0 1 (1+2 0 0 0', `')' expected\n${TRY}`],
    ['mce 0 1 5/0 0 0 0', `division by zero\n${TRY}`],
    ["mce 0 1 'a 0 0 0", `missing terminating ' character\n${TRY}`],
  ];
  for (const [line, text] of errors) {
    test(`'${line}' → QEMU's text`, () => assert.deepEqual(parseHmp(line), { ok: false, text }));
  }

  test('a 32-bit value of 2^31 or more turns negative, as in a C int', () => {
    const r = parseHmp('mce 0xffffffff 0x80000000 0x8000000000000000 0 0 0');
    assert.ok(r.ok && r.command.kind === 'mce');
    if (r.ok && r.command.kind === 'mce') {
      assert.equal(r.command.cpu, -1);
      assert.equal(r.command.bank, -2147483648);
    }
  });

  test("character constants: 'A' is 65", () => {
    const r = parseHmp("mce 0 'A' 0x8000000000000000 0 0 0");
    assert.ok(r.ok && r.command.kind === 'mce' && r.command.bank === 65);
  });
});

describe('parseHmp: other commands', () => {
  test('info status', () =>
    assert.deepEqual(parseHmp('info status'), { ok: true, command: { kind: 'info-status' } }));
  test('an empty line does nothing', () =>
    assert.deepEqual(parseHmp('   '), { ok: true, command: { kind: 'empty' } }));
  test('unknown commands', () => {
    assert.deepEqual(parseHmp('foo'), { ok: false, text: "unknown command: 'foo'\n" });
    assert.deepEqual(parseHmp('info bogus'), {
      ok: false,
      text: "unknown command: 'info bogus'\n",
    });
  });
  test('help for the commands it has', () => {
    assert.deepEqual(parseHmp('help mce'), {
      ok: false,
      text: 'mce [-b] cpu bank status mcgstatus addr misc -- inject a MCE on the given CPU [and broadcast to other CPUs with -b option]\n',
    });
    assert.deepEqual(parseHmp('? info   status'), {
      ok: false,
      text: 'info status  -- show the current VM status (running|paused)\n',
    });
    assert.deepEqual(parseHmp('help bogus'), { ok: false, text: "unknown command: 'bogus'\n" });
  });
  test('info status takes no arguments', () => {
    assert.deepEqual(parseHmp('info status now'), {
      ok: false,
      text: 'status: extraneous characters at the end of line\nTry "help info status" for more information\n',
    });
  });
  test('monitor output uses CRLF', () => assert.equal(toMonitorOutput('a\nb\n'), 'a\r\nb\r\n'));
});
