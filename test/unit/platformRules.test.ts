/**
 * The platform rules every platform shares (components/shared, config/platformSupport.ts), tested once,
 * and checks that local, docker and kubernetes really use them rather than copies of their own.
 */
import { describe, expect, it } from "vitest";
import { servingTopology } from "../../components/docker/servingSpecs";
import { trackingTopology, withAuthSecrets } from "../../components/docker/trackingSpecs";
import { planEnv } from "../../components/kubernetes/meta";
import { basicAuthIni, localPaths, planTrackingServer } from "../../components/local";
import { builtImageRef } from "../../components/shared/images";
import { authDatabaseFile, deriveFlaskSecretKey, iniValue, renderAuthIni, sqliteAuthDatabaseUri } from "../../components/shared/mlflowAuth";
import { mlflowClientEnv, mlflowClientVars, resolveSecretEnv, s3ClientEnv } from "../../components/shared/mlflowClientEnv";
import { defaultKind, parseStackConfig, platformSupport, platforms, supportedStorage, unsupportedReason } from "../../config";

const password = "a-100%-long\npassword";

describe("MLflow basic auth (components/shared/mlflowAuth.ts)", () => {
  it("renders the ini for configparser: '%' doubled, no line break can end a value", () => {
    const ini = renderAuthIni({ databaseUri: "postgresql://ml%40flow@pg:5432/mlflow", adminUser: "admin", adminPassword: password });
    expect(ini).toContain("admin_password = a-100%%-longpassword\n");
    expect(ini).toContain("database_uri = postgresql://ml%%40flow@pg:5432/mlflow\n");
    expect(ini.split("\n")).toEqual([
      "[mlflow]",
      "default_permission = READ",
      "database_uri = postgresql://ml%%40flow@pg:5432/mlflow",
      "admin_username = admin",
      "admin_password = a-100%%-longpassword",
      "authorization_function = mlops_mlflow_auth:authenticate_request_basic_auth_cached",
      "",
    ]);
    expect(iniValue("50%")).toBe("50%%");
  });

  it("refuses an admin password MLflow would refuse, naming the key", () => {
    expect(() => renderAuthIni({ databaseUri: "x", adminUser: "admin", adminPassword: "twelve-chars" })).toThrow(/mlops:authAdminPassword\) must be at least 13 characters/);
    expect(() => renderAuthIni({ databaseUri: "x", adminUser: "admin", adminPassword: "thirteen-char" })).not.toThrow();
  });

  it("derives one stable CSRF key per admin password, without revealing it", () => {
    const key = deriveFlaskSecretKey(password);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(deriveFlaskSecretKey(password)).toBe(key);
    expect(deriveFlaskSecretKey(`${password}x`)).not.toBe(key);
    expect(key).not.toContain("long");
  });

  it("gives a new admin password a fresh users database, in the folder given", () => {
    const file = authDatabaseFile("/var/lib/mlflow-auth/", password);
    expect(file).toMatch(/^\/var\/lib\/mlflow-auth\/basic_auth-[0-9a-f]{12}\.db$/);
    expect(authDatabaseFile("/var/lib/mlflow-auth", password)).toBe(file);
    expect(authDatabaseFile("/var/lib/mlflow-auth", "another-password")).not.toBe(file);
    expect(sqliteAuthDatabaseUri("/var/lib/mlflow-auth", password)).toBe(`sqlite:///${file}`);
  });

  it("is what local and docker both write (kubernetes keeps users in its PostgreSQL, same ini and key)", () => {
    const paths = localPaths("/work/proj", "dev");
    expect(basicAuthIni(paths, "admin", password)).toBe(renderAuthIni({ databaseUri: sqliteAuthDatabaseUri(paths.runDir, password), adminUser: "admin", adminPassword: password }));
    const docker = withAuthSecrets({ authAdminPassword: password }, "admin");
    expect(docker.authConfig).toBe(renderAuthIni({ databaseUri: sqliteAuthDatabaseUri("/var/lib/mlflow-auth", password), adminUser: "admin", adminPassword: password }));
    expect(docker.flaskSecretKey).toBe(deriveFlaskSecretKey(password));
    expect(withAuthSecrets({ authAdminPassword: password }, undefined)).toEqual({ authAdminPassword: password });
  });
});

describe("image names (components/shared/images.ts)", () => {
  it("names our images [<registry>/]mlops-<role>:<tag>", () => {
    expect(builtImageRef({ registry: "registry.example.com/team/", tag: "1.2.3" }, "trainer")).toBe("registry.example.com/team/mlops-trainer:1.2.3");
    expect(builtImageRef({ registry: "", tag: "0.1.0" }, "mlflow")).toBe("mlops-mlflow:0.1.0");
  });
});

describe("MLflow client env (components/shared/mlflowClientEnv.ts)", () => {
  it("gives workers and servers the URI, the user in plain text and the password as a secret", () => {
    expect(mlflowClientEnv({ trackingUri: "http://mlflow:5000" })).toEqual({ env: { MLFLOW_TRACKING_URI: "http://mlflow:5000" }, secretEnv: {} });
    const withAuth = mlflowClientEnv({ trackingUri: "http://mlflow:5000", username: "admin" });
    expect(withAuth).toEqual({
      env: { MLFLOW_TRACKING_URI: "http://mlflow:5000", MLFLOW_TRACKING_USERNAME: "admin" },
      secretEnv: { MLFLOW_TRACKING_PASSWORD: "trackingPassword" },
    });
    expect(resolveSecretEnv(withAuth, { trackingPassword: "pw" })).toEqual({ [mlflowClientVars.password]: "pw" });
    expect(() => resolveSecretEnv(withAuth, {})).toThrow("MLFLOW_TRACKING_PASSWORD needs the secret trackingPassword, but none was given");
  });

  it("gives the MLflow server its S3 endpoint, region and, when given, the key pair", () => {
    expect(s3ClientEnv({ endpointUrl: "http://s3:8333", region: "us-east-1", hasCredentials: true })).toEqual({
      env: { MLFLOW_S3_ENDPOINT_URL: "http://s3:8333", AWS_DEFAULT_REGION: "us-east-1" },
      secretEnv: { AWS_ACCESS_KEY_ID: "objectStoreAccessKeyId", AWS_SECRET_ACCESS_KEY: "objectStoreSecretAccessKey" },
    });
    expect(s3ClientEnv({ hasCredentials: false })).toEqual({ env: {}, secretEnv: {} });
  });

  it("is what the three platforms put in their workers' and servers' env", () => {
    const plan = mlflowClientEnv({ trackingUri: "http://mlflow:5000", username: "admin" });
    expect(planEnv(plan, "client-secret", { trackingPassword: "tracking-password" })).toEqual([
      { name: "MLFLOW_TRACKING_URI", value: "http://mlflow:5000" },
      { name: "MLFLOW_TRACKING_USERNAME", value: "admin" },
      { name: "MLFLOW_TRACKING_PASSWORD", valueFrom: { secretKeyRef: { name: "client-secret", key: "tracking-password" } } },
    ]);
    const serving = { replicas: 1, port: 8080, loadBalancerPort: 8000, resources: { cpuRequest: "1", memoryRequest: "1Gi", cpuLimit: "1", memoryLimit: "1Gi" } };
    const replica = servingTopology({
      prefix: "s",
      servingImage: "mlops-serving:0.1.0",
      loadBalancerImage: "nginx:1.27",
      modelUri: "models:/m@champion",
      trackingUri: "http://mlflow:5000",
      serving,
      publishedPort: 8000,
      publishHostIp: "127.0.0.1",
      trackingUsername: "admin",
      loadBalancerTemplate: "{{LISTEN_PORT}} {{UPSTREAM_SERVERS}}",
    }).replicas[0];
    expect(replica?.env).toMatchObject(plan.env);
    expect(replica?.secretEnv).toEqual(plan.secretEnv);
    const s3 = { kind: "s3", bucket: "b", prefix: "p", region: "eu-west-1", endpoint: "http://s3.example", create: false, accessKeySecret: "a", secretKeySecret: "s" } as const;
    const local = planTrackingServer({
      port: 5000,
      database: { kind: "sqlite", path: "m.db" },
      objectStore: s3,
      paths: localPaths("/p", "dev"),
      auth: false,
      hasObjectStoreCredentials: true,
    });
    const shared = s3ClientEnv({ endpointUrl: s3.endpoint, region: s3.region, hasCredentials: true });
    expect(local.env).toMatchObject(shared.env);
    expect(local.secretEnv).toEqual(shared.secretEnv);
    const dockerServer = trackingTopology({
      prefix: "t",
      mlflowImage: "mlops-mlflow:0.1.0",
      port: 5000,
      publishedPort: 5000,
      publishHostIp: "127.0.0.1",
      database: {
        kind: "external",
        host: "db",
        port: 5432,
        database: "m",
        user: "m",
        passwordSecret: "databasePassword",
        sslMode: "require",
        manage: false,
        adminUser: "postgres",
      },
      objectStore: s3,
      hasObjectStoreCredentials: true,
      resources: { cpuRequest: "1", memoryRequest: "1Gi", cpuLimit: "1", memoryLimit: "1Gi" },
    }).containers.find((c) => c.role === "mlflow");
    expect(dockerServer?.env).toMatchObject(shared.env);
    expect(dockerServer?.secretEnv).toMatchObject(shared.secretEnv);
  });
});

describe("platform support (config/platformSupport.ts)", () => {
  it("has one row per platform, its first kinds being the defaults the schema fills in", () => {
    expect(Object.keys(platformSupport)).toEqual([...platforms]);
    for (const platform of platforms) {
      const cfg = parseStackConfig({ "mlops:platform": platform }, `Pulumi.${platform}.yaml`);
      expect(cfg.tracking.database.kind).toBe(defaultKind(platform, "database"));
      expect(cfg.tracking.objectStore.kind).toBe(defaultKind(platform, "objectStore"));
    }
  });

  it("is what the schema refuses, with what to use instead", () => {
    for (const platform of platforms) {
      for (const kind of ["sqlite", "inStack", "external"] as const) {
        const reason = unsupportedReason(platform, "database", kind);
        expect(reason === undefined, `${platform} ${kind}`).toBe((platformSupport[platform].database as readonly string[]).includes(kind));
      }
    }
    expect(unsupportedReason("local", "objectStore", "inStack")).toBe("expected localFolder or s3: inStack only works on platform docker, kubernetes");
    expect(() => parseStackConfig({ "mlops:platform": "docker", "mlops:tracking": { objectStore: { kind: "localFolder" } } }, "Pulumi.dev.yaml")).toThrow(
      "mlops:tracking.objectStore.kind: expected inStack or s3: localFolder only works on platform local",
    );
  });

  it("is what the tracking servers refuse, naming the key", () => {
    expect(() => supportedStorage("kubernetes", { kind: "sqlite" }, { kind: "s3" })).toThrow(
      "tracking.database.kind 'sqlite' is not supported on platform kubernetes: use inStack or external",
    );
    expect(() => supportedStorage("local", { kind: "external" }, { kind: "inStack" })).toThrow(
      "tracking.objectStore.kind 'inStack' is not supported on platform local: use localFolder or s3",
    );
    expect(supportedStorage("docker", { kind: "external" }, { kind: "s3" })).toEqual({ database: { kind: "external" }, objectStore: { kind: "s3" } });
  });
});
