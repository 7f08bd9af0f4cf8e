/** Opening the fleet database with porsager's `postgres` client. */
import postgres, { type Sql, type TransactionSql } from 'postgres';

export type { Sql, TransactionSql };

/** `MEMFAIL_PG_URL` when no --pg was given. */
export function pgUrlFrom(flag: string | undefined): string | undefined {
  return flag ?? process.env.MEMFAIL_PG_URL;
}

/**
 * A client for `url`. int8 columns come back as numbers: µs since the epoch
 * (~1.8e15) and row counts stay far below 2^53.
 */
export function openPg(url: string, max = 4): Sql {
  return postgres(url, {
    max,
    onnotice: () => {},
    connect_timeout: 10,
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  });
}

/** The URL without its password: for log lines and errors. */
export function redactPgUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*):[^@/]*@/, '$1:***@');
}
