import type { AlertDocument } from '../../lambdas/core/ports.js';
import { alertReportFixture } from './alert-report.js';

/** An alert document as the processor publishes it (the CGI sweep of alertReportFixture), with any field replaced. */
export function alertDocumentFixture(over: Partial<AlertDocument> = {}): AlertDocument {
  return {
    version: 1,
    environment: 'prod',
    alertId: '0123456789abcdef0123456789abcdef',
    ...alertReportFixture(),
    objects: ['logs/apache/access.log#etag1'],
    objectCount: 1,
    ...over,
  };
}
