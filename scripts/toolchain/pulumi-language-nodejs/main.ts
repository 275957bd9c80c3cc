// Entry point of the nodejs language host that the Pulumi CLI starts as `pulumi-language-nodejs [flags] <engine>`.
// Like the Go host it serves LanguageRuntime on a free loopback port and prints that port on stdout.
import * as grpc from "@grpc/grpc-js";
import { LanguageRuntimeService } from "@pulumi/pulumi/proto/language_grpc_pb";
import { engineAddressFromArgs } from "./runCommand";
import { type HostState, languageRuntimeHandlers } from "./service";

function main(): void {
  const { engineAddress, tracing } = engineAddressFromArgs(process.argv.slice(2));
  const state: HostState = { engineAddress, tracing, running: new Set() };
  const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
  server.addService(LanguageRuntimeService, languageRuntimeHandlers(state));
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`pulumi-language-nodejs: could not start the gRPC server: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`${port}\n`);
  });
  // The CLI stops plugins with a signal; take running programs down with us instead of orphaning them.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      for (const child of state.running) child.kill(signal);
      server.forceShutdown();
      process.exit(0);
    });
  }
}

main();
