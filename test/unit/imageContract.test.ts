import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { type BuiltImageRole, builtImageRef } from "../../components/shared/images";
import { appUserId } from "../../components/kubernetes/meta";
import { defaultVersions } from "../../config";
import { imageContract, imageContractFile, parseEnvFile, readImageContract } from "../../config/imageContract";

// images/images.env owns our images' names, default tag and user; TypeScript, shell and the Dockerfiles
// read it. These checks fail when a copy of any of them creeps back in.
const repoRoot = path.resolve(__dirname, "..", "..");
const filesUnder = (dir: string, match: RegExp): string[] =>
  fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true, recursive: true }).flatMap((entry) => {
    const full = path.join(entry.parentPath, entry.name);
    return entry.isFile() && match.test(entry.name) ? [path.relative(repoRoot, full)] : [];
  });
const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), "utf8");

describe("images/images.env, the one owner of our images' names, tag and user", () => {
  it("reads the same in shell as in TypeScript", () => {
    const shell = spawnSync("bash", ["-c", `source '${imageContractFile}' && printf '%s|%s|%s|%s' "$IMAGE_ROLES" "$IMAGE_NAME_PREFIX" "$IMAGE_DEFAULT_TAG" "$APP_USER_ID"`], {
      encoding: "utf8",
    });
    expect(shell.status, shell.stderr).toBe(0);
    const { roles, namePrefix, defaultTag } = imageContract;
    expect(shell.stdout).toBe(`${roles.join(" ")}|${namePrefix}|${defaultTag}|${imageContract.appUserId}`);
  });

  it("names one image folder per role, and the TypeScript role type has exactly those roles", () => {
    const typed: readonly BuiltImageRole[] = ["trainer", "mlflow", "serving"];
    expect([...imageContract.roles].sort()).toEqual([...typed].sort());
    for (const role of imageContract.roles) expect(fs.existsSync(path.join(repoRoot, "images", role, "Dockerfile")), role).toBe(true);
    expect(builtImageRef({ registry: "", tag: imageContract.defaultTag }, "trainer")).toBe(`${imageContract.namePrefix}trainer:${imageContract.defaultTag}`);
  });

  it("is what the config's default tag and the pods' user id are", () => {
    expect(defaultVersions.imageTag).toBe(imageContract.defaultTag);
    expect(appUserId).toBe(imageContract.appUserId);
  });

  it("leaves no copy of the user id in our Dockerfiles: they take APP_UID as a build arg", () => {
    const ours = imageContract.roles.map((role) => `images/${role}/Dockerfile`).concat("images/python-deps/Dockerfile");
    for (const file of ours) {
      expect(read(file), file).not.toContain(String(imageContract.appUserId));
      expect(read(file), file).toMatch(/\$\{APP_UID\}/);
    }
  });

  it("leaves no copy of an image name or the default tag in the scripts", () => {
    const names = imageContract.roles.map((role) => `${imageContract.namePrefix}${role}`);
    const copies = filesUnder("scripts", /\.sh$/).flatMap((file) => {
      const text = read(file);
      return [...names, `:-${imageContract.defaultTag}`].filter((literal) => text.includes(literal)).map((literal) => `${file}: ${literal}`);
    });
    expect(copies).toEqual([]);
  });

  it("refuses a file it cannot read, naming the line or the key", () => {
    expect(() => parseEnvFile("IMAGE_ROLES=trainer serving")).toThrow(/cannot read 'IMAGE_ROLES=trainer serving'/);
    expect(() => readImageContract('IMAGE_ROLES="trainer"\nIMAGE_NAME_PREFIX=x-\nIMAGE_DEFAULT_TAG=1')).toThrow(/APP_USER_ID is missing/);
    expect(() => readImageContract('IMAGE_ROLES="trainer"\nIMAGE_NAME_PREFIX=x-\nIMAGE_DEFAULT_TAG=1\nAPP_USER_ID=0')).toThrow(/non-root/);
  });
});
