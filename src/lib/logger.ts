/**
 * The process logger. Redaction is a second line of defence: code never logs secrets on purpose,
 * and these paths cover the places where a secret could slip in (headers, bodies, credentials).
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.authtoken', 'req.headers.cookie', 'req.headers["webhook-signature"]',
  'req.headers["x-twilio-signature"]',
  'headers.authorization', 'authorization', '*.authorization',
  '*.password', '*.secret', '*.appKey', '*.privateKey', '*.signingSecret', '*.token', '*.virgilToken',
  '*.authToken', '*.secondaryAuthToken', '*.apiKeySecret', '*.authTokens',
  'body', 'req.body', '*.body',
];

export function createLogger(opts: { level: string; pretty?: boolean; destination?: DestinationStream; name?: string }): Logger {
  const options = {
    level: opts.level,
    name: opts.name,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (opts.destination) return pino(options, opts.destination);
  if (opts.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}
