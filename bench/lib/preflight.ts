/**
 * One request before a measurement, checked for status and shape, so a misconfigured server fails
 * the run loudly instead of producing a fast table of errors.
 */
export async function preflight(url: string, init: RequestInit, check: (body: unknown) => string | null): Promise<unknown> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`preflight ${init.method ?? 'GET'} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`preflight ${url}: not JSON: ${text.slice(0, 300)}`);
  }
  const problem = check(body);
  if (problem) throw new Error(`preflight ${url}: ${problem}`);
  return body;
}
