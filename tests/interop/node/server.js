// A Node server of helloworld.Greeter, written with @grpc/grpc-js and nothing from
// grpc-greeter: it loads the repository's proto at run time with @grpc/proto-loader and
// answers with the same default greetings as an unmodified greeter.GreeterService.
//
// Usage: node server.js [ADDRESS]   (default 127.0.0.1:0, port 0 picks a free port)
//
// Prints "listening on PORT" once bound; on SIGTERM or SIGINT it stops taking calls,
// lets in-flight ones finish (5 s at most) and exits.

"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_PATH = path.resolve(__dirname, "../../../protos/greeter/_proto/helloworld.proto");
const DEFAULT_ADDRESS = "127.0.0.1:0";
const GRACE_MS = 5000;
const STREAM_REPLY_COUNT = 3;

function loadGreeter() {
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, defaults: true });
  return grpc.loadPackageDefinition(definition).helloworld.Greeter;
}

// [] -> "Hello!", [Ann] -> "Hello, Ann!", [Ann, Bob, Cy] -> "Hello, Ann, Bob and Cy!"
function greetAll(names) {
  if (names.length === 0) return "Hello!";
  if (names.length === 1) return `Hello, ${names[0]}!`;
  return `Hello, ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}!`;
}

const greeter = {
  SayHello(call, callback) {
    callback(null, { message: `Hello, ${call.request.name}!` });
  },

  SayHelloAgain(call, callback) {
    callback(null, { message: `Hello again, ${call.request.name}!` });
  },

  SayHelloStreamReply(call) {
    for (let i = 1; i <= STREAM_REPLY_COUNT; i += 1) {
      call.write({ message: `Hello, ${call.request.name}! (${i} of ${STREAM_REPLY_COUNT})` });
    }
    call.end();
  },

  SayHelloStreamRequest(call, callback) {
    const names = [];
    call.on("data", (request) => names.push(request.name));
    call.on("end", () => callback(null, { message: greetAll(names) }));
  },

  SayHelloBidiStream(call) {
    call.on("data", (request) => call.write({ message: `Hello, ${request.name}!` }));
    call.on("end", () => call.end());
  },
};

function stopOnSignals(server) {
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`server.js: ${signal}, shutting down\n`);
    // Calls still running after the grace period are cancelled.
    const force = setTimeout(() => server.forceShutdown(), GRACE_MS);
    server.tryShutdown((error) => {
      clearTimeout(force);
      if (error) process.stderr.write(`server.js: ${error.message}\n`);
      process.exit(error ? 1 : 0);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

function main() {
  const address = process.argv[2] || DEFAULT_ADDRESS;
  const server = new grpc.Server();
  server.addService(loadGreeter().service, greeter);
  server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
      process.stderr.write(`server.js: cannot bind ${address}: ${error.message}\n`);
      process.exit(1);
    }
    // Writes to a pipe are synchronous on Linux, so the line is out before any call.
    process.stdout.write(`listening on ${port}\n`);
  });
  stopOnSignals(server);
}

main();
