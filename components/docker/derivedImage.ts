import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { imageContract } from "../../config/imageContract";
import { codeFingerprint, isBuildOutput } from "../shared/codeFingerprint";
import { fileSha256 } from "../shared/datasetFingerprint";
import { shortHash } from "../shared/trialKey";

/** Where a derived trainer image carries `training.code`: the study spec's `codePath` on the docker platform. */
export const userCodeImagePath = "/app/user-code";

/** python/requirements.lock: the constraint every extra pin is installed under (as scripts/workload-venv.sh does). */
export const requirementsLockFile = path.resolve(__dirname, "..", "..", "python", "requirements.lock");

export interface DerivedImageArgs {
  /** The stack's image the derived one starts FROM, e.g. mlops-trainer:0.1.0 (on the engine already). */
  readonly baseImage: string;
  /** `training.requirements`: exact pins, pip-installed into the image's venv. */
  readonly requirements: readonly string[];
  /** `training.code` as a host folder: copied to userCodeImagePath. */
  readonly codeDir?: string;
  /** The constraint file for the pins; default python/requirements.lock. */
  readonly constraintsFile?: string;
  /** Where build contexts are staged (one folder per tag); default `<tmpdir>/mlops-image-contexts`. */
  readonly contextRoot?: string;
}

/** What the build takes and the tag it gets: pure, so tests check it without an engine. */
export interface DerivedImagePlan {
  /** `<base repository>-user:<12 hex>`: the hash of base reference, pins, constraints and code content. */
  readonly ref: string;
  readonly tag: string;
  readonly dockerfile: string;
  /** The context's files: path inside the context -> text, or a host folder copied as is. */
  readonly files: Readonly<Record<string, { readonly text: string } | { readonly folder: string }>>;
}

/** Whether a stack needs a derived image at all: only with user code or extra pins. */
export function needsDerivedImage(args: { readonly codeDir?: string; readonly requirements: readonly string[] }): boolean {
  return args.codeDir !== undefined || args.requirements.length > 0;
}

export function derivedImagePlan(args: DerivedImageArgs): DerivedImagePlan {
  if (!needsDerivedImage(args)) throw new Error("DockerDerivedImage: expected user code or requirements: without them the stack's image is used as is");
  const constraintsFile = args.constraintsFile ?? requirementsLockFile;
  const pins = [...args.requirements].sort();
  const codeDir = args.codeDir === undefined ? undefined : path.resolve(args.codeDir);
  const uid = imageContract.appUserId;
  const lines = ["ARG BASE_IMAGE", "FROM $BASE_IMAGE"];
  const files: Record<string, { text: string } | { folder: string }> = {};
  if (pins.length > 0) {
    files["requirements.lock"] = { text: fs.readFileSync(constraintsFile, "utf8") };
    files["requirements.txt"] = { text: `${pins.join("\n")}\n` };
    // The venv belongs to root; the lock is a constraint, so a pin that would move scikit-learn, numpy or MLflow fails the build.
    lines.push(
      "USER root",
      "COPY requirements.lock requirements.txt /tmp/user-build/",
      "RUN pip install --no-cache-dir --disable-pip-version-check --no-input --constraint /tmp/user-build/requirements.lock -r /tmp/user-build/requirements.txt \\",
      " && rm -rf /tmp/user-build && find /opt/venv -name __pycache__ -prune -exec rm -rf {} +",
      `USER ${uid}:${uid}`,
    );
  }
  if (codeDir !== undefined) {
    files["user-code"] = { folder: codeDir };
    lines.push(`COPY --chown=${uid}:${uid} user-code/ ${userCodeImagePath}/`);
  }
  const dockerfile = `${lines.join("\n")}\n`;
  // The Dockerfile's text is hashed too: a change in how the image is made is a new image.
  const tag = shortHash(
    {
      base: args.baseImage,
      dockerfile,
      pins,
      ...(pins.length > 0 ? { constraints: fileSha256(constraintsFile).sha256 } : {}),
      ...(codeDir === undefined ? {} : { code: codeFingerprint(codeDir) }),
    },
    12,
  );
  const repository = (args.baseImage.split("@")[0] ?? args.baseImage).replace(/:[^/]*$/, "");
  return { ref: `${repository}-user:${tag}`, tag, dockerfile, files };
}

/** Writes the plan's context once per tag (a staged copy, so the provider's context hash is the content's). */
export function stageContext(plan: DerivedImagePlan, contextRoot: string): string {
  const dir = path.join(contextRoot, plan.tag);
  if (fs.existsSync(path.join(dir, "Dockerfile"))) return dir;
  fs.mkdirSync(contextRoot, { recursive: true });
  const partial = fs.mkdtempSync(`${dir}.partial-`);
  for (const [name, file] of Object.entries(plan.files)) {
    const target = path.join(partial, name);
    if ("folder" in file) fs.cpSync(file.folder, target, { recursive: true, filter: (source) => !isBuildOutput(path.basename(source)) });
    else fs.writeFileSync(target, file.text);
  }
  // Written last: a context with a Dockerfile is complete.
  fs.writeFileSync(path.join(partial, "Dockerfile"), plan.dockerfile);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
  return dir;
}

/**
 * The stack's trainer or serving image plus the user's pins and code: `FROM <base>`, `pip install` of
 * the pins under python/requirements.lock, the code folder at /app/user-code. Built on the stack's
 * engine (never pushed), tagged by content, so the same code and pins reuse the image and a change
 * builds a new one. A stack without code or pins declares none of this.
 */
export class DockerDerivedImage extends pulumi.ComponentResource {
  /** The derived image's reference, known before deployment (containers name their image up front). */
  readonly ref: string;
  readonly image: docker.Image;

  constructor(name: string, args: DerivedImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:docker:DerivedImage", name, {}, opts);
    const plan = derivedImagePlan(args);
    const context = stageContext(plan, args.contextRoot ?? path.join(os.tmpdir(), "mlops-image-contexts"));
    this.ref = plan.ref;
    this.image = new docker.Image(
      `${name}-build`,
      {
        imageName: plan.ref,
        skipPush: true,
        // The classic builder: it uses the local base image as is (this engine has no BuildKit builder).
        build: { context, dockerfile: path.join(context, "Dockerfile"), builderVersion: "BuilderV1", args: { BASE_IMAGE: args.baseImage } },
      },
      { parent: this },
    );
    this.registerOutputs({ ref: this.ref });
  }
}
