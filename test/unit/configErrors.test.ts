import { describe, expect, it } from "vitest";
import { metricsProblemLines, stackProblems, validMetricsYaml } from "./configFixtures";

/** A stack file: `config:` then the given lines, indented; line 2 is the first given line. */
const stack = (...lines: string[]) => ["config:", ...lines.map((l) => `  ${l}`), ""].join("\n");
const F = "Pulumi.t.yaml";

interface Case {
  readonly name: string;
  readonly problems: () => string[];
  /** Exact lines (file:line: key: expectation) that must be among the problems. */
  readonly expected: readonly string[];
}

const stackCases: Case[] = [
  {
    name: "platform not one of the enum values",
    problems: () => stackProblems(stack("mlops:platform: lokal")),
    expected: [`${F}:2: mlops:platform: expected one of local, docker, kubernetes, got "lokal"`],
  },
  {
    name: "platform missing",
    problems: () => stackProblems(stack("mlops:serving: { replicas: 2 }")),
    expected: [`${F}:1: mlops:platform: expected one of local, docker, kubernetes, but it is missing`],
  },
  {
    name: "cvFolds below 2",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training:", "  cvFolds: 1")),
    expected: [`${F}:4: mlops:training.cvFolds: expected an integer >= 2, got 1`],
  },
  {
    name: "cvFolds of the wrong type",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training: { cvFolds: five }")),
    expected: [`${F}:3: mlops:training.cvFolds: expected an integer >= 2, got "five"`],
  },
  {
    name: "workers not an integer",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training: { workers: 1.5 }")),
    expected: [`${F}:3: mlops:training.workers: expected an integer, got 1.5`],
  },
  {
    name: "testSize out of range (exclusive bound)",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training: { testSize: 1 }")),
    expected: [`${F}:3: mlops:training.testSize: expected a number < 1, got 1`],
  },
  {
    name: "model family not in the enum",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training: { modelFamily: svm }")),
    expected: [`${F}:3: mlops:training.modelFamily: expected one of logistic_regression, random_forest, gradient_boosting, got "svm"`],
  },
  {
    name: "misspelt nested key suggests the nearest",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training:", "  cvFold: 3")),
    expected: [`${F}:4: mlops:training.cvFold: unknown key: did you mean 'cvFolds'?`],
  },
  {
    name: "misspelt top-level key suggests the nearest",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:trainig: {}")),
    expected: [`${F}:3: mlops:trainig: unknown key: did you mean 'training'?`],
  },
  {
    name: "unknown key far from any lists the valid ones",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:docker: { colour: blue }")),
    expected: [`${F}:3: mlops:docker.colour: unknown key: expected one of host, network`],
  },
  {
    name: "database kind outside the discriminated union",
    problems: () => stackProblems(stack("mlops:platform: docker", "mlops:tracking:", "  database: { kind: postgres }")),
    expected: [`${F}:4: mlops:tracking.database.kind: expected kind to be one of sqlite, inStack, external, got "postgres"`],
  },
  {
    name: "object store without kind",
    problems: () => stackProblems(stack("mlops:platform: docker", "mlops:tracking:", "  objectStore: { bucket: x }")),
    expected: [`${F}:4: mlops:tracking.objectStore.kind: expected kind to be one of localFolder, inStack, s3, but it is missing`],
  },
  {
    name: "external database without host",
    problems: () => stackProblems(stack("mlops:platform: docker", "mlops:tracking:", "  database: { kind: external }")),
    expected: [`${F}:4: mlops:tracking.database.host: expected the PostgreSQL host name, but it is missing`],
  },
  {
    name: "unknown key inside a union variant lists that variant's keys",
    problems: () => stackProblems(stack("mlops:platform: docker", "mlops:tracking:", "  database: { kind: external, host: db, pasword: x }")),
    expected: [`${F}:4: mlops:tracking.database.pasword: unknown key: expected one of kind, host, port, database, user, passwordSecret, sslMode, manage, adminUser`],
  },
  {
    name: "sqlite on a non-local platform (cross-field rule)",
    problems: () => stackProblems(stack("mlops:platform: docker", "mlops:tracking:", "  database: { kind: sqlite }")),
    expected: [`${F}:4: mlops:tracking.database.kind: expected inStack or external: sqlite only works on platform local, got "sqlite"`],
  },
  {
    name: "autoscaling off kubernetes (cross-field rule)",
    problems: () => stackProblems(stack("mlops:platform: docker", "mlops:serving:", "  autoscaling: { minReplicas: 1, maxReplicas: 3 }")),
    expected: [`${F}:4: mlops:serving.autoscaling: expected no autoscaling: it needs platform kubernetes`],
  },
  {
    name: "S3 endpoint that is not a URL",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:tracking:", "  objectStore: { kind: s3, bucket: models, endpoint: 'not a url' }")),
    expected: [`${F}:4: mlops:tracking.objectStore.endpoint: expected a URL such as https://s3.example.com, got "not a url"`],
  },
  {
    name: "image tagged latest",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:images: { pythonBase: 'python:latest' }")),
    expected: [`${F}:3: mlops:images.pythonBase: expected a pinned tag, not 'latest', got "python:latest"`],
  },
  {
    name: "quantity that Kubernetes would refuse",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:serving:", "  resources: { memoryLimit: 2GB }")),
    expected: [`${F}:4: mlops:serving.resources.memoryLimit: expected a Kubernetes quantity such as 500m, 2 or 1Gi, got "2GB"`],
  },
  {
    name: "section that is not a mapping",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:serving: 3")),
    expected: [`${F}:3: mlops:serving: expected a mapping, got 3`],
  },
  {
    name: "search-space entry in none of the accepted forms",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training:", "  searchSpace:", "    depth: { type: normal, low: 0, high: 1 }")),
    expected: [
      `${F}:5: mlops:training.searchSpace.depth: expected one of: { values }, { type: int, low, high, step?, log? }, { type: float, low, high, log? }, got {"type":"normal","low":0,"high":1}`,
    ],
  },
  {
    name: "search-space int range with a fractional bound (the int form is picked)",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training:", "  searchSpace:", "    depth: { type: int, low: 1.5, high: 4 }")),
    expected: [`${F}:5: mlops:training.searchSpace.depth.low: expected an integer, got 1.5`],
  },
  {
    name: "search-space range with high below low",
    problems: () =>
      stackProblems(stack("mlops:platform: local", "mlops:training:", "  searchSpace:", "    lr: { type: float, low: 0.5, high: 0.1 }", "  strategy: { kind: random, trials: 3 }")),
    expected: [`${F}:5: mlops:training.searchSpace.lr.high: expected high >= low (0.5), got 0.1`],
  },
  {
    name: "log range starting at zero",
    problems: () =>
      stackProblems(
        stack("mlops:platform: local", "mlops:training:", "  searchSpace:", "    lr: { type: float, low: 0, high: 1, log: true }", "  strategy: { kind: random, trials: 3 }"),
      ),
    expected: [`${F}:5: mlops:training.searchSpace.lr.low: expected low > 0 for a log-uniform range, got 0`],
  },
  {
    name: "empty values list",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training:", "  searchSpace:", "    depth: { values: [] }")),
    expected: [`${F}:5: mlops:training.searchSpace.depth.values: expected at least one value, got []`],
  },
  {
    name: "grid over a float range",
    problems: () =>
      stackProblems(stack("mlops:platform: local", "mlops:training:", "  searchSpace:", "    lr: { type: float, low: 0.01, high: 0.3 }", "  strategy: { kind: grid }")),
    expected: [`${F}:5: mlops:training.searchSpace.lr: grid needs values or an int range: list values, or use strategy random for a float range`],
  },
  {
    name: "grid too large to run",
    problems: () =>
      stackProblems(stack("mlops:platform: local", "mlops:training:", "  searchSpace:", "    a: { type: int, low: 1, high: 200 }", "    b: { type: int, low: 1, high: 200 }")),
    expected: [`${F}:4: mlops:training.searchSpace: expected a grid of at most 10000 trials, got 40000`],
  },
  {
    name: "random strategy without trials",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training:", "  strategy: { kind: random }")),
    expected: [`${F}:4: mlops:training.strategy.trials: expected a number, but it is missing`],
  },
  {
    name: "strategy kind unknown",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:training:", "  strategy: { kind: bayes }")),
    expected: [`${F}:4: mlops:training.strategy.kind: expected kind to be one of grid, random, tpe, got "bayes"`],
  },
  {
    name: "secret key given as plain text",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:databasePassword: hunter2")),
    expected: [`${F}:3: mlops:databasePassword: expected a secret: set it with \`pulumi config set --secret mlops:databasePassword\``],
  },
  {
    name: "renamed secret given as plain text",
    problems: () =>
      stackProblems(stack("mlops:platform: local", "mlops:tracking:", "  database: { kind: external, host: db, passwordSecret: pgPassword }", "mlops:pgPassword: hunter2")),
    expected: [`${F}:5: mlops:pgPassword: expected a secret: set it with \`pulumi config set --secret mlops:pgPassword\``],
  },
  {
    name: "secure value for a key that is not a secret",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:serving: { secure: AAABAC }")),
    expected: [
      `${F}:3: mlops:serving: expected a plain value: only databasePassword, databaseAdminPassword, s3AccessKeyId, s3SecretAccessKey, authAdminPassword, servingApiKey hold secrets`,
    ],
  },
  {
    name: "our key without the mlops: namespace",
    problems: () => stackProblems(stack("mlops:platform: local", "training: { cvFolds: 3 }")),
    expected: [`${F}:3: training: expected the mlops: namespace: write mlops:training`],
  },
  {
    name: "duplicate key is named, with its path and the line it was first set on",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:platform: docker")),
    expected: [`${F}:3: config.mlops:platform: expected each key once in a mapping: 'mlops:platform' is already set on line 2`],
  },
  {
    name: "duplicate nested key and duplicate key in a flow mapping are both named",
    problems: () => stackProblems(stack("mlops:platform: local", "mlops:tracking:", "  port: 5000", "  port: 5061", "mlops:serving: { replicas: 1, replicas: 2 }")),
    expected: [
      `${F}:5: config.mlops:tracking.port: expected each key once in a mapping: 'port' is already set on line 4`,
      `${F}:6: config.mlops:serving.replicas: expected each key once in a mapping: 'replicas' is already set on line 6`,
    ],
  },
  {
    name: "config that is not a mapping",
    problems: () => stackProblems("config: [1, 2]\n"),
    expected: [`${F}:1: config: expected a mapping of config keys`],
  },
];

const M = "metrics.yaml";
const metricsCases: Case[] = [
  {
    name: "duplicate key inside a list item is named with its index",
    problems: () => metricsProblemLines(`${validMetricsYaml}filters:\n  metrics:\n    - metric: cv_f1_macro_mean\n      op: ">"\n      op: "<"\n      value: 0.5\n`),
    expected: [`${M}:7: filters.metrics[0].op: expected each key once in a mapping: 'op' is already set on line 6`],
  },
  {
    name: "orderBy missing",
    problems: () => metricsProblemLines("registeredModel: { name: m }\n"),
    expected: [`${M}:1: orderBy: expected a mapping, but it is missing`],
  },
  {
    name: "comparison operator outside the enum",
    problems: () => metricsProblemLines(`${validMetricsYaml}filters:\n  metrics:\n    - { metric: cv_f1_macro_mean, op: "~", value: 0.5 }\n`),
    expected: [`${M}:5: filters.metrics[0].op: expected one of =, !=, >, >=, <, <=, got "~"`],
  },
  {
    name: "direction outside the enum",
    problems: () => metricsProblemLines("orderBy: { metric: cv_f1_macro_mean, direction: up }\nregisteredModel: { name: m }\n"),
    expected: [`${M}:1: orderBy.direction: expected one of asc, desc, got "up"`],
  },
  {
    name: "threshold named with characters MLflow refuses",
    problems: () => metricsProblemLines(`${validMetricsYaml}thresholds:\n  "bad!": 0.5\n`),
    expected: [`${M}:4: thresholds.bad!: expected an MLflow metric or param name ({scoring} stands for the stack's scoring), got "bad!"`],
  },
  {
    name: "threshold that is not a number",
    problems: () => metricsProblemLines(`${validMetricsYaml}thresholds:\n  test_f1_macro: high\n`),
    expected: [`${M}:4: thresholds.test_f1_macro: expected a number, got "high"`],
  },
  {
    name: "alias that looks like a version",
    problems: () => metricsProblemLines("orderBy: { metric: cv_f1_macro_mean }\nregisteredModel: { name: m, alias: v2 }\n"),
    expected: [`${M}:2: registeredModel.alias: expected an alias that is not a version like v1, got "v2"`],
  },
  {
    name: "misspelt key inside a list item",
    problems: () => metricsProblemLines(`${validMetricsYaml}tieBreakers:\n  - { metrc: fit_time_seconds }\n`),
    expected: [`${M}:4: tieBreakers[0].metrc: unknown key: did you mean 'metric'?`, `${M}:4: tieBreakers[0].metric: expected a string, but it is missing`],
  },
  {
    name: "showTop below its minimum",
    problems: () => metricsProblemLines(`${validMetricsYaml}showTop: 0\n`),
    expected: [`${M}:3: showTop: expected a number >= 1, got 0`],
  },
  {
    name: "param filter value of an unsupported type",
    problems: () => metricsProblemLines(`${validMetricsYaml}filters:\n  params:\n    - { param: max_depth, op: "=", value: [1] }\n`),
    expected: [`${M}:5: filters.params[0].value: expected one of: string, number, boolean, got [1]`],
  },
];

describe("bad config is reported as file:line: key: expectation", () => {
  it.each([...stackCases, ...metricsCases].map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const problems = c.problems();
    for (const line of c.expected) expect(problems).toContain(line);
  });

  it("reports every problem of a file at once, in line order", () => {
    const problems = stackProblems(stack("mlops:platform: lokal", "mlops:training:", "  cvFolds: 1", "  workers: 0", "mlops:serving: { replicas: 0 }"));
    expect(problems).toEqual([
      `${F}:2: mlops:platform: expected one of local, docker, kubernetes, got "lokal"`,
      `${F}:4: mlops:training.cvFolds: expected an integer >= 2, got 1`,
      `${F}:5: mlops:training.workers: expected an integer >= 1, got 0`,
      `${F}:6: mlops:serving.replicas: expected an integer >= 1, got 0`,
    ]);
  });

  it("covers at least 25 distinct cases across both files", () => {
    expect(stackCases.length + metricsCases.length).toBeGreaterThanOrEqual(25);
    expect(metricsCases.length).toBeGreaterThan(0);
  });
});
