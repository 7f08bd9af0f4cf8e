/**
 * QEMU 7.2's whole QMP API as types, for a typed QmpClient:
 *
 *   import { QmpClient, type QemuCommands, type QemuEvents } from 'memfail/qmp';
 *   const client = new QmpClient<QemuCommands, QemuEvents>();
 *   const status = await client.execute('query-status'); // StatusInfo
 *
 * The maps are generated from QEMU 7.2's qapi/qapi-schema.json (npm run gen):
 * command name → `{ args, returns }`, event name → its data. The argument and
 * return types they name are in 'memfail/qemu-7.2'. Types only: nothing here
 * validates at run time (a client's `validateEvent` option does that).
 */

export type {
  Commands as QemuCommands,
  Events as QemuEvents,
} from '../generated/qemu-7.2/types.js';
