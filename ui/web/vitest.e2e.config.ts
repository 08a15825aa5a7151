import { defineConfig } from "vitest/config";

// One argus and one browser for the whole run (e2e/setup.ts); files run one after another.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
