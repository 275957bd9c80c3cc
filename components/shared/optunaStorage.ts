import type * as pulumi from "@pulumi/pulumi";
import type { DatabaseConfig } from "../../config";
import { trainerContract } from "../../config/trainerContract";
import type { EnvPlan } from "./mlflowClientEnv";

/**
 * Where docker and kubernetes workers share one Optuna study (trial queue "rdb"): a database of its own
 * on the stack's PostgreSQL, beside MLflow's, reached as MLflow's role. MLflow stays the record of
 * results; this database only hands out trials. The first worker creates it (images/trainer/optunadb.py):
 * an in-stack server's volume predates any init script, and an external role needs CREATEDB for that
 * or a database created beforehand.
 */
export const optunaDatabaseName = "optuna";

/** The variables the trainer reads (images/trainer/trialqueue.py, optunadb.py). */
export const optunaStorageVars = {
  storage: trainerContract.env.optunaStorage,
  createFrom: trainerContract.env.optunaCreateFrom,
  /** libpq's own: the URL carries no password, so the URL may be shown and only this is secret. */
  password: "PGPASSWORD",
} as const;

export type PostgresDatabase = Exclude<DatabaseConfig, { kind: "sqlite" }>;

/** What a fan-out needs to hand its workers the shared study: the stack's database config and the role's password. */
export interface QueueDatabase {
  readonly database: PostgresDatabase;
  readonly password: pulumi.Input<string>;
  /**
   * Where the workers reach an in-stack server whose name the platform does not fix: on kubernetes the
   * PostgreSQL Service the tracking phase created (its `jobDatabaseAddress`). Docker uses its network alias.
   */
  readonly address?: pulumi.Input<ServerAddress>;
}

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** `inStack`: the platform's address of the stack's own server (a Docker network alias); required for an in-stack database. */
export function optunaStorageUrl(database: PostgresDatabase, inStack?: ServerAddress): string {
  const address = database.kind === "external" ? database : inStack;
  if (address === undefined) throw new Error("the shared trial queue needs the in-stack PostgreSQL's address, and this platform does not hand it to the training workers");
  const { host, port } = address;
  const ssl = database.kind === "external" ? `?sslmode=${database.sslMode}` : "";
  return `postgresql://${encodeURIComponent(database.user)}@${host}:${port}/${optunaDatabaseName}${ssl}`;
}

/** The workers' queue env: the URL and MLflow's database in plain text, the password from the database secret. */
export function optunaStorageEnv(database: PostgresDatabase, inStack?: ServerAddress): EnvPlan<"databasePassword"> {
  return {
    env: { [optunaStorageVars.storage]: optunaStorageUrl(database, inStack), [optunaStorageVars.createFrom]: database.database },
    secretEnv: { [optunaStorageVars.password]: "databasePassword" },
  };
}
