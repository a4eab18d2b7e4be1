// k6/crypto's hmac(algorithm, secret, data, outputEncoding), on node's crypto.
import { createHmac } from 'node:crypto';

export function hmac(algorithm, secret, data, encoding) {
  return createHmac(algorithm, secret).update(data).digest(encoding);
}
export default { hmac };
