import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";

export interface ManagedPostgresArgs {
  /** The existing server (e.g. an RDS or Cloud SQL instance). */
  readonly host: pulumi.Input<string>;
  readonly port?: pulumi.Input<number>;
  /** As `tracking.database.sslMode`; "prefer" (or none) becomes "disable" on loopback, else "require" (see providerSslMode). */
  readonly sslMode?: "disable" | "prefer" | "require" | "verify-full";
  /** An administrative role allowed to create roles and databases. */
  readonly adminUser: pulumi.Input<string>;
  readonly adminPassword: pulumi.Input<string>;
  /** Managed services rarely grant SUPERUSER; false makes the provider avoid superuser-only queries. */
  readonly adminIsSuperuser?: boolean;
  /** The database MLflow uses, owned by `user`. */
  readonly database: string;
  /** The login role MLflow connects as. */
  readonly user: string;
  readonly userPassword: pulumi.Input<string>;
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const loopback = (host: string) => host === "localhost" || host === "::1" || /^127\./.test(host);

/**
 * The provider's sslmode for the configured `sslMode`. The provider's driver (lib/pq) has no "prefer":
 * a loopback server gets "disable" (nothing leaves the machine; local servers rarely have certificates),
 * any other host "require", so the admin password never crosses a network in clear.
 */
export function providerSslMode(sslMode: ManagedPostgresArgs["sslMode"], host: string): "disable" | "require" | "verify-full" {
  if (sslMode === "disable" || sslMode === "require" || sslMode === "verify-full") return sslMode;
  return loopback(host) ? "disable" : "require";
}

export function validateManagedPostgresArgs(args: ManagedPostgresArgs): void {
  for (const [key, value] of [
    ["database", args.database],
    ["user", args.user],
  ] as const) {
    if (!identifier.test(value)) {
      throw new Error(`ManagedPostgres: ${key} '${value}' must be a plain PostgreSQL identifier (letters, digits, '_', at most 63, not starting with a digit)`);
    }
  }
  if (typeof args.port === "number" && (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535)) throw new Error(`ManagedPostgres: port ${args.port} must be 1-65535`);
}

/**
 * MLflow's role and database on a PostgreSQL server someone else runs. The provider is explicit and
 * built from these args, so the admin credentials never come from ambient configuration.
 */
export class ManagedPostgres extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  readonly user: pulumi.Output<string>;

  constructor(name: string, args: ManagedPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:external:ManagedPostgres", name, {}, opts);
    validateManagedPostgresArgs(args);
    const provider = new postgresql.Provider(
      `${name}-admin`,
      {
        host: args.host,
        port: args.port ?? 5432,
        username: args.adminUser,
        password: pulumi.secret(args.adminPassword),
        sslmode: pulumi.output(args.host).apply((host) => providerSslMode(args.sslMode, host)),
        superuser: args.adminIsSuperuser ?? false,
        connectTimeout: 15,
      },
      { parent: this },
    );
    const role = new postgresql.Role(`${name}-role`, { name: args.user, login: true, password: pulumi.secret(args.userPassword) }, { parent: this, provider });
    // template0 makes the UTF8 encoding valid whatever template1 was created with.
    const database = new postgresql.Database(`${name}-database`, { name: args.database, owner: role.name, encoding: "UTF8", template: "template0" }, { parent: this, provider });

    this.host = pulumi.output(args.host);
    this.port = pulumi.output(args.port ?? 5432);
    this.database = database.name;
    this.user = role.name;
    this.registerOutputs({ host: this.host, port: this.port, database: this.database, user: this.user });
  }
}
