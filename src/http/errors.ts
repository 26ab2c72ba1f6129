/**
 * One error shape for every API: `{"error": {"code": "UPPER_SNAKE_CASE", "message", "details"?}}`.
 * Domain code throws DomainError (src/lib/errors.ts), whose kind decides the status here and only
 * here; HTTP-only failures that carry headers (authentication challenges, Retry-After) are
 * ApiErrors. Fastify's own errors (validation, body parsing, limits) are mapped to stable codes, so
 * bad input is always a 4xx and never leaks internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type ErrorKind } from '../lib/errors.js';
import { exposeToPage } from './plugins/cors.js';

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

export function registerErrorHandling(app: FastifyInstance) {
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody('ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`));
  });
}
