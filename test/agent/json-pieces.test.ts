import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonPieces, lazy } from '../../src/agent/json-pieces.js';

function written(value: unknown): string {
  return [...jsonPieces(value)].join('');
}

test('lazy arrays print as JSON.stringify(value, null, 2) prints the same arrays', () => {
  const accounts = [
    { id: 1, text: 'a\nb "quoted"' },
    { id: 2, nested: { list: [1, [2, {}]] } },
  ];
  const cases: [unknown, unknown][] = [
    [
      { vm: 'a', accounts: lazy(accounts) },
      { vm: 'a', accounts },
    ],
    [
      { vm: 'a', accounts: lazy([]) },
      { vm: 'a', accounts: [] },
    ],
    [{ gone: undefined, list: lazy([null, 'x', 0]) }, { list: [null, 'x', 0] }],
    [
      {
        outer: lazy([
          { inner: lazy(accounts), n: 1 },
          { inner: lazy([]), n: 2 },
        ]),
      },
      {
        outer: [
          { inner: accounts, n: 1 },
          { inner: [], n: 2 },
        ],
      },
    ],
    [lazy([{ a: 1 }, []]), [{ a: 1 }, []]],
    [{ plain: { no: 'lazy' } }, { plain: { no: 'lazy' } }],
  ];
  for (const [streamed, whole] of cases) {
    assert.equal(written(streamed), JSON.stringify(whole, null, 2));
  }
});

test('a lazy array is walked item by item, not gathered first', () => {
  let made = 0;
  function* items() {
    for (let i = 0; i < 3; i++) {
      made++;
      yield { i };
    }
  }
  const pieces = jsonPieces({ items: lazy(items()) });
  let seen = '';
  for (const piece of pieces) {
    seen += piece;
    // No item is made before the text of the ones before it is out.
    assert.ok(made <= (seen.match(/"i"/g)?.length ?? 0) + 1);
  }
  assert.equal(made, 3);
});
