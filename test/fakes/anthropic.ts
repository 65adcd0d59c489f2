/**
 * A local fake of the Anthropic API for tests that drive the real Claude Code CLI (and for
 * `claude-entry check --online`). Listens on 127.0.0.1, an ephemeral port; records every
 * request; answers `POST /v1/messages[?beta=true]` with a streamed (SSE) or plain JSON
 * message whose text is configurable; answers the side calls the CLI may make with an empty
 * 200 so they never stall a test; and lets a test choose the status of any path (401, 500,
 * or no answer at all) to exercise the failure paths.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent (e.g. `/v1/messages?beta=true`). */
  url: string;
  /** Path without the query. */
  path: string;
  /** Lower-case names, as node:http gives them. */
  headers: http.IncomingHttpHeaders;
  /** Raw body text. */
  text: string;
  /** Parsed JSON body, or undefined when it is not JSON. */
  body: any;
}

/** What to do for a path instead of the default answer. */
export type Override =
  | number // answer this status with a JSON error body of the API's shape
  | 'hang' // accept the request and never answer (for timeouts)
  | 'close' // destroy the socket without an answer
  | ((req: RecordedRequest, res: http.ServerResponse) => void); // answer it yourself

export interface FakeAnthropicOptions {
  /** Text of every assistant reply (default "Hello from the fake Anthropic API."). */
  replyText?: string | ((req: RecordedRequest) => string);
  /**
   * Per-path overrides, keyed by path without the query (e.g. `/v1/messages`,
   * `/api/oauth/profile`), or `*` for every path.
   */
  routes?: Record<string, Override>;
  /** Delay before each answer, in ms (for timeout tests). */
  delayMs?: number;
}

export interface FakeAnthropic {
  /** `http://127.0.0.1:PORT`: the value for ANTHROPIC_BASE_URL. */
  url: string;
  port: number;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Only the POSTs to /v1/messages (the model calls). */
  messages(): RecordedRequest[];
  /** Change an override while running (e.g. start answering 401). */
  setRoute(path: string, override: Override | undefined): void;
  setReplyText(text: string): void;
  /** Resolves at the next request to this path (or any path) that arrives. */
  waitForRequest(path?: string, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export const DEFAULT_REPLY = 'Hello from the fake Anthropic API.';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export function errorBody(status: number, message?: string): string {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return JSON.stringify({
    type: 'error',
    error: { type, message: message ?? (status === 401 ? 'invalid x-api-key' : `fake: status ${status}`) },
  });
}

function sendJson(res: http.ServerResponse, status: number, body: string | object): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'request-id': `req_fake_${Date.now()}`,
  });
  res.end(text);
}

function usage(input = 10, output = 5) {
  return { input_tokens: input, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

let messageCounter = 0;

/** An assistant message saying `text`: streamed (SSE) when the request asks for it, else one JSON answer. */
export function answerMessage(req: RecordedRequest, res: http.ServerResponse, text: string): void {
  const id = `msg_fake_${++messageCounter}`;
  const model = typeof req.body?.model === 'string' ? req.body.model : 'claude-fake';
  if (req.body?.stream !== true) {
    sendJson(res, 200, {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: usage(),
    });
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'request-id': `req_fake_${Date.now()}`,
  });
  const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  event('message_start', {
    message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: usage(10, 1) },
  });
  event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  event('ping', {});
  event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
  event('content_block_stop', { index: 0 });
  event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } });
  event('message_stop', {});
  res.end();
}

/** The default answer for everything that is not /v1/messages. */
function answerOther(req: RecordedRequest, res: http.ServerResponse): void {
  const p = req.path;
  if (p === '/v1/messages/count_tokens') return sendJson(res, 200, { input_tokens: 10 });
  if (p === '/v1/models' || p.startsWith('/v1/models/')) {
    return sendJson(res, 200, { data: [], has_more: false, first_id: null, last_id: null });
  }
  if (p.startsWith('/api/') || p.startsWith('/v1/')) return sendJson(res, 200, {});
  return sendJson(res, 404, errorBody(404, `fake: no route for ${req.method} ${p}`));
}

export function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const requests: RecordedRequest[] = [];
  const routes = new Map<string, Override>(Object.entries(options.routes ?? {}));
  let replyText = options.replyText ?? DEFAULT_REPLY;
  const waiters: { path?: string; resolve: (r: RecordedRequest) => void }[] = [];
  const hanging = new Set<http.ServerResponse>();

  const server = http.createServer((incoming, res) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (c: Buffer) => chunks.push(c));
    incoming.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      const url = incoming.url ?? '/';
      const path = url.split('?')[0]!;
      const req: RecordedRequest = { method: incoming.method ?? 'GET', url, path, headers: incoming.headers, text, body };
      requests.push(req);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.path === undefined || waiters[i]!.path === path) {
          waiters[i]!.resolve(req);
          waiters.splice(i, 1);
        }
      }

      const respond = () => {
        const override = routes.get(path) ?? routes.get('*');
        if (override === 'hang') {
          hanging.add(res);
          return;
        }
        if (override === 'close') {
          res.socket?.destroy();
          return;
        }
        if (typeof override === 'function') return override(req, res);
        if (typeof override === 'number') return sendJson(res, override, errorBody(override));
        if (req.method === 'POST' && path === '/v1/messages') {
          return answerMessage(req, res, typeof replyText === 'function' ? replyText(req) : replyText);
        }
        return answerOther(req, res);
      };
      if (options.delayMs) setTimeout(respond, options.delayMs);
      else respond();
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        requests,
        messages: () => requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages'),
        setRoute(path, override) {
          if (override === undefined) routes.delete(path);
          else routes.set(path, override);
        },
        setReplyText(text) {
          replyText = text;
        },
        waitForRequest(path, timeoutMs = 30_000) {
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`fake Anthropic: no request to ${path ?? 'any path'} in ${timeoutMs} ms`)), timeoutMs);
            waiters.push({
              path,
              resolve: (r) => {
                clearTimeout(timer);
                res(r);
              },
            });
          });
        },
        close() {
          for (const res of hanging) res.socket?.destroy();
          return new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          });
        },
      });
    });
  });
}
