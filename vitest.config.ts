import { defineConfig } from "vitest/config";

// Tiers, one runner: `make test-unit|test-integration|test-e2e|test-cluster` pick a project.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts", "components/**/*.test.ts", "config/**/*.test.ts"], testTimeout: 30_000 } },
      { test: { name: "integration", include: ["test/integration/**/*.test.ts"], testTimeout: 900_000, hookTimeout: 900_000, fileParallelism: false } },
      // Last tier of `make test` (scripts/test.sh cluster): needs root, the cluster binaries and the stack's images.
      { test: { name: "cluster", include: ["test/cluster/**/*.test.ts"], testTimeout: 900_000, hookTimeout: 1_200_000, fileParallelism: false } },
      { test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], testTimeout: 1_800_000, hookTimeout: 1_800_000, fileParallelism: false } },
    ],
  },
});
