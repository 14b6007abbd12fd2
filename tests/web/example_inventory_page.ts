// The page of tests/test_example_inventory_browser.py: calls shop.v1.Inventory of the
// installed example project (examples/inventory, `python -m shop.server --web`) from a
// browser with @connectrpc/connect-web. The test compiles examples/inventory/protos with
// protoc and protoc-gen-es into ./gen and bundles this file with esbuild, at test time.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { Inventory } from "./gen/shop/v1/inventory_pb.js";
import type { Item } from "./gen/shop/v1/types_pb.js";

type Protocol = "connect" | "grpc-web";

/** An item as plain data; `updated` is whether the item carries a timestamp. */
interface PlainItem {
  sku: string;
  name: string;
  quantity: number;
  updated: boolean;
  note: string | null;
}

/** What a call ended with, as plain data: the items, or the error. */
interface Outcome {
  items: PlainItem[];
  error?: { code: string; message: string };
}

function clientFor(protocol: Protocol, baseUrl: string) {
  const transport: Transport = protocol === "grpc-web"
    ? createGrpcWebTransport({ baseUrl })
    : createConnectTransport({ baseUrl });
  return createClient(Inventory, transport);
}

function plain(item: Item): PlainItem {
  return {
    sku: item.sku,
    name: item.name,
    quantity: item.quantity,
    updated: item.updated !== undefined,
    note: item.note ?? null,
  };
}

function failed(outcome: Outcome, error: unknown): void {
  const connectError = ConnectError.from(error);
  outcome.error = { code: Code[connectError.code], message: connectError.rawMessage };
}

/** GetItem: one item by its SKU. */
async function getItem(protocol: Protocol, baseUrl: string, sku: string): Promise<Outcome> {
  const outcome: Outcome = { items: [] };
  try {
    outcome.items.push(plain(await clientFor(protocol, baseUrl).getItem({ sku })));
  } catch (error) {
    failed(outcome, error);
  }
  return outcome;
}

/** ListItems: every item, a server stream. */
async function listItems(protocol: Protocol, baseUrl: string): Promise<Outcome> {
  const outcome: Outcome = { items: [] };
  try {
    for await (const item of clientFor(protocol, baseUrl).listItems({})) {
      outcome.items.push(plain(item));
    }
  } catch (error) {
    failed(outcome, error);
  }
  return outcome;
}

declare global {
  interface Window {
    inventory: { getItem: typeof getItem; listItems: typeof listItems };
  }
}
window.inventory = { getItem, listItems };
