// A Node client of helloworld.Greeter, written with @grpc/grpc-js and nothing from
// grpc-greeter: it loads the repository's proto at run time with @grpc/proto-loader.
//
// Usage: node client.js HOST:PORT
//
// Calls every RPC shape once and prints one JSON object on stdout, keyed by RPC name.
// On any error it prints one line on stderr and exits with status 1.

"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_PATH = path.resolve(__dirname, "../../../protos/greeter/_proto/helloworld.proto");
const DEADLINE_MS = 10000;
const NAME = "you";
const NAMES = ["Ann", "Bob", "Cy"];

function loadGreeter() {
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, defaults: true });
  return grpc.loadPackageDefinition(definition).helloworld.Greeter;
}

// A fresh deadline per call, so one slow call cannot eat the next one's time.
function callOptions() {
  return { deadline: Date.now() + DEADLINE_MS };
}

// Errors name the RPC that failed: "SayHello: 14 UNAVAILABLE: ...".
function failure(rpc, error) {
  return new Error(`${rpc}: ${error.message}`);
}

function unary(client, rpc, name) {
  return new Promise((resolve, reject) => {
    client[rpc]({ name }, callOptions(), (error, reply) => {
      if (error) reject(failure(rpc, error));
      else resolve(reply.message);
    });
  });
}

function serverStreaming(client, rpc, name) {
  return new Promise((resolve, reject) => {
    const messages = [];
    const call = client[rpc]({ name }, callOptions());
    call.on("data", (reply) => messages.push(reply.message));
    call.on("error", (error) => reject(failure(rpc, error)));
    call.on("end", () => resolve(messages));
  });
}

function clientStreaming(client, rpc, names) {
  return new Promise((resolve, reject) => {
    const call = client[rpc](callOptions(), (error, reply) => {
      if (error) reject(failure(rpc, error));
      else resolve(reply.message);
    });
    for (const name of names) call.write({ name });
    call.end();
  });
}

// Sends the next name only after the reply to the previous one arrived, so this
// checks that the server answers each name as it comes, before the client half-closes.
function bidiStreaming(client, rpc, names) {
  return new Promise((resolve, reject) => {
    const messages = [];
    const pending = [...names];
    let halfClosed = false;
    const call = client[rpc](callOptions());
    const sendNext = () => {
      if (pending.length > 0) {
        call.write({ name: pending.shift() });
      } else if (!halfClosed) {
        halfClosed = true;
        call.end();
      }
    };
    call.on("data", (reply) => {
      messages.push(reply.message);
      sendNext();
    });
    call.on("error", (error) => reject(failure(rpc, error)));
    call.on("end", () => {
      if (pending.length > 0) reject(new Error(`${rpc}: server ended the call early`));
      else resolve(messages);
    });
    sendNext();
  });
}

async function callEveryShape(client) {
  return {
    SayHello: await unary(client, "SayHello", NAME),
    SayHelloAgain: await unary(client, "SayHelloAgain", NAME),
    SayHelloStreamReply: await serverStreaming(client, "SayHelloStreamReply", NAME),
    SayHelloStreamRequest: await clientStreaming(client, "SayHelloStreamRequest", NAMES),
    SayHelloBidiStream: await bidiStreaming(client, "SayHelloBidiStream", NAMES),
  };
}

async function main() {
  const target = process.argv[2];
  if (!target) throw new Error("usage: node client.js HOST:PORT");
  const Greeter = loadGreeter();
  const client = new Greeter(target, grpc.credentials.createInsecure());
  try {
    const results = await callEveryShape(client);
    process.stdout.write(`${JSON.stringify(results)}\n`);
  } finally {
    client.close();
  }
}

main().catch((error) => {
  process.stderr.write(`client.js: ${error.message}\n`);
  process.exitCode = 1;
});
