/**
 * One error shape for every API: `{"error": {"code": "UPPER_SNAKE_CASE", "message", "details"?}}`.
 * Routes throw ApiError; Fastify's own errors (validation, body parsing, limits) are mapped to stable
 * codes here so that bad input is always a 4xx and never leaks internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { exposeToPage } from './plugins/cors.js';

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

export const badRequest = (code: string, message: string, details?: Record<string, unknown>) => new ApiError(400, code, message, details);
export const unauthorized = (code: string, message: string) => new ApiError(401, code, message);
export const forbidden = (code: string, message: string) => new ApiError(403, code, message);
export const notFound = (code: string, message: string) => new ApiError(404, code, message);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);
export const unprocessable = (code: string, message: string, details?: Record<string, unknown>) => new ApiError(422, code, message, details);
export const serviceUnavailable = (code: string, message: string) => new ApiError(503, code, message);

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

export function errorHandler(err: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply) {
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
