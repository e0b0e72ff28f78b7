/** The key as S3 writes it into event notifications (form-encoded: space is +, / stays). */
export function s3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}
