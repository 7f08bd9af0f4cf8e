/** The tests' private nats-server and PostgreSQL: the same starters as `memfail demo --fleet`. */
export {
  freePort,
  type NatsServer,
  type PostgresServer,
  startNats,
  startPostgres,
} from '../../src/fleet/services.js';
