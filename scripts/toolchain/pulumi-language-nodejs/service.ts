// The LanguageRuntime gRPC service: what `pulumi preview|up|destroy|about` call on a nodejs language host.
// Code generation, packing and plugin hosting are not offered (the CLI gets UNIMPLEMENTED for them).
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as languagePb from "@pulumi/pulumi/proto/language_pb";
import * as pluginPb from "@pulumi/pulumi/proto/plugin_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { buildNodeCommand, describeExit, parseRuntimeOptions, type RunOutcome } from "./runCommand";

/** Reported by GetPluginInfo: this host's own version, not the Pulumi CLI's. */
export const LANGUAGE_HOST_VERSION = "1.0.0";

const DEFAULT_RUN_MODULE = "@pulumi/pulumi/cmd/run";

export interface HostState {
  engineAddress: string;
  readonly tracing: string;
  readonly running: Set<ChildProcess>;
}

/** Resolves a module the way `node` started in `directory` would (the SDK lives in the program's node_modules). */
function resolveFrom(directory: string, moduleName: string): string {
  return createRequire(path.join(path.resolve(directory), "package.json")).resolve(moduleName);
}

function programInfo(info: languagePb.ProgramInfo | undefined, pwd: string, program: string) {
  const programDirectory = info?.getProgramDirectory() || pwd || process.cwd();
  return {
    rootDirectory: info?.getRootDirectory() || programDirectory,
    programDirectory,
    entryPoint: info?.getEntryPoint() || program || ".",
    options: (info?.getOptions()?.toJavaScript() ?? {}) as Record<string, unknown>,
  };
}

function runResponse(outcome: RunOutcome): languagePb.RunResponse {
  return new languagePb.RunResponse().setError(outcome.error).setBail(outcome.bail);
}

async function runProgram(state: HostState, req: languagePb.RunRequest): Promise<RunOutcome> {
  const info = programInfo(req.getInfo(), req.getPwd(), req.getProgram());
  let runScript: string;
  try {
    runScript = resolveFrom(info.programDirectory, process.env.PULUMI_LANGUAGE_NODEJS_RUN_PATH || DEFAULT_RUN_MODULE);
  } catch {
    return {
      error: `It looks like the Pulumi SDK has not been installed in ${info.programDirectory}. Have you run npm install?`,
      bail: false,
    };
  }
  const command = buildNodeCommand({
    runScript,
    monitorAddress: req.getMonitorAddress(),
    engineAddress: state.engineAddress,
    organization: req.getOrganization(),
    project: req.getProject(),
    stack: req.getStack(),
    rootDirectory: info.rootDirectory,
    programDirectory: info.programDirectory,
    entryPoint: info.entryPoint,
    dryRun: req.getDryrun(),
    parallel: req.getParallel(),
    tracing: state.tracing,
    programArgs: req.getArgsList(),
    config: new Map(req.getConfigMap().toArray()),
    configSecretKeys: req.getConfigsecretkeysList(),
    options: parseRuntimeOptions(info.options),
  });
  return await new Promise<RunOutcome>((resolve) => {
    // The program's stdout/stderr go straight to ours: the CLI shows them as the stack's diagnostics.
    const child = spawn(process.execPath, command.args, {
      env: { ...process.env, ...command.env },
      stdio: ["ignore", "inherit", "inherit"],
    });
    state.running.add(child);
    child.on("error", (err) => {
      state.running.delete(child);
      resolve({ error: `Problem executing program (could not run language executor): ${err.message}`, bail: false });
    });
    child.on("exit", (code, signal) => {
      state.running.delete(child);
      resolve(describeExit(code, signal));
    });
  });
}

function installedVersion(programDirectory: string, name: string): string {
  try {
    const manifest = path.join(programDirectory, "node_modules", name, "package.json");
    return String(JSON.parse(fs.readFileSync(manifest, "utf8")).version ?? "");
  } catch {
    return "";
  }
}

function programDependencies(programDirectory: string): languagePb.DependencyInfo[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(programDirectory, "package.json"), "utf8"));
  const names = Object.keys({ ...(manifest.dependencies ?? {}), ...(manifest.devDependencies ?? {}) }).sort();
  return names.map((name) => new languagePb.DependencyInfo().setName(name).setVersion(installedVersion(programDirectory, name)));
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

function unary<Req, Res>(handler: (req: Req) => Res | Promise<Res>): Unary<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request))
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback({ code: grpc.status.UNKNOWN, details: err instanceof Error ? err.message : String(err) }),
      );
  };
}

export function languageRuntimeHandlers(state: HostState): grpc.UntypedServiceImplementation {
  return {
    handshake: unary((req: languagePb.LanguageHandshakeRequest) => {
      state.engineAddress = req.getEngineAddress();
      return new languagePb.LanguageHandshakeResponse();
    }),
    getPluginInfo: unary(() => new pluginPb.PluginInfo().setVersion(LANGUAGE_HOST_VERSION)),
    // Plugins are preinstalled by scripts/toolchain.sh. Listing the npm packages' providers here would make
    // the engine load every one of them up front, including bridged providers that cannot be installed offline.
    getRequiredPlugins: unary(() => new languagePb.GetRequiredPluginsResponse()),
    getRequiredPackages: unary(() => new languagePb.GetRequiredPackagesResponse()),
    run: unary(async (req: languagePb.RunRequest) => runResponse(await runProgram(state, req))),
    installDependencies: (call: grpc.ServerWritableStream<languagePb.InstallDependenciesRequest, languagePb.InstallDependenciesResponse>) => {
      const note = "Dependencies come from `make deps` (npm ci of the pinned lockfile); nothing to install here.\n";
      call.write(new languagePb.InstallDependenciesResponse().setStdout(Buffer.from(note)));
      call.end();
    },
    about: unary(() => {
      const response = new languagePb.AboutResponse().setExecutable(process.execPath).setVersion(process.version);
      response.getMetadataMap().set("packagemanager", "npm");
      return response;
    }),
    getProgramDependencies: unary((req: languagePb.GetProgramDependenciesRequest) => {
      const info = programInfo(req.getInfo(), req.getPwd(), req.getProgram());
      return new languagePb.GetProgramDependenciesResponse().setDependenciesList(programDependencies(info.programDirectory));
    }),
    cancel: unary(() => {
      for (const child of state.running) child.kill("SIGINT");
      return new Empty();
    }),
  };
}
