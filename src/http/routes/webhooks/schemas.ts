/**
 * Route schemas of the webhook endpoints. Bodies are raw bytes at routing time (authentication
 * runs on them first); their schemas live in src/webhooks/*-payload.ts.
 */
import { Type } from '@sinclair/typebox';
import { AppIdParam } from '../admin/tenant-schemas.js';

export const WebhookParams = Type.Object({ appId: AppIdParam });

export const WebhookAccepted = Type.Object({
  data: Type.Object({
    status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate')]),
    eventId: Type.String(),
  }),
});

export const WebhookIgnored = Type.Object({
  data: Type.Object({ status: Type.Literal('ignored'), trigger: Type.String() }),
});
