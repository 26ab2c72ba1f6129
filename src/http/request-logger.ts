/**
 * Request loggers that cost nothing until something is logged.
 *
 * Fastify gives every request a child of the process logger bound to its request id. With pino and
 * redaction, building that child serializes the bindings and runs them through the redactor, on
 * every request, although with per-request logging off (the default below debug) almost no request
 * ever logs a line. Here the child is built on the first enabled log call of the request, so log
 * lines still carry `reqId`, and a request that logs nothing pays for one small object.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, LogFn } from 'pino';

/** What the request logger needs from its parent: a pino logger (or anything shaped like one). */
interface ParentLogger extends FastifyBaseLogger {
  isLevelEnabled(level: string): boolean;
}

class LazyRequestLogger {
  readonly #parent: ParentLogger;
  readonly #bindings: Bindings;
  #child: FastifyBaseLogger | null = null;

  constructor(parent: ParentLogger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  #logger(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings));
  }

  #log(level: Level, args: Parameters<LogFn>): void {
    // The parent's level decides: the child is built with the same level and would drop the line too.
    if (this.#child === null && !this.#parent.isLevelEnabled(level)) return;
    const logger = this.#logger() as unknown as Record<Level, (...a: unknown[]) => void>;
    logger[level](...args);
  }

  get level(): string {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: string) {
    // A level of its own needs a logger of its own.
    this.#logger().level = level;
  }

  fatal(...args: Parameters<LogFn>): void { this.#log('fatal', args); }
  error(...args: Parameters<LogFn>): void { this.#log('error', args); }
  warn(...args: Parameters<LogFn>): void { this.#log('warn', args); }
  info(...args: Parameters<LogFn>): void { this.#log('info', args); }
  debug(...args: Parameters<LogFn>): void { this.#log('debug', args); }
  trace(...args: Parameters<LogFn>): void { this.#log('trace', args); }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options);
  }
}

/**
 * Fastify's `childLoggerFactory`: lazy when the child would only add bindings; a route with its own
 * log level or serializers gets a real child at once.
 */
export function lazyChildLoggerFactory(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  if (opts.level !== undefined || opts.serializers !== undefined) return logger.child(bindings, opts);
  return new LazyRequestLogger(logger as ParentLogger, bindings) as unknown as FastifyBaseLogger;
}
