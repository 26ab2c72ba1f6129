/**
 * A per-process bound on the bytes of request bodies being received and held at once. A webhook
 * body must be buffered whole before its signature can be checked, so without a bound any number
 * of unauthenticated senders could each make the process hold up to the body limit. A request
 * reserves what it may send before a byte of its body is read (its Content-Length, or the whole
 * limit when it streams chunks) and gives it back when its response closes, however it ends
 * (answered, timed out, or the client went away). When the budget is spent the request is refused
 * with 503 and Retry-After: the senders retry, and the process stays within its memory.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { ApiError } from '../errors.js';

export class ByteBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes`, or returns null when they do not fit; the returned release is idempotent. */
  tryReserve(bytes: number): (() => void) | null {
    if (bytes > this.capacity - this.used) return null;
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
    };
  }
}

/**
 * The most a request may make the server buffer: its declared length (Node's parser never reads
 * past it), or the limit for a chunked body. A declared length over the limit is refused by the
 * body parser before any byte is read, so it costs at most the limit.
 */
export function bodyBytesToReserve(headers: FastifyRequest['headers'], limit: number): number {
  const declared = headers['content-length'];
  if (typeof declared === 'string' && /^\d+$/.test(declared)) return Math.min(Number(declared), limit);
  return headers['transfer-encoding'] === undefined ? 0 : limit;
}

export const BODY_BUDGET_RETRY_AFTER_SECONDS = 5;

/** An onRequest hook; place it after every check that can refuse a request from its headers. */
export function reserveBodyBytes(budget: ByteBudget, limit: number) {
  return function reserveBody(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const bytes = bodyBytesToReserve(request.headers, limit);
    if (bytes === 0) return done();
    const release = budget.tryReserve(bytes);
    if (release === null) {
      request.log.debug({ bytes, inUse: budget.inUse, capacity: budget.capacity }, 'webhook body budget spent');
      return done(new ApiError(503, 'WEBHOOK_INTAKE_BUSY', 'Too many webhook bodies are being received; retry later', undefined,
        { 'retry-after': String(BODY_BUDGET_RETRY_AFTER_SECONDS) }));
    }
    reply.raw.once('close', release);
    done();
  };
}
