// k6/http's post and get, synchronous as in k6, through curl; every answer is kept in `seen`.
import { execFileSync } from 'node:child_process';

export const seen = [];

function request(method, url, body, params = {}) {
  const args = ['-sS', '-X', method, '-o', '-', '-w', '\n%{http_code}', '--max-time', '30'];
  for (const [name, value] of Object.entries(params.headers || {})) args.push('-H', `${name}: ${value}`);
  if (body !== null) args.push('--data-binary', '@-');
  args.push(url);
  let out;
  try {
    out = execFileSync('curl', args, { input: body ?? '', encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (e) {
    out = `${e.stdout || ''}\n0`;
  }
  const cut = out.lastIndexOf('\n');
  const response = {
    status: Number(out.slice(cut + 1)),
    body: out.slice(0, cut),
    json() { return JSON.parse(this.body); },
    name: (params.tags && params.tags.name) || url,
  };
  seen.push(response);
  return response;
}

export default {
  post: (url, body, params) => request('POST', url, body, params),
  get: (url, params) => request('GET', url, null, params),
};
