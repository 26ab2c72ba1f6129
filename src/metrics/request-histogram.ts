/**
 * The HTTP latency histogram, kept off prom-client's labelled-histogram path: that path validates and
 * hashes the label values on every observation, and it would run on every request, `GET
 * /v1/virgil-jwt` included. Measured side by side in one process (2 million observations, 2-core
 * machine under load): 2.0-3.2 µs per observation for a prom-client child, 0.09-0.11 µs here. A
 * request finds its series through three map lookups (route template, method, status) and bumps
 * plain numbers; the registry reads the series, in prom-client's own histogram shape, when scraped.
 */

interface Series { buckets: Float64Array; sum: number; count: number }

export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Map<string, Map<number, Series>>>();

  constructor(readonly name: string, readonly help: string, buckets: readonly number[]) {
    this.#bounds = [...buckets].sort((a, b) => a - b);
  }

  observe(method: string, route: string, statusCode: number, seconds: number): void {
    let byMethod = this.#series.get(route);
    if (!byMethod) this.#series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let series = byStatus.get(statusCode);
    if (!series) byStatus.set(statusCode, (series = { buckets: new Float64Array(this.#bounds.length), sum: 0, count: 0 }));
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]) i++;
    if (i < bounds.length) series.buckets[i]++;
    series.sum += seconds;
    series.count++;
  }

  /** For the registry: cumulative buckets, sum and count of every series. */
  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [route, byMethod] of this.#series) {
      for (const [method, byStatus] of byMethod) {
        for (const [statusCode, series] of byStatus) {
          const labels = { method, route, status_code: String(statusCode) };
          let cumulative = 0;
          this.#bounds.forEach((le, i) => {
            cumulative += series.buckets[i];
            values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
          });
          values.push({ labels: { le: '+Inf', ...labels }, value: series.count, metricName: `${this.name}_bucket` });
          values.push({ labels, value: series.sum, metricName: `${this.name}_sum` });
          values.push({ labels, value: series.count, metricName: `${this.name}_count` });
        }
      }
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#series.clear();
  }
}
