// A Node client of the shop, written with @grpc/grpc-js and nothing from grpc-greeter:
// it loads the example's .proto files at run time with @grpc/proto-loader.
//
// Usage: node client.js HOST:PORT
//
// Calls each of shop.v1.Inventory's four RPC shapes, and two of shop.v1.Catalog's RPCs,
// and prints one JSON object on stdout, keyed by RPC name. On any error it prints one
// line on stderr and exits with status 1.

"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "../protos");
const FILES = ["shop/v1/inventory.proto", "shop/v1/catalog.proto"];
const DEADLINE_MS = 10000;

function loadShop() {
  const definition = protoLoader.loadSync(FILES, {
    includeDirs: [PROTOS],
    keepCase: true,
    defaults: true,
    longs: Number,
  });
  return grpc.loadPackageDefinition(definition).shop.v1;
}

// A fresh deadline per call, so one slow call cannot eat the next one's time.
function callOptions() {
  return { deadline: Date.now() + DEADLINE_MS };
}

// Errors name the RPC that failed: "GetItem: 14 UNAVAILABLE: ...".
function failure(rpc, error) {
  return new Error(`${rpc}: ${error.message}`);
}

function unary(client, rpc, request) {
  return new Promise((resolve, reject) => {
    client[rpc](request, callOptions(), (error, reply) => {
      if (error) reject(failure(rpc, error));
      else resolve(reply);
    });
  });
}

// Resolves with the gRPC status code and details of a call that must fail.
function failing(client, rpc, request) {
  return new Promise((resolve, reject) => {
    client[rpc](request, callOptions(), (error) => {
      if (error) resolve({ code: grpc.status[error.code], details: error.details });
      else reject(new Error(`${rpc}: succeeded where it should fail`));
    });
  });
}

function serverStreaming(client, rpc, request) {
  return new Promise((resolve, reject) => {
    const replies = [];
    const call = client[rpc](request, callOptions());
    call.on("data", (reply) => replies.push(reply));
    call.on("error", (error) => reject(failure(rpc, error)));
    call.on("end", () => resolve(replies));
  });
}

function clientStreaming(client, rpc, requests) {
  return new Promise((resolve, reject) => {
    const call = client[rpc](callOptions(), (error, reply) => {
      if (error) reject(failure(rpc, error));
      else resolve(reply);
    });
    for (const request of requests) call.write(request);
    call.end();
  });
}

// Sends the next request only after the reply to the previous one arrived: the server
// answers each restock as it comes, before the client half-closes.
function bidiStreaming(client, rpc, requests) {
  return new Promise((resolve, reject) => {
    const replies = [];
    const pending = [...requests];
    const call = client[rpc](callOptions());
    const sendNext = () => {
      if (pending.length > 0) call.write(pending.shift());
      else call.end();
    };
    call.on("data", (reply) => {
      replies.push(reply);
      sendNext();
    });
    call.on("error", (error) => reject(failure(rpc, error)));
    call.on("end", () => resolve(replies));
    sendNext();
  });
}

// "w-1 x7 (updated)": whether the item carries the Timestamp from types.proto, decoded by proto-loader.
const describe = (item) =>
  `${item.sku} x${item.quantity}${item.updated === null ? "" : " (updated)"}`;

async function callShop(inventory, catalog) {
  const item = await unary(inventory, "GetItem", { sku: "w-1" });
  const restocks = [
    { sku: "w-1", added: 2 },
    { sku: "g-7", added: 5 },
  ];
  return {
    GetItem: `${describe(item)} ${item.name}`,
    GetItemUnknown: await failing(inventory, "GetItem", { sku: "nope" }),
    ListItems: (await serverStreaming(inventory, "ListItems", {})).map(describe),
    RestockItems: await clientStreaming(inventory, "RestockItems", restocks),
    Watch: (await bidiStreaming(inventory, "Watch", restocks)).map(describe),
    GetPrice: await unary(catalog, "GetPrice", { sku: "w-1" }),
    CountProducts: await unary(catalog, "CountProducts", {}),
  };
}

async function main() {
  const target = process.argv[2];
  if (!target) throw new Error("usage: node client.js HOST:PORT");
  const shop = loadShop();
  const inventory = new shop.Inventory(target, grpc.credentials.createInsecure());
  const catalog = new shop.Catalog(target, grpc.credentials.createInsecure());
  try {
    process.stdout.write(`${JSON.stringify(await callShop(inventory, catalog))}\n`);
  } finally {
    inventory.close();
    catalog.close();
  }
}

main().catch((error) => {
  process.stderr.write(`client.js: ${error.message}\n`);
  process.exitCode = 1;
});
