/**
 * One error shape for every API: `{"error": {"code": "UPPER_SNAKE_CASE", "message", "details"?}}`.
 * Domain code throws DomainError (src/lib/errors.ts), whose kind decides the status here and only
 * here; HTTP-only failures that carry headers (authentication challenges, Retry-After) are
 * ApiErrors. Fastify's own errors (validation, body parsing, limits) are mapped to stable codes, so
 * bad input is always a 4xx and never leaks internals. The answers written before any route runs
 * (the router's 400 and 414, Node's parser errors and timeouts, draining at shutdown) use the same
 * envelope.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { DomainError, type ErrorKind } from '../lib/errors.js';
import { exposeToPage } from './plugins/cors.js';
import { SECURITY_HEADERS } from './plugins/security-headers.js';

/** The status of each kind of domain error. */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
  misconfigured: 503,
};

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Fastify error codes → our codes. Anything with a 4xx status not listed keeps its status. */
const FASTIFY_CODES: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'INVALID_CONTENT_LENGTH', 'Content-Length does not match the body'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE', 'Request body is too large'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'MALFORMED_JSON', 'Body must not be empty when Content-Type is application/json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'MALFORMED_JSON', 'Body is not valid JSON'],
  FST_ERR_BAD_URL: [400, 'BAD_URL', 'The request URL is malformed'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'URI_TOO_LONG', 'A path segment of the request URL is too long'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'BAD_REQUEST', 'The request could not be routed'],
};

function validationDetails(err: FastifyError) {
  return {
    errors: (err.validation ?? []).slice(0, 20).map((v) => ({
      path: `${err.validationContext ?? 'body'}${v.instancePath || ''}`,
      message: v.message ?? 'is invalid',
      ...(v.keyword === 'additionalProperties' ? { property: (v.params as { additionalProperty?: string }).additionalProperty } : {}),
    })),
  };
}

export function errorHandler(err: FastifyError | ApiError | DomainError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof DomainError) {
    return reply.code(STATUS_OF_KIND[err.kind]).send(errorBody(err.code, err.message, err.details as Record<string, unknown> | undefined));
  }
  if (err instanceof ApiError) {
    if (err.headers) {
      reply.headers(err.headers);
      exposeToPage(reply, err.headers);
    }
    return reply.code(err.statusCode).send(errorBody(err.code, err.message, err.details));
  }
  if ((err as FastifyError).validation) {
    return reply.code(400).send(errorBody('VALIDATION_FAILED', 'The request does not match the expected schema', validationDetails(err as FastifyError)));
  }
  const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (mapped) return reply.code(mapped[0]).send(errorBody(mapped[1], mapped[2]));
  if (err instanceof SyntaxError || (err as { type?: string }).type === 'entity.parse.failed') {
    return reply.code(400).send(errorBody('MALFORMED_JSON', 'Body is not valid JSON'));
  }
  const status = (err as FastifyError).statusCode ?? 500;
  if (status === 429) return reply.code(429).send(errorBody('RATE_LIMITED', 'Too many requests'));
  if (status >= 400 && status < 500) {
    return reply.code(status).send(errorBody('BAD_REQUEST', 'The request could not be processed'));
  }
  // Unexpected: log the error (never the request body), answer generically.
  request.log.error({ err }, 'unhandled error');
  return reply.code(500).send(errorBody('INTERNAL_ERROR', 'An internal error occurred'));
}

/**
 * The router's own refusals (undecodable or over-long path parameters) happen before any hook, so
 * the headers the onRequest hooks would have set are added here.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(SECURITY_HEADERS);
  errorHandler(err, request, reply);
}

/** Node's parser errors and timeouts → our codes; any other parse failure is a 400 BAD_REQUEST. */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE', 'The request line and headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'REQUEST_TIMEOUT', 'The request was not received in time'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'PAYLOAD_TOO_LARGE', 'Chunk extensions are too large'],
};
const BAD_REQUEST: [number, string, string] = [400, 'BAD_REQUEST', 'The request could not be parsed as HTTP'];
const CLOSE_GRACE_MS = 5000;

/** The raw bytes of an enveloped answer that closes the connection. */
export function rawErrorResponse(status: number, code: string, message: string): string {
  const body = JSON.stringify(errorBody(code, message));
  const headers = { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines}\r\n${body}`;
}

/**
 * Errors Node raises on a connection before (or instead of) a request: malformed request lines,
 * oversized headers, the header and request timeouts. Node would answer them in plain text (431,
 * 400) or Fastify in its own JSON shape; this answers in the envelope, then closes the connection.
 */
export function clientErrorHandler(log: FastifyBaseLogger) {
  return function answerClientError(err: Error & { code?: string }, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] = (err.code && CLIENT_ERRORS[err.code]) || BAD_REQUEST;
    log.debug({ code: err.code, status }, 'client error');
    // A response already under way cannot be replaced: writing another would corrupt it.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    // end, not destroy: destroying at once could drop the answer before it leaves. A client that
    // never reads it does not keep the socket either.
    socket.setTimeout(CLOSE_GRACE_MS, () => socket.destroy());
    socket.end(rawErrorResponse(status, code, message), () => socket.destroy());
  };
}

export function registerErrorHandling(app: FastifyInstance) {
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody('ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`));
  });
  // Fastify's own drain answer (return503OnClosing) is not enveloped, so draining is answered here.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    if (!closing) return done();
    // Answered ahead of the hooks that would add these.
    reply.headers(SECURITY_HEADERS);
    reply.header('connection', 'close');
    done(new ApiError(503, 'SHUTTING_DOWN', 'This server is shutting down; retry on another', undefined, { 'retry-after': '1' }));
  });
}
