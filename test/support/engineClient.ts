import * as http from "node:http";
import { type ContainerSpec, type NetworkSpec, type SecretValues, type VolumeSpec, resolveEnv } from "../../components/docker/specBasics";
import { tarArchive } from "./tarArchive";

/**
 * A small Docker Engine API client (HTTP over the unix socket, Node's `http` only). It maps the same
 * container specs the Pulumi components deploy onto the Engine API, for the tests, which must
 * run where the @pulumi/docker provider plugin cannot be installed.
 */

export interface EngineResponse {
  readonly status: number;
  readonly body: Buffer;
}

export class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

/** Engine API 1.41 = Docker 20.10 (Debian 12's docker.io); newer engines still serve it. */
export const engineApiVersion = "v1.41";

const seconds = (s: number) => Math.round(s * 1e9);

/** The `POST /containers/create` body for a spec: pure, so unit tests check the mapping. */
export function containerCreateBody(spec: ContainerSpec, networkName: string, secrets: SecretValues): Record<string, unknown> {
  const portKey = (p: number) => `${p}/tcp`;
  return {
    Image: spec.image,
    ...(spec.entrypoint ? { Entrypoint: [...spec.entrypoint] } : {}),
    ...(spec.command.length > 0 ? { Cmd: [...spec.command] } : {}),
    Env: resolveEnv(spec, secrets),
    Labels: { ...spec.labels },
    ...(spec.user !== undefined ? { User: spec.user } : {}),
    ExposedPorts: Object.fromEntries(spec.ports.map((p) => [portKey(p.internal), {}])),
    ...(spec.healthcheck
      ? {
          Healthcheck: {
            Test: [...spec.healthcheck.test],
            Interval: seconds(spec.healthcheck.intervalSeconds),
            Timeout: seconds(spec.healthcheck.timeoutSeconds),
            Retries: spec.healthcheck.retries,
            StartPeriod: seconds(spec.healthcheck.startPeriodSeconds),
          },
        }
      : {}),
    HostConfig: {
      RestartPolicy: { Name: spec.restart },
      PortBindings: Object.fromEntries(spec.ports.map((p) => [portKey(p.internal), [{ HostIp: p.hostIp, HostPort: String(p.external) }]])),
      Mounts: spec.mounts.map((m) => ({ Type: "volume", Source: m.volume, Target: m.target })),
      ...(spec.memoryMb !== undefined ? { Memory: spec.memoryMb * 1024 * 1024 } : {}),
      ...(spec.cpus !== undefined ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
    },
    NetworkingConfig: { EndpointsConfig: { [networkName]: { Aliases: [...spec.networkAliases] } } },
  };
}

/** Splits the multiplexed stdout/stderr stream of `GET /containers/{id}/logs` (non-TTY containers). */
export function demuxLogs(raw: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const stream = raw[offset];
    const size = raw.readUInt32BE(offset + 4);
    const chunk = raw.subarray(offset + 8, offset + 8 + size);
    (stream === 2 ? err : out).push(chunk);
    offset += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

export interface ContainerState {
  readonly Status: string;
  readonly Running: boolean;
  readonly ExitCode: number;
  readonly Health?: { readonly Status: string; readonly Log?: readonly { readonly Output: string }[] };
}

export class DockerEngine {
  constructor(readonly socketPath: string = "/var/run/docker.sock") {}

  request(method: string, path: string, body?: unknown, options: { contentType?: string; timeoutMs?: number } = {}): Promise<EngineResponse> {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: `/${engineApiVersion}${path}`,
          headers: payload ? { "Content-Type": options.contentType ?? "application/json", "Content-Length": payload.length } : {},
          timeout: options.timeoutMs ?? 120_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`docker engine: ${method} ${path} timed out`)));
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Like `request`, but a non-2xx answer becomes an EngineError carrying the engine's message. */
  async call(method: string, path: string, body?: unknown, options?: { contentType?: string; timeoutMs?: number }): Promise<Buffer> {
    const res = await this.request(method, path, body, options);
    if (res.status >= 300) {
      let message = res.body.toString("utf8");
      try {
        message = (JSON.parse(message) as { message?: string }).message ?? message;
      } catch {
        // not JSON: keep the raw text
      }
      throw new EngineError(res.status, `docker engine: ${method} ${path}: ${res.status} ${message.trim()}`);
    }
    return res.body;
  }

  async json<T>(method: string, path: string, body?: unknown, options?: { timeoutMs?: number }): Promise<T> {
    const raw = await this.call(method, path, body, options);
    return (raw.length > 0 ? JSON.parse(raw.toString("utf8")) : {}) as T;
  }

  async ping(): Promise<boolean> {
    try {
      const res = await this.request("GET", "/_ping", undefined, { timeoutMs: 3000 });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  createNetwork(spec: NetworkSpec): Promise<{ Id: string }> {
    return this.json("POST", "/networks/create", { Name: spec.name, Driver: "bridge", CheckDuplicate: true, Labels: spec.labels });
  }

  createVolume(spec: VolumeSpec): Promise<{ Name: string }> {
    return this.json("POST", "/volumes/create", { Name: spec.name, Labels: spec.labels });
  }

  /** Creates the container and uploads its files; does not start it. */
  async createContainer(spec: ContainerSpec, networkName: string, secrets: SecretValues): Promise<string> {
    const created = await this.json<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(spec.name)}`, containerCreateBody(spec, networkName, secrets));
    if (spec.files.length > 0) {
      await this.call("PUT", `/containers/${created.Id}/archive?path=/`, tarArchive(spec.files), { contentType: "application/x-tar" });
    }
    return created.Id;
  }

  async start(id: string): Promise<void> {
    await this.call("POST", `/containers/${id}/start`);
  }

  /** Blocks until the container exits; returns its exit code. */
  async wait(id: string, timeoutMs: number): Promise<number> {
    const res = await this.json<{ StatusCode: number }>("POST", `/containers/${id}/wait`, undefined, { timeoutMs });
    return res.StatusCode;
  }

  inspectContainer(id: string): Promise<{ Id: string; Name: string; State: ContainerState; Config: { Image: string; User: string; Env: string[] } }> {
    return this.json("GET", `/containers/${id}/json`);
  }

  inspectImage(ref: string): Promise<{ Id: string; Size: number; Config: { User: string } }> {
    return this.json("GET", `/images/${encodeURIComponent(ref)}/json`);
  }

  async logs(id: string, tail: number | "all" = "all"): Promise<{ stdout: string; stderr: string }> {
    return demuxLogs(await this.call("GET", `/containers/${id}/logs?stdout=1&stderr=1&tail=${tail}`));
  }

  /** Polls the container's health until `healthy`; fails fast when it exits or reports `unhealthy`. */
  async waitHealthy(id: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { State, Name } = await this.inspectContainer(id);
      const health = State.Health?.Status;
      if (health === "healthy") return;
      if (!State.Running || health === "unhealthy") {
        const { stdout, stderr } = await this.logs(id, 40);
        const probe = State.Health?.Log?.at(-1)?.Output.trim() ?? "";
        throw new Error(`container ${Name} is ${State.Running ? health : `exited (${State.ExitCode})`}; last probe: ${probe}\n${stdout}${stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`container ${Name} not healthy after ${Math.round(timeoutMs / 1000)}s (health: ${health ?? "none"})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  listContainers(labelFilter: string): Promise<{ Id: string; Names: string[]; State: string; Labels: Record<string, string> }[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [labelFilter] }));
    return this.json("GET", `/containers/json?all=1&filters=${filters}`);
  }

  async removeContainer(id: string): Promise<void> {
    await this.tolerateMissing(this.call("DELETE", `/containers/${id}?force=1&v=1`));
  }

  async removeNetwork(name: string): Promise<void> {
    await this.tolerateMissing(this.call("DELETE", `/networks/${encodeURIComponent(name)}`));
  }

  async removeVolume(name: string): Promise<void> {
    await this.tolerateMissing(this.call("DELETE", `/volumes/${encodeURIComponent(name)}?force=1`));
  }

  private async tolerateMissing(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (err) {
      if (!(err instanceof EngineError && err.status === 404)) throw err;
    }
  }
}
