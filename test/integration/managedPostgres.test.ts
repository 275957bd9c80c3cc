/**
 * `tracking.database.manage: true` for real: the init phase creates MLflow's role and database with
 * @pulumi/postgresql on the real PostgreSQL of scripts/services/postgres.sh (as its superuser), MLflow
 * migrates its tables into that database, a second init changes nothing and `--destroy` drops both.
 * Everything is checked over SQL, as the superuser and as the new role.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceScript } from "../../scripts/services/testServices";
import { timedStep } from "../support/commands";
import { phase, repoRoot, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { commandLinesContaining, filesContaining } from "../support/secretScan";
import { generatedSecretsOf } from "../support/stackSecrets";

// Unique names: nothing else on the shared server uses them, and a leftover of an interrupted run is dropped first.
const database = "it_managed_db";
const role = "it_managed_role";
const mlflowPort = 5271;
const secrets: Record<string, string> = {};
let rolePassword = "";
const stack = new TestStack("it-managed-postgres", () => secrets);
const servicesDir = process.env.MLOPS_SERVICES_DIR ?? path.join(repoRoot, ".pipeline", "services");

const pgBin = () => {
  const versions = fs.readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a));
  return path.join("/usr/lib/postgresql", versions[0] ?? "", "bin");
};

/** psql on the test server as `user` with `password` (through the environment, never argv); tuples only. */
function sql(port: number, user: string, password: string, db: string, statement: string): string {
  return execFileSync(path.join(pgBin(), "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1", "-tA", "-c", statement], {
    encoding: "utf8",
    env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "10" },
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

const canRun = canRunPipelineSuite("managedPostgres integration", { services: true });

describe.skipIf(!canRun)("tracking.database.manage: true on the real PostgreSQL", () => {
  let port = 0;
  let adminPassword = "";
  const admin = (statement: string) => sql(port, "postgres", adminPassword, "postgres", statement);

  beforeAll(async () => {
    await timedStep("start PostgreSQL", () => serviceScript("postgres", ["start"]));
    port = Number(new URL(serviceScript("postgres", ["url"]).trim()).port);
    adminPassword = fs.readFileSync(path.join(servicesDir, "postgres", "superuser-password"), "utf8").trim();
    secrets.MLOPS_DATABASE_ADMIN_PASSWORD = adminPassword;
    stack.write(
      {
        tracking: {
          port: mlflowPort,
          database: { kind: "external", host: "127.0.0.1", port, database, user: role, manage: true, adminUser: "postgres" },
        },
      },
      "test/integration/managedPostgres.test.ts",
    );
    // An interrupted earlier run: its stacks first (they hold the role's state), then anything left on the server.
    await timedStep("remove leftovers", () => stack.driver(["--destroy"]));
    admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    admin(`DROP ROLE IF EXISTS ${role}`);
  });

  afterAll(async () => {
    if (!canRun) return;
    await stack.driver(["--destroy"]);
    fs.rmSync(stack.file, { force: true });
  });

  it("refuses manage: true without the admin password, naming the key, before anything runs", async () => {
    const run = await stack.driver(["--phase", "init"], { MLOPS_DATABASE_ADMIN_PASSWORD: "" });
    expect(run.status).not.toBe(0);
    expect(run.output).toMatch(/tracking\.database\.manage is true.*mlops:databaseAdminPassword.*MLOPS_DATABASE_ADMIN_PASSWORD/);
    expect(run.output).not.toMatch(/\n\s+at |MLOPS_DEBUG/); // a user mistake: no stack trace, no hint to see one
    // Nothing ran: no password was generated, no role created.
    await expect(generatedSecretsOf(stack.name)).rejects.toThrow(/no generatedSecrets output|no stack named/);
    expect(admin(`SELECT count(*) FROM pg_roles WHERE rolname = '${role}'`)).toBe("0");
  });

  it("creates the role and its database, then MLflow runs on them", async () => {
    const run = await timedStep("init", () => stack.driver(["--phase", "init"]));
    expect(run.status, run.output).toBe(0);
    expect(admin(`SELECT rolcanlogin FROM pg_roles WHERE rolname = '${role}'`)).toBe("t");
    expect(admin(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${database}'`)).toBe(role);

    const { secret, values } = await generatedSecretsOf(stack.name);
    expect(secret).toBe(true);
    rolePassword = values.databasePassword ?? "";
    expect(rolePassword.length).toBeGreaterThanOrEqual(32);
    // The role logs in with its password and MLflow migrated its tables into the database, owned by the role.
    expect(sql(port, role, rolePassword, database, "SELECT current_user")).toBe(role);
    expect(() => sql(port, role, `${rolePassword}x`, database, "SELECT 1")).toThrow(/password authentication failed/);
    const tables = sql(port, role, rolePassword, database, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = '${role}'`).split("\n");
    expect(tables).toEqual(expect.arrayContaining(["experiments", "runs", "metrics", "alembic_version"]));

    const health = await fetch(`http://127.0.0.1:${mlflowPort}/health`);
    expect(health.status).toBe(200);
    expect(await health.text()).toMatch(/OK/);
  });

  it("changes nothing on a second init", async () => {
    const run = await timedStep("second init", () => stack.driver(["--phase", "init"]));
    expect(run.status, run.output).toBe(0);
    expect(phase(stack.lastRun(), "init").resourceChanges).toBe(0);
  });

  it("keeps both passwords out of state, logs and command lines", () => {
    const roots = [path.join(repoRoot, ".pulumi-state"), stack.logDir, stack.runRecordFile];
    for (const [name, value] of [
      ["admin password", secrets.MLOPS_DATABASE_ADMIN_PASSWORD ?? ""],
      ["role password", rolePassword],
    ]) {
      expect(value, name).not.toBe("");
      expect(filesContaining(value, roots), name).toEqual([]);
      expect(commandLinesContaining(value), name).toEqual([]);
    }
  });

  it("drops the database and the role on --destroy", async () => {
    const run = await timedStep("destroy", () => stack.driver(["--destroy"]));
    expect(run.status, run.output).toBe(0);
    expect(admin(`SELECT count(*) FROM pg_database WHERE datname = '${database}'`)).toBe("0");
    expect(admin(`SELECT count(*) FROM pg_roles WHERE rolname = '${role}'`)).toBe("0");
    expect(
      await fetch(`http://127.0.0.1:${mlflowPort}/health`).then(
        () => "answering",
        () => "gone",
      ),
    ).toBe("gone");
  });
});
