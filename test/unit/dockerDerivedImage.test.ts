import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imagesSchema, servingSchema, trainingSchema } from "../../config";
import { planStudy } from "../../components/shared/study";
import { installPulumiMocks, outputValue, type Registered } from "./support/pulumiMocks";

// The derived trainer and serving images of the docker platform (user code and extra pins), over Pulumi mocks.
let captured: Registered[] = [];

type DockerModule = typeof import("../../components/docker");
let docker: DockerModule;
type PlatformsModule = typeof import("../../programs/platforms");
let platforms: PlatformsModule;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-derived-image-test-"));
const contextRoot = path.join(work, "contexts");
const codeDir = path.join(work, "code");
const lockFile = path.join(work, "requirements.lock");

beforeAll(async () => {
  fs.mkdirSync(codeDir);
  fs.writeFileSync(path.join(codeDir, "my_models.py"), "def build(**params):\n    return None\n");
  fs.mkdirSync(path.join(codeDir, "__pycache__"));
  fs.writeFileSync(path.join(codeDir, "__pycache__", "my_models.cpython-312.pyc"), "stale");
  fs.writeFileSync(lockFile, "numpy==2.1.3\nscikit-learn==1.6.1\n");
  captured = await installPulumiMocks(({ type }) => {
    if (type === "docker:index/container:Container") return { state: { exitCode: 0, containerLogs: "" } };
    if (type === "docker:index/remoteImage:RemoteImage") return { state: { imageId: "sha256:0" } };
    return {};
  });
  docker = await import("../../components/docker");
  platforms = await import("../../programs/platforms");
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const named = (prefix: string) => captured.filter((c) => c.name.startsWith(prefix));
const types = (prefix: string) => named(prefix).map((c) => `${c.type} ${c.name}`);

describe("derivedImagePlan: what a derived image is built from and its content-addressed tag", () => {
  const base = { baseImage: "mlops-trainer:0.1.0", requirements: [] as string[], constraintsFile: lockFile };

  it("tags by base, pins and code content: the same inputs the same tag, any change a new one", () => {
    const code = docker.derivedImagePlan({ ...base, codeDir });
    expect(code.ref).toBe(`mlops-trainer-user:${code.tag}`);
    expect(code.tag).toMatch(/^[0-9a-f]{12}$/);
    expect(docker.derivedImagePlan({ ...base, codeDir }).tag).toBe(code.tag);
    // The pin order does not matter; each pin, the base and the code's content do.
    const pins = docker.derivedImagePlan({ ...base, requirements: ["xgboost==3.0.5", "lightgbm==4.6.0"] });
    expect(docker.derivedImagePlan({ ...base, requirements: ["lightgbm==4.6.0", "xgboost==3.0.5"] }).tag).toBe(pins.tag);
    expect(docker.derivedImagePlan({ ...base, requirements: ["xgboost==3.0.4", "lightgbm==4.6.0"] }).tag).not.toBe(pins.tag);
    expect(docker.derivedImagePlan({ ...base, codeDir, baseImage: "mlops-trainer:0.2.0" }).tag).not.toBe(code.tag);
    expect(docker.derivedImagePlan({ ...base, codeDir, requirements: ["xgboost==3.0.5"] }).tag).not.toBe(code.tag);
    // Build output in the folder is not content; a changed module is.
    fs.writeFileSync(path.join(codeDir, "__pycache__", "my_models.cpython-312.pyc"), "other");
    expect(docker.derivedImagePlan({ ...base, codeDir }).tag).toBe(code.tag);
    const module = path.join(codeDir, "my_models.py");
    const before = fs.readFileSync(module, "utf8");
    fs.writeFileSync(module, `${before}# changed\n`);
    try {
      expect(docker.derivedImagePlan({ ...base, codeDir }).tag).not.toBe(code.tag);
    } finally {
      fs.writeFileSync(module, before);
    }
  });

  it("a new constraints lock is a new image for pins, not for code alone", () => {
    const other = path.join(work, "other.lock");
    fs.writeFileSync(other, "numpy==2.1.4\n");
    expect(docker.derivedImagePlan({ ...base, requirements: ["xgboost==3.0.5"], constraintsFile: other }).tag).not.toBe(
      docker.derivedImagePlan({ ...base, requirements: ["xgboost==3.0.5"] }).tag,
    );
    expect(docker.derivedImagePlan({ ...base, codeDir, constraintsFile: other }).tag).toBe(docker.derivedImagePlan({ ...base, codeDir }).tag);
  });

  it("pins: pip install under the lock as a constraint, as root, then back to the app user", () => {
    const plan = docker.derivedImagePlan({ ...base, requirements: ["xgboost==3.0.5", "lightgbm==4.6.0"] });
    expect(plan.dockerfile.split("\n")).toEqual([
      "ARG BASE_IMAGE",
      "FROM $BASE_IMAGE",
      "USER root",
      "COPY requirements.lock requirements.txt /tmp/user-build/",
      "RUN pip install --no-cache-dir --disable-pip-version-check --no-input --constraint /tmp/user-build/requirements.lock -r /tmp/user-build/requirements.txt \\",
      " && rm -rf /tmp/user-build && find /opt/venv -name __pycache__ -prune -exec rm -rf {} +",
      "USER 10001:10001",
      "",
    ]);
    expect(plan.files).toEqual({ "requirements.lock": { text: fs.readFileSync(lockFile, "utf8") }, "requirements.txt": { text: "lightgbm==4.6.0\nxgboost==3.0.5\n" } });
  });

  it("code: the folder copied to /app/user-code, owned by the app user; no pip step", () => {
    const plan = docker.derivedImagePlan({ ...base, codeDir });
    expect(plan.dockerfile).toBe(`ARG BASE_IMAGE\nFROM $BASE_IMAGE\nCOPY --chown=10001:10001 user-code/ ${docker.userCodeImagePath}/\n`);
    expect(docker.userCodeImagePath).toBe("/app/user-code");
    expect(plan.files).toEqual({ "user-code": { folder: codeDir } });
  });

  it("keeps the registry of the base and refuses a plan with nothing to add", () => {
    expect(docker.derivedImagePlan({ ...base, codeDir, baseImage: "registry.example:5000/team/mlops-serving:0.1.0" }).ref).toMatch(
      /^registry\.example:5000\/team\/mlops-serving-user:[0-9a-f]{12}$/,
    );
    expect(() => docker.derivedImagePlan(base)).toThrow(/expected user code or requirements/);
  });

  it("stages the context once per tag: the Dockerfile, the files and the code without build output", () => {
    const plan = docker.derivedImagePlan({ ...base, codeDir, requirements: ["xgboost==3.0.5"] });
    const dir = docker.stageContext(plan, contextRoot);
    expect(dir).toBe(path.join(contextRoot, plan.tag));
    expect(fs.readFileSync(path.join(dir, "Dockerfile"), "utf8")).toBe(plan.dockerfile);
    expect(fs.readFileSync(path.join(dir, "requirements.txt"), "utf8")).toBe("xgboost==3.0.5\n");
    expect(fs.readdirSync(path.join(dir, "user-code"))).toEqual(["my_models.py"]);
    expect(docker.stageContext(plan, contextRoot)).toBe(dir);
    expect(fs.readdirSync(contextRoot)).toEqual([plan.tag]);
  });
});

describe("the docker components with and without user code or pins (mocked provider)", () => {
  const training = trainingSchema.parse({ searchSpace: { n_estimators: { values: [10, 20] } }, workers: 2 });
  const fanoutArgs = (user?: { codeDir?: string; requirements: string[] }) => ({
    shards: planStudy("dev", training).shards,
    training,
    trackingUri: "http://mlflow:5000",
    image: "mlops-trainer:0.1.0",
    networkName: "mlops-dev",
    ...(user ? { user } : {}),
  });

  it("without code or pins: the trainer image as is, no derived image (the resources of stacks from before)", async () => {
    const plain = new docker.DockerTrainingFanout("plain", fanoutArgs());
    const empty = new docker.DockerTrainingFanout("empty", fanoutArgs({ requirements: [] }));
    await Promise.all([outputValue(plain.workerCount), outputValue(empty.workerCount)]);
    for (const name of ["plain", "empty"]) {
      expect(types(name)).toEqual([
        `mlops:docker:TrainingFanout ${name}`,
        `docker:index/remoteImage:RemoteImage ${name}-prepare-image`,
        `docker:index/container:Container ${name}-prepare`,
        `docker:index/container:Container ${name}-trainer-0`,
        `docker:index/container:Container ${name}-trainer-1`,
      ]);
      expect(named(`${name}-prepare-image`)[0]?.inputs).toEqual({ name: "mlops-trainer:0.1.0", keepLocally: true });
    }
  });

  it("with code: builds the derived trainer image on the engine (never pushed) and runs every trainer from it", async () => {
    const fanout = new docker.DockerTrainingFanout("coded", fanoutArgs({ codeDir, requirements: [] }));
    await outputValue(fanout.workerCount);
    const plan = docker.derivedImagePlan({ baseImage: "mlops-trainer:0.1.0", codeDir, requirements: [] });
    expect(types("coded")).toEqual([
      "mlops:docker:TrainingFanout coded",
      "mlops:docker:DerivedImage coded-user-image",
      "docker:index/image:Image coded-user-image-build",
      "docker:index/remoteImage:RemoteImage coded-prepare-image",
      "docker:index/container:Container coded-prepare",
      "docker:index/container:Container coded-trainer-0",
      "docker:index/container:Container coded-trainer-1",
    ]);
    const build = named("coded-user-image-build")[0]?.inputs;
    const context = path.join(os.tmpdir(), "mlops-image-contexts", plan.tag);
    expect(build).toEqual({
      imageName: plan.ref,
      skipPush: true,
      // The SDK's default, spelled out by it: a preview builds nothing.
      buildOnPreview: false,
      build: { context, dockerfile: path.join(context, "Dockerfile"), builderVersion: "BuilderV1", args: { BASE_IMAGE: "mlops-trainer:0.1.0" } },
    });
    expect(fs.readdirSync(path.join(context, "user-code"))).toEqual(["my_models.py"]);
    expect(named("coded-prepare-image")[0]?.inputs).toEqual({ name: plan.ref, keepLocally: true });
  });

  it("serving: a derived image only for pins (the model carries the code), from the serving image", async () => {
    const servingArgs = {
      modelUri: "models:/m@champion",
      serving: servingSchema.parse({ replicas: 1 }),
      trackingUri: "http://mlflow:5000",
      images: imagesSchema.parse({ tag: "0.1.0", loadBalancer: "nginx:1.27.2" }),
      image: "mlops-serving:0.1.0",
      networkName: "mlops-dev",
    };
    const plain = new docker.DockerModelServing("splain", servingArgs);
    const pinned = new docker.DockerModelServing("spinned", { ...servingArgs, requirements: ["xgboost==3.0.5"] });
    await Promise.all([outputValue(plain.endpoint), outputValue(pinned.endpoint)]);
    expect(types("splain").filter((t) => /Image|DerivedImage/.test(t))).toEqual([
      "docker:index/remoteImage:RemoteImage splain-serving-0-image",
      "docker:index/remoteImage:RemoteImage splain-loadbalancer-image",
    ]);
    const plan = docker.derivedImagePlan({ baseImage: "mlops-serving:0.1.0", requirements: ["xgboost==3.0.5"] });
    expect(plan.ref).toMatch(/^mlops-serving-user:/);
    expect(named("spinned-user-image-build")[0]?.inputs).toMatchObject({ imageName: plan.ref, skipPush: true, build: { args: { BASE_IMAGE: "mlops-serving:0.1.0" } } });
    expect(named("spinned-serving-0-image")[0]?.inputs).toEqual({ name: plan.ref, keepLocally: true });
    expect(named("spinned-loadbalancer-image")[0]?.inputs).toEqual({ name: "nginx:1.27.2", keepLocally: true });
  });
});

describe("where the workers find training.code", () => {
  const training = () => trainingSchema.parse({ code: codeDir, factory: "my_models:build", task: "classification" });

  it("docker: the derived image's folder; local and kubernetes: no in-image path (the host folder)", () => {
    expect(platforms.platformFor("docker").codePath).toBe("/app/user-code");
    expect(platforms.platformFor("local").codePath).toBeUndefined();
    expect(platforms.platformFor("kubernetes").codePath).toBeUndefined();
  });

  it("the spec names the platform's path; the study id is the code's content either way", () => {
    const onDocker = planStudy("dev", training(), { codePath: "/app/user-code" }).study;
    const onHost = planStudy("dev", training()).study;
    expect(onDocker.codePath).toBe("/app/user-code");
    expect(onHost.codePath).toBe(codeDir);
    expect(onDocker.studyId).toBe(onHost.studyId);
  });
});
