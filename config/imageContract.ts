import * as fs from "node:fs";
import * as path from "node:path";

/** images/images.env: our images' names, default tag and user, shared with the shell scripts and Dockerfiles. */
export const imageContractFile = path.resolve(__dirname, "..", "images", "images.env");

export interface ImageContract {
  /** The images scripts/docker/build-images.sh builds, one per folder images/<role>. */
  readonly roles: readonly string[];
  /** `<prefix><role>` is an image's repository name, e.g. mlops-trainer. */
  readonly namePrefix: string;
  readonly defaultTag: string;
  /** The numeric user (and group) every image of ours runs as, so `runAsNonRoot` can be verified. */
  readonly appUserId: number;
}

/** Parses the KEY=VALUE lines (values optionally in double quotes) of an env file; comments and blanks skipped. */
export function parseEnvFile(text: string): Record<string, string> {
  const entries = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = /^([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))$/.exec(line);
      if (!match) throw new Error(`${imageContractFile}: cannot read '${line}': expected KEY=value or KEY="value"`);
      return [match[1], match[2] ?? match[3] ?? ""] as const;
    });
  return Object.fromEntries(entries);
}

export function readImageContract(text = fs.readFileSync(imageContractFile, "utf8")): ImageContract {
  const env = parseEnvFile(text);
  const required = (key: string): string => {
    const value = env[key];
    if (!value) throw new Error(`${imageContractFile}: ${key} is missing`);
    return value;
  };
  const appUserId = Number(required("APP_USER_ID"));
  if (!Number.isInteger(appUserId) || appUserId <= 0) throw new Error(`${imageContractFile}: APP_USER_ID: expected a non-root numeric user id`);
  return { roles: required("IMAGE_ROLES").split(/\s+/), namePrefix: required("IMAGE_NAME_PREFIX"), defaultTag: required("IMAGE_DEFAULT_TAG"), appUserId };
}

export const imageContract: ImageContract = readImageContract();
