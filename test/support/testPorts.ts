import { ConfigError, parseStackConfig, type StackConfig } from "../../config";

/**
 * The fixed loopback ports of every test file, in one table, so no two test files share a port (not
 * even one that a file expects to be closed) and tiers can run side by side. Each file owns a block
 * of `blockSize` ports: its MLflow (or the local end of its MLflow port-forward), its load balancer,
 * then its model servers. The tiers' blocks lie in ranges of their own, below the kernel's ephemeral
 * range (where the free ports of servers started on port 0 come from) and clear of the local
 * cluster's own ports (scripts/cluster/README.md) and of the shipped stacks'.
 * `TestStack.write` refuses a stack whose ports leave its writer's block.
 */

export const blockSize = 10;

/** Where each tier's blocks lie (inclusive). */
export const tierRanges = {
  integration: { first: 25000, last: 25999 },
  e2e: { first: 26000, last: 26999 },
  cluster: { first: 27000, last: 27999 },
} as const;

/** Each test file's block, by its first port (repo-relative paths). */
export const portBlocks: Readonly<Record<string, number>> = {
  "test/integration/auth.test.ts": 25000,
  "test/integration/faults.test.ts": 25010,
  "test/integration/generatedSecrets.test.ts": 25020,
  "test/integration/managedPostgres.test.ts": 25030,
  "test/integration/productionTracking.test.ts": 25040,
  "test/e2e/dockerPipeline.test.ts": 26000,
  "test/e2e/dockerRotation.test.ts": 26010,
  "test/e2e/localPipeline.test.ts": 26020,
  "test/e2e/pulumiUp.test.ts": 26030,
  "test/e2e/rollingChampion.test.ts": 26040,
  "test/e2e/searchPipeline.test.ts": 26050,
  "test/e2e/bringYourOwnModel.test.ts": 26060,
  "test/cluster/prodPath.test.ts": 27000,
  "test/cluster/pulumiUp.test.ts": 27010,
};

export interface TestPorts {
  /** Its MLflow server (local; docker: the published port), or the local end of its port-forward (kubernetes). */
  readonly mlflow: number;
  /** Its load balancer (local; docker: the published port). */
  readonly lb: number;
  /** Its first model server (local); the others follow it, up to the end of the block. */
  readonly replica: number;
}

function blockOf(file: string): number {
  const first = portBlocks[file];
  if (first === undefined) throw new Error(`${file} has no ports in test/support/testPorts.ts: add a block for it to portBlocks`);
  return first;
}

/** The ports of `file`'s block by role (`file` relative to the repo, as in `portBlocks`). */
export function testPorts(file: string): TestPorts {
  const first = blockOf(file);
  return { mlflow: first, lb: first + 1, replica: first + 2 };
}

/** Every port of `file`'s block. */
export const blockPorts = (file: string): number[] => Array.from({ length: blockSize }, (_, i) => blockOf(file) + i);

/** The tier a test file belongs to, by its folder. */
export function tierOf(file: string): keyof typeof tierRanges {
  const tier = file.split("/")[1];
  if (tier === "integration" || tier === "e2e" || tier === "cluster") return tier;
  throw new Error(`${file}: not under test/integration, test/e2e or test/cluster`);
}

/** The ports a stack binds on this machine: MLflow (or its port-forward), and on local and docker the serving ports published here. */
export function stackHostPorts(config: StackConfig): number[] {
  const { serving } = config;
  switch (config.platform) {
    case "local":
      return [config.tracking.port, serving.loadBalancerPort, ...Array.from({ length: serving.replicas }, (_, i) => serving.port + i)];
    case "docker":
      return [config.tracking.port, serving.loadBalancerPort];
    case "kubernetes":
      return [config.tracking.port];
  }
}

/**
 * Throws, naming the ports, when the stack `writer` writes (its config values, as in the stack file)
 * would bind a port outside the writer's block. A stack the config schema refuses binds nothing: the
 * driver refuses it, which is what a test writing one expects.
 */
export function assertStackPortsInBlock(values: Record<string, unknown>, writer: string, stackFile: string): void {
  let config: StackConfig;
  try {
    config = parseStackConfig(values, stackFile);
  } catch (err) {
    if (err instanceof ConfigError) return;
    throw err;
  }
  const block = new Set(blockPorts(writer));
  const outside = stackHostPorts(config).filter((p) => !block.has(p));
  if (outside.length > 0) {
    throw new Error(
      `${stackFile} (written by ${writer}) binds ${outside.join(", ")}, outside ${writer}'s ports ${[...block][0]}..${[...block].at(-1)} (test/support/testPorts.ts)`,
    );
  }
}
