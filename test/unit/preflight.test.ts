import { describe, expect, it } from "vitest";
import { locateStackKey } from "../../config";
import { configKeyOf, preflightProblems } from "../../driver/preflight";
import { tempProject } from "./configFixtures";

const stack = [
  "config:",
  "  mlops:platform: local",
  "  mlops:training:",
  "    estimator: sklearn.linear_model.Ridge",
  "    scoring: r2",
  "    searchSpace:",
  "      alphaa: { values: [1, 2] }",
  "    cv: { groupColumn: site }",
  "",
].join("\n");

describe("the trainer's preflight problems, at the keys the user wrote (driver/preflight.ts)", () => {
  it("maps the spec's keys to the stack file's", () => {
    expect(configKeyOf("trials[3].params.alphaa")).toEqual(["training", "searchSpace", "alphaa"]);
    expect(configKeyOf("search.space.C")).toEqual(["training", "searchSpace", "C"]);
    expect(configKeyOf("dataset.groupColumn")).toEqual(["training", "cv", "groupColumn"]);
    expect(configKeyOf("codePath")).toEqual(["training", "code"]);
    expect(configKeyOf("dataset.features.numeric")).toEqual(["training", "dataset", "features", "numeric"]);
  });

  it("names the file and the line of the key, or of its nearest written ancestor", () => {
    const dir = tempProject({ "Pulumi.p.yaml": stack });
    const problems = preflightProblems(
      {
        ok: false,
        problems: [
          { key: "trials[0].params.alphaa", message: "expected a parameter of Ridge: alpha, copy_X, ..." },
          { key: "dataset.groupColumn", message: "column 'site' is missing" },
          { key: "dataset.target", message: "target column 'target' is missing" },
        ],
      },
      locateStackKey(dir, "p"),
    );
    expect(problems).toEqual([
      { file: "Pulumi.p.yaml", key: "mlops:training.searchSpace.alphaa", line: 7, message: "expected a parameter of Ridge: alpha, copy_X, ..." },
      { file: "Pulumi.p.yaml", key: "mlops:training.cv.groupColumn", line: 8, message: "column 'site' is missing" },
      { file: "Pulumi.p.yaml", key: "mlops:training.dataset.target", line: 3, message: "target column 'target' is missing" },
    ]);
  });
});
