// Greets through grpc-greeter's web port from a browser, with @connectrpc/connect-web.
// The same calls run over the Connect protocol or gRPC-Web: pick the transport.
// The page also offers them as window.greeter, which tests/test_web_browser.py calls.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { Greeter } from "./gen/greeter/_proto/helloworld_pb.js";

export type Protocol = "connect" | "grpc-web";

/** What a call ended with, as plain data: replies, or the error, and the trailers. */
export interface Outcome {
  replies: string[];
  trailers: Record<string, string>;
  error?: { code: string; message: string; details: { type: string; value: string }[] };
}

function transportFor(protocol: Protocol, baseUrl: string): Transport {
  return protocol === "grpc-web"
    ? createGrpcWebTransport({ baseUrl })
    : createConnectTransport({ baseUrl });
}

function record(headers: Headers, into: Record<string, string>): void {
  headers.forEach((value, key) => {
    into[key] = value;
  });
}

function failure(error: unknown): NonNullable<Outcome["error"]> {
  const connectError = ConnectError.from(error);
  return {
    code: Code[connectError.code],
    message: connectError.rawMessage,
    details: connectError.details.map((detail) => ({
      type: "desc" in detail ? detail.desc.typeName : detail.type,
      value: "value" in detail && detail.value instanceof Uint8Array
        ? btoa(String.fromCharCode(...detail.value))
        : "",
    })),
  };
}

/** SayHello: one greeting. */
export async function sayHello(
  protocol: Protocol,
  baseUrl: string,
  name: string,
  headers: Record<string, string> = {},
): Promise<Outcome> {
  const client = createClient(Greeter, transportFor(protocol, baseUrl));
  const outcome: Outcome = { replies: [], trailers: {} };
  try {
    const reply = await client.sayHello(
      { name },
      { headers, onTrailer: (trailers) => record(trailers, outcome.trailers) },
    );
    outcome.replies.push(reply.message);
  } catch (error) {
    outcome.error = failure(error);
    record(ConnectError.from(error).metadata, outcome.trailers);
  }
  return outcome;
}

/** SayHelloStreamReply: greetings as the server sends them. */
export async function sayHelloStreamReply(
  protocol: Protocol,
  baseUrl: string,
  name: string,
  onReply: (message: string) => void = () => {},
): Promise<Outcome> {
  const client = createClient(Greeter, transportFor(protocol, baseUrl));
  const outcome: Outcome = { replies: [], trailers: {} };
  try {
    const replies = client.sayHelloStreamReply(
      { name },
      { onTrailer: (trailers) => record(trailers, outcome.trailers) },
    );
    for await (const reply of replies) {
      outcome.replies.push(reply.message);
      onReply(reply.message);
    }
  } catch (error) {
    outcome.error = failure(error);
  }
  return outcome;
}

declare global {
  interface Window {
    greeter: { sayHello: typeof sayHello; sayHelloStreamReply: typeof sayHelloStreamReply };
  }
}
window.greeter = { sayHello, sayHelloStreamReply };

// The page: a name, a transport, two buttons, and what came back.
const query = new URLSearchParams(location.search);
const form = document.querySelector<HTMLFormElement>("#greet");
if (form !== null) {
  const server = document.querySelector<HTMLInputElement>("#server")!;
  const nameInput = document.querySelector<HTMLInputElement>("#name")!;
  const protocolSelect = document.querySelector<HTMLSelectElement>("#protocol")!;
  const output = document.querySelector<HTMLOListElement>("#replies")!;
  server.value = query.get("server") ?? "http://localhost:8080";

  const show = (text: string): void => {
    const item = document.createElement("li");
    item.textContent = text;
    output.append(item);
  };
  const settle = (outcome: Outcome): void => {
    if (outcome.error !== undefined) {
      show(`error: ${outcome.error.code}: ${outcome.error.message}`);
    }
  };
  const protocol = (): Protocol => protocolSelect.value as Protocol;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    output.replaceChildren();
    void sayHello(protocol(), server.value, nameInput.value).then((outcome) => {
      outcome.replies.forEach(show);
      settle(outcome);
    });
  });
  document.querySelector("#stream")!.addEventListener("click", () => {
    output.replaceChildren();
    void sayHelloStreamReply(protocol(), server.value, nameInput.value, show).then(settle);
  });
}
